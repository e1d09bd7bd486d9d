//! A fast yes for request bodies: the schema keywords Allo's request bodies use (types,
//! properties, `required`, closed objects, lengths, bounds, string enums, `format`), read
//! straight off the JSON parser's events, with no document built. It only ever says "valid":
//! anything it cannot decide (a keyword it does not know, `1.0` for an integer, a number in an
//! enum) or finds wrong ends the fast read, and the caller runs the strict parse and
//! `jsonschema`, which decide and word the errors. So it never accepts what those refuse: the
//! same strictness (one document, no duplicate keys, no byte order mark, no lone surrogates,
//! which serde_json refuses while reading) and the same keywords, held to them by a
//! differential test (`validate::differential`).
//!
//! A schema with a keyword outside this set gets no fast check at all; the route pays the full
//! check, as before.

#[cfg(test)]
mod examples;

use std::fmt;

use jsonschema::Validator;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The fast check of one route's body: valid if one of its descriptions holds and the rules'
/// fragment (if any) holds too.
#[derive(Debug)]
pub struct Quick {
    alternatives: Vec<Node>,
    extra: Option<Node>,
}

impl Quick {
    /// None when any of the schemas uses a keyword the fast check does not read.
    pub(super) fn new(alternatives: &[Value], extra: Option<&Value>) -> Option<Quick> {
        if alternatives.is_empty() {
            return None;
        }
        Some(Quick {
            alternatives: alternatives.iter().map(Node::compile).collect::<Option<_>>()?,
            extra: match extra {
                Some(schema) => Some(Node::compile(schema)?),
                None => None,
            },
        })
    }

    /// True only if `body` is one strict JSON document that the schemas accept and that has
    /// none of the `renamed` names at its top level (a rename rewrites the body: the full
    /// check applies it). False says nothing: the full check decides.
    pub fn accepts(&self, body: &[u8], renamed: &[(Box<str>, Box<str>)]) -> bool {
        let Ok(text) = std::str::from_utf8(body) else {
            return false;
        };
        if text.starts_with('\u{feff}') {
            return false;
        }
        let holds = |node: &Node| {
            let mut de = serde_json::Deserializer::from_str(text);
            Check { node, renamed }.deserialize(&mut de).is_ok() && de.end().is_ok()
        };
        self.alternatives.iter().any(holds) && self.extra.as_ref().is_none_or(holds)
    }
}

// JSON types as bits: `integer` is INT, `number` is INT | FRACTION.
const NULL: u8 = 1;
const BOOL: u8 = 2;
const INT: u8 = 4;
const FRACTION: u8 = 8;
const STRING: u8 = 16;
const ARRAY: u8 = 32;
const OBJECT: u8 = 64;
const ANY: u8 = 127;

/// Integers past this are not all exact as `f64`: bounds on them are left to the full check.
const EXACT: u64 = 1 << 53;

#[derive(Debug)]
struct Node {
    types: u8,
    /// String members of `enum`, and whether it lists null, true, false (bits as `types`).
    enumerated: Option<Enumerated>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    format: Format,
    minimum: Option<Bound>,
    maximum: Option<Bound>,
    properties: Vec<(Box<str>, Node)>,
    /// Bit i: `properties[i]` is required.
    required: u64,
    additional: Additional,
    items: Option<Box<Node>>,
    min_items: Option<usize>,
    max_items: Option<usize>,
}

#[derive(Debug)]
struct Enumerated {
    strings: Vec<Box<str>>,
    /// NULL and BOOL bits, with `true`/`false` told apart by `truth`.
    null: bool,
    truth: [bool; 2],
}

#[derive(Debug)]
enum Format {
    None,
    Email,
    /// A format `jsonschema` asserts, asked of it for this one string.
    Other(Validator),
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    limit: f64,
    exclusive: bool,
}

#[derive(Debug)]
enum Additional {
    Any,
    Never,
    Schema(Box<Node>),
}

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
                | "$schema"
        )
}

impl Node {
    fn any() -> Node {
        Node {
            types: ANY,
            enumerated: None,
            min_length: None,
            max_length: None,
            format: Format::None,
            minimum: None,
            maximum: None,
            properties: Vec::new(),
            required: 0,
            additional: Additional::Any,
            items: None,
            min_items: None,
            max_items: None,
        }
    }

    fn compile(schema: &Value) -> Option<Node> {
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
    super::validator(&Value::Object(schema)).ok().map(Format::Other)
}

impl Bound {
    fn admits(&self, v: f64, lower: bool) -> bool {
        match (lower, self.exclusive) {
            (true, false) => v >= self.limit,
            (true, true) => v > self.limit,
            (false, false) => v <= self.limit,
            (false, true) => v < self.limit,
        }
    }
}

impl Node {
    fn number(&self, v: f64) -> bool {
        self.enumerated.is_none()
            && self.minimum.is_none_or(|b| b.admits(v, true))
            && self.maximum.is_none_or(|b| b.admits(v, false))
    }

    fn integer(&self, magnitude: u64, v: f64) -> bool {
        self.types & INT != 0
            && (magnitude <= EXACT || (self.minimum.is_none() && self.maximum.is_none()))
            && self.number(v)
    }

    fn string(&self, s: &str) -> bool {
        if self.types & STRING == 0 {
            return false;
        }
        let length = |s: &str| s.chars().count();
        if self.max_length.is_some_and(|max| s.len() > max && length(s) > max)
            || self.min_length.is_some_and(|min| length(s) < min)
        {
            return false;
        }
        if let Some(e) = &self.enumerated {
            if !e.strings.iter().any(|m| &**m == s) {
                return false;
            }
        }
        match &self.format {
            Format::None => true,
            Format::Email => crate::routes::email::is_email(s),
            Format::Other(validator) => validator.is_valid(&Value::String(s.to_owned())),
        }
    }

    fn property(&self, name: &str) -> Option<usize> {
        self.properties.iter().position(|(n, _)| &**n == name)
    }
}

/// The error that ends a fast read; its text is never shown.
fn no<E: serde::de::Error>() -> E {
    E::custom("")
}

#[derive(Clone, Copy)]
struct Check<'n> {
    node: &'n Node,
    /// Names that end the fast read: the renames' old spellings at the top level, none below.
    renamed: &'n [(Box<str>, Box<str>)],
}

impl<'n> Check<'n> {
    fn below(node: &'n Node) -> Check<'n> {
        Check { node, renamed: &[] }
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        let node = self.node;
        let listed = node.enumerated.as_ref().is_none_or(|e| e.null);
        (node.types & NULL != 0 && listed).then_some(()).ok_or_else(no)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        let node = self.node;
        let listed = node.enumerated.as_ref().is_none_or(|e| e.truth[usize::from(v)]);
        (node.types & BOOL != 0 && listed).then_some(()).ok_or_else(no)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.node.integer(v, v as f64).then_some(()).ok_or_else(no)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.node
            .integer(v.unsigned_abs(), v as f64)
            .then_some(())
            .ok_or_else(no)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // `1.0` is an integer to JSON Schema: a fraction-less float is left to the full check.
        (self.node.types & FRACTION != 0 && v.fract() != 0.0 && self.node.number(v))
            .then_some(())
            .ok_or_else(no)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.node.string(v).then_some(()).ok_or_else(no)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let node = self.node;
        if node.types & ARRAY == 0 || node.enumerated.is_some() {
            return Err(no());
        }
        let any = Node::any();
        let item = Check::below(node.items.as_deref().unwrap_or(&any));
        let mut n = 0usize;
        while seq.next_element_seed(item)?.is_some() {
            n += 1;
            if node.max_items.is_some_and(|max| n > max) {
                return Err(no());
            }
        }
        node.min_items.is_none_or(|min| n >= min).then_some(()).ok_or_else(no)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let node = self.node;
        if node.types & OBJECT == 0 || node.enumerated.is_some() {
            return Err(no());
        }
        let mut seen = 0u64;
        // Names the schema does not list, kept only to refuse one given twice.
        let mut others: Vec<String> = Vec::new();
        let any = Node::any();
        while let Some(key) = map.next_key_seed(KeySeed {
            node,
            renamed: self.renamed,
        })? {
            let value = match key {
                Key::Listed(at) => {
                    let bit = 1u64 << at;
                    if seen & bit != 0 {
                        return Err(no());
                    }
                    seen |= bit;
                    &node.properties[at].1
                }
                Key::Other(name) => {
                    if others.contains(&name) {
                        return Err(no());
                    }
                    others.push(name);
                    match &node.additional {
                        Additional::Any => &any,
                        Additional::Schema(schema) => schema,
                        Additional::Never => return Err(no()),
                    }
                }
            };
            map.next_value_seed(Check::below(value))?;
        }
        (seen & node.required == node.required).then_some(()).ok_or_else(no)
    }
}

enum Key {
    Listed(usize),
    Other(String),
}

/// Reads an object's key as the index of the property it names, or as an owned name when it
/// names none (and the object may have others).
#[derive(Clone, Copy)]
struct KeySeed<'n> {
    node: &'n Node,
    renamed: &'n [(Box<str>, Box<str>)],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        if self.renamed.iter().any(|(old, _)| &**old == v) {
            return Err(no());
        }
        match self.node.property(v) {
            Some(at) => Ok(Key::Listed(at)),
            None if matches!(self.node.additional, Additional::Never) => Err(no()),
            None => Ok(Key::Other(v.to_owned())),
        }
    }
}
