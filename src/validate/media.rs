//! The media type a request body must be labelled with: JSON (`application/json` or
//! `application/<x>+json`), in UTF-8. The body is checked as UTF-8 and forwarded byte for byte
//! with its label, so a label naming another charset (`utf-16`, `latin1`) would make Allo
//! read bytes the gateway never checked: such a body is refused (415), never relabelled.

use http::HeaderMap;

use super::ValidationError;

/// Checks the `Content-Type` of a request that has body bytes.
pub(super) fn check(headers: &HeaderMap) -> Result<(), ValidationError> {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return Err(ValidationError::UnsupportedMediaType);
    };
    // The label nearly every caller sends, told without taking it apart.
    if value.as_bytes().eq_ignore_ascii_case(b"application/json") {
        return Ok(());
    }
    let Ok(value) = value.to_str() else {
        return Err(ValidationError::UnsupportedMediaType);
    };
    let mut pieces = value.split(';');
    if !is_json(pieces.next().unwrap_or("").trim()) {
        return Err(ValidationError::UnsupportedMediaType);
    }
    // Split on every `;`, a quoted one included: a quoted value with a `;` in it then reads as
    // a parameter that is not `charset=utf-8`, refused where a full parser might not have.
    // The wrong way round would forward a body whose label the gateway did not read.
    for parameter in pieces {
        let Some((name, charset)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") && !is_utf8(charset.trim()) {
            return Err(ValidationError::UnsupportedCharset);
        }
    }
    Ok(())
}

/// `application/json` or `application/<x>+json`.
fn is_json(essence: &str) -> bool {
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    const SUFFIX: &str = "+json";
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || (sub.len() > SUFFIX.len()
                && sub
                    .get(sub.len() - SUFFIX.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(SUFFIX))))
}

/// `utf-8` in any case, quoted or not. Only the registered name: an alias (`utf8`) is one a
/// receiver may not know, and JSON allows no other encoding on the wire (RFC 8259 §8.1).
fn is_utf8(charset: &str) -> bool {
    let bare = charset
        .strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(charset);
    bare.eq_ignore_ascii_case("utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(content_type: &str) -> Result<(), ValidationError> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        check(&headers)
    }

    #[test]
    fn json_in_utf8_passes_with_or_without_a_charset() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/problem+json; Charset = Utf-8",
            "application/json; version=2",
        ] {
            assert!(checked(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn another_charset_is_refused_as_its_own_condition() {
        for bad in [
            "application/json; charset=utf-16",
            "application/json; charset=latin1",
            "application/json; charset=\"ISO-8859-1\"",
            "application/json; charset=utf8",
            "application/json; charset=",
            "application/json; charset=utf-8; charset=utf-16",
            "application/json; x=\"a;charset=utf-16\"",
        ] {
            assert!(
                matches!(checked(bad), Err(ValidationError::UnsupportedCharset)),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_media_types_are_refused() {
        for bad in ["text/plain", "application/xml", "application/+json", "json", ""] {
            assert!(
                matches!(checked(bad), Err(ValidationError::UnsupportedMediaType)),
                "{bad:?}"
            );
        }
        assert!(matches!(
            check(&HeaderMap::new()),
            Err(ValidationError::UnsupportedMediaType)
        ));
    }
}
