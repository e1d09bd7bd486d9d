//! `format: email`, checked fast for the addresses callers actually send. An address of the
//! plain shape (ASCII `local@host.tld`, dot-atoms, letters-only top-level label) is accepted
//! here without the general parser; anything else (quoted local parts, IP literals, comments,
//! `--` in a label as in punycode, unusual characters) goes to jsonschema's own check, so the accepted set is exactly
//! jsonschema's (a test holds the fast path to that).

use std::sync::OnceLock;

use serde_json::Value;

/// jsonschema's built-in check, for what the fast path leaves.
fn general(email: &str) -> bool {
    static CHECK: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    let check = CHECK.get_or_init(|| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&serde_json::json!({ "format": "email" }))
            .ok()
    });
    match check {
        Some(check) => check.is_valid(&Value::String(email.to_owned())),
        // The one-line schema above always compiles; should it not, nothing is accepted.
        None => false,
    }
}

/// The `format: email` check the gateway's schemas use.
pub(super) fn is_email(email: &str) -> bool {
    plain(email.as_bytes()).unwrap_or_else(|| general(email))
}

/// The same check of a string's bytes, for a reader that has not checked them as UTF-8: the
/// plain shape is ASCII, anything else is checked as UTF-8 first.
pub(super) fn is_email_bytes(email: &[u8]) -> bool {
    plain(email).unwrap_or_else(|| std::str::from_utf8(email).is_ok_and(general))
}

/// `Some(true)` for an address of the plain shape; `None`: not that shape, ask the general
/// check. One pass over the bytes, each byte classed by a table (the address is in every such
/// request body).
fn plain(bytes: &[u8]) -> Option<bool> {
    let at = memchr::memchr(b'@', bytes)?;
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    if local.len() > 64 || domain.len() > 253 {
        return None;
    }
    // A dot-atom: pieces of atext, none empty.
    let mut after_dot = true;
    for &b in local {
        match b {
            b'.' if after_dot => return None,
            b'.' => after_dot = true,
            _ if CLASS[usize::from(b)] & ATEXT != 0 => after_dot = false,
            _ => return None,
        }
    }
    if after_dot {
        return None;
    }
    // Labels of letters, digits and single hyphens inside, 1 to 63 bytes each; the last one
    // (after a dot) letters only, at least two.
    let (mut label, mut previous, mut tld_alpha) = (0usize, b'.', true);
    let mut dots = 0usize;
    for &b in domain {
        match b {
            b'.' if label == 0 || previous == b'-' => return None,
            b'.' => {
                (label, tld_alpha) = (0, true);
                dots += 1;
            }
            b'-' if label == 0 || previous == b'-' => return None,
            _ if CLASS[usize::from(b)] & LABEL != 0 => {
                label += 1;
                tld_alpha &= b.is_ascii_alphabetic();
                if label > 63 {
                    return None;
                }
            }
            _ => return None,
        }
        previous = b;
    }
    (dots > 0 && label >= 2 && tld_alpha && previous != b'-').then_some(true)
}

/// RFC 5322 atext (ASCII letters, digits and `!#$%&'*+/=?^_`{|}~-`).
const ATEXT: u8 = 1;
/// A domain label's letters, digits and `-`.
const LABEL: u8 = 2;

const CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() {
            class[b] = ATEXT | LABEL;
        }
        b += 1;
    }
    let extra = b"!#$%&'*+/=?^_`{|}~-";
    let mut i = 0;
    while i < extra.len() {
        class[extra[i] as usize] |= ATEXT;
        i += 1;
    }
    class[b'-' as usize] |= LABEL;
    class
};

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn plain_addresses_are_taken_fast_and_the_rest_asked_of_jsonschema() {
        for email in [
            "ana@example.com",
            "first.last+tag@mail.example.co",
            "x_y-z@a-b.io",
            "o'neil@example.org",
        ] {
            assert_eq!(plain(email.as_bytes()), Some(true), "{email}");
            assert!(general(email), "{email}");
        }
        for email in [
            "\"quoted\"@example.com",
            "a@[127.0.0.1]",
            "a@localhost",
            "a@xn--bcher-kva.ch",
            "a..b@example.com",
        ] {
            assert_eq!(plain(email.as_bytes()), None, "{email}");
        }
        for email in [
            "",
            "@",
            "a@",
            "@example.com",
            "a@b@c.com",
            "a@-x.com",
            "a b@example.com",
            "a@example.c0m",
        ] {
            assert_eq!(is_email(email), general(email), "{email:?}");
        }
        assert!(!is_email("not an email"));
        assert!(!is_email("a@b@example.com"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever the fast path accepts, jsonschema accepts.
        #[test]
        fn the_fast_path_never_accepts_what_jsonschema_refuses(
            email in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~ \"@()\\[\\]-]{0,12}@[a-zA-Z0-9.-]{0,12}(\\.[a-z0-9-]{0,4})?"
        ) {
            if plain(email.as_bytes()) == Some(true) {
                prop_assert!(general(&email), "{email:?}");
            }
            prop_assert_eq!(is_email(&email), general(&email));
        }

        /// The same, on addresses mostly of the plain shape, so the fast path answers often.
        #[test]
        fn plain_shapes_agree_with_jsonschema(
            email in "[a-zA-Z0-9._+'-]{1,10}@[a-zA-Z0-9-]{1,8}(\\.[a-zA-Z0-9-]{1,6}){1,3}"
        ) {
            prop_assert_eq!(is_email(&email), general(&email), "{:?}", email);
        }
    }
}
