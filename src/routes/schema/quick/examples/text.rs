//! Free-form test bodies: JSON texts written by hand (so that they can hold what a `Value`
//! cannot: a key twice, an escaped key, a raw escape), scalars near the usual traps, and the
//! wrappings around a whole body (a byte order mark, a second document).

use proptest::prelude::*;
use serde_json::json;

/// A JSON text built by hand, so that it can say what a `Value` cannot (a key twice, an
/// escaped key, a raw escape).
#[derive(Debug, Clone)]
pub(super) enum Text {
    Raw(String),
    Array(Vec<Text>),
    Object(Vec<(String, bool, Text)>),
}

impl Text {
    fn write(&self, out: &mut String) {
        match self {
            Text::Raw(s) => out.push_str(s),
            Text::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Text::Object(members) => {
                out.push('{');
                for (i, (key, escaped, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if *escaped {
                        // Every character as a \u escape: the same key to a parser.
                        out.push('"');
                        for unit in key.encode_utf16() {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                        out.push('"');
                    } else {
                        out.push_str(&serde_json::to_string(key).unwrap());
                    }
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn strings(vocabulary: &[String]) -> Vec<String> {
    let mut out: Vec<String> = [
        "",
        "a",
        "ab",
        "abcdefgh",
        "abcdefghi",
        "ana@example.com",
        "not an email",
        "a@b",
        "@x.io",
        "2024-01-01T00:00:00Z",
        "yesterday",
        "é",
        "ééééééé",
        "éééééééé",
        "ééééééééé",
        "😀😀",
        "x",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in [254, 255, 256] {
        out.push("x".repeat(n));
        out.push("é".repeat(n));
    }
    out.extend(vocabulary.iter().cloned());
    out
}

fn scalar(vocabulary: Vec<String>) -> impl Strategy<Value = Text> {
    let quoted = proptest::sample::select(strings(&vocabulary)).prop_map(|s| serde_json::to_string(&s).unwrap());
    let numbers = proptest::sample::select(vec![
        "0",
        "1",
        "-1",
        "-3",
        "-4",
        "9",
        "10",
        "1.0",
        "1.5",
        "1.6",
        "0.5",
        "0",
        "-0.0",
        "1e3",
        "2E-1",
        "9007199254740993",
        "18446744073709551615",
        "-9223372036854775808",
        "1e400",
    ])
    .prop_map(str::to_string);
    let traps = proptest::sample::select(vec![
        r#""\ud800""#,
        r#""\udc00x""#,
        r#""\ud83d\ude00""#,
        r#""tab\there""#,
        "\"raw\tcontrol\"",
        r#""\u0061b""#,
    ])
    .prop_map(str::to_string);
    prop_oneof![
        3 => quoted,
        2 => numbers,
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f).to_string()),
        1 => Just("null".to_string()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => traps,
    ]
    .prop_map(Text::Raw)
}

pub(super) fn document(vocabulary: Vec<String>) -> impl Strategy<Value = Text> {
    let keys = {
        let mut keys = vocabulary.clone();
        keys.push("other".into());
        proptest::sample::select(keys)
    };
    scalar(vocabulary).prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Text::Array),
            proptest::collection::vec((keys.clone(), proptest::bool::weighted(0.1), inner), 0..7)
                .prop_map(Text::Object),
        ]
    })
}

/// A whole body, sometimes with a trap around it.
pub(super) fn wrapped(top: BoxedStrategy<Text>) -> BoxedStrategy<String> {
    let wrap = proptest::sample::select(vec!["", "", "", "", "", "\u{feff}", " {}", "\n", " ", "x"]);
    (top, wrap, any::<bool>())
        .prop_map(|(doc, wrap, before)| {
            let mut text = String::new();
            doc.write(&mut text);
            match wrap {
                "\u{feff}" => format!("{wrap}{text}"),
                _ if before && wrap.trim().is_empty() => format!("{wrap}{text}"),
                _ => format!("{text}{wrap}"),
            }
        })
        .boxed()
}
