//! Request heads off the HTTP/1.1 wire: httparse into a request's parts, with the bounds on
//! the head's size and field count, the body's framing (`framing::request_body`), and what the
//! head says about the connection. The listener (`server/h1.rs`) reads the bytes.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::HeaderValue;
use http::{Method, Uri, Version};

use super::body::Decoder;
use super::fields::{wire_name, ConnectionTokens};
use super::framing::{BodyFields, FramingError};

/// The most header fields `max_headers` may allow (the config's bound).
const MAX_FIELDS: usize = 1000;
/// Field slots on the stack; a head with more is parsed again with slots on the heap.
const STACK_FIELDS: usize = 64;

/// What bounds a head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    pub max_bytes: usize,
    pub max_fields: usize,
}

/// Where each field's name and value lie in the head (offset, length): inline for the usual
/// few, on the heap past that. In `u32`s, as a head is at most `MAX_HEADER_BYTES` (1 MiB): the
/// inline slots are zeroed for every head, and half the bytes cost half the time.
#[derive(Default)]
struct Fields {
    inline: [Span; INLINE_FIELDS],
    len: usize,
    more: Vec<Span>,
}

type Span = ((u32, u32), (u32, u32));

const INLINE_FIELDS: usize = 32;

impl Fields {
    fn push(&mut self, name: (u32, u32), value: (u32, u32)) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = (name, value);
                self.len += 1;
            }
            None => self.more.push((name, value)),
        }
    }

    fn iter(&self) -> impl Iterator<Item = Span> + '_ {
        self.inline[..self.len].iter().chain(&self.more).copied()
    }
}

/// One request head and what it decides.
pub struct RequestHead {
    pub parts: http::request::Parts,
    pub body: Decoder,
    /// The connection may carry another request after this one.
    pub keep_alive: bool,
    pub expect_continue: bool,
}

/// Takes one complete request head off the front of `buf`; `Ok(None)`: more bytes are needed.
/// After an error the connection is answered and closed, whatever is left in `buf`.
pub fn parse_request_head(buf: &mut BytesMut, limits: HeadLimits) -> Result<Option<RequestHead>, FramingError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let slots = limits.max_fields.min(MAX_FIELDS);
    match parse_with(buf, limits, slots.min(STACK_FIELDS)) {
        // Nothing was taken off `buf`: parsed again, with room for all the fields allowed.
        Err(FramingError::TooManyFields { .. }) if slots > STACK_FIELDS => parse_with(buf, limits, slots),
        parsed => parsed,
    }
}

/// `parse_request_head` with room for `slots` fields; a head with more is refused as
/// `TooManyFields`, and leaves `buf` as it was.
fn parse_with(buf: &mut BytesMut, limits: HeadLimits, slots: usize) -> Result<Option<RequestHead>, FramingError> {
    // Uninitialised field slots (zeroing them would cost more than the parse), on the stack for
    // the usual head. Room there for every field `max_fields` allows would make this frame
    // 32 KiB, as much as the first-level data cache, and push every call under it as far down.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_FIELDS];
    let mut heap = Vec::new();
    let fields = match stack.get_mut(..slots) {
        Some(fields) => fields,
        None => {
            heap.resize_with(slots, MaybeUninit::uninit);
            &mut heap[..]
        }
    };
    let mut request = httparse::Request::new(&mut []);
    let too_large = FramingError::HeadTooLarge {
        limit: limits.max_bytes,
    };
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, buf, fields);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len <= limits.max_bytes => len,
        Ok(httparse::Status::Partial) if buf.len() < limits.max_bytes => return Ok(None),
        Ok(_) => return Err(too_large),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(FramingError::TooManyFields {
                limit: limits.max_fields,
            })
        }
        // A head cut short by the size bound may fail to parse where the cut falls.
        Err(_) if buf.len() >= limits.max_bytes && !has_head_end(buf, limits.max_bytes) => return Err(too_large),
        Err(e) => return Err(FramingError::MalformedHead(e)),
    };
    let version = if request.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let method = Method::from_bytes(request.method.unwrap_or_default().as_bytes())
        .map_err(|_| FramingError::MalformedHead(httparse::Error::Token))?;

    // The head is split off the read buffer, and the target and header values share it: no
    // copy. Parsing borrows the buffer, so what is needed from the fields is noted first.
    let start = buf.as_ptr() as usize;
    // Within the head, which is at most `limits.max_bytes` (under 4 GiB: see `Span`).
    let at = |part: &[u8]| ((part.as_ptr() as usize - start) as u32, part.len() as u32);
    let target = at(request.path.unwrap_or_default().as_bytes());
    let mut fields = Fields::default();
    let mut connection = ConnectionTokens::default();
    let mut expect_continue = false;
    let mut hosts = 0usize;
    // The body's framing, from the fields as parsed: two lookups in the `HeaderMap` would cost
    // more. Its error, if any, is answered after the ones below, as `request_body`'s was.
    let mut body = BodyFields::default();
    for field in request.headers.iter() {
        let name = field.name.as_bytes();
        // By length first: most fields are none of these.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => hosts += 1,
            10 if name.eq_ignore_ascii_case(b"connection") => connection.note(field.value),
            6 if name.eq_ignore_ascii_case(b"expect") => {
                expect_continue |= field.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => body.content_length(field.value),
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => body.transfer_encoding(field.value),
            _ => {}
        }
        fields.push(at(name), at(field.value));
    }
    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host and to any
    // with more than one. The gateway never routes by Host (only `[upstream] url` decides),
    // but a request a strict hop in front of it would refuse is not one to act on either.
    // HTTP/1.0 predates Host, so its absence there is fine.
    match hosts {
        0 if version == Version::HTTP_11 => return Err(FramingError::MissingHost),
        0 | 1 => {}
        _ => return Err(FramingError::MultipleHost),
    }
    let body = body.framing(version);
    let count = request.headers.len();
    let head = buf.split_to(len).freeze();
    let shared = |(at, len): (u32, u32)| head.slice(at as usize..(at + len) as usize);
    let uri = Uri::from_maybe_shared(shared(target)).map_err(|_| FramingError::BadTarget)?;
    let mut headers = super::spare::header_map(count);
    for (name, value) in fields.iter() {
        let name = wire_name(&head[name.0 as usize..(name.0 + name.1) as usize])
            .map_err(|_| FramingError::MalformedHead(httparse::Error::HeaderName))?;
        let value = HeaderValue::from_maybe_shared(shared(value))
            .map_err(|_| FramingError::MalformedHead(httparse::Error::HeaderValue))?;
        headers.append(name, value);
    }
    let body = body?;

    let mut parts = http::Request::new(()).into_parts().0;
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    let keep_alive = match version {
        Version::HTTP_10 => connection.keep_alive && !connection.close,
        _ => !connection.close,
    };
    Ok(Some(RequestHead {
        parts,
        body,
        keep_alive,
        expect_continue: expect_continue && version == Version::HTTP_11,
    }))
}

/// Whether the blank line that ends a head lies within the first `within` bytes.
fn has_head_end(buf: &[u8], within: usize) -> bool {
    memchr::memmem::find(&buf[..within.min(buf.len())], b"\r\n\r\n").is_some()
}

#[cfg(test)]
mod tests;
