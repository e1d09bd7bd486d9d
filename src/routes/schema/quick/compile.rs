//! A schema (as `jsonschema` compiles it) read into the fast check's tree: each keyword the
//! check knows, and None for a schema with any keyword it does not (the route then has no fast
//! check).

use serde_json::{Map, Value};

use super::{Additional, Bound, Enumerated, Format, Node, ARRAY, BOOL, EXACT, FRACTION, INT, NULL, OBJECT, STRING};

/// Keywords that describe without constraining (kept by the document's dialect or ignored by
/// `jsonschema`).
fn is_note(key: &str) -> bool {
    key.starts_with("x-")
        || matches!(
            key,
            "description"
                | "title"
                | "default"
                | "example"
                | "examples"
                | "deprecated"
                | "readOnly"
                | "writeOnly"
                | "$comment"
        )
}

impl Node {
    pub(super) fn compile(schema: &Value) -> Option<Node> {
        let map = match schema {
            Value::Bool(true) => return Some(Node::any()),
            Value::Object(map) => map,
            _ => return None,
        };
        let mut node = Node::any();
        let mut required: Vec<&str> = Vec::new();
        for (key, value) in map {
            match key.as_str() {
                "type" => node.types = types(value)?,
                "enum" => node.enumerated = Some(enumerated(value)?),
                "minLength" => node.min_length = Some(count(value)?),
                "maxLength" => node.max_length = Some(count(value)?),
                "minItems" => node.min_items = Some(count(value)?),
                "maxItems" => node.max_items = Some(count(value)?),
                "format" => node.format = format(value.as_str()?)?,
                "minimum" | "exclusiveMinimum" => {
                    node.minimum = tighter(node.minimum, bound(value, key == "exclusiveMinimum")?, true)
                }
                "maximum" | "exclusiveMaximum" => {
                    node.maximum = tighter(node.maximum, bound(value, key == "exclusiveMaximum")?, false)
                }
                "properties" => {
                    node.properties = value
                        .as_object()?
                        .iter()
                        .map(|(name, s)| Some((name.as_str().into(), Node::compile(s)?)))
                        .collect::<Option<_>>()?
                }
                "required" => {
                    required = value.as_array()?.iter().map(Value::as_str).collect::<Option<_>>()?;
                }
                "additionalProperties" => {
                    node.additional = match value {
                        Value::Bool(true) => Additional::Any,
                        Value::Bool(false) => Additional::Never,
                        schema => Additional::Schema(Box::new(Node::compile(schema)?)),
                    }
                }
                "items" => node.items = Some(Box::new(Node::compile(value)?)),
                other if is_note(other) => {}
                _ => return None,
            }
        }
        for name in required {
            let at = match node.properties.iter().position(|(n, _)| &**n == name) {
                Some(at) => at,
                // Required but not described: present under what the object allows of others.
                None => {
                    let allowed = match &node.additional {
                        Additional::Any => Node::any(),
                        Additional::Never => return None,
                        Additional::Schema(_) => return None,
                    };
                    node.properties.push((name.into(), allowed));
                    node.properties.len() - 1
                }
            };
            node.required |= 1u64.checked_shl(u32::try_from(at).ok()?)?;
        }
        (node.properties.len() <= 64).then_some(node)
    }
}

fn types(value: &Value) -> Option<u8> {
    let one = |name: &str| {
        Some(match name {
            "null" => NULL,
            "boolean" => BOOL,
            "integer" => INT,
            "number" => INT | FRACTION,
            "string" => STRING,
            "array" => ARRAY,
            "object" => OBJECT,
            _ => return None,
        })
    };
    match value {
        Value::String(name) => one(name),
        Value::Array(names) => names.iter().try_fold(0, |bits, n| Some(bits | one(n.as_str()?)?)),
        _ => None,
    }
}

fn enumerated(value: &Value) -> Option<Enumerated> {
    let mut out = Enumerated {
        strings: Vec::new(),
        null: false,
        truth: [false; 2],
    };
    for member in value.as_array()? {
        match member {
            Value::String(s) => out.strings.push(s.as_str().into()),
            Value::Null => out.null = true,
            Value::Bool(b) => out.truth[usize::from(*b)] = true,
            // Numbers compare by value (1 = 1.0), containers deeply: left to the full check.
            _ => return None,
        }
    }
    Some(out)
}

fn count(value: &Value) -> Option<usize> {
    usize::try_from(value.as_u64()?).ok()
}

fn bound(value: &Value, exclusive: bool) -> Option<Bound> {
    let exact = match value {
        Value::Number(n) => {
            n.as_u64().is_none_or(|u| u <= EXACT) && n.as_i64().is_none_or(|i| i.unsigned_abs() <= EXACT)
        }
        _ => false,
    };
    exact
        .then(|| Bound {
            limit: value.as_f64().unwrap_or(f64::NAN),
            exclusive,
        })
        .filter(|b| b.limit.is_finite())
}

/// Two lower (or upper) bounds on one schema: both must hold, so the tighter one is kept;
/// at equal limits the exclusive one.
fn tighter(have: Option<Bound>, new: Bound, lower: bool) -> Option<Bound> {
    let Some(have) = have else { return Some(new) };
    let pick_new = if new.limit == have.limit {
        new.exclusive
    } else {
        (new.limit > have.limit) == lower
    };
    Some(if pick_new { new } else { have })
}

fn format(name: &str) -> Option<Format> {
    if name == "email" {
        return Some(Format::Email);
    }
    let mut schema = Map::new();
    schema.insert("format".into(), Value::String(name.into()));
    crate::routes::schema::validator(&Value::Object(schema))
        .ok()
        .map(Format::Other)
}
