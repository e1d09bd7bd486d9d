//! Query strings: decoded strictly (percent-decoding must give UTF-8), each value read as the
//! type the schema gives it (integer, number, boolean; arrays from repeated keys), then
//! checked against the endpoint's query schema like a JSON object.

use percent_encoding::percent_decode;
use serde_json::{Map, Value};

use super::messages::{field_error, pointer_escape, schema_errors, teammate_alias};
use crate::envelope::FieldError;
use crate::routes::{QueryType, Schemas};

pub fn check(schemas: &Schemas, query: Option<&str>) -> Result<(), Vec<FieldError>> {
    let query = query.unwrap_or("");
    if query.is_empty() {
        // Decided at load for most endpoints; the errors are worked out only when it fails.
        return match &schemas.query {
            Some(validator) if !schemas.empty_query_valid => {
                to_result(schema_errors(validator, &Value::Object(Map::new())))
            }
            _ => Ok(()),
        };
    }
    let mut object = Map::new();
    let mut errors = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(key), Some(text)) = (decode(raw_key), decode(raw_value)) else {
            errors.push(field_error(
                "",
                "encoding",
                "a query parameter is not valid percent-encoded UTF-8",
            ));
            continue;
        };
        let pointer = format!("/{}", pointer_escape(&key));
        let Some(ty) = schemas.query_types.get(&key).copied() else {
            if schemas.reject_unknown {
                errors.push(field_error(
                    &pointer,
                    "additionalProperties",
                    "is not a query parameter of this endpoint",
                ));
            }
            continue;
        };
        if ty == QueryType::Array {
            let entry = object.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(Value::String(text));
            }
            continue;
        }
        if object.contains_key(&key) {
            errors.push(field_error(&pointer, "duplicate", "is given more than once"));
            continue;
        }
        object.insert(key, coerce(ty, text));
    }
    if let Some(validator) = &schemas.query {
        let value = Value::Object(object);
        errors.extend(schema_errors(validator, &value));
        if schemas.teammate_alias {
            errors.extend(teammate_alias(&value));
        }
    }
    to_result(errors)
}

fn to_result(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
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
        QueryType::String | QueryType::Array => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UnknownFields;
    use crate::routes::{Match, RouteTable};

    fn route(table: &RouteTable, path: &str) -> std::sync::Arc<crate::routes::Route> {
        match table.find(&http::Method::GET, path) {
            Match::Found(route) => route.clone(),
            _ => panic!("no route for {path}"),
        }
    }

    #[test]
    fn an_empty_query_is_checked_against_the_required_parameters() {
        let table = RouteTable::builtin(UnknownFields::Reject).unwrap();
        let conversations = &route(&table, "/v2/api/conversations").schemas;
        assert!(!conversations.empty_query_valid);
        let errors = check(conversations, None).unwrap_err();
        assert!(
            errors.iter().any(|e| e.field == "/allo_number" && e.code == "required"),
            "{errors:?}"
        );
        assert!(check(conversations, Some("allo_number=%2B33612345678")).is_ok());

        let users = &route(&table, "/v2/api/users").schemas;
        assert!(users.empty_query_valid);
        assert!(check(users, None).is_ok());
        assert!(check(users, Some("")).is_ok());
    }
}
