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
    plain(email).unwrap_or_else(|| general(email))
}

/// `Some(true)` for an address of the plain shape; `None`: not that shape, ask the general
/// check. One pass over the bytes per part (the address is in every such request body).
fn plain(email: &str) -> Option<bool> {
    let bytes = email.as_bytes();
    let at = memchr::memchr(b'@', bytes)?;
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    let local_ok = local.len() <= 64
        && pieces(local).all(|piece| {
            !piece.is_empty()
                && piece
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b))
        });
    let labels_ok = domain.len() <= 253 && pieces(domain).all(is_label);
    let tld_ok = memchr::memrchr(b'.', domain).is_some_and(|dot| {
        let tld = &domain[dot + 1..];
        tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)
    });
    (local_ok && labels_ok && tld_ok).then_some(true)
}

/// A domain label: letters, digits and single hyphens inside, at most 63 bytes.
fn is_label(label: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (label.first(), label.last()) else {
        return false;
    };
    if first == b'-' || last == b'-' || label.len() > 63 {
        return false;
    }
    let mut previous = 0u8;
    label.iter().all(|&b| {
        let ok = b.is_ascii_alphanumeric() || (b == b'-' && previous != b'-');
        previous = b;
        ok
    })
}

/// The dot-separated pieces of an address part.
fn pieces(part: &[u8]) -> impl Iterator<Item = &[u8]> {
    part.split(|&b| b == b'.')
}

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
            assert_eq!(plain(email), Some(true), "{email}");
            assert!(general(email), "{email}");
        }
        for email in [
            "\"quoted\"@example.com",
            "a@[127.0.0.1]",
            "a@localhost",
            "a@xn--bcher-kva.ch",
            "a..b@example.com",
        ] {
            assert_eq!(plain(email), None, "{email}");
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
            if plain(&email) == Some(true) {
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
