//! A small, pragmatic E.164 normaliser standing in for the phone library Allo runs upstream.
//! It accepts the human formats Allo's docs show (`+1 (212) 555-0010`, `+33 6 12 34 56 78`) and
//! refuses anything it cannot read unambiguously; it does not know per-country numbering plans.
//!
//! Rules, in order:
//! * separators are dropped: whitespace, `-`, `.`, `(`, `)`, and the French trunk notation
//!   `(0)` after a country code (`+33 (0)6 ...` is `+336...`);
//! * `+` then 8 to 15 digits, the first not `0`, is kept as is;
//! * `00` then the same is read as an international prefix (`0033...` -> `+33...`);
//! * a national number (`0` then 9 digits, 10 in all) is read in the default country, France
//!   (+33), because the Allo workspace this project was specified from is French;
//! * anything else (letters, a `+` in the middle, too short or too long, a bare number without
//!   `+`, `00` or trunk `0`) is invalid.

/// The calling code used for national numbers (`06 12 34 56 78` -> `+33612345678`).
pub(super) const DEFAULT_COUNTRY_CODE: &str = "33";

/// E.164 allows at most 15 digits; fewer than 8 is no real subscriber number.
const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;

/// The E.164 form of `raw`, or `None` when it is not a phone number this normaliser can read.
pub(super) fn normalize(raw: &str) -> Option<String> {
    // Bound the work on hostile input before allocating: no real number is this long.
    if raw.len() > 64 {
        return None;
    }
    let without_trunk = raw.replace("(0)", "");
    let compact: String = without_trunk
        .chars()
        .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')')))
        .collect();

    let (international, digits) = if let Some(rest) = compact.strip_prefix('+') {
        (true, rest)
    } else if let Some(rest) = compact.strip_prefix("00") {
        (true, rest)
    } else {
        (false, compact.as_str())
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if international {
        let ok = (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) && !digits.starts_with('0');
        return ok.then(|| format!("+{digits}"));
    }
    // National French form: trunk 0 followed by nine digits, the first of which is not 0.
    let national = digits.strip_prefix('0')?;
    let ok = national.len() == 9 && !national.starts_with('0');
    ok.then(|| format!("+{DEFAULT_COUNTRY_CODE}{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples() {
        assert_eq!(normalize("+1 (212) 555-0010").as_deref(), Some("+12125550010"));
        assert_eq!(normalize("+33 6 12 34 56 78").as_deref(), Some("+33612345678"));
    }

    #[test]
    fn prefixes_and_national_numbers() {
        assert_eq!(normalize("0033 6 12 34 56 78").as_deref(), Some("+33612345678"));
        assert_eq!(normalize("06.12.34.56.78").as_deref(), Some("+33612345678"));
        assert_eq!(normalize("06-12-34-56-78").as_deref(), Some("+33612345678"));
        assert_eq!(normalize("+33 (0)6 12 34 56 78").as_deref(), Some("+33612345678"));
        assert_eq!(normalize("+14155551234").as_deref(), Some("+14155551234"));
        assert_eq!(normalize(" +44 20 7946 0958 ").as_deref(), Some("+442079460958"));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for bad in [
            "",
            "+",
            "hello",
            "+33 6 12 AB 56 78",
            "+1234567",          // 7 digits: too short
            "+1234567890123456", // 16 digits: too long
            "+0612345678",       // country code cannot start with 0
            "612345678",         // bare national number without trunk 0
            "0612345",           // national too short
            "06123456789",       // national too long
            "+33 6+12 34 56 78", // plus in the middle
            "+٣٣٦١٢٣٤٥٦٧٨",      // non-ASCII digits
            "0012",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?} should be invalid");
        }
        assert_eq!(normalize(&"1".repeat(10_000)), None);
    }
}
