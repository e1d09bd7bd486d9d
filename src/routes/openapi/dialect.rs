//! OpenAPI's schema dialect made JSON Schema 2020-12: 3.0's `nullable` and boolean exclusive
//! bounds rewritten, and the keywords that only describe dropped (vendor extensions that list
//! values are kept: validators ignore them and `spec diff` reports them).

use serde_json::{Map, Value};

/// OpenAPI 3.0's dialect -> JSON Schema 2020-12: `nullable: true` becomes a `null` type (or an
/// `anyOf` with `null` where the schema names no type), boolean `exclusiveMinimum`/`Maximum`
/// become numbers.
pub(super) fn openapi30(map: &mut Map<String, Value>) {
    for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match map.get(flag) {
            Some(Value::Bool(true)) => {
                if let Some(limit) = map.remove(bound) {
                    map.insert(flag.into(), limit);
                } else {
                    map.remove(flag);
                }
            }
            Some(Value::Bool(false)) => {
                map.remove(flag);
            }
            _ => {}
        }
    }
    if map.remove("nullable") != Some(Value::Bool(true)) {
        return;
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            map.insert("type".into(), Value::Array(vec![Value::String(t), "null".into()]));
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push("null".into());
            }
        }
        _ => {
            let rest = std::mem::take(map);
            let mut null = Map::new();
            null.insert("type".into(), "null".into());
            map.insert(
                "anyOf".into(),
                Value::Array(vec![Value::Object(null), Value::Object(rest)]),
            );
        }
    }
}

/// Keywords that only describe (OpenAPI's and the vendor's), dropped from compiled schemas.
pub(super) fn is_annotation(key: &str, value: &Value) -> bool {
    // A vendor extension that lists values (not prose) is kept: validators ignore it, and
    // `spec diff` reports what it lists.
    (key.starts_with("x-") && !(value.is_array() || value.is_object()))
        || matches!(
            key,
            "description"
                | "title"
                | "example"
                | "examples"
                | "externalDocs"
                | "xml"
                | "discriminator"
                | "deprecated"
                | "readOnly"
                | "writeOnly"
                | "$comment"
                | "summary"
        )
}

pub(super) fn strip_annotations(map: &mut Map<String, Value>) {
    map.retain(|k, v| !is_annotation(k, v));
}
