//! HTTP/1.1 on the upstream wire, as pure functions over byte buffers: the request head is
//! written straight from the caller's parts (the same headers `rewrite_request` would keep, in
//! one pass, with the team key written once and never held in a header map), the response head
//! is parsed with httparse into header values that share one buffer, and the framing it
//! announces (RFC 9112 §6.3) picks the body decoder (`framing/body.rs`). No socket here:
//! `client.rs` moves the bytes.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::HeaderValue;
use http::{Method, StatusCode, Version};

use super::rewrite::{connection_named_in, forwarded_headers, is_hop_by_hop_name, sends_content_length};
use crate::answer::WireFields;
use crate::config::ForwardHeaders;
use crate::framing::{parse_length, put_decimal, put_field};
use crate::secret::Secret;

pub use crate::framing::body::{BodyError, Chunk, Decoded, Decoder};

/// The largest response head accepted from the upstream.
pub const MAX_HEAD: usize = 64 * 1024;
/// Bodies up to this size that arrive with their head are taken with it.
const WHOLE_BODY: u64 = 16 * 1024;
/// The most header fields accepted in one response head.
const MAX_HEADERS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the upstream response head is malformed: {0}")]
    Parse(#[from] httparse::Error),
    #[error("the upstream response head is not acceptable: {0}")]
    Head(&'static str),
    #[error("the upstream response head exceeds {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("the upstream response body is broken")]
    Body(#[from] BodyError),
}

/// Appends the upstream request head for `parts` (INTERFACE §4): origin-form target, `host`
/// from config, the caller's end-to-end headers, the team key, the request id and the framing.
pub fn encode_request(
    out: &mut Vec<u8>,
    parts: &http::request::Parts,
    host: &HeaderValue,
    key: &Secret,
    request_id: &HeaderValue,
    body_len: usize,
    forward: &ForwardHeaders,
) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(if target.is_empty() { b"/" } else { target.as_bytes() });
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in forwarded_headers(&parts.headers, forward) {
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"authorization: Api-Key ");
    out.extend_from_slice(key.expose().as_bytes());
    out.extend_from_slice(b"\r\n");
    put_field(out, crate::ids::REQUEST_ID.as_str().as_bytes(), request_id.as_bytes());
    if sends_content_length(&parts.method, body_len) {
        out.extend_from_slice(b"content-length: ");
        put_decimal(out, body_len as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A parsed response head and what it says about the body and the connection.
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub fields: WireFields,
    /// How the rest of the body is framed (`Done` once `whole_body` holds it all).
    pub body: Decoder,
    /// The whole body, when it was small and arrived with the head.
    pub whole_body: Option<Bytes>,
    /// The connection may carry another request once this body is read.
    pub reusable: bool,
}

/// Takes one complete response head off the front of `buf`, skipping interim (1xx) heads.
/// `Ok(None)`: more bytes are needed.
pub fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, WireError> {
    loop {
        if buf.is_empty() {
            return Ok(None);
        }
        // Uninitialised field slots: zeroing 128 of them would cost more than the parse.
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed =
            httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut fields);
        let len = match parsed? {
            httparse::Status::Complete(len) if len <= MAX_HEAD => len,
            httparse::Status::Partial if buf.len() < MAX_HEAD => return Ok(None),
            _ => return Err(WireError::HeadTooLarge),
        };
        let code = response.code.unwrap_or_default();
        let status = StatusCode::from_u16(code).map_err(|_| WireError::Head("status code out of range"))?;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(WireError::Head("101 without an upgrade request"));
        }
        if status.is_informational() {
            buf.advance(len);
            continue;
        }
        let http11 = response.version == Some(1);
        let mut framing = Framing::default();
        for field in response.headers.iter() {
            framing.note(field.name.as_bytes(), field.value)?;
        }
        let no_body = *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        let mut body = match (no_body, framing.chunked, framing.length) {
            (true, _, _) => Decoder::Length(0),
            (false, Some(true), _) => Decoder::Chunked(Chunk::Size),
            (false, Some(false), _) | (false, None, None) => Decoder::UntilClose,
            (false, None, Some(n)) => Decoder::Length(n),
        };
        // The usual small answer's body is in the buffer with its head: it is copied out
        // with it. Copies (a few hundred bytes) rather than shares of the read buffer, so the
        // buffer stays whole and is reused for the next response instead of reallocated.
        let whole = match body {
            Decoder::Length(n) if n > 0 && n <= WHOLE_BODY && (buf.len() - len) as u64 >= n => n as usize,
            _ => 0,
        };
        let whole_body = (whole > 0).then(|| {
            body = Decoder::Done;
            Bytes::copy_from_slice(&buf[len..len + whole])
        });
        // httparse has checked every name (a token) and value (no control bytes but tab).
        let fields = end_to_end(response.headers, &framing, len);
        buf.advance(len + whole);
        let keep_alive = if http11 { !framing.close } else { framing.keep_alive };
        // Both Transfer-Encoding and Content-Length: the length is ignored, and so is anything
        // this connection might carry after the body.
        let reusable = keep_alive
            && !matches!(body, Decoder::UntilClose)
            && !(framing.chunked.is_some() && framing.length.is_some());
        return Ok(Some(Head {
            status,
            version: if http11 { Version::HTTP_11 } else { Version::HTTP_10 },
            fields,
            body,
            whole_body,
            reusable,
        }));
    }
}

/// The fields that go on to the caller, as wire lines: hop-by-hop fields, those the
/// `Connection` field names, the framing (re-set downstream) and the request id (the
/// gateway's own) stay behind.
fn end_to_end(parsed: &[httparse::Header<'_>], framing: &Framing, head_len: usize) -> WireFields {
    let named = if framing.names_fields {
        connection_named_in(
            parsed
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case("connection"))
                .map(|f| f.value),
        )
    } else {
        Vec::new()
    };
    let mut lines = Vec::with_capacity(head_len);
    let mut has_date = false;
    for field in parsed {
        let name = field.name.as_bytes();
        if is_hop_by_hop_name(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(crate::ids::REQUEST_ID.as_str().as_bytes())
            || named.iter().any(|n| name.eq_ignore_ascii_case(n.as_str().as_bytes()))
        {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case(b"date");
        put_field(&mut lines, name, field.value);
    }
    // A chunked body's length is the chunks', whatever a Content-Length says.
    let length = framing.length.filter(|_| framing.chunked.is_none());
    WireFields::new(Bytes::from(lines), length, has_date)
}

/// What a response head says about framing and the connection.
#[derive(Default)]
struct Framing {
    length: Option<u64>,
    /// `Some(true)`: Transfer-Encoding ends in chunked; `Some(false)`: another coding last.
    chunked: Option<bool>,
    close: bool,
    keep_alive: bool,
    /// `Connection` names something other than close and keep-alive.
    names_fields: bool,
}

impl Framing {
    fn note(&mut self, name: &[u8], value: &[u8]) -> Result<(), WireError> {
        if name.eq_ignore_ascii_case(b"content-length") {
            for item in value.split(|&b| b == b',') {
                let n = parse_length(item.trim_ascii()).ok_or(WireError::Head("invalid Content-Length"))?;
                if self.length.is_some_and(|seen| seen != n) {
                    return Err(WireError::Head("conflicting Content-Length values"));
                }
                self.length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default().trim_ascii();
            self.chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                let close = token.eq_ignore_ascii_case(b"close");
                let keep_alive = token.eq_ignore_ascii_case(b"keep-alive");
                self.close |= close;
                self.keep_alive |= keep_alive;
                self.names_fields |= !(close || keep_alive || token.is_empty());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
