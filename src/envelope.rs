//! Allo's v2 error envelope, the one body shape for every error the gateway (or its sandbox)
//! answers itself: `{"error": {type, code, message, retryable, request_id, ...}}`. The answer
//! is bounded whatever the request was: `errors[]` lists what it can within
//! `MAX_ENVELOPE_BYTES` and counts the rest in one last entry, so a request that breaks ten
//! thousand rules does not buy a ten-megabyte answer.

use bytes::Bytes;
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

/// The largest envelope the gateway writes. Validation keeps at most 50 entries of a few
/// hundred bytes each, so this is only reached by fields full of characters JSON escapes
/// six-fold; entries past it are then moved to the count.
pub const MAX_ENVELOPE_BYTES: usize = 16 * 1024;

/// The code of the last `errors[]` entry when some were left out.
pub const TOO_MANY_ERRORS: &str = "tooManyErrors";

/// One field-level problem, e.g. `{"field": "/name", "code": "maxLength", ...}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// `errors[]`: the entries listed and, when some were left out, a last entry
/// `{"field": "", "code": "tooManyErrors", "message": "and 9950 more errors not listed"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub listed: Vec<FieldError>,
    /// Found but not listed.
    pub unlisted: usize,
    /// The check stopped before the end of the input: `unlisted` is a lower bound.
    pub at_least: bool,
}

impl Listing {
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.unlisted == 0 && !self.at_least
    }

    /// The entry that stands for everything not listed, if anything was left out.
    pub fn rest(&self) -> Option<FieldError> {
        let (n, plural) = (self.unlisted, if self.unlisted == 1 { "" } else { "s" });
        let message = match (n, self.at_least) {
            (0, false) => return None,
            (_, false) => format!("and {n} more error{plural} not listed"),
            (0, true) => "more errors may follow; the check stopped at the cap".to_string(),
            (_, true) => format!("and at least {n} more error{plural} not listed; the check stopped at the cap"),
        };
        Some(FieldError {
            field: String::new(),
            code: TOO_MANY_ERRORS.to_string(),
            message,
        })
    }
}

impl From<Vec<FieldError>> for Listing {
    fn from(listed: Vec<FieldError>) -> Self {
        Listing {
            listed,
            ..Listing::default()
        }
    }
}

impl Serialize for Listing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rest = self.rest();
        let mut seq = serializer.serialize_seq(Some(self.listed.len() + usize::from(rest.is_some())))?;
        for entry in self.listed.iter().chain(rest.as_ref()) {
            seq.serialize_element(entry)?;
        }
        seq.end()
    }
}

/// The `error` object of the envelope.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(skip_serializing_if = "Listing::is_empty")]
    pub errors: Listing,
    pub retry_after_seconds: Option<u64>,
}

impl ErrorBody {
    pub fn new(kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        ErrorBody {
            kind,
            code,
            message: message.into(),
            retryable: false,
            request_id: String::new(),
            param: None,
            errors: Listing::default(),
            retry_after_seconds: None,
        }
    }

    /// Serialises `{"error": self}`, within `MAX_ENVELOPE_BYTES` as long as the envelope
    /// without its `errors[]` fits: listed entries that do not fit are counted instead.
    pub fn to_bytes(&self) -> Bytes {
        let bytes = serialize(self);
        if bytes.len() <= MAX_ENVELOPE_BYTES || self.errors.listed.is_empty() {
            return bytes;
        }
        let mut trimmed = self.clone();
        // Drop from the end until the excess is covered, then check: the count's entry may
        // have appeared or grown a digit, so one or two more may have to go.
        let mut excess = bytes.len() - MAX_ENVELOPE_BYTES;
        loop {
            while excess > 0 {
                let Some(entry) = trimmed.errors.listed.pop() else {
                    break;
                };
                trimmed.errors.unlisted += 1;
                // The entry and its comma.
                excess = excess.saturating_sub(serde_json::to_vec(&entry).map_or(0, |v| v.len()) + 1);
            }
            let bytes = serialize(&trimmed);
            if bytes.len() <= MAX_ENVELOPE_BYTES || trimmed.errors.listed.is_empty() {
                return bytes;
            }
            excess = bytes.len() - MAX_ENVELOPE_BYTES;
        }
    }
}

fn serialize(body: &ErrorBody) -> Bytes {
    #[derive(Serialize)]
    struct Envelope<'a> {
        error: &'a ErrorBody,
    }
    // Serialising plain strings, bools and numbers cannot fail.
    Bytes::from(serde_json::to_vec(&Envelope { error: body }).unwrap_or_default())
}

/// The code of an error answer from Allo: its v2 envelope (`{"error":{"code":...}}`) or v1
/// body (`{"code":...}`). Bounded and plain (it may be logged, and it comes from the network):
/// at most 64 letters, digits or underscores, else None.
pub fn allo_error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value
        .get("error")
        .and_then(|e| e.get("code"))
        .or_else(|| value.get("code"))?
        .as_str()?;
    let plain = code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(field: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            code: "additionalProperties".to_string(),
            message: "is not a field of this endpoint".to_string(),
        }
    }

    fn errors(bytes: &[u8]) -> Vec<serde_json::Value> {
        let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        value["error"]["errors"].as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn what_is_not_listed_is_counted_in_a_last_entry() {
        let mut body = ErrorBody::new("validation_error", "INVALID_REQUEST_BODY", "x");
        body.errors = Listing {
            listed: vec![entry("/a"), entry("/b")],
            unlisted: 7,
            at_least: false,
        };
        let list = errors(&body.to_bytes());
        assert_eq!(list.len(), 3);
        assert_eq!(list[2]["code"], TOO_MANY_ERRORS);
        assert_eq!(list[2]["message"], "and 7 more errors not listed");
        body.errors.unlisted = 1;
        body.errors.at_least = true;
        assert_eq!(
            errors(&body.to_bytes())[2]["message"],
            "and at least 1 more error not listed; the check stopped at the cap"
        );
        body.errors = Listing::default();
        assert!(!String::from_utf8_lossy(&body.to_bytes()).contains("errors"));
    }

    #[test]
    fn an_envelope_past_the_bound_lists_fewer_and_counts_more() {
        // Control characters are escaped as six bytes each: 50 such fields are ~60 KB.
        let field = format!("/{}", "\u{1}".repeat(200));
        let mut body = ErrorBody::new("validation_error", "INVALID_REQUEST_BODY", "x");
        body.errors = Listing {
            listed: (0..50).map(|_| entry(&field)).collect(),
            unlisted: 10,
            at_least: false,
        };
        let bytes = body.to_bytes();
        assert!(bytes.len() <= MAX_ENVELOPE_BYTES, "{}", bytes.len());
        let list = errors(&bytes);
        let listed = list.len() - 1;
        assert!(listed > 0 && listed < 50, "{listed}");
        assert_eq!(
            list[listed]["message"],
            format!("and {} more errors not listed", 50 - listed + 10)
        );
    }
}
