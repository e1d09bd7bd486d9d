//! Test bodies for a fast check: drawn from its own schema (names, types, values at and past
//! each bound, required properties mostly present) and free-form from its vocabulary, with the
//! strictness traps around them (duplicate and escaped keys, lone surrogates, a byte order
//! mark, a second document). The differential test feeds them to both checks.

use proptest::prelude::*;
use serde_json::json;

mod text;

use super::{Additional, Format, Node, Quick, ARRAY, BOOL, FRACTION, INT, NULL, OBJECT, STRING};
use text::{document, wrapped, Text};

impl Quick {
    /// Bodies near what the schemas accept, and some far from it.
    pub fn examples(&self) -> BoxedStrategy<String> {
        let vocabulary = self.vocabulary();
        let drawn: Vec<BoxedStrategy<Text>> = self.alternatives.iter().chain(&self.extra).map(from_node).collect();
        let drawn = proptest::strategy::Union::new(drawn);
        wrapped(prop_oneof![3 => drawn, 1 => document(vocabulary)].boxed())
    }

    /// The property names and string enum members the schemas mention.
    pub fn vocabulary(&self) -> Vec<String> {
        fn walk(node: &Node, out: &mut Vec<String>) {
            for (name, child) in &node.properties {
                out.push(name.to_string());
                walk(child, out);
            }
            if let Some(e) = &node.enumerated {
                out.extend(e.strings.iter().map(|s| s.to_string()));
            }
            if let Some(items) = &node.items {
                walk(items, out);
            }
            if let Additional::Schema(schema) = &node.additional {
                walk(schema, out);
            }
        }
        let mut out = Vec::new();
        self.alternatives
            .iter()
            .chain(&self.extra)
            .for_each(|node| walk(node, &mut out));
        out.sort();
        out.dedup();
        out
    }
}

fn quoted(s: &str) -> Text {
    Text::Raw(serde_json::to_string(s).unwrap())
}

/// Strings of `n` characters, ASCII and two-byte.
fn sized(n: usize) -> Vec<Text> {
    vec![quoted(&"x".repeat(n)), quoted(&"é".repeat(n))]
}

fn numbers_near(node: &Node) -> Vec<Text> {
    let mut out: Vec<String> = ["0", "1", "-1", "1.0", "1.5", "2E-1", "1e3", "9007199254740993"]
        .map(String::from)
        .to_vec();
    for bound in [node.minimum, node.maximum].into_iter().flatten() {
        let l = bound.limit;
        out.extend([json!(l), json!(l - 1.0), json!(l + 1.0), json!(l - 0.5), json!(l + 0.5)].map(|v| v.to_string()));
        if l.fract() == 0.0 {
            let l = l as i64;
            out.extend([l - 1, l, l + 1].map(|v| v.to_string()));
        }
    }
    out.into_iter().map(Text::Raw).collect()
}

fn strings_near(node: &Node) -> Vec<Text> {
    let mut out: Vec<Text> = ["", "a", "ab"].map(quoted).to_vec();
    for n in [node.min_length, node.max_length].into_iter().flatten() {
        out.extend(sized(n));
        out.extend(sized(n + 1));
        out.extend(sized(n.saturating_sub(1)));
    }
    match node.format {
        Format::None => {}
        Format::Email => out.extend(["ana@example.com", "a.b+c@mail.example.org", "not an email", "a@b@c"].map(quoted)),
        Format::Other(_) => out.extend(
            [
                "2024-01-01T00:00:00Z",
                "2024-02-30",
                "https://example.com/x",
                "yesterday",
            ]
            .map(quoted),
        ),
    }
    out
}

/// Scalars the node most likely accepts: inside its bounds, of its format.
fn typical(node: &Node) -> Vec<Text> {
    let mut out = Vec::new();
    if node.types & STRING != 0 {
        let n = node.min_length.unwrap_or(0).max(node.max_length.unwrap_or(3).min(3));
        out.push(match node.format {
            Format::None => quoted(&"x".repeat(n)),
            Format::Email => quoted("ana@example.com"),
            Format::Other(_) => quoted("2024-01-01T00:00:00Z"),
        });
    }
    if node.types & (INT | FRACTION) != 0 {
        let low = node.minimum.map_or(0.0, |b| b.limit);
        let high = node.maximum.map_or(low + 10.0, |b| b.limit);
        let mid = (low + high) / 2.0;
        out.push(Text::Raw(if node.types & FRACTION != 0 && mid.fract() != 0.0 {
            json!(mid).to_string()
        } else {
            (mid.floor() as i64).to_string()
        }));
    }
    out
}

/// A value for `node`: of one of its types, near its bounds; rarely anything at all.
fn from_node(node: &Node) -> BoxedStrategy<Text> {
    let mut choices: Vec<BoxedStrategy<Text>> = Vec::new();
    let typical = typical(node);
    if !typical.is_empty() && node.enumerated.is_none() {
        choices.push(proptest::sample::select(typical.clone()).boxed());
        choices.push(proptest::sample::select(typical).boxed());
    }
    if let Some(e) = &node.enumerated {
        let mut members: Vec<Text> = e.strings.iter().map(|s| quoted(s)).collect();
        if e.null {
            members.push(Text::Raw("null".into()));
        }
        members.extend((0..2).filter(|b| e.truth[*b]).map(|b| Text::Raw((b == 1).to_string())));
        if !members.is_empty() {
            choices.push(proptest::sample::select(members).boxed());
        }
    }
    let has = |bits: u8| node.types & bits != 0;
    if has(NULL) {
        choices.push(Just(Text::Raw("null".into())).boxed());
    }
    if has(BOOL) {
        choices.push(any::<bool>().prop_map(|b| Text::Raw(b.to_string())).boxed());
    }
    if has(INT | FRACTION) {
        choices.push(proptest::sample::select(numbers_near(node)).boxed());
    }
    if has(STRING) {
        choices.push(proptest::sample::select(strings_near(node)).boxed());
    }
    if has(ARRAY) {
        let item = node
            .items
            .as_deref()
            .map_or_else(|| document(Vec::new()).boxed(), from_node);
        let most = node.max_items.unwrap_or(3).min(4) + 1;
        choices.push(proptest::collection::vec(item, 0..=most).prop_map(Text::Array).boxed());
    }
    if has(OBJECT) {
        choices.push(object(node));
    }
    let anything = document(Vec::new()).boxed();
    match choices.len() {
        0 => anything,
        _ => prop_oneof![12 => proptest::strategy::Union::new(choices), 1 => anything].boxed(),
    }
}

/// An object: its required properties (each dropped now and then), some of the others,
/// sometimes a name it does not list, sometimes a name twice.
fn object(node: &Node) -> BoxedStrategy<Text> {
    let members: Vec<BoxedStrategy<Option<(String, bool, Text)>>> = node
        .properties
        .iter()
        .enumerate()
        .map(|(i, (name, child))| {
            let keep = if node.required & (1 << i) != 0 { 0.97 } else { 0.35 };
            let name = name.to_string();
            (
                proptest::bool::weighted(keep),
                from_node(child),
                proptest::bool::weighted(0.03),
            )
                .prop_map(move |(keep, value, escaped)| keep.then(|| (name.clone(), escaped, value)))
                .boxed()
        })
        .collect();
    let other = match &node.additional {
        Additional::Schema(schema) => from_node(schema),
        _ => document(Vec::new()).boxed(),
    };
    let extra = proptest::option::weighted(0.1, (Just("zz-other".to_string()), Just(false), other));
    (members, extra, proptest::bool::weighted(0.05))
        .prop_map(|(members, extra, twice)| {
            let mut members: Vec<_> = members.into_iter().flatten().chain(extra).collect();
            if twice {
                if let Some(first) = members.first().cloned() {
                    members.push(first);
                }
            }
            Text::Object(members)
        })
        .boxed()
}
