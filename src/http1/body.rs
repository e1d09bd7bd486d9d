//! Message bodies on the HTTP/1.1 wire, for both sides: request bodies from callers (the
//! listener) and response bodies from the upstream (the client). A decoder for each framing (a
//! length, chunked, or until the peer closes) takes what it can off the front of the read
//! buffer. Chunk extensions and trailers are read and dropped; every line it waits for has a
//! bound. Those lines end with CRLF and nothing else: a bare LF or CR inside one is refused,
//! since a peer that reads it as a line end (as some servers do) would see other chunks than
//! the gateway does. The chunked encoder (`put_chunk_size`, `LAST_CHUNK`) writes what the
//! decoder reads.

use std::io::Write as _;

use bytes::{Buf, Bytes, BytesMut};

/// A body whose framing is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the connection closed before the body was complete")]
    Truncated,
    #[error("malformed chunked encoding: {0}")]
    Chunked(&'static str),
}

/// The longest chunk-size line (size and extensions) accepted.
pub const MAX_CHUNK_LINE: usize = 4 * 1024;
/// The trailer section (its field lines and the empty line that ends it) is shorter than this.
const MAX_TRAILERS: usize = 16 * 1024;
/// The most trailer fields read (and dropped) after the last chunk.
const MAX_TRAILER_FIELDS: u16 = 100;

/// Where a body is in its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    /// After the last chunk: the trailer section, `read` bytes and `fields` field lines so far.
    Trailers {
        read: usize,
        fields: u16,
    },
}

/// One step of decoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    NeedMore,
    End,
}

impl Decoder {
    pub fn is_done(&self) -> bool {
        matches!(self, Decoder::Done | Decoder::Length(0))
    }

    /// The body bytes still to come, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self {
            Decoder::Length(n) => Some(*n),
            Decoder::Done => Some(0),
            _ => None,
        }
    }

    /// Takes the next piece of body off the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, BodyError> {
        loop {
            match *self {
                Decoder::Done | Decoder::Length(0) => {
                    *self = Decoder::Done;
                    return Ok(Decoded::End);
                }
                Decoder::Length(_) | Decoder::UntilClose | Decoder::Chunked(Chunk::Data(_)) if buf.is_empty() => {
                    return Ok(Decoded::NeedMore)
                }
                Decoder::Length(left) => {
                    let take = take(left, buf.len());
                    *self = Decoder::Length(left - take as u64);
                    return Ok(Decoded::Data(piece(buf, take)));
                }
                Decoder::UntilClose => return Ok(Decoded::Data(piece(buf, buf.len()))),
                Decoder::Chunked(Chunk::Data(left)) => {
                    let take = take(left, buf.len());
                    let left = left - take as u64;
                    *self = Decoder::Chunked(if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) });
                    return Ok(Decoded::Data(piece(buf, take)));
                }
                Decoder::Chunked(Chunk::Size) => {
                    let Some(end) = line_end(buf)? else {
                        return if buf.len() > MAX_CHUNK_LINE {
                            Err(BodyError::Chunked("chunk-size line too long"))
                        } else {
                            Ok(Decoded::NeedMore)
                        };
                    };
                    let size = chunk_size(&buf[..end])?;
                    buf.advance(end + 2);
                    *self = Decoder::Chunked(if size == 0 {
                        Chunk::Trailers { read: 0, fields: 0 }
                    } else {
                        Chunk::Data(size)
                    });
                }
                Decoder::Chunked(Chunk::DataEnd) => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(BodyError::Chunked("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    *self = Decoder::Chunked(Chunk::Size);
                }
                Decoder::Chunked(Chunk::Trailers { read, fields }) => {
                    let Some(end) = line_end(buf)? else {
                        return if read + buf.len() >= MAX_TRAILERS {
                            Err(BodyError::Chunked("trailer section too long"))
                        } else {
                            Ok(Decoded::NeedMore)
                        };
                    };
                    // Trailers are not forwarded, but each must be a field line: a peer that
                    // reads them (as hyper does) refuses the message otherwise, and the gateway
                    // must not take as complete a message another hop refuses.
                    if end > 0 {
                        let read = read + end + 2;
                        if read + 2 >= MAX_TRAILERS || fields >= MAX_TRAILER_FIELDS {
                            return Err(BodyError::Chunked("trailer section too long"));
                        }
                        if !is_field_line(&buf[..end]) {
                            return Err(BodyError::Chunked("malformed trailer field"));
                        }
                        buf.advance(end + 2);
                        *self = Decoder::Chunked(Chunk::Trailers {
                            read,
                            fields: fields + 1,
                        });
                    } else {
                        // The empty line ends the message.
                        buf.advance(2);
                        *self = Decoder::Done;
                    }
                }
            }
        }
    }

    /// The peer closed the connection: the end of an until-close body, else a truncation.
    pub fn closed(&mut self) -> Result<Decoded, BodyError> {
        match self {
            Decoder::UntilClose | Decoder::Done | Decoder::Length(0) => {
                *self = Decoder::Done;
                Ok(Decoded::End)
            }
            _ => Err(BodyError::Truncated),
        }
    }
}

/// Appends the line that opens a chunk of `len` bytes (its data and CRLF follow).
pub fn put_chunk_size(out: &mut Vec<u8>, len: usize) {
    // Formatted straight into the buffer: no string per chunk.
    let _ = write!(out, "{len:x}\r\n");
}

/// The last chunk and the empty trailer section that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Takes `n` bytes off the front of `buf`: small pieces are copied, so the read buffer keeps
/// its allocation for the next read; large ones are handed over without a copy.
fn piece(buf: &mut BytesMut, n: usize) -> Bytes {
    if n <= 4096 {
        let piece = Bytes::copy_from_slice(&buf[..n]);
        buf.advance(n);
        piece
    } else {
        buf.split_to(n).freeze()
    }
}

fn take(left: u64, available: usize) -> usize {
    usize::try_from(left).map_or(available, |left| left.min(available))
}

/// Where the line at the front of `buf` ends (its CRLF); `Ok(None)`: not in `buf` yet. A CR
/// or LF that is not part of that CRLF is refused as soon as it is seen.
fn line_end(buf: &[u8]) -> Result<Option<usize>, BodyError> {
    match memchr::memchr2(b'\r', b'\n', buf) {
        None => Ok(None),
        Some(at) if buf[at] == b'\n' => Err(BodyError::Chunked("bare LF in a chunk line")),
        Some(at) => match buf.get(at + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(at)),
            Some(_) => Err(BodyError::Chunked("bare CR in a chunk line")),
        },
    }
}

/// `field-name ":" field-value` (RFC 9110 §5): a token, the colon right after it, and a value
/// of visible characters, spaces, tabs and obs-text.
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = memchr::memchr(b':', line) else {
        return false;
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    !name.is_empty()
        && name.iter().all(|&b| is_tchar(b))
        && value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err(BodyError::Chunked("invalid chunk size"));
    }
    // After the size: whitespace, then nothing or chunk extensions (which are ignored). Not
    // anything else after whitespace: `2 x` is no size a peer would agree on.
    let rest = &line[digits..];
    let after_space = rest.iter().position(|&b| b != b' ' && b != b'\t').map(|at| &rest[at..]);
    if !matches!(after_space.and_then(<[u8]>::first), None | Some(b';')) {
        return Err(BodyError::Chunked("invalid chunk size"));
    }
    Ok(line[..digits]
        .iter()
        .fold(0u64, |n, &d| n * 16 + u64::from((d as char).to_digit(16).unwrap_or(0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes all of `wire`: the body, or the first error.
    fn decode_all(wire: &[u8]) -> Result<Vec<u8>, BodyError> {
        let mut decoder = Decoder::Chunked(Chunk::Size);
        let mut buf = BytesMut::from(wire);
        let mut body = Vec::new();
        loop {
            match decoder.decode(&mut buf)? {
                Decoded::Data(data) => body.extend_from_slice(&data),
                Decoded::End => return Ok(body),
                Decoded::NeedMore => return Err(BodyError::Truncated),
            }
        }
    }

    #[test]
    fn what_the_encoder_writes_the_decoder_reads() {
        let mut wire = Vec::new();
        for piece in [&b"hello"[..], &[b'x'; 300][..]] {
            put_chunk_size(&mut wire, piece.len());
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(LAST_CHUNK);
        let mut expected = b"hello".to_vec();
        expected.extend_from_slice(&[b'x'; 300]);
        assert_eq!(decode_all(&wire), Ok(expected));
    }

    #[test]
    fn chunk_lines_with_extensions_and_trailers_decode() {
        let wire = b"5;name=value;other\r\nhello\r\n1 \t;x\r\n!\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(decode_all(wire), Ok(b"hello!".to_vec()));
    }

    #[test]
    fn a_bare_lf_or_cr_anywhere_in_a_chunk_line_is_refused() {
        for wire in [
            &b"5;ext\nfoo\r\nhello\r\n0\r\n\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"5;ext\rfoo\r\nhello\r\n0\r\n\r\n",
            b"5\r\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0;a\nb\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX-T: 1\nX-U: 2\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX-T: 1\rX-U: 2\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
        ] {
            assert!(
                matches!(decode_all(wire), Err(BodyError::Chunked(_))),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn only_whitespace_and_extensions_follow_a_chunk_size() {
        assert_eq!(decode_all(b"2 \t \r\n{}\r\n0\r\n\r\n"), Ok(b"{}".to_vec()));
        assert_eq!(decode_all(b"2 ;a=b\r\n{}\r\n0 \r\n\r\n"), Ok(b"{}".to_vec()));
        for wire in [
            &b"2 x\r\n{}\r\n0\r\n\r\n"[..],
            b"2 2\r\n{}\r\n0\r\n\r\n",
            b"2x\r\n{}\r\n0\r\n\r\n",
        ] {
            assert!(
                matches!(decode_all(wire), Err(BodyError::Chunked(_))),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn trailers_must_be_field_lines_and_few() {
        assert_eq!(
            decode_all(b"2\r\n{}\r\n0\r\nX-T: 1\r\nx-u:\t\xff v\r\n\r\n"),
            Ok(b"{}".to_vec())
        );
        for trailer in [
            &b"X-T\xef: 1"[..],
            b"X-T : 1",
            b"no colon",
            b": 1",
            b" X-T: 1",
            b"X-T: \x7f",
        ] {
            let mut wire = b"2\r\n{}\r\n0\r\n".to_vec();
            wire.extend_from_slice(trailer);
            wire.extend_from_slice(b"\r\n\r\n");
            assert_eq!(
                decode_all(&wire),
                Err(BodyError::Chunked("malformed trailer field")),
                "{:?}",
                String::from_utf8_lossy(trailer)
            );
        }
        let many = |n: usize| {
            let mut wire = b"2\r\n{}\r\n0\r\n".to_vec();
            wire.extend_from_slice(&b"a:\r\n".repeat(n));
            wire.extend_from_slice(b"\r\n");
            decode_all(&wire)
        };
        assert_eq!(many(100), Ok(b"{}".to_vec()));
        assert_eq!(many(101), Err(BodyError::Chunked("trailer section too long")));
    }

    #[test]
    fn a_bare_lf_is_refused_before_its_line_is_complete() {
        let mut decoder = Decoder::Chunked(Chunk::Size);
        let mut buf = BytesMut::from(&b"5;ext\nmore to come"[..]);
        assert!(decoder.decode(&mut buf).is_err());
        // A CR at the end of what has arrived may yet be followed by its LF.
        let mut decoder = Decoder::Chunked(Chunk::Size);
        let mut buf = BytesMut::from(&b"5;ext\r"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(Decoded::NeedMore));
        buf.extend_from_slice(b"\nhello");
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(Decoded::Data(Bytes::from_static(b"hello")))
        );
    }
}
