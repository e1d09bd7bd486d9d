//! The resolver: one operation of an OpenAPI document read into an `Operation`, every `$ref`
//! it uses inlined (a reference that contains itself refused), OpenAPI 3.0's dialect turned
//! into JSON Schema 2020-12, annotations dropped. What it finds wrong it pushes as problems
//! with their JSON pointers and goes on, so one pass lists them all.

use std::collections::BTreeSet;

use http::Method;
use serde_json::{Map, Value};

use super::dialect::{is_annotation, openapi30, strip_annotations};
use super::{escape, problem, Operation, Parameter, RequestBody, SpecProblem, MAX_EXPANDED_NODES};
use crate::routes::RateClass;

/// A JSON pointer as a chain of borrowed segments, written out only for a problem.
#[derive(Clone, Copy)]
enum At<'p> {
    Root(&'p str),
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl At<'_> {
    fn render(&self) -> String {
        match self {
            At::Root(root) => root.to_string(),
            At::Key(parent, key) => format!("{}/{}", parent.render(), escape(key)),
            At::Index(parent, i) => format!("{}/{i}", parent.render()),
        }
    }
}

pub(super) struct Resolver<'a> {
    pub(super) root: &'a Value,
    pub(super) v30: bool,
    pub(super) nodes: usize,
    pub(super) problems: &'a mut Vec<SpecProblem>,
}

impl<'a> Resolver<'a> {
    /// The object a `$ref` (or a chain of them) names; the node itself when it is no `$ref`.
    pub(super) fn follow(&mut self, node: &'a Value, at: &str) -> Option<&'a Value> {
        let mut node = node;
        let mut seen = Vec::new();
        while let Some(target) = node.get("$ref").and_then(Value::as_str) {
            if seen.iter().any(|s| s == target) {
                self.problems
                    .push(problem(at, format!("$ref {target:?} leads back to itself")));
                return None;
            }
            seen.push(target.to_string());
            node = self.target(target, at)?;
        }
        Some(node)
    }

    fn target(&mut self, target: &str, at: &str) -> Option<&'a Value> {
        let Some(pointer) = target.strip_prefix('#') else {
            self.problems
                .push(problem(at, format!("{target:?} is not a local $ref")));
            return None;
        };
        let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
        match self.root.pointer(&decoded) {
            Some(found) => Some(found),
            None => {
                self.problems
                    .push(problem(at, format!("$ref {target:?} points to nothing")));
                None
            }
        }
    }

    pub(super) fn operation(
        &mut self,
        method: &str,
        path: &str,
        op: &'a Value,
        shared: Option<&'a Value>,
        at: &str,
        path_at: &str,
    ) -> Option<Operation> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).ok()?;
        let op = self.follow(op, at)?;
        if !op.is_object() {
            self.problems.push(problem(at, "an operation must be an object"));
            return None;
        }
        let scope = match op.get("x-scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => {
                self.problems
                    .push(problem(format!("{at}/x-scope"), "must be a scope name or null"));
                None
            }
        };
        let class = match op.get("x-rate-limit-class").and_then(Value::as_str) {
            None => None,
            Some("read") => Some(RateClass::Read),
            Some("write") => Some(RateClass::Write),
            Some(_) => {
                self.problems.push(problem(
                    format!("{at}/x-rate-limit-class"),
                    "must be \"read\" or \"write\"",
                ));
                None
            }
        };
        let mut operation = Operation {
            method,
            path: path.to_string(),
            operation_id: op.get("operationId").and_then(Value::as_str).map(str::to_string),
            pointer: at.to_string(),
            scope,
            class,
            query: Vec::new(),
            headers: Vec::new(),
            query_open: false,
            body: None,
            error_codes: error_codes(op),
        };
        // Operation-level parameters override path-level ones of the same name and place.
        let mut seen = BTreeSet::new();
        let own = op.get("parameters");
        for (list, list_at) in [
            (own, format!("{at}/parameters")),
            (shared, format!("{path_at}/parameters")),
        ] {
            let Some(list) = list else { continue };
            let Value::Array(items) = list else {
                self.problems.push(problem(&list_at, "parameters must be an array"));
                continue;
            };
            for (i, p) in items.iter().enumerate() {
                self.parameter(p, &format!("{list_at}/{i}"), &mut seen, &mut operation);
            }
        }
        if let Some(body) = op.get("requestBody") {
            operation.body = self.body(body, &format!("{at}/requestBody"));
        }
        Some(operation)
    }

    fn parameter(&mut self, p: &'a Value, at: &str, seen: &mut BTreeSet<(String, String)>, op: &mut Operation) {
        let Some(p) = self.follow(p, at) else { return };
        let (Some(name), Some(location)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            self.problems.push(problem(at, "a parameter needs a name and an in"));
            return;
        };
        let key = if location == "header" {
            (name.to_ascii_lowercase(), location.to_string())
        } else {
            (name.to_string(), location.to_string())
        };
        if !seen.insert(key) {
            return;
        }
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let schema = match (p.get("schema"), p.get("content").and_then(Value::as_object)) {
            (Some(s), _) => self.schema(s, &format!("{at}/schema"), &mut Vec::new()),
            (None, Some(content)) => match content.iter().next() {
                Some((media, m)) => match m.get("schema") {
                    Some(s) => self.schema(s, &format!("{at}/content/{}/schema", escape(media)), &mut Vec::new()),
                    None => Some(Value::Bool(true)),
                },
                None => Some(Value::Bool(true)),
            },
            (None, None) => Some(Value::Bool(true)),
        };
        let Some(schema) = schema else { return };
        let style = p.get("style").and_then(Value::as_str).unwrap_or("form");
        let explode = p.get("explode").and_then(Value::as_bool).unwrap_or(style == "form");
        let param = Parameter {
            name: name.to_string(),
            required,
            schema,
            explode,
        };
        match location {
            "query" if style == "deepObject" => op.query_open = true,
            "query" => op.query.push(param),
            "header" => op.headers.push(param),
            "path" | "cookie" => {}
            other => self.problems.push(problem(
                format!("{at}/in"),
                format!("{other:?} is not a parameter location"),
            )),
        }
    }

    fn body(&mut self, body: &'a Value, at: &str) -> Option<RequestBody> {
        let body = self.follow(body, at)?;
        let required = body.get("required").and_then(Value::as_bool).unwrap_or(false);
        let content = body.get("content").and_then(Value::as_object);
        // The JSON media type's schema; a body of another type is not validated (any JSON).
        let json = content.and_then(|c| {
            c.iter()
                .find(|(media, _)| is_json_media(media))
                .map(|(media, m)| (media.clone(), m.get("schema")))
        });
        let schema = match json {
            Some((media, Some(schema))) => self.schema(
                schema,
                &format!("{at}/content/{}/schema", escape(&media)),
                &mut Vec::new(),
            )?,
            _ => Value::Bool(true),
        };
        Some(RequestBody {
            required,
            alternatives: vec![schema],
        })
    }

    /// A self-contained JSON Schema 2020-12 copy of `node`, `$ref`s inlined. `stack` holds the
    /// references being expanded, to refuse one that contains itself.
    fn schema(&mut self, node: &Value, at: &str, stack: &mut Vec<String>) -> Option<Value> {
        self.subschema(node, At::Root(at), stack)
    }

    /// As `schema`, with the pointer kept as a chain on the stack: most nodes never need it
    /// written out, and writing it at each node of a deep schema would cost more than the rest.
    fn subschema(&mut self, node: &Value, at: At<'_>, stack: &mut Vec<String>) -> Option<Value> {
        self.nodes += 1;
        if self.nodes > MAX_EXPANDED_NODES {
            return None;
        }
        let Value::Object(map) = node else {
            return Some(node.clone());
        };
        if let Some(target) = map.get("$ref") {
            let Some(target) = target.as_str() else {
                self.problems
                    .push(problem(format!("{}/$ref", at.render()), "$ref must be a string"));
                return None;
            };
            if stack.iter().any(|s| s == target) {
                self.problems.push(problem(
                    format!("{}/$ref", at.render()),
                    format!(
                        "recursive $ref: {} -> {target} (a schema that contains itself cannot be inlined)",
                        stack.join(" -> ")
                    ),
                ));
                return None;
            }
            let found = self.target(target, &format!("{}/$ref", at.render()))?;
            stack.push(target.to_string());
            let resolved = self.subschema(found, At::Root(target.trim_start_matches('#')), stack);
            stack.pop();
            let resolved = resolved?;
            // Keywords beside a `$ref` (allowed in 3.1) must also hold.
            let mut siblings = map.clone();
            siblings.remove("$ref");
            strip_annotations(&mut siblings);
            if siblings.is_empty() {
                return Some(resolved);
            }
            let siblings = self.subschema(&Value::Object(siblings), at, stack)?;
            let mut both = Map::new();
            both.insert("allOf".into(), Value::Array(vec![resolved, siblings]));
            return Some(Value::Object(both));
        }
        let mut out = Map::new();
        for (key, value) in map {
            let here = At::Key(&at, key);
            let converted = match key.as_str() {
                // Maps from names to schemas.
                "properties" | "patternProperties" | "dependentSchemas" | "$defs" | "definitions" => {
                    let Value::Object(entries) = value else {
                        out.insert(key.clone(), value.clone());
                        continue;
                    };
                    let mut converted = Map::new();
                    for (name, schema) in entries {
                        let s = self.subschema(schema, At::Key(&here, name), stack)?;
                        converted.insert(name.clone(), s);
                    }
                    Value::Object(converted)
                }
                // Lists of schemas.
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                    let Value::Array(items) = value else {
                        self.problems
                            .push(problem(here.render(), "must be an array of schemas"));
                        return None;
                    };
                    let mut converted = Vec::with_capacity(items.len());
                    for (i, schema) in items.iter().enumerate() {
                        converted.push(self.subschema(schema, At::Index(&here, i), stack)?);
                    }
                    Value::Array(converted)
                }
                // One schema.
                "items"
                | "additionalProperties"
                | "not"
                | "contains"
                | "if"
                | "then"
                | "else"
                | "propertyNames"
                | "unevaluatedProperties"
                | "unevaluatedItems"
                | "additionalItems" => self.subschema(value, here, stack)?,
                _ if is_annotation(key, value) => continue,
                _ => value.clone(),
            };
            out.insert(key.clone(), converted);
        }
        if self.v30 {
            openapi30(&mut out);
        }
        Some(Value::Object(out))
    }
}

fn is_json_media(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}

fn error_codes(op: &Value) -> Vec<String> {
    let Some(Value::Array(rows)) = op.get("x-documented-error-codes") else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(Value::as_str)
        .filter_map(|row| row.split_whitespace().nth(1))
        .filter(|code| {
            code.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}
