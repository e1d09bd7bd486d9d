//! `unknown_fields`: under `"reject"` every object schema that names its properties is closed
//! (`close_objects`), under `"allow"` every closed one is opened (`open_objects`). `closes` is
//! the rule itself, which `spec diff` also reads to tell whether a change closed an object.

use serde_json::{Map, Value};

/// Whether `close_objects` closes this object schema: it names its properties (itself or
/// through its branches) and says nothing about others, and it is not itself a branch of a
/// composition (`branch`), whose parent, closed, sees what it names.
pub(in crate::routes) fn closes(map: &Map<String, Value>, branch: bool) -> bool {
    let says = map.contains_key("additionalProperties") || map.contains_key("unevaluatedProperties");
    !branch && !says && names_properties(map)
}

/// Closes every object schema that names its properties and says nothing about others. A
/// branch of `allOf`/`anyOf`/`oneOf` is left open: its parent, closed, sees what it names.
pub(super) fn close_objects(schema: &mut Value, branch: bool) {
    let Value::Object(map) = schema else { return };
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(props)) = map.get_mut(key) {
            props.values_mut().for_each(|s| close_objects(s, false));
        }
    }
    for key in ["items", "additionalProperties", "contains"] {
        if let Some(s) = map.get_mut(key) {
            close_objects(s, false);
        }
    }
    if let Some(Value::Array(items)) = map.get_mut("prefixItems") {
        items.iter_mut().for_each(|s| close_objects(s, false));
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get_mut(key) {
            branches.iter_mut().for_each(|s| close_objects(s, true));
        }
    }
    for key in ["if", "then", "else"] {
        if let Some(s) = map.get_mut(key) {
            close_objects(s, true);
        }
    }
    if closes(map, branch) {
        // Without composition the two say the same, and `additionalProperties` is the cheaper
        // check (no record of which properties something else evaluated).
        let composed = [
            "allOf",
            "anyOf",
            "oneOf",
            "if",
            "then",
            "else",
            "dependentSchemas",
            "$ref",
        ]
        .iter()
        .any(|key| map.contains_key(*key));
        let keyword = if composed {
            "unevaluatedProperties"
        } else {
            "additionalProperties"
        };
        map.insert(keyword.into(), Value::Bool(false));
    }
}

/// An object schema with named properties, itself or through its branches. A bare
/// `type: object` is a free-form map and stays open.
fn names_properties(map: &Map<String, Value>) -> bool {
    map.contains_key("properties")
        || ["allOf", "anyOf", "oneOf"].iter().any(|key| match map.get(*key) {
            Some(Value::Array(branches)) => branches.iter().any(|b| b.as_object().is_some_and(names_properties)),
            _ => false,
        })
}

/// `unknown_fields = "allow"`: drop every `additionalProperties: false`.
pub(super) fn open_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            for key in ["additionalProperties", "unevaluatedProperties"] {
                if map.get(key) == Some(&Value::Bool(false)) {
                    map.remove(key);
                }
            }
            map.values_mut().for_each(open_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(open_objects),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `closes` is the rule `close_objects` applies at the top, so `spec diff` reads the
    /// compiler's own decision, branches named through `allOf` inside `anyOf` included.
    #[test]
    fn close_objects_closes_exactly_what_closes_says() {
        let cases = [
            json!({"type": "object"}),
            json!({"properties": {"a": {}}}),
            json!({"properties": {"a": {}}, "additionalProperties": true}),
            json!({"properties": {"a": {}}, "unevaluatedProperties": false}),
            json!({"anyOf": [{"properties": {"a": {}}}, {"type": "null"}]}),
            json!({"anyOf": [{"allOf": [{"properties": {"a": {}}}]}]}),
            json!({"oneOf": [{"type": "string"}]}),
        ];
        let mut closed = 0;
        for case in cases {
            let map = case.as_object().unwrap().clone();
            let mut compiled = case.clone();
            close_objects(&mut compiled, false);
            let added = compiled.as_object().unwrap().len() > map.len();
            assert_eq!(closes(&map, false), added, "{case}");
            assert!(!closes(&map, true), "a branch stays open: {case}");
            closed += usize::from(added);
        }
        assert_eq!(closed, 3, "the cases that name properties and say nothing about others");
    }
}
