//! Rust source as the house rule reads it: comments, strings and character literals blanked
//! out (so a `crate::x` in a doc comment or a message is not an arrow), then split into tokens.
//! Not a parser: just enough to see the paths a file names.

/// The code of a file with comments, strings and character literals blanked out, so that a
/// `crate::x` in a doc comment or a message is not an arrow.
pub(super) fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |end| end + 2);
        } else if let Some(hashes) = raw_string_start(text, i) {
            let open = 2 + hashes;
            let close = format!("\"{}", "#".repeat(hashes));
            i += rest[open..]
                .find(&close)
                .map_or(rest.len(), |end| open + end + close.len());
            out.push_str("\"\"");
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("\"\"");
        } else if let Some(len) = char_literal(rest) {
            i += len;
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, ...: the number of `#`.
fn raw_string_start(text: &str, i: usize) -> Option<usize> {
    let rest = &text.as_bytes()[i..];
    let before = i.checked_sub(1).map(|b| text.as_bytes()[b]);
    if rest.first() != Some(&b'r') || before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
    (rest.get(1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// `'a'`, `'\n'`, `'\''`, `'\u{7f}'`: its length; `None` for a lifetime.
fn char_literal(rest: &str) -> Option<usize> {
    if !rest.starts_with('\'') {
        return None;
    }
    let mut chars = rest.char_indices().skip(1);
    let (_, c) = chars.next()?;
    if c == '\\' {
        let close = rest[2..].find('\'')?;
        // The escape is at least one character, so `'\''` closes at its second quote.
        let close = if close == 0 { 1 + rest[3..].find('\'')? } else { close };
        return Some(close + 3);
    }
    let (at, next) = chars.next()?;
    (next == '\'').then_some(at + 1)
}

pub(super) fn tokens(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        let len = if rest.starts_with("::") {
            2
        } else if rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        } else {
            rest.chars().next().map_or(1, char::len_utf8)
        };
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

pub(super) fn is_name(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
}
