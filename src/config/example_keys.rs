//! Every key the config accepts is shown in `config/example.toml`. The keys are read from the
//! raw serde structs themselves (a deserializer that records the fields each struct asks for),
//! so a key added to `raw.rs` fails this test until the example shows it too.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::de::value::{Error, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

use super::raw::RawConfig;

/// Records `path.field` for each field a struct asks for, and walks into each field's value.
/// Leaves are answered with an empty string, zero or false; a list has one element.
struct Recorder<'a> {
    path: String,
    keys: &'a RefCell<BTreeSet<String>>,
}

impl Recorder<'_> {
    fn at(&self, step: &str) -> Recorder<'_> {
        let path = if self.path.is_empty() {
            step.to_string()
        } else {
            format!("{}.{step}", self.path)
        };
        Recorder { path, keys: self.keys }
    }
}

impl<'de> Deserializer<'de> for Recorder<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str("")
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_bool(false)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u64(0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let element = Recorder {
            path: format!("{}[]", self.path),
            keys: self.keys,
        };
        visitor.visit_seq(One(Some(element)))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // A secret's own keys (`env`, `file`, `value`) are one documented shape, not keys
        // of each entry that holds a secret.
        if name == "RawSecret" {
            return visitor.visit_map(Fields {
                fields: &[],
                next: 0,
                at: self,
            });
        }
        for field in fields {
            self.keys.borrow_mut().insert(self.at(field).path);
        }
        visitor.visit_map(Fields {
            fields,
            next: 0,
            at: self,
        })
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct tuple tuple_struct map enum identifier ignored_any
    }
}

struct One<'a>(Option<Recorder<'a>>);

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|element| seed.deserialize(element)).transpose()
    }
}

struct Fields<'a> {
    fields: &'static [&'static str],
    next: usize,
    at: Recorder<'a>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        let key: StrDeserializer<'_, Error> = field.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.fields[self.next];
        self.next += 1;
        seed.deserialize(self.at.at(field))
    }
}

/// Every key path `RawConfig` accepts: `server.listen`, `teams[].api_key`, ...
fn accepted_keys() -> BTreeSet<String> {
    let keys = RefCell::new(BTreeSet::new());
    let recorder = Recorder {
        path: String::new(),
        keys: &keys,
    };
    let _: RawConfig = de::Deserialize::deserialize(recorder).expect("the raw structs take any recorded shape");
    keys.into_inner()
}

/// The key paths `example.toml` shows, set or commented out: `[section]`, `[[list]]` and
/// `key = value` lines with or without a leading `#`, and the keys of an inline table.
fn shown_keys(text: &str) -> BTreeSet<String> {
    let mut shown = BTreeSet::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim_start_matches(['#', ' ']);
        if let Some(list) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            section = format!("{list}[]");
            shown.insert(list.to_string());
            continue;
        }
        if let Some(table) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            section = table.to_string();
            shown.insert(table.to_string());
            continue;
        }
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        let path = if section.is_empty() {
            key.to_string()
        } else {
            format!("{section}.{key}")
        };
        if let Some(inline) = value.strip_prefix('{').and_then(|v| v.split('}').next()) {
            for pair in inline.split(',') {
                if let Some((inner, _)) = pair.split_once('=') {
                    shown.insert(format!("{path}.{}", inner.trim()));
                }
            }
        }
        shown.insert(path);
    }
    shown
}

#[test]
fn every_accepted_key_is_in_the_example() {
    let accepted = accepted_keys();
    // The walk reaches the nested tables and lists, not only the top.
    for key in [
        "server.tls.cert_file",
        "ratelimit.redis.url",
        "teams[].api_key",
        "callers[].rate.burst",
    ] {
        assert!(accepted.contains(key), "{key} not found in {accepted:?}");
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    let example = std::fs::read_to_string(path).unwrap();
    let shown = shown_keys(&example);
    let missing: Vec<_> = accepted
        .iter()
        // A team file's own callers take the keys of `[[callers]]`, checked there.
        .filter(|key| !key.starts_with("teams[].callers"))
        .filter(|key| !shown.contains(*key))
        .collect();
    assert!(missing.is_empty(), "config/example.toml does not show: {missing:?}");
}

#[test]
fn the_example_reader_places_keys_in_their_sections() {
    let shown = shown_keys(
        "top = 1\n[server]\nlisten = \"x\"\n# [server.tls]\n# cert_file = \"a\"  # note\n[[callers]]\nrate = { per_second = 1, burst = 2 }\n# Prose = not a key\n",
    );
    let expected = [
        "callers",
        "callers[].rate",
        "callers[].rate.burst",
        "callers[].rate.per_second",
        "server",
        "server.listen",
        "server.tls",
        "server.tls.cert_file",
        "top",
    ];
    assert_eq!(shown.iter().map(String::as_str).collect::<Vec<_>>(), expected);
}
