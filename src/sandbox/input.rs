//! Reading what a request carries: the query string (percent-decoded, `+` as space, as
//! `application/x-www-form-urlencoded` says) and the JSON body, plus `Fields`, a small typed
//! reader over a JSON object that collects every type problem instead of stopping at the
//! first. The sandbox can run without the gateway in front, so it makes these minimal checks
//! itself; anything richer (closed schemas, duplicate keys) is the gateway's job.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::respond::ApiError;
use crate::envelope::FieldError;

/// Decoded query parameters in order of appearance.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(super) fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let (Some(key), Some(value)) = (decode(key), decode(value)) else {
                return Err(ApiError::validation(
                    "INVALID_QUERY_PARAMETER",
                    "query string is not valid UTF-8 after percent-decoding",
                ));
            };
            pairs.push((key, value));
        }
        Ok(Query { pairs })
    }

    /// The first value of `key`; later repetitions are ignored.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// An optional non-negative integer parameter.
    pub(super) fn integer(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                ApiError::validation(
                    "INVALID_QUERY_PARAMETER",
                    format!("{key}: must be a non-negative integer"),
                )
                .with_param(key)
            }),
        }
    }

    /// An optional boolean parameter, sent as the literals `true` / `false`.
    pub(super) fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(
                ApiError::validation("INVALID_QUERY_PARAMETER", format!("{key}: must be true or false"))
                    .with_param(key),
            ),
        }
    }
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    // A stray `%` is kept literally, as browsers do.
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The body as a JSON object, `None` when there is no body at all. A body needs a JSON
/// content type (415 otherwise), must parse (400) and must be an object (400).
pub(crate) fn json_object(headers: &HeaderMap, body: &Bytes) -> Result<Option<Map<String, Value>>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim();
            let mime = mime.to_ascii_lowercase();
            mime == "application/json" || (mime.contains('/') && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        let mut err = ApiError::validation(
            "UNSUPPORTED_MEDIA_TYPE",
            "request body must be sent with Content-Type: application/json",
        );
        err.status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return Err(err);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(ApiError::validation(
            "INVALID_REQUEST_BODY",
            "request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::validation(
            "INVALID_REQUEST_BODY",
            format!("request body is not valid JSON ({})", json_error_kind(&e)),
        )),
    }
}

/// The category only, with its position: serde's full message can quote the input.
fn json_error_kind(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "unexpected end of input",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// Typed access to the members of one JSON object, collecting every problem.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    pub errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub(super) fn new(map: &'a Map<String, Value>) -> Fields<'a> {
        Fields::nested(map, "")
    }

    /// Fields of an object found at JSON pointer `prefix` (e.g. `/numbers/3`).
    pub(super) fn nested(map: &'a Map<String, Value>, prefix: &str) -> Fields<'a> {
        Fields {
            map,
            prefix: prefix.to_owned(),
            errors: Vec::new(),
        }
    }

    pub(super) fn error(&mut self, key: &str, code: &str, rule: &str) {
        let pointer = format!("{}/{key}", self.prefix);
        let readable = pointer.trim_start_matches('/').replace('/', ".");
        self.errors.push(FieldError {
            field: pointer,
            code: code.to_owned(),
            message: format!("{readable}: {rule}"),
        });
    }

    /// `None` when absent, `Some(None)` when `null`, `Some(Some(s))` for a string; any other
    /// type is recorded as an error and read as absent.
    pub(super) fn nullable_str(&mut self, key: &str) -> Option<Option<&'a str>> {
        match self.map.get(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.as_str())),
            Some(_) => {
                self.error(key, "type", "must be a string or null");
                None
            }
        }
    }

    /// A string where absent and `null` mean the same thing.
    pub(super) fn opt_str(&mut self, key: &str) -> Option<&'a str> {
        self.nullable_str(key).flatten()
    }

    /// An optional array of strings (or `null`).
    pub(super) fn opt_str_array(&mut self, key: &str) -> Option<Vec<&'a str>> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                if strings.len() == items.len() {
                    Some(strings)
                } else {
                    self.error(key, "type", "must be an array of strings or null");
                    None
                }
            }
            Some(_) => {
                self.error(key, "type", "must be an array of strings or null");
                None
            }
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }
}

/// Length in Unicode code points, the unit Allo's `maxLength` counts in.
pub(crate) fn char_len(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some("email=a%40b.example&number=%2B33+6&x&page=2&page=3")).unwrap();
        assert_eq!(q.get("email"), Some("a@b.example"));
        assert_eq!(q.get("number"), Some("+33 6"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.integer("page").unwrap(), Some(2));
        assert!(Query::parse(Some("a=%FF")).is_err());
        assert_eq!(Query::parse(Some("a=%zz%")).unwrap().get("a"), Some("%zz%"));
        assert!(q.boolean("email").is_err());
    }

    #[test]
    fn body_rules() {
        let mut headers = HeaderMap::new();
        let body = Bytes::from_static(br#"{"name":"x"}"#);
        let err = json_object(&headers, &body).unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(json_object(&headers, &body).unwrap().is_some());
        assert!(json_object(&headers, &Bytes::new()).unwrap().is_none());
        for bad in [&b"{"[..], b"[]", b"{} {}", b"\xff"] {
            let err = json_object(&headers, &Bytes::copy_from_slice(bad)).unwrap_err();
            assert_eq!(err.code, "INVALID_REQUEST_BODY");
        }
    }

    #[test]
    fn fields_collect_every_problem() {
        let v: Value = serde_json::json!({"a": 1, "b": null, "c": "s", "d": ["x", 2]});
        let map = v.as_object().unwrap();
        let mut f = Fields::new(map);
        assert_eq!(f.nullable_str("a"), None);
        assert_eq!(f.nullable_str("b"), Some(None));
        assert_eq!(f.opt_str("c"), Some("s"));
        assert_eq!(f.opt_str_array("d"), None);
        assert_eq!(f.errors.len(), 2);
        assert_eq!(f.errors[0].field, "/a");
    }
}
