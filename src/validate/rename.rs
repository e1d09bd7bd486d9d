//! A rule's `rename` applied to a JSON body: the old spelling of a top-level key becomes the
//! new one, in the parsed value (which the schemas then check) and in the bytes (which are
//! forwarded). Only the key's own bytes change: every other byte of the body is forwarded as it
//! came, so what the caller signed or hashed stays recognisable. When both spellings are given
//! they must be equal, and the old one's member is dropped.

use bytes::Bytes;
use serde_json::Value;

use super::messages::{field_error, pointer_escape};
use crate::envelope::FieldError;

/// Renames in `value` and returns the rewritten bytes (None: nothing to rename), or the
/// conflict when both spellings are given with different values.
pub(super) fn apply(
    value: &mut Value,
    body: &[u8],
    renames: &[(Box<str>, Box<str>)],
) -> Result<Option<Bytes>, FieldError> {
    let Value::Object(map) = value else {
        return Ok(None);
    };
    let mut edits: Vec<(&str, &str, bool)> = Vec::new();
    for (old, new) in renames {
        let Some(old_value) = map.get(&**old) else { continue };
        match map.get(&**new) {
            Some(new_value) if new_value != old_value => {
                return Err(field_error(
                    &format!("/{}", pointer_escape(old)),
                    "renameConflict",
                    format!("{old} and {new} name the same field and must be equal"),
                ));
            }
            Some(_) => edits.push((old, new, true)),
            None => edits.push((old, new, false)),
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    for (old, new, drop) in &edits {
        if let Some(v) = map.remove(*old) {
            // Both given (and equal): the new spelling's member stands as it is.
            if !*drop {
                map.insert(new.to_string(), v);
            }
        }
    }
    Ok(Some(rewrite(body, &edits)))
}

/// One top-level member: the byte ranges of its key (with quotes) and of the whole member.
struct Member {
    name: String,
    key: std::ops::Range<usize>,
    value_end: usize,
}

/// The body with each old key renamed, or its member removed where both spellings were given.
fn rewrite(body: &[u8], edits: &[(&str, &str, bool)]) -> Bytes {
    let members = members(body);
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for (i, m) in members.iter().enumerate() {
        let Some((_, new, drop)) = edits.iter().find(|(old, ..)| m.name == *old) else {
            continue;
        };
        if *drop {
            // Remove the member and one comma beside it: the one after it, or, for the last
            // member, the one before it.
            let (start, end) = match members.get(i + 1) {
                Some(next) => (m.key.start, next.key.start),
                None => (comma_before(body, m.key.start).unwrap_or(m.key.start), m.value_end),
            };
            out.extend_from_slice(&body[at..start]);
            at = end;
        } else {
            out.extend_from_slice(&body[at..m.key.start]);
            out.push(b'"');
            out.extend_from_slice(new.as_bytes());
            out.push(b'"');
            at = m.key.end;
        }
    }
    out.extend_from_slice(&body[at..]);
    Bytes::from(out)
}

fn comma_before(body: &[u8], from: usize) -> Option<usize> {
    let i = body[..from].iter().rposition(|b| !b.is_ascii_whitespace())?;
    (body[i] == b',').then_some(i)
}

/// The members of the top-level object of `body`, which has already parsed as strict JSON.
fn members(body: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let mut i = skip_ws(body, 0);
    if body.get(i) != Some(&b'{') {
        return out;
    }
    i += 1;
    loop {
        i = skip_ws(body, i);
        match body.get(i) {
            Some(b'"') => {}
            _ => return out,
        }
        let key_end = string_end(body, i);
        let name = serde_json::from_slice::<String>(&body[i..key_end]).unwrap_or_default();
        let mut j = skip_ws(body, key_end);
        if body.get(j) != Some(&b':') {
            return out;
        }
        j = skip_ws(body, j + 1);
        let value_end = value_end(body, j);
        out.push(Member {
            name,
            key: i..key_end,
            value_end,
        });
        i = skip_ws(body, value_end);
        match body.get(i) {
            Some(b',') => i += 1,
            _ => return out,
        }
    }
}

fn skip_ws(body: &[u8], mut i: usize) -> usize {
    while body.get(i).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index just past the string that starts (with its quote) at `i`.
fn string_end(body: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < body.len() {
        match body[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    body.len()
}

/// The index just past the value that starts at `i`.
fn value_end(body: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < body.len() {
        match body[j] {
            b'"' => {
                j = string_end(body, j);
                if depth == 0 {
                    return j;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return j,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            b',' if depth == 0 => return j,
            b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return j,
            _ => {}
        }
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests;
