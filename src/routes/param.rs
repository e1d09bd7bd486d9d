//! Which request path segments may fill a template's `{param}`. A value that a server behind
//! Allo's edge could read as a path step would let a caller reach an endpoint its scopes do
//! not allow while the gateway checked another one: `GET /v2/api/users/..%2Fconversations`
//! matches `users.get`, and a normalising hop turns it into `GET /v2/api/conversations`.
//! So a parameter is never a dot-segment (`.`, `..`, in any mix of `.`, `%2e`, `%2E`, also
//! before a `;` that some servers cut off), and never holds an encoded `/` (`%2f`), a `\`
//! (raw or `%5c`) or a NUL (`%00`). Anything else, encoded or not (`%2B33612345678`), is an
//! ordinary value.

/// Whether `part` (one segment of the request path, as sent) may be a parameter's value.
pub(super) fn acceptable(part: &[u8]) -> bool {
    if part.is_empty() {
        return false;
    }
    // The common value (an id, a number) has none of these: one pass and done.
    if !part.iter().any(|b| matches!(b, b'%' | b'.' | b'\\' | 0)) {
        return true;
    }
    !is_dot_segment(part) && !has_separator(part)
}

/// `.` or `..`, each dot literal or percent-encoded, up to an optional `;...` suffix.
fn is_dot_segment(part: &[u8]) -> bool {
    let step = part.split(|b| *b == b';').next().unwrap_or(part);
    let mut dots = 0;
    let mut rest = step;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return false,
        };
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

/// A `\` or a percent-encoded `/`, `\` or NUL anywhere in the segment.
fn has_separator(part: &[u8]) -> bool {
    part.contains(&b'\\')
        || part.contains(&0)
        || part.windows(3).any(|w| {
            matches!(
                w,
                [b'%', b'2', b'f' | b'F'] | [b'%', b'5', b'c' | b'C'] | [b'%', b'0', b'0']
            )
        })
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn ordinary_values_are_accepted() {
        for ok in [
            "usr_1",
            "+33612345678",
            "%2B33612345678",
            "%2b33612345678",
            "john.doe",
            "...",
            ".hidden",
            "a..b",
            "%2e%2e%2e",
            "caf%C3%A9",
            "100%25",
        ] {
            assert!(acceptable(ok.as_bytes()), "{ok}");
        }
    }

    #[test]
    fn dot_segments_and_separators_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "%2e",
            "%2E",
            "%2e%2e",
            "%2E%2e",
            ".%2e",
            "%2e.",
            "..;",
            "..;jsessionid=1",
            "..%2Fconversations",
            "..%2fconversations",
            "a%2Fb",
            "a%5cb",
            "a%5Cb",
            "a\\b",
            "a%00",
            "a\0b",
        ] {
            assert!(!acceptable(bad.as_bytes()), "{bad:?}");
        }
    }
}
