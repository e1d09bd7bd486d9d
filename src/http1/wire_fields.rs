//! An upstream answer's end-to-end fields kept as the wire lines they came in, so that the
//! listener writes them back without building a header map.

use bytes::Bytes;
use http::header::HeaderName;

/// An upstream's end-to-end fields as `name: value\r\n` lines: the fields of a parsed head,
/// less the hop-by-hop ones, those named in `Connection`, the framing fields and the request
/// id, which are the gateway's to set.
pub struct WireFields {
    lines: Bytes,
    /// The Content-Length the upstream declared for a body framed by length. Kept apart
    /// because the listener frames the body itself; a HEAD or 304 answer still states it.
    pub length: Option<u64>,
    /// A `Date` is among the lines.
    pub has_date: bool,
}

impl WireFields {
    /// `lines` as `http1::put_field` writes them, of names and values checked by a parser.
    pub fn new(lines: Bytes, length: Option<u64>, has_date: bool) -> WireFields {
        WireFields {
            lines,
            length,
            has_date,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.lines
    }

    /// `part` (a name or value got from these lines) as a buffer sharing them, no copy.
    pub fn shared(&self, part: &[u8]) -> Bytes {
        self.lines.slice_ref(part)
    }

    /// Each line, without its CRLF.
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        memchr::memchr_iter(b'\n', &self.lines).filter_map(move |end| {
            let line = &self.lines[start..end];
            start = end + 1;
            line.strip_suffix(b"\r")
        })
    }

    /// Each field's name and value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.lines().filter_map(|line| {
            let colon = memchr::memchr(b':', line)?;
            Some((&line[..colon], value_after(line, colon)))
        })
    }

    pub fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        let name = name.as_str().as_bytes();
        // `name: value`: the name is told from the line's start, without looking for ':'.
        self.lines().find_map(|line| {
            let named = line.get(name.len()) == Some(&b':') && line[..name.len()].eq_ignore_ascii_case(name);
            named.then(|| value_after(line, name.len()))
        })
    }
}

/// The value of a `name: value` line whose colon is at `colon`.
fn value_after(line: &[u8], colon: usize) -> &[u8] {
    line.get(colon + 2..).unwrap_or_default()
}
