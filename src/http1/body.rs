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
/// The chunk extensions of one body, all chunk-size lines together, are at most this long
/// (hyper's bound: a body just under it passes there and here alike).
const MAX_CHUNK_EXTENSIONS: u32 = 16 * 1024;
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
    /// The first chunk-size line.
    Size,
    /// A later chunk-size line; the bytes of chunk extensions so far (as in the next two).
    NextSize(u32),
    Data(u64, u32),
    DataEnd(u32),
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
                Decoder::Length(_) | Decoder::UntilClose | Decoder::Chunked(Chunk::Data(..)) if buf.is_empty() => {
                    return Ok(Decoded::NeedMore)
                }
                Decoder::Length(left) => {
                    let take = take(left, buf.len());
                    *self = Decoder::Length(left - take as u64);
                    return Ok(Decoded::Data(piece(buf, take)));
                }
                Decoder::UntilClose => return Ok(Decoded::Data(piece(buf, buf.len()))),
                Decoder::Chunked(Chunk::Data(left, extensions)) => {
                    let take = take(left, buf.len());
                    let left = left - take as u64;
                    *self = Decoder::Chunked(if left == 0 {
                        Chunk::DataEnd(extensions)
                    } else {
                        Chunk::Data(left, extensions)
                    });
                    return Ok(Decoded::Data(piece(buf, take)));
                }
                Decoder::Chunked(chunk @ (Chunk::Size | Chunk::NextSize(_))) => {
                    let Some(end) = line_end(buf)? else {
                        return if buf.len() > MAX_CHUNK_LINE {
                            Err(BodyError::Chunked("chunk-size line too long"))
                        } else {
                            Ok(Decoded::NeedMore)
                        };
                    };
                    let (size, digits) = chunk_size(&buf[..end])?;
                    let before = if let Chunk::NextSize(before) = chunk { before } else { 0 };
                    let extensions = before.saturating_add(u32::try_from(end - digits).unwrap_or(u32::MAX));
                    if extensions > MAX_CHUNK_EXTENSIONS {
                        return Err(BodyError::Chunked("chunk extensions too long"));
                    }
                    buf.advance(end + 2);
                    *self = Decoder::Chunked(if size == 0 {
                        Chunk::Trailers { read: 0, fields: 0 }
                    } else {
                        Chunk::Data(size, extensions)
                    });
                }
                Decoder::Chunked(Chunk::DataEnd(extensions)) => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(BodyError::Chunked("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    *self = Decoder::Chunked(Chunk::NextSize(extensions));
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

/// The chunk size a chunk-size line states, and how many hex digits state it.
fn chunk_size(line: &[u8]) -> Result<(u64, usize), BodyError> {
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
    let size = line[..digits]
        .iter()
        .fold(0u64, |n, &d| n * 16 + u64::from((d as char).to_digit(16).unwrap_or(0)));
    Ok((size, digits))
}

#[cfg(test)]
mod tests;
