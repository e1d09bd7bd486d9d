//! Field lines: one written into a head, a list value split into its items, the `Connection`
//! tokens read off a head, and header names as they come off a caller's wire.

use http::header::{HeaderName, InvalidHeaderName};

/// Appends one `name: value` line of a head.
pub fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal, formatted on the stack.
pub fn put_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The items of a comma-separated list value (RFC 9110 §5.6.1), each without the whitespace
/// around it; empty items are kept (as empty slices) for the caller to skip or refuse.
pub fn list_items(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

/// The `close` and `keep-alive` tokens of a head's `Connection` fields, and whether they name
/// anything else (fields that then are hop-by-hop too).
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnectionTokens {
    pub close: bool,
    pub keep_alive: bool,
    pub names_fields: bool,
}

impl ConnectionTokens {
    /// Notes the tokens of one `Connection` field value.
    pub fn note(&mut self, value: &[u8]) {
        for token in list_items(value) {
            let close = token.eq_ignore_ascii_case(b"close");
            let keep_alive = token.eq_ignore_ascii_case(b"keep-alive");
            self.close |= close;
            self.keep_alive |= keep_alive;
            self.names_fields |= !(close || keep_alive || token.is_empty());
        }
    }
}

/// Whether any of the `Connection` values says `close`.
pub fn says_close<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> bool {
    values.any(|v| list_items(v).any(|t| t.eq_ignore_ascii_case(b"close")))
}

/// A header name as read off a caller's HTTP/1.1 head. `X-Request-Id`, which callers send on
/// most requests, is outside the standard set, where `HeaderName::from_bytes` would allocate:
/// it is the static name instead.
pub fn wire_name(name: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    if name.eq_ignore_ascii_case(crate::ids::REQUEST_ID.as_str().as_bytes()) {
        return Ok(crate::ids::REQUEST_ID);
    }
    HeaderName::from_bytes(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_write_as_plain_decimals() {
        let mut out = Vec::new();
        for n in [0, 7, 10, 99, 100, 65_535, 1_234_567_890, u64::MAX] {
            out.clear();
            put_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn wire_names_are_lowercased_whether_usual_or_not() {
        assert_eq!(wire_name(b"X-Request-Id").unwrap(), "x-request-id");
        assert_eq!(wire_name(b"X-RateLimit-Reset").unwrap(), "x-ratelimit-reset");
        assert_eq!(wire_name(b"X-Other-Thing").unwrap(), "x-other-thing");
        assert_eq!(wire_name(b"Content-Type").unwrap(), http::header::CONTENT_TYPE);
        assert!(wire_name(b"bad name").is_err());
    }

    #[test]
    fn connection_tokens_are_list_items_in_any_case() {
        let mut tokens = ConnectionTokens::default();
        tokens.note(b" te , Close,,x-hop");
        assert!(tokens.close && !tokens.keep_alive && tokens.names_fields);
        let mut tokens = ConnectionTokens::default();
        tokens.note(b"Keep-Alive");
        assert!(!tokens.close && tokens.keep_alive && !tokens.names_fields);
        assert!(says_close([&b"x, CLOSE"[..]].into_iter()));
        assert!(!says_close([&b"closed"[..]].into_iter()));
    }
}
