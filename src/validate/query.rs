//! Query strings: decoded strictly (percent-decoding must give UTF-8), each value read as the
//! type the schema gives it (integer, number, boolean; arrays from repeated keys), then
//! checked against the endpoint's query schema like a JSON object. Every pair is read (a rename
//! may rewrite any of them, and the count of findings stays right), but once `errors[]` is
//! full a finding is only counted and the schema check stops early.

use percent_encoding::percent_decode;
use serde_json::{Map, Value};

use super::bounded::ErrorList;
use super::messages::{pointer_escape, schema_errors};
use crate::routes::{QueryType, Schemas};

/// The query's field errors and, when a rename applied, the query to forward instead.
pub(super) fn check(
    schemas: &Schemas,
    renames: &[(Box<str>, Box<str>)],
    query: Option<&str>,
) -> (Option<String>, ErrorList) {
    let query = query.unwrap_or("");
    if query.is_empty() {
        // Decided at load for most endpoints; the errors are worked out only when it fails.
        if schemas.empty_query_valid {
            return (None, ErrorList::new());
        }
        let empty = Value::Object(Map::new());
        let mut errors = ErrorList::new();
        for validator in [&schemas.query, &schemas.query_extra].into_iter().flatten() {
            schema_errors(validator, &empty, &mut errors);
        }
        return (None, errors);
    }
    let mut object = Map::new();
    let mut errors = ErrorList::new();
    // Each pair as it came, with its key renamed where a rule says so.
    let mut pairs: Vec<(&str, Option<&str>, String)> = Vec::new();
    let mut renamed = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(mut key), Some(text)) = (decode(raw_key), decode(raw_value)) else {
            errors.push("", "encoding", || {
                "a query parameter is not valid percent-encoded UTF-8".to_string()
            });
            continue;
        };
        let mut new_name = None;
        if let Some((_, new)) = renames.iter().find(|(old, _)| **old == *key) {
            key = new.to_string();
            new_name = Some(&**new);
            renamed = true;
        }
        // Kept only where a rename may rewrite the query: most routes have none.
        if !renames.is_empty() {
            pairs.push((pair, new_name, key.clone()));
        }
        let pointer = format!("/{}", pointer_escape(&key));
        let Some(ty) = schemas.query_types.get(&key).copied() else {
            if schemas.reject_unknown {
                errors.push(&pointer, "additionalProperties", || {
                    "is not a query parameter of this endpoint".to_string()
                });
            }
            continue;
        };
        match ty {
            QueryType::Array => {
                let entry = object.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = entry {
                    items.push(Value::String(text));
                }
                continue;
            }
            QueryType::CommaArray if !object.contains_key(&key) => {
                let items = text.split(',').map(|s| Value::String(s.to_string())).collect();
                object.insert(key, Value::Array(items));
                continue;
            }
            _ => {}
        }
        match object.get(&key) {
            // The two spellings of a renamed key, with one value: one parameter.
            Some(existing) if renamed && *existing == coerce(ty, text.clone()) => continue,
            Some(_) if renamed && renames.iter().any(|(_, new)| **new == *key) => {
                errors.push(&pointer, "renameConflict", || {
                    "is given under two spellings with different values".to_string()
                });
                continue;
            }
            Some(_) => {
                errors.push(&pointer, "duplicate", || "is given more than once".to_string());
                continue;
            }
            None => {}
        }
        object.insert(key, coerce(ty, text));
    }
    let value = Value::Object(object);
    for validator in [&schemas.query, &schemas.query_extra].into_iter().flatten() {
        schema_errors(validator, &value, &mut errors);
    }
    let rewritten = renamed.then(|| rewrite(&pairs));
    (rewritten, errors)
}

/// The query with renamed keys in their new spelling, a second spelling of one key dropped,
/// every other byte as it came.
fn rewrite(pairs: &[(&str, Option<&str>, String)]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for (raw, new_name, key) in pairs {
        if new_name.is_some() || pairs.iter().any(|(_, n, k)| n.is_some() && k == key) {
            // A key that is (or was renamed to) a renamed name: kept once.
            if seen.contains(&key.as_str()) {
                continue;
            }
            seen.push(key);
        }
        match new_name {
            Some(new) => {
                let value = raw.split_once('=').map(|(_, v)| v);
                out.push(match value {
                    Some(v) => format!("{new}={v}"),
                    None => new.to_string(),
                });
            }
            None => out.push(raw.to_string()),
        }
    }
    out.join("&")
}

/// `+` is a space in query strings; the rest is percent-decoded and must be UTF-8.
fn decode(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Reads a query value as its schema type; a value that does not parse stays a string so
/// the schema reports the type mismatch with the field's pointer.
fn coerce(ty: QueryType, text: String) -> Value {
    match ty {
        QueryType::Integer => text.parse::<i64>().map(Value::from).unwrap_or(Value::String(text)),
        QueryType::Number => match text.parse::<f64>().ok().filter(|f| f.is_finite()) {
            Some(f) => Value::from(f),
            None => Value::String(text),
        },
        QueryType::Boolean => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text),
        },
        QueryType::String | QueryType::Array | QueryType::CommaArray => Value::String(text),
    }
}

#[cfg(test)]
mod tests;
