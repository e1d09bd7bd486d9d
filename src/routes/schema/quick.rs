//! A fast yes for request bodies: the schema keywords Allo's request bodies use (types,
//! properties, `required`, closed objects, lengths, bounds, string enums, `format`), checked in
//! one pass over the body's text (`scan`), with no document built. It only ever says "valid":
//! anything it cannot decide (a keyword it does not know, an escaped string, a fraction, a
//! number in an enum) or finds wrong ends the fast read, and the caller runs the strict parse
//! and `jsonschema`, which decide and word the errors. So it never accepts what those refuse:
//! the same strictness (one document, no duplicate keys, no byte order mark, no trailing
//! comma) and the same keywords, held to them by a differential test
//! (`validate::differential`).
//!
//! A schema with a keyword outside this set gets no fast check at all; the route pays the full
//! check, as before. `compile` reads a schema into the check's tree, `scan` reads a body
//! against it.

mod compile;
#[cfg(test)]
mod examples;
mod scan;

use jsonschema::Validator;
use serde_json::Value;

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
        // A byte order mark is refused by the strict parser; the scan would refuse it too (no
        // value starts with a byte past ASCII), said here so it does not rest on that.
        if body.starts_with("\u{feff}".as_bytes()) {
            return false;
        }
        let holds = |node: &Node| scan::holds(body, node, renamed);
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
    /// `enum`, when it lists only strings, null and booleans.
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
    null: bool,
    /// Whether it lists `false`, `true`.
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

impl Node {
    const fn any() -> Node {
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
    fn null(&self) -> bool {
        self.types & NULL != 0 && self.enumerated.as_ref().is_none_or(|e| e.null)
    }

    fn boolean(&self, v: bool) -> bool {
        self.types & BOOL != 0 && self.enumerated.as_ref().is_none_or(|e| e.truth[usize::from(v)])
    }

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

    /// `s`: a string's bytes, valid UTF-8 (the scan checked them).
    fn string(&self, s: &[u8]) -> bool {
        if self.types & STRING == 0 {
            return false;
        }
        // Characters: the bytes that do not continue one.
        let length = |s: &[u8]| s.iter().filter(|&&b| b & 0xc0 != 0x80).count();
        if self.max_length.is_some_and(|max| s.len() > max && length(s) > max)
            || self.min_length.is_some_and(|min| length(s) < min)
        {
            return false;
        }
        if let Some(e) = &self.enumerated {
            if !e.strings.iter().any(|m| m.as_bytes() == s) {
                return false;
            }
        }
        match &self.format {
            Format::None => true,
            Format::Email => crate::routes::email::is_email_bytes(s),
            Format::Other(validator) => {
                std::str::from_utf8(s).is_ok_and(|s| validator.is_valid(&Value::String(s.to_owned())))
            }
        }
    }

    fn property(&self, name: &[u8]) -> Option<usize> {
        self.properties.iter().position(|(n, _)| n.as_bytes() == name)
    }
}
