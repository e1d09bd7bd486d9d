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
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_bytes: 1024,
        max_fields: 8,
    };

    fn parse_all(wire: &str) -> Result<Option<RequestHead>, FramingError> {
        parse_request_head(&mut BytesMut::from(wire), LIMITS)
    }

    #[test]
    fn a_head_becomes_parts_and_leaves_the_body_in_the_buffer() {
        let mut buf = BytesMut::from(
            "POST /v2/api/x?a=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nX-Two: a\r\nx-two: b\r\n\r\n{}",
        );
        let head = parse_request_head(&mut buf, LIMITS).unwrap().unwrap();
        assert_eq!(head.parts.method, Method::POST);
        assert_eq!(head.parts.uri.path(), "/v2/api/x");
        assert_eq!(head.parts.uri.query(), Some("a=1"));
        assert_eq!(head.parts.version, Version::HTTP_11);
        assert_eq!(head.parts.headers.get_all("x-two").iter().count(), 2);
        assert_eq!(head.body, Decoder::Length(2));
        assert!(head.keep_alive && !head.expect_continue);
        assert_eq!(&buf[..], b"{}");
    }

    #[test]
    fn the_listener_frames_a_body_as_request_body_does_on_the_same_fields() {
        use super::super::framing::request_body;
        use http::HeaderMap;
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("Content-Length", "42")],
            &[("content-length", " 7 "), ("CONTENT-LENGTH", "7")],
            &[("content-length", "7"), ("content-length", "8")],
            &[("content-length", "7,7")],
            &[("content-length", "+3")],
            &[("content-length", "99999999999999999999")],
            &[("Transfer-Encoding", "Chunked")],
            &[("transfer-encoding", "gzip")],
            &[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
            &[("transfer-encoding", "chunked"), ("content-length", "3")],
            &[("content-length", "3"), ("transfer-encoding", "chunked")],
            &[("x-content-length", "3"), ("transfer-encodings", "chunked")],
        ];
        for fields in cases {
            for version in ["1.1", "1.0"] {
                let mut wire = format!("POST /v2/api/x HTTP/{version}\r\nHost: gw\r\n");
                let mut headers = HeaderMap::new();
                for (name, value) in *fields {
                    wire.push_str(&format!("{name}: {value}\r\n"));
                    headers.append(
                        http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                        HeaderValue::from_str(value.trim()).unwrap(),
                    );
                }
                wire.push_str("\r\n");
                let version = if version == "1.0" {
                    Version::HTTP_10
                } else {
                    Version::HTTP_11
                };
                let listener = parse_all(&wire).map(|head| head.map(|head| head.body));
                assert_eq!(
                    listener,
                    request_body(&headers, version).map(Some),
                    "{fields:?} over {version:?}"
                );
            }
        }
    }

    #[test]
    fn a_partial_head_waits_and_leaves_the_buffer_alone() {
        let mut buf = BytesMut::from("GET /v2/api/users HTTP/1.1\r\nHost: g");
        assert!(parse_request_head(&mut buf, LIMITS).unwrap().is_none());
        assert_eq!(buf.len(), 35);
    }

    #[test]
    fn the_connection_header_and_version_decide_keep_alive() {
        let keep = |wire: &str| parse_all(wire).unwrap().unwrap().keep_alive;
        assert!(keep("GET / HTTP/1.1\r\nHost: gw\r\n\r\n"));
        assert!(!keep("GET / HTTP/1.1\r\nHost: gw\r\nConnection: Close\r\n\r\n"));
        assert!(!keep("GET / HTTP/1.1\r\nHost: gw\r\nConnection: te, close\r\n\r\n"));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        let head =
            parse_all("POST / HTTP/1.1\r\nHost: gw\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert!(head.unwrap().expect_continue);
    }

    #[test]
    fn heads_over_the_bounds_and_broken_heads_are_refused() {
        let long = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(1100));
        assert_eq!(parse_all(&long).err(), Some(FramingError::HeadTooLarge { limit: 1024 }));
        let unfinished = format!("GET / HTTP/1.1\r\nX-Pad: {}", "a".repeat(1100));
        assert_eq!(
            parse_all(&unfinished).err(),
            Some(FramingError::HeadTooLarge { limit: 1024 })
        );
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(9));
        assert_eq!(parse_all(&many).err(), Some(FramingError::TooManyFields { limit: 8 }));
        assert!(matches!(
            parse_all("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
            Err(FramingError::MalformedHead(_))
        ));
        assert!(matches!(
            parse_all("GET / HTTP/2.0\r\n\r\n"),
            Err(FramingError::MalformedHead(_))
        ));
        assert_eq!(
            parse_all("POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: x\r\n\r\n").err(),
            Some(FramingError::InvalidLength)
        );
    }

    #[test]
    fn an_http11_head_needs_exactly_one_host_and_an_http10_one_at_most_one() {
        assert_eq!(
            parse_all("GET /v2/api/users HTTP/1.1\r\nAccept: */*\r\n\r\n").err(),
            Some(FramingError::MissingHost)
        );
        assert_eq!(
            parse_all("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").err(),
            Some(FramingError::MultipleHost)
        );
        assert_eq!(
            parse_all("GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n").err(),
            Some(FramingError::MultipleHost)
        );
        assert!(parse_all("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        // An empty Host is one Host (RFC 9112 §3.2 allows it when the target has no authority).
        assert!(parse_all("GET / HTTP/1.1\r\nHost:\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn a_head_with_more_fields_than_the_stack_holds_is_parsed_whole_up_to_the_bound() {
        let limits = HeadLimits {
            max_bytes: 64 * 1024,
            max_fields: STACK_FIELDS * 3,
        };
        let head = |fields: usize| {
            let lines: String = (0..fields).map(|i| format!("X-F{i}: v{i}\r\n")).collect();
            BytesMut::from(format!("GET /a HTTP/1.1\r\nHost: gw\r\n{lines}\r\nrest").as_str())
        };
        // Host and the others: over the stack's room, within the bound.
        let mut buf = head(STACK_FIELDS * 2);
        let parsed = parse_request_head(&mut buf, limits).unwrap().unwrap();
        assert_eq!(parsed.parts.headers.len(), STACK_FIELDS * 2 + 1);
        let last = format!("x-f{}", STACK_FIELDS * 2 - 1);
        assert_eq!(
            parsed.parts.headers[last.as_str()],
            format!("v{}", STACK_FIELDS * 2 - 1)
        );
        assert_eq!(&buf[..], b"rest");
        // One over the bound: refused with the bound, and the buffer left as it was.
        let mut buf = head(STACK_FIELDS * 3);
        let before = buf.clone();
        assert_eq!(
            parse_request_head(&mut buf, limits).err(),
            Some(FramingError::TooManyFields {
                limit: STACK_FIELDS * 3
            })
        );
        assert_eq!(buf, before);
        // Not all of it here yet: more bytes are asked for, whichever room parsed it.
        let mut buf = head(STACK_FIELDS * 2);
        buf.truncate(buf.len() - 10);
        assert!(parse_request_head(&mut buf, limits).unwrap().is_none());
    }
}
