//! Upstream response heads off the HTTP/1.1 wire: httparse into header values that share one
//! buffer, the framing the head announces (RFC 9112 §6.3) picking the body decoder
//! (`body.rs`), and the end-to-end fields kept as wire lines for the caller. `client.rs`
//! moves the bytes.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode, Version};

use super::body::{BodyError, Chunk, Decoder};
use super::fields::{list_items, put_field, ConnectionTokens};
use super::framing::parse_length;
use super::WireFields;

/// The largest response head accepted from the upstream.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Bodies up to this size that arrive with their head are taken with it.
const WHOLE_BODY: u64 = 16 * 1024;
/// The most header fields accepted in one response head.
const MAX_HEADERS: usize = 128;
// `end_to_end` marks the fields it keeps in a u128.
const _: () = assert!(MAX_HEADERS <= u128::BITS as usize);
/// Field slots on the stack: a 4 KiB array would take a page of stack below every caller.
const STACK_HEADERS: usize = 48;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the upstream response head is malformed: {0}")]
    Parse(#[from] httparse::Error),
    #[error("the upstream response head is not acceptable: {0}")]
    Head(&'static str),
    #[error("the upstream response head exceeds {MAX_RESPONSE_HEAD} bytes")]
    HeadTooLarge,
    #[error("the upstream response body is broken")]
    Body(#[from] BodyError),
}

/// A parsed response head and what it says about the body and the connection.
pub struct ResponseHead {
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
/// `Ok(None)`: more bytes are needed. `hop_by_hop` names the fields that describe the
/// upstream connection only (the forwarding policy's), kept from the caller as are those the
/// `Connection` field names.
pub fn parse_response_head(
    buf: &mut BytesMut,
    method: &Method,
    hop_by_hop: impl Fn(&[u8]) -> bool,
) -> Result<Option<ResponseHead>, WireError> {
    loop {
        if buf.is_empty() {
            return Ok(None);
        }
        // Uninitialised field slots (zeroing them would cost more than the parse): on the stack
        // for the usual head, on the heap for one with more fields than that (parsed again).
        let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        let mut heap = Vec::new();
        let mut response = httparse::Response::new(&mut []);
        let mut parsed =
            httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut stack);
        if let Err(httparse::Error::TooManyHeaders) = parsed {
            heap.resize_with(MAX_HEADERS, MaybeUninit::uninit);
            response = httparse::Response::new(&mut []);
            parsed =
                httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut heap);
        }
        let len = match parsed? {
            httparse::Status::Complete(len) if len <= MAX_RESPONSE_HEAD => len,
            httparse::Status::Partial if buf.len() < MAX_RESPONSE_HEAD => return Ok(None),
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
        let mut framing = FramingFields::default();
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
        let fields = end_to_end(response.headers, &framing, hop_by_hop);
        buf.advance(len + whole);
        let keep_alive = if http11 {
            !framing.connection.close
        } else {
            framing.connection.keep_alive
        };
        // Both Transfer-Encoding and Content-Length: the length is ignored, and so is anything
        // this connection might carry after the body.
        let reusable = keep_alive
            && !matches!(body, Decoder::UntilClose)
            && !(framing.chunked.is_some() && framing.length.is_some());
        return Ok(Some(ResponseHead {
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
fn end_to_end(
    parsed: &[httparse::Header<'_>],
    framing: &FramingFields,
    hop_by_hop: impl Fn(&[u8]) -> bool,
) -> WireFields {
    let named_by_connection = |name: &[u8]| {
        framing.connection.names_fields
            && parsed
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case("connection"))
                .any(|f| list_items(f.value).any(|token| token.eq_ignore_ascii_case(name)))
    };
    // Which fields go on, and the room their lines take: the lines are then written into a
    // block of exactly that size, which a `Bytes` takes over as it is (one with room to spare
    // would cost a second allocation, for the count `Bytes` then shares it by).
    let mut kept: u128 = 0;
    let mut room = 0;
    let mut has_date = false;
    for (i, field) in parsed.iter().enumerate() {
        let name = field.name.as_bytes();
        if hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(crate::ids::REQUEST_ID.as_str().as_bytes())
            || named_by_connection(name)
        {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case(b"date");
        kept |= 1 << i;
        room += name.len() + b": ".len() + field.value.len() + b"\r\n".len();
    }
    let mut lines = Vec::with_capacity(room);
    for (i, field) in parsed.iter().enumerate() {
        if kept & (1 << i) != 0 {
            put_field(&mut lines, field.name.as_bytes(), field.value);
        }
    }
    // A chunked body's length is the chunks', whatever a Content-Length says.
    let length = framing.length.filter(|_| framing.chunked.is_none());
    WireFields::new(Bytes::from(lines), length, has_date)
}

/// What a response head's fields say about its framing and the connection.
#[derive(Default)]
struct FramingFields {
    length: Option<u64>,
    /// `Some(true)`: Transfer-Encoding ends in chunked; `Some(false)`: another coding last.
    chunked: Option<bool>,
    connection: ConnectionTokens,
}

impl FramingFields {
    fn note(&mut self, name: &[u8], value: &[u8]) -> Result<(), WireError> {
        if name.eq_ignore_ascii_case(b"content-length") {
            for item in list_items(value) {
                let n = parse_length(item).ok_or(WireError::Head("invalid Content-Length"))?;
                if self.length.is_some_and(|seen| seen != n) {
                    return Err(WireError::Head("conflicting Content-Length values"));
                }
                self.length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = list_items(value).next_back().unwrap_or_default();
            self.chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            self.connection.note(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
