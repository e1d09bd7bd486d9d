//! A YAML API description read into the same JSON value a JSON one gives: mappings with
//! string keys, sequences, and plain scalars typed as YAML's core schema types them. Built
//! from the parser's events rather than its document tree, so that aliases are expanded under
//! a budget: an anchor that is aliased again and again (the "billion laughs") is refused with a
//! size error instead of filling memory. A stream that is not one document is refused.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// Deeper nesting than this is no API description (and would overflow a recursive walk).
const MAX_DEPTH: usize = 256;
/// Values built, aliases expanded included: far above what an API description holds.
const MAX_NODES: usize = 4_000_000;

pub(super) fn to_json(text: &str) -> Result<Value, String> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, true)
        .map_err(|e| e.to_string())?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    match builder.documents.len() {
        1 => builder.documents.pop().ok_or_else(|| "no YAML document".to_string()),
        n => Err(format!("expected one YAML document, found {n}")),
    }
}

/// An open sequence or mapping, with its anchor and, for a mapping, the key awaiting a value.
enum Open {
    Sequence(usize, Vec<Value>),
    Mapping(usize, Map<String, Value>, Option<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Value>,
    documents: Vec<Value>,
    nodes: usize,
    error: Option<String>,
}

impl Builder {
    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    /// Counts `size` more nodes; false (and the error set) past the budget.
    fn spend(&mut self, size: usize) -> bool {
        self.nodes = self.nodes.saturating_add(size);
        if self.nodes > MAX_NODES {
            self.fail(format!(
                "the YAML expands to more than {MAX_NODES} values (aliases of aliases?)"
            ));
            return false;
        }
        true
    }

    /// A finished value goes into its parent, or is a document.
    fn place(&mut self, value: Value, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(value),
            Some(Open::Sequence(_, items)) => items.push(value),
            Some(Open::Mapping(_, map, key)) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => match value {
                    Value::String(s) => *key = Some(s),
                    Value::Number(n) => *key = Some(n.to_string()),
                    Value::Bool(b) => *key = Some(b.to_string()),
                    _ => self.fail("a mapping key is not a string".into()),
                },
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.fail(format!("nested deeper than {MAX_DEPTH} levels"));
            }
            Event::SequenceStart(anchor, _) => {
                if self.spend(1) {
                    self.stack.push(Open::Sequence(anchor, Vec::new()));
                }
            }
            Event::MappingStart(anchor, _) => {
                if self.spend(1) {
                    self.stack.push(Open::Mapping(anchor, Map::new(), None));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Sequence(anchor, items)) => self.place(Value::Array(items), anchor),
                Some(Open::Mapping(anchor, map, _)) => self.place(Value::Object(map), anchor),
                None => self.fail("unbalanced YAML".into()),
            },
            Event::Scalar(text, style, anchor, _) => {
                if self.spend(1) {
                    let value = match style {
                        TScalarStyle::Plain => plain(&text),
                        _ => Value::String(text),
                    };
                    self.place(value, anchor);
                }
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some(value) => {
                    if self.spend(size(&value)) {
                        self.place(value, 0);
                    }
                }
                None => self.fail("an alias names no anchor".into()),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

/// A plain scalar typed as YAML's core schema does (null, booleans, numbers, else a string).
fn plain(text: &str) -> Value {
    match Yaml::from_str(text) {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(real) => match real.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(text.to_string()),
        },
        _ => Value::String(text.to_string()),
    }
}

/// How many values `value` holds, itself included.
fn size(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_reads_as_json_does() {
        let value = to_json(
            "openapi: 3.1.0\npaths:\n  /a:\n    get: {x-n: 3, x-f: 1.5, x-b: true, x-z: null, x-s: '12'}\nlist: [a, 2]\n",
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"openapi": "3.1.0", "paths": {"/a": {"get": {"x-n": 3, "x-f": 1.5, "x-b": true, "x-z": null, "x-s": "12"}}}, "list": ["a", 2]})
        );
        let aliased = to_json("base: &b {type: string}\nother: *b\n").unwrap();
        assert_eq!(aliased["other"], json!({"type": "string"}));
    }

    #[test]
    fn alias_bombs_and_odd_streams_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = to_json(&bomb).unwrap_err();
        assert!(err.contains("expands to more than"), "{err}");
        assert!(to_json("a: 1\n---\nb: 2\n").unwrap_err().contains("one YAML document"));
        assert!(to_json("? [a, b]\n: c\n").unwrap_err().contains("not a string"));
        assert!(to_json("a: *nowhere\n").is_err());
    }
}
