//! Strict JSON: one document, valid UTF-8, no lone surrogates, no duplicate object keys.
//! serde_json already refuses bad UTF-8 and lone surrogates; duplicate keys need this
//! visitor, which builds the same `serde_json::Value` but stops at the second occurrence.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::messages::{field_error, pointer_escape};
use crate::envelope::FieldError;

/// Parses `bytes` as exactly one JSON document, refusing anything a lenient parser would fix.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, FieldError> {
    // JSON forbids a byte order mark (RFC 8259 §8.1); serde_json would only say "expected
    // value at line 1 column 1", which leaves the sender looking at text that seems fine.
    if bytes.starts_with(UTF8_BOM) {
        return Err(field_error(
            "",
            "json",
            "the body starts with a UTF-8 byte order mark (BOM, EF BB BF), which JSON does not allow; send it without",
        ));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(field_error("", "json", "the body is not valid UTF-8"));
    };
    let path = RefCell::new(Vec::new());
    // From the text, checked once: read from bytes, serde_json would check each string again.
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict { path: &path }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        // The path was recorded innermost first, as the error unwound.
        let pointer: String = path
            .borrow()
            .iter()
            .rev()
            .map(|k| format!("/{}", pointer_escape(k)))
            .collect();
        let text = e.to_string();
        if let Some(key) = text.strip_prefix(DUPLICATE) {
            let key = key.split(" at line").next().unwrap_or(key);
            field_error(&pointer, "duplicateKey", format!("duplicate key {key}"))
        } else if text.starts_with("trailing characters") {
            field_error("", "json", format!("a second JSON value follows the first ({text})"))
        } else if let Some(at) = LONE_SURROGATE.iter().find_map(|phrase| text.strip_prefix(phrase)) {
            // serde_json names a high surrogate with no low one after it "unexpected end of
            // hex escape", which reads like a truncated body.
            let message = format!("the body is not valid JSON: lone surrogate in a \\u escape{at}");
            field_error(&pointer, "json", message)
        } else {
            field_error(&pointer, "json", format!("the body is not valid JSON: {text}"))
        }
    })
}

const DUPLICATE: &str = "duplicate key ";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// serde_json's texts for a `\\u` escape of half a surrogate pair, alone.
const LONE_SURROGATE: [&str; 3] = [
    "unexpected end of hex escape",
    "lone leading surrogate in hex escape",
    "invalid unicode code point",
];

#[derive(Clone, Copy)]
struct Strict<'p> {
    path: &'p RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    // The path to a failure is recorded only when there is one: each level adds its own
    // segment as the error passes through it (innermost first), so a valid document costs
    // no path bookkeeping at all.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    self.path.borrow_mut().push(items.len().to_string());
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let shown: String = key.chars().take(40).collect();
                self.path.borrow_mut().push(key);
                return Err(A::Error::custom(format!("{DUPLICATE}{shown:?}")));
            }
            match map.next_value_seed(self) {
                Ok(value) => {
                    object.insert(key, value);
                }
                Err(e) => {
                    self.path.borrow_mut().push(key);
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_json() {
        assert_eq!(
            parse_strict(br#"{"a":[1,{"b":null}]}"#).unwrap()["a"][1]["b"],
            Value::Null
        );
    }

    #[test]
    fn refuses_duplicates_with_pointer() {
        let e = parse_strict(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert_eq!(e.code, "duplicateKey");
        assert_eq!(e.field, "/a/b");
        let e = parse_strict(br#"{"name":"x","name":"y"}"#).unwrap_err();
        assert_eq!(e.field, "/name");
    }

    #[test]
    fn refuses_trailing_documents_bad_utf8_and_lone_surrogates() {
        assert!(parse_strict(br#"{} {}"#).is_err());
        assert!(parse_strict(b"{\"name\":\"\xff\"}").is_err());
        assert!(parse_strict(br#"{"name":"\ud800"}"#).is_err());
        assert!(parse_strict(br#"{"name":"\ud83d\ude00"}"#).is_ok());
        assert!(parse_strict(b"{}\n").is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_named() {
        let e = parse_strict(b"\xEF\xBB\xBF{\"name\":\"x\"}").unwrap_err();
        assert!(e.message.contains("byte order mark (BOM"), "{}", e.message);
    }

    #[test]
    fn a_lone_surrogate_is_named() {
        for body in [
            &br#"{"name":"\ud800"}"#[..],
            br#"{"name":"\ud800x"}"#,
            br#"{"name":"\ud800\u0041"}"#,
            br#"{"name":"\udc00"}"#,
        ] {
            let e = parse_strict(body).unwrap_err();
            assert!(e.message.contains("lone surrogate"), "{}", e.message);
            assert!(!e.message.contains("end of hex escape"), "{}", e.message);
            assert_eq!(e.field, "/name");
        }
    }
}
