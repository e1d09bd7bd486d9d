//! Two JSON Schemas (2020-12, self-contained: `$ref`s already inlined) walked side by side,
//! each difference reported at a pointer into the instance: `/topics/items` is the items of
//! the `topics` property; a branch of `anyOf` is `/anyOf/0`. `allOf` is read as one schema, its
//! branches' keywords merged into the parent (the tightest bound and the common enum values
//! win, `all_of`), since that is what an instance must satisfy. Keywords this walk knows are compared
//! with a direction (tightened or loosened); any other assertion that differs is reported
//! as changed, without one.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::all_of::flatten;
use super::Effect;
use crate::routes::openapi::escape;

/// One difference between two schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub pointer: String,
    pub what: String,
    pub effect: Option<Effect>,
}

/// Upper bounds: smaller is tighter. Lower bounds: larger is tighter.
pub(super) const UPPER: [&str; 5] = ["maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties"];
pub(super) const LOWER: [&str; 5] = ["minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties"];
/// Compared by `schemas` itself, or only describing (not asserting).
const KNOWN: [&str; 21] = [
    "type",
    "format",
    "pattern",
    "enum",
    "const",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "unevaluatedProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "prefixItems",
    "default",
    "$schema",
    "$id",
    "$anchor",
    "$comment",
    "examples",
    "contentMediaType",
];

pub(super) fn schemas(old: &Value, new: &Value, at: &str, branch: bool, out: &mut Vec<Finding>) {
    let (old, new) = (flatten(old), flatten(new));
    let (Value::Object(o), Value::Object(n)) = (&old, &new) else {
        if old != new {
            let effect = match (&old, &new) {
                (_, Value::Bool(false)) | (Value::Bool(true), _) => Some(Effect::Tightened),
                (Value::Bool(false), _) | (_, Value::Bool(true)) => Some(Effect::Loosened),
                _ => None,
            };
            push(out, at, format!("schema {old} -> {new}"), effect);
        }
        return;
    };
    types(o, n, at, out);
    for key in ["format", "pattern", "const"] {
        match (o.get(key), n.get(key)) {
            (None, Some(v)) => push(out, at, format!("{key} {} added", text(v)), Some(Effect::Tightened)),
            (Some(v), None) => push(out, at, format!("{key} {} removed", text(v)), Some(Effect::Loosened)),
            (Some(a), Some(b)) if a != b => push(out, at, format!("{key} {} -> {}", text(a), text(b)), None),
            _ => {}
        }
    }
    for (keys, upper) in [(UPPER, true), (LOWER, false)] {
        for key in keys {
            bound(key, upper, o.get(key), n.get(key), at, out);
        }
    }
    enums(o.get("enum"), n.get("enum"), at, out);
    let (was, is) = (closed(o, branch), closed(n, branch));
    if was != is {
        let (what, effect) = if is {
            ("closed", Effect::Tightened)
        } else {
            ("opened", Effect::Loosened)
        };
        push(out, at, what.into(), Some(effect));
    }
    properties(o, n, at, out);
    for key in ["items", "additionalProperties", "unevaluatedProperties"] {
        match (o.get(key), n.get(key)) {
            (Some(a), Some(b)) if key == "items" || (a.is_object() && b.is_object()) => {
                schemas(a, b, &format!("{at}/{key}"), false, out)
            }
            (None, Some(_)) if key == "items" => push(out, at, "items schema added".into(), Some(Effect::Tightened)),
            (Some(_), None) if key == "items" => push(out, at, "items schema removed".into(), Some(Effect::Loosened)),
            _ => {}
        }
    }
    for key in ["anyOf", "oneOf", "prefixItems"] {
        match (o.get(key), n.get(key)) {
            (Some(Value::Array(a)), Some(Value::Array(b))) => branches(key, a, b, at, out),
            (None, Some(_)) => push(out, at, format!("{key} added"), None),
            (Some(_), None) => push(out, at, format!("{key} removed"), None),
            _ => {}
        }
    }
    let others: BTreeSet<&String> = o.keys().chain(n.keys()).filter(|k| !is_known(k)).collect();
    for key in others {
        match (o.get(key), n.get(key)) {
            // A vendor extension listing values (e.g. topics its newer pages name before its
            // enum does): what it lists is the news.
            (None, Some(v)) if key.starts_with("x-") => push(out, at, format!("note {key} added: {}", listed(v)), None),
            (None, Some(_)) => push(out, at, format!("keyword `{key}` added"), None),
            (Some(_), None) => push(out, at, format!("keyword `{key}` removed"), None),
            (Some(a), Some(b)) if a != b => push(out, at, format!("keyword `{key}` changed"), None),
            _ => {}
        }
    }
}

/// The strings a value holds, flattened, as one short list.
fn listed(value: &Value) -> String {
    fn collect<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    collect(value, &mut all);
    const SHOWN: usize = 12;
    let more = all.len().saturating_sub(SHOWN);
    let mut text = all.into_iter().take(SHOWN).collect::<Vec<_>>().join(", ");
    if more > 0 {
        text.push_str(&format!(", and {more} more"));
    }
    text
}

/// Branches present on both sides unchanged are matched first; what is left is compared in
/// order when as many remain on each side, else listed as removed and added. One more branch
/// of `anyOf` admits more; one fewer, less. (`oneOf` and `prefixItems` are not that simple.)
fn branches(key: &str, a: &[Value], b: &[Value], at: &str, out: &mut Vec<Finding>) {
    let gone: Vec<usize> = (0..a.len()).filter(|i| !b.contains(&a[*i])).collect();
    let new: Vec<usize> = (0..b.len()).filter(|j| !a.contains(&b[*j])).collect();
    if gone.len() == new.len() {
        for (i, j) in gone.into_iter().zip(new) {
            schemas(&a[i], &b[j], &format!("{at}/{key}/{j}"), key != "prefixItems", out);
        }
        return;
    }
    let any = key == "anyOf";
    for i in gone {
        let effect = any.then_some(Effect::Tightened);
        push(out, at, format!("{key} branch {i} {} removed", short(&a[i])), effect);
    }
    for j in new {
        let effect = any.then_some(Effect::Loosened);
        push(out, at, format!("{key} branch {j} {} added", short(&b[j])), effect);
    }
}

/// A schema as compact JSON when it fits in a line.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= 80 {
        text
    } else {
        "(a schema)".to_string()
    }
}

fn is_known(key: &str) -> bool {
    KNOWN.contains(&key) || UPPER.contains(&key) || LOWER.contains(&key)
}

fn push(out: &mut Vec<Finding>, at: &str, what: String, effect: Option<Effect>) {
    out.push(Finding {
        pointer: at.to_string(),
        what,
        effect,
    });
}

/// A string as itself, anything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn types(o: &Map<String, Value>, n: &Map<String, Value>, at: &str, out: &mut Vec<Finding>) {
    let set = |m: &Map<String, Value>| -> Option<BTreeSet<String>> {
        match m.get("type")? {
            Value::String(t) => Some(BTreeSet::from([t.clone()])),
            Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).map(str::to_string).collect()),
            _ => None,
        }
    };
    let (a, b) = (set(o), set(n));
    if a == b {
        return;
    }
    // `number` admits every integer.
    let covers = |wide: &BTreeSet<String>, narrow: &BTreeSet<String>| {
        narrow
            .iter()
            .all(|t| wide.contains(t) || (t == "integer" && wide.contains("number")))
    };
    let show = |s: &Option<BTreeSet<String>>| match s {
        None => "(any)".to_string(),
        Some(s) => s.iter().cloned().collect::<Vec<_>>().join("|"),
    };
    let effect = match (&a, &b) {
        (None, Some(_)) => Some(Effect::Tightened),
        (Some(_), None) => Some(Effect::Loosened),
        (Some(x), Some(y)) if covers(y, x) => Some(Effect::Loosened),
        (Some(x), Some(y)) if covers(x, y) => Some(Effect::Tightened),
        _ => None,
    };
    push(out, at, format!("type {} -> {}", show(&a), show(&b)), effect);
}

fn bound(key: &str, upper: bool, o: Option<&Value>, n: Option<&Value>, at: &str, out: &mut Vec<Finding>) {
    let (effect, what) = match (o, n) {
        (None, Some(b)) => (Some(Effect::Tightened), format!("{key} {b} added")),
        (Some(a), None) => (Some(Effect::Loosened), format!("{key} {a} removed")),
        (Some(a), Some(b)) if a != b => {
            let effect = match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) if (y < x) == upper && x != y => Some(Effect::Tightened),
                (Some(x), Some(y)) if x != y => Some(Effect::Loosened),
                _ => None,
            };
            (effect, format!("{key} {a} -> {b}"))
        }
        _ => return,
    };
    push(out, at, what, effect);
}

fn enums(o: Option<&Value>, n: Option<&Value>, at: &str, out: &mut Vec<Finding>) {
    let list = |v: &[Value]| v.iter().map(text).collect::<Vec<_>>().join(", ");
    match (o, n) {
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            let gains: Vec<Value> = b.iter().filter(|v| !a.contains(v)).cloned().collect();
            let loses: Vec<Value> = a.iter().filter(|v| !b.contains(v)).cloned().collect();
            if !gains.is_empty() {
                push(out, at, format!("enum gains {}", list(&gains)), Some(Effect::Loosened));
            }
            if !loses.is_empty() {
                push(out, at, format!("enum loses {}", list(&loses)), Some(Effect::Tightened));
            }
        }
        (None, Some(Value::Array(b))) => push(out, at, format!("enum [{}] added", list(b)), Some(Effect::Tightened)),
        (Some(Value::Array(a)), None) => push(out, at, format!("enum [{}] removed", list(a)), Some(Effect::Loosened)),
        _ => {}
    }
}

fn properties(o: &Map<String, Value>, n: &Map<String, Value>, at: &str, out: &mut Vec<Finding>) {
    let props = |m: &Map<String, Value>| {
        m.get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (op, np) = (props(o), props(n));
    let names: BTreeSet<&String> = op.keys().chain(np.keys()).collect();
    for name in names {
        let here = format!("{at}/{}", escape(name));
        match (op.get(name), np.get(name)) {
            (Some(a), Some(b)) => schemas(a, b, &here, false, out),
            // Before, a closed object refused the property; an open one took any value for it.
            (None, Some(_)) => {
                let effect = if closed(o, false) {
                    Effect::Loosened
                } else {
                    Effect::Tightened
                };
                push(out, at, format!("property {name} added"), Some(effect));
            }
            (Some(_), None) => {
                let effect = if closed(n, false) {
                    Effect::Tightened
                } else {
                    Effect::Loosened
                };
                push(out, at, format!("property {name} removed"), Some(effect));
            }
            (None, None) => {}
        }
    }
    let required = |m: &Map<String, Value>| -> BTreeSet<String> {
        m.get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let (or, nr) = (required(o), required(n));
    for name in nr.difference(&or) {
        push(
            out,
            at,
            format!("property {name} now required"),
            Some(Effect::Tightened),
        );
    }
    for name in or.difference(&nr) {
        push(
            out,
            at,
            format!("property {name} no longer required"),
            Some(Effect::Loosened),
        );
    }
}

/// Closed as the gateway compiles it under `unknown_fields = "reject"`: said so, or closed by
/// the compiler's own rule (`schema::closes`; `allOf` is already merged into `m` here).
fn closed(m: &Map<String, Value>, branch: bool) -> bool {
    let is_false = |k: &str| m.get(k) == Some(&Value::Bool(false));
    is_false("additionalProperties") || is_false("unevaluatedProperties") || crate::routes::schema::closes(m, branch)
}
