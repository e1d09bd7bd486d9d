//! Heads onto the HTTP/1.1 wire: the request head sent upstream, written straight from the
//! caller's parts (the headers the forwarding policy keeps, in one pass, the team key written
//! once and never held in a header map), and the response head written to a caller (status
//! line, the answer's end-to-end fields, the upstream's lines as they came, the framing,
//! `connection` and `date`). The socket loops write the bytes and the body.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

use super::fields::{put_decimal, put_field, says_close};
use super::WireFields;
use crate::ids::REQUEST_ID;
use crate::secret::Secret;

/// Appends the upstream request head (INTERFACE §4): origin-form target, `host` from config,
/// the caller's end-to-end headers (`forwarded`, as the forwarding policy filtered them), the
/// team key, the request id and, when there is one, the body's length.
pub fn encode_request<'a>(
    out: &mut Vec<u8>,
    parts: &http::request::Parts,
    host: &HeaderValue,
    forwarded: impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)>,
    key: &Secret,
    request_id: &HeaderValue,
    content_length: Option<u64>,
) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(if target.is_empty() { b"/" } else { target.as_bytes() });
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in forwarded {
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"authorization: Api-Key ");
    out.extend_from_slice(key.expose().as_bytes());
    out.extend_from_slice(b"\r\n");
    put_field(out, REQUEST_ID.as_str().as_bytes(), request_id.as_bytes());
    if let Some(n) = content_length {
        out.extend_from_slice(b"content-length: ");
        put_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body (HEAD, 204, 304, 1xx).
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes: an HTTP/1.0 caller and a body of unknown length.
    UntilClose,
}

/// How an answer's body goes out: `length` is the body's, if known (declared or exact).
pub fn response_framing(status: StatusCode, length: Option<u64>, method: &Method, version: Version) -> ResponseFraming {
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return ResponseFraming::None;
    }
    match length {
        // A HEAD answer announces the length the GET body would have, and sends none.
        Some(_) if method == Method::HEAD => ResponseFraming::None,
        Some(n) => ResponseFraming::Length(n),
        None if method == Method::HEAD => ResponseFraming::None,
        None if version == Version::HTTP_11 => ResponseFraming::Chunked,
        None => ResponseFraming::UntilClose,
    }
}

/// Fields the wire framing owns: set from the framing, never copied from the response.
fn is_framing(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::CONTENT_LENGTH
        || name == "keep-alive"
}

/// A response head as it goes out: the gateway's fields, the upstream's lines, the request id.
pub struct OutgoingHead<'a> {
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
    pub upstream: Option<&'a WireFields>,
    pub request_id: Option<&'a HeaderValue>,
    /// The length either set of fields declares.
    pub declared: Option<u64>,
}

impl OutgoingHead<'_> {
    /// Whether the answer itself asks for the connection to close.
    pub fn says_close(&self) -> bool {
        says_close(
            self.headers
                .get_all(header::CONNECTION)
                .iter()
                .map(HeaderValue::as_bytes),
        )
    }
}

/// Appends the response head. `keep_alive`: the connection stays open after this answer
/// (said to an HTTP/1.0 caller, implied for HTTP/1.1).
pub fn encode_response_head(
    out: &mut Vec<u8>,
    head: &OutgoingHead<'_>,
    framing: ResponseFraming,
    keep_alive: bool,
    version: Version,
) {
    let status = head.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in head.headers {
        if !is_framing(name) {
            put_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if let Some(fields) = head.upstream {
        out.extend_from_slice(fields.as_bytes());
    }
    if let Some(id) = head.request_id {
        put_field(out, REQUEST_ID.as_str().as_bytes(), id.as_bytes());
    }
    // A length framing a body; or, with no body sent (HEAD, 304), the length as declared.
    let length = match framing {
        ResponseFraming::Length(n) => Some(n),
        ResponseFraming::None => head.declared,
        ResponseFraming::Chunked | ResponseFraming::UntilClose => None,
    };
    if let Some(n) = length {
        out.extend_from_slice(b"content-length: ");
        put_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    }
    if framing == ResponseFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if !(head.headers.contains_key(header::DATE) || head.upstream.is_some_and(|f| f.has_date)) {
        out.extend_from_slice(b"date: ");
        with_date(|date| out.extend_from_slice(date));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `date` value, formatted once per second per thread.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

fn with_date(use_it: impl FnOnce(&[u8])) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == text.len() {
                text.copy_from_slice(formatted.as_bytes());
                *at = second;
            }
        }
        use_it(&text[..]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, uri: &str) -> http::request::Parts {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn a_request_head_carries_the_target_host_fields_key_id_and_length() {
        let parts = parts(
            Method::POST,
            "http://evil.example/v2/api/dialing-queues/current?x=%2F&y",
        );
        let forwarded = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        let mut out = Vec::new();
        encode_request(
            &mut out,
            &parts,
            &HeaderValue::from_static("api.withallo.com"),
            forwarded.iter().map(|(n, v)| (n, v)),
            &Secret::new("ak_live_k"),
            &HeaderValue::from_static("req_abcdefabcdef"),
            Some(12),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /v2/api/dialing-queues/current?x=%2F&y HTTP/1.1\r\n\
             host: api.withallo.com\r\n\
             content-type: application/json\r\n\
             authorization: Api-Key ak_live_k\r\n\
             x-request-id: req_abcdefabcdef\r\n\
             content-length: 12\r\n\r\n"
        );
    }

    #[test]
    fn a_request_without_a_length_has_none() {
        let mut out = Vec::new();
        encode_request(
            &mut out,
            &parts(Method::GET, "/a"),
            &HeaderValue::from_static("h"),
            std::iter::empty(),
            &Secret::new("k"),
            &HeaderValue::from_static("r"),
            None,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /a HTTP/1.1\r\nhost: h\r\nauthorization: Api-Key k\r\nx-request-id: r\r\n\r\n"
        );
    }

    #[test]
    fn bodies_are_framed_by_length_chunks_or_close_and_some_answers_have_none() {
        let framing = |status: u16, length, method, version| {
            response_framing(StatusCode::from_u16(status).unwrap(), length, &method, version)
        };
        let v11 = Version::HTTP_11;
        assert_eq!(framing(200, Some(3), Method::GET, v11), ResponseFraming::Length(3));
        assert_eq!(framing(200, None, Method::GET, v11), ResponseFraming::Chunked);
        assert_eq!(
            framing(200, None, Method::GET, Version::HTTP_10),
            ResponseFraming::UntilClose
        );
        assert_eq!(framing(200, Some(3), Method::HEAD, v11), ResponseFraming::None);
        assert_eq!(framing(204, None, Method::GET, v11), ResponseFraming::None);
        assert_eq!(framing(304, Some(3), Method::GET, v11), ResponseFraming::None);
    }
}
