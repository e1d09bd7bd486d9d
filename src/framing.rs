//! Request framing and target checks that run before anything else: a request whose framing
//! is ambiguous (Content-Length with Transfer-Encoding, a Transfer-Encoding other than one
//! `chunked`, conflicting Content-Lengths) or whose target tries to name another host
//! (CONNECT) is refused, and its connection closed, so no intermediary
//! can be made to disagree with the gateway about where one request ends or where it goes.

use http::{header, Method, Request};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FramingError {
    #[error("Content-Length and Transfer-Encoding together are ambiguous")]
    LengthAndChunked,
    #[error("only a single `chunked` Transfer-Encoding is accepted")]
    BadTransferEncoding,
    #[error("conflicting Content-Length values")]
    ConflictingLength,
    #[error("CONNECT is not supported: the gateway opens no tunnels")]
    Connect,
}

impl FramingError {
    /// CONNECT is a method problem (405); the rest are malformed requests (400).
    pub fn is_method(&self) -> bool {
        matches!(self, FramingError::Connect)
    }
}

/// Checks what hyper has left visible of the request's framing and target.
pub fn check<B>(request: &Request<B>) -> Result<(), FramingError> {
    if request.method() == Method::CONNECT {
        return Err(FramingError::Connect);
    }
    // `Upgrade` (h2c included) is not refused, only never honoured: it is hop-by-hop and
    // stripped, and the connection stays HTTP/1.1, as `curl --http2` expects.
    let headers = request.headers();
    let te: Vec<_> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    if !te.is_empty() {
        if te.len() > 1 || !te[0].as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(FramingError::BadTransferEncoding);
        }
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err(FramingError::LengthAndChunked);
        }
    }
    let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    if let Some(first) = lengths.next() {
        if lengths.any(|other| other != first) || first.as_bytes().contains(&b',') {
            return Err(FramingError::ConflictingLength);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri("/v2/api/users");
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
            (req("CONNECT", &[]), FramingError::Connect),
        ];
        for (request, expected) in cases {
            assert_eq!(check(&request), Err(expected));
        }
    }
}
