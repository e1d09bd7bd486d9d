//! Entry points for the fuzz targets in `tests/fuzz` (compiled only under `cfg(fuzzing)`).

use bytes::BytesMut;
use http::Method;

use super::{parse_response_head, Decoded};

/// The upstream response parser and body decoder over wire bytes that arrive `piece` bytes at
/// a time, then the connection closes: `(status, body)`, or `None` for an answer the gateway
/// refuses.
pub fn read_response_in_pieces(wire: &[u8], head_request: bool, piece: usize) -> Option<(u16, Vec<u8>)> {
    let method = if head_request { Method::HEAD } else { Method::GET };
    let mut pieces = wire.chunks(piece.max(1));
    let mut buf = BytesMut::new();
    let head = loop {
        if let Some(head) = parse_response_head(&mut buf, &method, |_| false).ok()? {
            break head;
        }
        buf.extend_from_slice(pieces.next()?);
    };
    let mut decoder = head.body;
    let mut body = head.whole_body.map(Vec::from).unwrap_or_default();
    loop {
        match decoder.decode(&mut buf).ok()? {
            Decoded::Data(data) => body.extend_from_slice(&data),
            Decoded::End => return Some((head.status.as_u16(), body)),
            Decoded::NeedMore => match pieces.next() {
                Some(more) => buf.extend_from_slice(more),
                None => {
                    if decoder.closed().ok()? == Decoded::End {
                        return Some((head.status.as_u16(), body));
                    }
                    return None;
                }
            },
        }
    }
}
