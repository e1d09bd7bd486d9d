//! `allOf` read as one schema, for the diff: each branch's keywords merged into the parent, so
//! that a document which composes a body from parts and one which spells it out whole compare
//! equal when they admit the same bodies. Where both name a keyword, the tighter wins: the
//! larger lower bound, the smaller upper bound, the common enum values, every required name;
//! a property both describe becomes an `allOf` of the two, flattened when the walk reaches it.
//! Any other keyword the parent names stands as the parent wrote it.

use serde_json::{Map, Value};

use super::walk::{LOWER, UPPER};

/// `allOf` merged into its parent, recursively for the branches themselves.
pub(super) fn flatten(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = map.clone();
    let Some(Value::Array(branches)) = out.remove("allOf") else {
        return Value::Object(out);
    };
    for branch in &branches {
        match flatten(branch) {
            Value::Object(b) => merge(&mut out, b),
            Value::Bool(true) => {}
            // `false` in an allOf admits nothing; keep it where the walk will see it.
            other => return other,
        }
    }
    Value::Object(out)
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        let Some(existing) = into.get_mut(&key) else {
            into.insert(key, value);
            continue;
        };
        match (key.as_str(), existing, value) {
            ("properties", Value::Object(mine), Value::Object(theirs)) => {
                for (name, schema) in theirs {
                    match mine.get_mut(&name) {
                        Some(present) => {
                            let both = Value::Array(vec![present.take(), schema]);
                            *present = Value::Object(Map::from_iter([("allOf".to_string(), both)]));
                        }
                        None => {
                            mine.insert(name, schema);
                        }
                    }
                }
            }
            ("required", Value::Array(mine), Value::Array(theirs)) => {
                for name in theirs {
                    if !mine.contains(&name) {
                        mine.push(name);
                    }
                }
            }
            ("enum", Value::Array(mine), Value::Array(theirs)) => mine.retain(|v| theirs.contains(v)),
            (k, existing, value) if UPPER.contains(&k) || LOWER.contains(&k) => {
                if let (Some(a), Some(b)) = (existing.as_f64(), value.as_f64()) {
                    if (b < a) == UPPER.contains(&k) {
                        *existing = value;
                    }
                }
            }
            // Otherwise the parent's own keyword stands.
            _ => {}
        }
    }
}
