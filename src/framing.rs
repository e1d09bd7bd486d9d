//! Request framing and target checks that run before anything else: a request whose framing
//! is ambiguous (Content-Length with Transfer-Encoding, a Transfer-Encoding other than one
//! `chunked`, conflicting Content-Lengths) or whose target tries to name another host
//! (CONNECT) is refused, and its connection closed, so no intermediary
//! can be made to disagree with the gateway about where one request ends or where it goes.
//!
//! hyper's HTTP/1 parser drops `Content-Length` from a request that also carries
//! `Transfer-Encoding` (it reads the body as chunked and closes the connection afterwards), so
//! the parsed request no longer shows that ambiguity. `WireScanner` recovers it from the raw
//! bytes: the listener runs every byte a connection sends through it and marks the requests of
//! a connection where one header block named both with `LengthWithChunkedOnWire`.

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

/// Put on a request by the listener when its connection's raw bytes held a header block that
/// named both `Content-Length` and `Transfer-Encoding` (see `WireScanner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthWithChunkedOnWire;

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
        // hyper keeps Transfer-Encoding and drops Content-Length, hence the wire marker.
        if headers.contains_key(header::CONTENT_LENGTH)
            || request.extensions().get::<LengthWithChunkedOnWire>().is_some()
        {
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

const CONTENT_LENGTH: u8 = 1;
const TRANSFER_ENCODING: u8 = 2;
const BOTH: u8 = CONTENT_LENGTH | TRANSFER_ENCODING;
const NAMES: [(u8, &[u8]); 2] = [
    (CONTENT_LENGTH, b"content-length"),
    (TRANSFER_ENCODING, b"transfer-encoding"),
];

/// A streaming scan of a connection's raw bytes for a header block (lines between two blank
/// lines) in which lines start with both `Content-Length:` and `Transfer-Encoding:`, names
/// matched case-insensitively. It does not follow body framing: it looks at every line, bodies
/// included, which over-approximates the request heads. A head never holds a blank line, so
/// all of a head's fields are in one block and none is missed; a body that happens to hold such
/// a block can only mark its own connection. A few bytes of state, no allocation; once it
/// has seen both names it stops looking.
#[derive(Debug, Clone)]
pub struct WireScanner {
    /// Names the current line may still start with (bits), 0 once it cannot start either.
    candidates: u8,
    /// Bytes of the current line matched against those names (saturating).
    matched: u8,
    /// Whether the current line has a byte other than CR (else a LF ends the block).
    line_has_content: bool,
    /// Names seen at line starts in the current block.
    block: u8,
    seen: bool,
}

impl Default for WireScanner {
    fn default() -> Self {
        WireScanner {
            candidates: BOTH,
            matched: 0,
            line_has_content: false,
            block: 0,
            seen: false,
        }
    }
}

impl WireScanner {
    /// Feeds the next bytes read; true once some block named both (and from then on).
    pub fn scan(&mut self, bytes: &[u8]) -> bool {
        let mut i = 0;
        while i < bytes.len() && !self.seen {
            let b = bytes[i];
            if b == b'\n' {
                if !self.line_has_content {
                    self.block = 0;
                }
                self.line_has_content = false;
                self.candidates = BOTH;
                self.matched = 0;
                i += 1;
                continue;
            }
            if b != b'\r' {
                self.line_has_content = true;
            }
            if self.candidates == 0 {
                // Nothing left to match on this line: jump to its end.
                match memchr::memchr(b'\n', &bytes[i..]) {
                    Some(offset) => i += offset,
                    None => break,
                }
                continue;
            }
            self.step(b);
            i += 1;
        }
        self.seen
    }

    /// Whether some block named both.
    pub fn seen(&self) -> bool {
        self.seen
    }

    fn step(&mut self, b: u8) {
        let pos = usize::from(self.matched);
        let mut still = 0;
        for (bit, name) in NAMES {
            if self.candidates & bit == 0 {
                continue;
            }
            match name.get(pos) {
                Some(&expected) if b.to_ascii_lowercase() == expected => still |= bit,
                Some(_) => {}
                // The whole name matched: a colon makes it a field (whitespace before the
                // colon is invalid, but counting it errs on the side of refusing).
                None if b == b':' => self.block |= bit,
                None if b == b' ' || b == b'\t' => still |= bit,
                None => {}
            }
        }
        self.candidates = still;
        self.matched = self.matched.saturating_add(1);
        if self.block == BOTH {
            self.seen = true;
        }
    }
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

    #[test]
    fn the_wire_marker_refuses_chunked_requests_only() {
        let mut chunked = req("POST", &[("transfer-encoding", "chunked")]);
        chunked.extensions_mut().insert(LengthWithChunkedOnWire);
        assert_eq!(check(&chunked), Err(FramingError::LengthAndChunked));
        // hyper keeps Transfer-Encoding on the ambiguous request, so a request without it was
        // not the ambiguous one.
        let mut plain = req("GET", &[]);
        plain.extensions_mut().insert(LengthWithChunkedOnWire);
        assert_eq!(check(&plain), Ok(()));
    }

    fn scan_in_pieces(bytes: &[u8], piece: usize) -> bool {
        let mut scanner = WireScanner::default();
        bytes.chunks(piece).fold(false, |_, chunk| scanner.scan(chunk))
    }

    #[test]
    fn the_scanner_finds_both_names_in_one_head_however_the_bytes_arrive() {
        let ambiguous: &[&[u8]] = &[
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 4\r\n\r\n",
            b"POST /x HTTP/1.1\ntransfer-encoding:chunked\ncontent-length:4\n\n",
            b"POST /x HTTP/1.1\r\nContent-Length : 4\r\nTransfer-Encoding\t: chunked\r\n\r\n",
            // After a first request and its body (no blank line before the second head).
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nContent-Length: 5\r\nX: y\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for bytes in ambiguous {
            for piece in [1, 2, 3, 7, bytes.len()] {
                assert!(
                    scan_in_pieces(bytes, piece),
                    "{piece}: {}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
        let fine: &[&[u8]] = &[
            b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
            // One name per request, in two requests on one connection.
            b"POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nxPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            // Names not at a line start, or not followed by a colon.
            b"GET /x HTTP/1.1\r\nX-Content-Length: 4\r\nX: transfer-encoding: chunked\r\n\r\n",
            b"GET /x HTTP/1.1\r\nContent-Lengthy: 4\r\nTransfer-Encodings: chunked\r\n\r\n",
        ];
        for bytes in fine {
            for piece in [1, 2, 5, bytes.len()] {
                assert!(
                    !scan_in_pieces(bytes, piece),
                    "{piece}: {}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }

    #[test]
    fn the_scanner_is_sticky() {
        let mut scanner = WireScanner::default();
        assert!(scanner.scan(b"P / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assert!(scanner.scan(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(scanner.seen());
    }
}
