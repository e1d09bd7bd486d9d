//! Request framing and target checks that run before anything else: a request whose framing
//! is ambiguous (Content-Length with Transfer-Encoding, a Transfer-Encoding other than one
//! `chunked`, conflicting or unreadable Content-Lengths) or whose target tries to name another
//! host (CONNECT) is refused, and its connection closed, so no intermediary can be made to
//! disagree with the gateway about where one request ends or where it goes.
//!
//! The HTTP/1.1 listener frames request bodies with `request_body` (so it sees every
//! `Content-Length` and `Transfer-Encoding` field as sent); HTTP/2 requests, framed by hyper,
//! have theirs checked by `check`. `parse_length` is the one reader of a `Content-Length`
//! value, for requests, responses and the body limit alike.

use http::{header, HeaderMap, Method, Request, Version};

use super::body::{self, Chunk, Decoder};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FramingError {
    #[error("Content-Length and Transfer-Encoding together are ambiguous")]
    LengthAndChunked,
    #[error("only a single `chunked` Transfer-Encoding is accepted")]
    BadTransferEncoding,
    #[error("conflicting Content-Length values")]
    ConflictingLength,
    #[error("Content-Length is not a number")]
    InvalidLength,
    #[error("CONNECT is not supported: the gateway opens no tunnels")]
    Connect,
    #[error("the request head is malformed: {0}")]
    MalformedHead(httparse::Error),
    #[error("the request target is not a valid URI")]
    BadTarget,
    #[error("an HTTP/1.1 request needs a Host header")]
    MissingHost,
    #[error("a request may carry only one Host header")]
    MultipleHost,
    #[error("the request head exceeds {limit} bytes")]
    HeadTooLarge { limit: usize },
    #[error("the request head has more than {limit} header fields")]
    TooManyFields { limit: usize },
    /// A body whose chunked framing is broken (a bare LF in a chunk line, say): found while
    /// the body is read, it ends the request as a malformed head does.
    #[error(transparent)]
    Body(#[from] body::BodyError),
}

impl FramingError {
    /// CONNECT is a method problem (405), a head over the bounds is 431; the rest are malformed
    /// requests (400).
    pub fn is_method(&self) -> bool {
        matches!(self, FramingError::Connect)
    }

    /// A head over the configured bounds (431).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            FramingError::HeadTooLarge { .. } | FramingError::TooManyFields { .. }
        )
    }
}

/// Checks the request's framing and target. An HTTP/1.x request was framed by the listener
/// with `request_body` already (and refused there if it could not be), so only HTTP/2
/// requests (framed by hyper) have theirs checked here.
pub fn check<B>(request: &Request<B>) -> Result<(), FramingError> {
    if request.method() == Method::CONNECT {
        return Err(FramingError::Connect);
    }
    // `Upgrade` (h2c included) is not refused, only never honoured: it is hop-by-hop and
    // stripped, and the connection stays HTTP/1.1, as `curl --http2` expects.
    match request.version() {
        Version::HTTP_2 => request_body(request.headers(), request.version()).map(drop),
        _ => Ok(()),
    }
}

/// How a request's body is delimited (RFC 9112 §6.3), or why it cannot be told. A request with
/// neither field has no body.
pub fn request_body(headers: &HeaderMap, version: Version) -> Result<Decoder, FramingError> {
    let mut fields = BodyFields::default();
    for value in headers.get_all(header::TRANSFER_ENCODING).into_iter() {
        fields.transfer_encoding(value.as_bytes());
    }
    for value in headers.get_all(header::CONTENT_LENGTH).into_iter() {
        fields.content_length(value.as_bytes());
    }
    fields.framing(version)
}

/// What a head's `Transfer-Encoding` and `Content-Length` fields say, noted one field at a
/// time (the listener notes them as it reads the fields off the wire, in the same pass).
#[derive(Default)]
pub(super) struct BodyFields<'a> {
    /// The first `Transfer-Encoding` value, and how many there are.
    transfer_encoding: Option<&'a [u8]>,
    transfer_encodings: usize,
    /// The first `Content-Length` value, and whether a later one differs from it.
    length: Option<&'a [u8]>,
    lengths_differ: bool,
}

impl<'a> BodyFields<'a> {
    pub(super) fn transfer_encoding(&mut self, value: &'a [u8]) {
        self.transfer_encoding.get_or_insert(value);
        self.transfer_encodings += 1;
    }

    pub(super) fn content_length(&mut self, value: &'a [u8]) {
        match self.length {
            None => self.length = Some(value),
            Some(first) => self.lengths_differ |= first != value,
        }
    }

    /// How the body is delimited, as `request_body` says.
    pub(super) fn framing(&self, version: Version) -> Result<Decoder, FramingError> {
        if let Some(first) = self.transfer_encoding {
            // HTTP/1.0 has no chunked encoding at all.
            if self.transfer_encodings > 1
                || version == Version::HTTP_10
                || !first.trim_ascii().eq_ignore_ascii_case(b"chunked")
            {
                return Err(FramingError::BadTransferEncoding);
            }
            if self.length.is_some() {
                return Err(FramingError::LengthAndChunked);
            }
            return Ok(Decoder::Chunked(Chunk::Size));
        }
        let Some(first) = self.length else {
            return Ok(Decoder::Length(0));
        };
        if self.lengths_differ || first.contains(&b',') {
            return Err(FramingError::ConflictingLength);
        }
        parse_length(first.trim_ascii())
            .map(Decoder::Length)
            .ok_or(FramingError::InvalidLength)
    }
}

/// A `Content-Length` value: 1 to 19 ASCII digits, nothing else.
pub fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder()
            .method(method)
            .uri("/v2/api/users")
            .version(Version::HTTP_2);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn refuses_ambiguous_framing_and_tunnels() {
        assert_eq!(check(&req("GET", &[])), Ok(()));
        assert_eq!(check(&req("POST", &[("transfer-encoding", "chunked")])), Ok(()));
        assert_eq!(check(&req("POST", &[("content-length", "3")])), Ok(()));
        let cases = [
            (
                req("POST", &[("transfer-encoding", "chunked"), ("content-length", "3")]),
                FramingError::LengthAndChunked,
            ),
            (
                req("POST", &[("transfer-encoding", "gzip, chunked")]),
                FramingError::BadTransferEncoding,
            ),
            (
                req(
                    "POST",
                    &[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
                ),
                FramingError::BadTransferEncoding,
            ),
            (
                req("POST", &[("content-length", "3"), ("content-length", "4")]),
                FramingError::ConflictingLength,
            ),
            (req("POST", &[("content-length", "3 4")]), FramingError::InvalidLength),
            (req("POST", &[("content-length", "")]), FramingError::InvalidLength),
            (req("POST", &[("content-length", "+3")]), FramingError::InvalidLength),
            (req("CONNECT", &[]), FramingError::Connect),
        ];
        for (request, expected) in cases {
            assert_eq!(check(&request), Err(expected));
        }
    }

    #[test]
    fn lengths_read_as_plain_decimals() {
        for n in [0, 7, 10, 99, 100, 65_535, 1_234_567_890, u64::MAX] {
            let text = n.to_string();
            assert_eq!(parse_length(text.as_bytes()), (text.len() <= 19).then_some(n));
        }
        for refused in [&b""[..], b"1e3", b"+3", b"-3", b" 3", b"3 ", b"0x10"] {
            assert_eq!(parse_length(refused), None);
        }
    }

    #[test]
    fn frames_bodies_by_length_or_chunks_and_none_without_either() {
        let framing = |headers: &[(&str, &str)], version| request_body(req("POST", headers).headers(), version);
        assert_eq!(framing(&[], Version::HTTP_11), Ok(Decoder::Length(0)));
        assert_eq!(
            framing(&[("content-length", " 42 ")], Version::HTTP_11),
            Ok(Decoder::Length(42))
        );
        assert_eq!(
            framing(&[("content-length", "7"), ("content-length", "7")], Version::HTTP_11),
            Ok(Decoder::Length(7))
        );
        assert_eq!(
            framing(&[("transfer-encoding", "Chunked")], Version::HTTP_11),
            Ok(Decoder::Chunked(Chunk::Size))
        );
        assert_eq!(
            framing(&[("transfer-encoding", "chunked")], Version::HTTP_10),
            Err(FramingError::BadTransferEncoding)
        );
        assert_eq!(
            framing(&[("content-length", "99999999999999999999")], Version::HTTP_11),
            Err(FramingError::InvalidLength)
        );
    }
}
