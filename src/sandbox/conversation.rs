//! How the notes and pin endpoints name a conversation: the contact's number in the path and
//! the team's Allo number (in the body or the query). Both are read as phone numbers and kept
//! in E.164, so `+33 6 12 34 56 78`, `%2B33612345678` and `0612345678` name one conversation.
//! What is stored about a conversation is the business of `notebook.rs` and `pins.rs`.

use percent_encoding::percent_decode_str;

use super::phone;
use super::respond::ApiError;

/// The `{contact_number}` path segment, percent-decoded (a `+` in a path is literal, unlike in
/// a query string) and normalised; 400 `INVALID_PHONE_NUMBER` when it is not a number.
pub(crate) fn contact_number(raw: &str) -> Result<String, ApiError> {
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .and_then(|decoded| phone::normalize(&decoded))
        .ok_or_else(|| invalid_number("contact_number"))
}

/// An Allo number given as `param`, normalised; 400 `INVALID_PHONE_NUMBER` when unreadable.
/// The sandbox has no list of the team's numbers, so every readable number is the team's.
pub(crate) fn allo_number(raw: &str, param: &str) -> Result<String, ApiError> {
    phone::normalize(raw).ok_or_else(|| invalid_number(param))
}

/// An Allo number from the query string. A `+` sent unencoded there arrives as a space
/// (form encoding), and clients commonly write `?allo_number=+33...`; since no number is written
/// with a leading space, one is read as the `+` it was.
pub(crate) fn allo_number_from_query(raw: &str) -> Result<String, ApiError> {
    match raw.strip_prefix(' ') {
        Some(rest) => allo_number(&format!("+{rest}"), "allo_number"),
        None => allo_number(raw, "allo_number"),
    }
}

fn invalid_number(param: &str) -> ApiError {
    ApiError::validation("INVALID_PHONE_NUMBER", format!("{param}: not a valid phone number")).with_param(param)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_numbers_are_decoded_then_normalised() {
        assert_eq!(contact_number("%2B33612345678").unwrap(), "+33612345678");
        assert_eq!(contact_number("+33%206%2012%2034%2056%2078").unwrap(), "+33612345678");
        assert_eq!(contact_number("0612345678").unwrap(), "+33612345678");
        let err = contact_number("%FF").unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            ("INVALID_PHONE_NUMBER", Some("contact_number"))
        );
        assert!(contact_number("hello").is_err());
        assert_eq!(allo_number("+33 1 87 65 43 21", "allo_number").unwrap(), "+33187654321");
        assert!(allo_number("x", "allo_number").is_err());
        assert_eq!(allo_number_from_query(" 33187654321").unwrap(), "+33187654321");
        assert_eq!(allo_number_from_query("0187654321").unwrap(), "+33187654321");
        assert!(allo_number_from_query(" 0187654321").is_err());
    }
}
