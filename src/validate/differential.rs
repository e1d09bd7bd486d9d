//! The fast body check (`routes::Quick`) held to the full one: whatever it accepts, the strict
//! parse and `jsonschema` accept too, for every request body schema of Allo's document (closed
//! and open objects) and for a schema using every keyword it reads. Bodies are generated from
//! each schema's own names and values, near its bounds, with the strictness traps (duplicate
//! keys, escaped keys, lone surrogates, a byte order mark, a second document, `1.0`).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Value};

use super::parse_strict;
use crate::config::UnknownFields;
use crate::routes::openapi::RequestBody;
use crate::routes::{RouteTable, SchemaSource, Schemas};

type Renames = [(Box<str>, Box<str>)];

/// The full check: what decides when the fast one says nothing. A body the fast check accepts
/// must also need no rename.
fn full(schemas: &Schemas, renamed: &Renames, body: &[u8]) -> bool {
    parse_strict(body).is_ok_and(|mut value| {
        super::rename::apply(&mut value, body, renamed).is_ok_and(|rewritten| rewritten.is_none())
            && schemas.body.iter().any(|v| v.is_valid(&value))
            && schemas.body_extra.as_ref().is_none_or(|v| v.is_valid(&value))
    })
}

fn schemas_of(schema: Value, extra: Vec<Value>, unknown_fields: UnknownFields) -> Schemas {
    let body = RequestBody {
        required: true,
        alternatives: vec![schema],
    };
    let source = SchemaSource {
        body: Some(&body),
        body_extra: extra,
        query: &[],
        query_open: false,
        query_extra: Vec::new(),
    };
    Schemas::compile(source, unknown_fields).unwrap()
}

/// Every keyword the fast check reads.
fn rich() -> Value {
    json!({
        "type": "object",
        "required": ["name", "count"],
        "properties": {
            "name": {"type": ["string", "null"], "minLength": 2, "maxLength": 8},
            "email": {"type": "string", "format": "email"},
            "at": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "minimum": -3, "exclusiveMaximum": 10},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1.5},
            "kind": {"enum": ["a", "b", null, true]},
            "tags": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string", "maxLength": 3}},
            "inner": {"type": "object", "properties": {"x": {"type": "boolean"}}, "additionalProperties": {"type": "integer"}},
            "free": {"default": 1, "x-note": "anything"}
        }
    })
}

/// Runs `cases` generated bodies through both checks; how many the fast one accepted. Every
/// fourth body of a route with renames starts with an old spelling.
fn agree(id: &str, schemas: &Schemas, renamed: &Renames, cases: usize) -> usize {
    let quick = schemas.body_quick.as_ref().unwrap();
    let strategy = quick.examples();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::default());
    let mut yes = 0;
    for case in 0..cases {
        let mut text = strategy.new_tree(&mut runner).unwrap().current();
        if let (Some((old, _)), true) = (renamed.first(), case % 4 == 0) {
            if let Some(rest) = text.strip_prefix('{') {
                let comma = if rest.starts_with('}') { "" } else { "," };
                text = format!("{{{old:?}:\"x\"{comma}{rest}");
            }
        }
        if quick.accepts(text.as_bytes(), renamed) {
            yes += 1;
            assert!(
                full(schemas, renamed, text.as_bytes()),
                "{id}: fast yes, full no: {text}"
            );
        }
    }
    yes
}

#[test]
fn the_fast_check_accepts_only_what_the_full_check_accepts() {
    for unknown_fields in [UnknownFields::Reject, UnknownFields::Allow] {
        let schemas = schemas_of(
            rich(),
            vec![json!({"properties": {"name": {"maxLength": 6}}})],
            unknown_fields,
        );
        assert!(schemas.body_quick.is_some(), "every keyword of the rich schema is read");
        let yes = agree(&format!("rich {unknown_fields:?}"), &schemas, &[], 10_000);
        // The generator reaches valid bodies, or the comparison proves nothing.
        assert!(yes >= 100, "{yes} fast yes of 10,000");
    }
}

#[test]
fn the_fast_check_agrees_on_every_allo_body() {
    let tables = [UnknownFields::Reject, UnknownFields::Allow].map(|u| RouteTable::builtin(u).unwrap());
    let routes: Vec<_> = tables
        .iter()
        .flat_map(|t| t.routes())
        .filter(|r| r.schemas.body_quick.is_some())
        .collect();
    assert!(routes.len() >= 20, "only {} bodies with a fast check", routes.len());
    assert!(routes.iter().any(|r| !r.rename.is_empty()), "renames are exercised");
    let (mut yes, mut total) = (0, 0);
    for route in routes {
        let schemas = &route.schemas;
        yes += agree(&route.id, schemas, &route.rename, 300);
        total += 300;
    }
    // The generator reaches valid bodies, or the comparison proves nothing.
    assert!(yes * 10 > total, "{yes} fast yes of {total}");
}

#[test]
fn the_benchmark_body_is_accepted_fast() {
    let table = RouteTable::builtin(UnknownFields::Reject).unwrap();
    let route = table
        .routes()
        .find(|r| r.template == "/v2/api/dialing-queues/current" && r.method == http::Method::POST)
        .unwrap();
    let body = br#"{"name":"Monday cold calls for the west region","email":"ana@example.com"}"#;
    assert!(super::accepted_fast(route, body));
    let quick = route.schemas.body_quick.as_ref().unwrap();
    // The route renames `user_pid`: a body that uses it is rewritten by the full check.
    assert!(!super::accepted_fast(route, br#"{"user_pid":"u1"}"#));
    assert!(super::accepted_fast(route, br#"{"user_id":"u1"}"#));
    for refused in [
        &br#"{"name":"Monday","name":"again"}"#[..],
        br#"{"name":"Monday","nope":1}"#,
        br#"{"email":"not an email"}"#,
        br#"{"name":1}"#,
        b"\xEF\xBB\xBF{}",
        br#"{} {}"#,
        br#"{"name":"\ud800"}"#,
        // Bytes that are not UTF-8, in a string (after ASCII, truncated, a lone continuation,
        // an encoded surrogate) and outside one; a control character after a byte past ASCII.
        b"{\"name\":\"Monday \xff\"}",
        b"{\"name\":\"Mond\xc3\"}",
        b"{\"name\":\"\x80\"}",
        b"{\"name\":\"\xed\xa0\x80\"}",
        b"{\"name\":\"a\"}\xc3\xa9",
        b"{\"n\xc3\xa9\":\"a\"}",
        b"{\"name\":\"\xc3\xa9\n\"}",
    ] {
        assert!(!quick.accepts(refused, &[]), "{}", String::from_utf8_lossy(refused));
    }
    assert!(quick.accepts(format!(r#"{{"name":"{}"}}"#, "é".repeat(255)).as_bytes(), &[]));
    assert!(quick.accepts("{\"name\":\"Lundi \u{e9}t\u{e9} \u{1f4de} calls\"}".as_bytes(), &[]));
    assert!(!quick.accepts(format!(r#"{{"name":"{}"}}"#, "é".repeat(256)).as_bytes(), &[]));
}

#[test]
fn what_the_fast_check_leaves_to_the_full_one() {
    // `1.0` is an integer to JSON Schema; numbers in an enum compare by value.
    let schemas = schemas_of(
        json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
        Vec::new(),
        UnknownFields::Reject,
    );
    let quick = schemas.body_quick.as_ref().unwrap();
    assert!(!quick.accepts(br#"{"n":1.0}"#, &[]));
    assert!(full(&schemas, &[], br#"{"n":1.0}"#));
    assert!(quick.accepts(br#"{"n":1}"#, &[]));
    // Escapes, fractions, `-0` and deep nesting are read by the full parser only.
    let open = schemas_of(json!({"type": "object"}), Vec::new(), UnknownFields::Allow);
    let quick = open.body_quick.as_ref().unwrap();
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
    for body in [
        r#"{"a":"\u0041"}"#,
        r#"{"a":1.5}"#,
        r#"{"a":-0}"#,
        r#"{"a":1e2}"#,
        &deep,
    ] {
        assert!(!quick.accepts(body.as_bytes(), &[]), "{body}");
        assert!(full(&open, &[], body.as_bytes()), "{body}");
    }
    for body in [
        r#"{"a":[1,]}"#,
        r#"{"a":01}"#,
        "{\"a\":\"\t\"}",
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
    ] {
        assert!(!quick.accepts(body.as_bytes(), &[]), "{body}");
        assert!(!full(&open, &[], body.as_bytes()), "{body}");
    }
    assert!(quick.accepts(br#" { "a" : [ 1 , -2 , { } , [ ] , "x" , true , null ] } "#, &[]));
    // Keywords it does not read leave the route without a fast check.
    for schema in [
        json!({"type": "object", "properties": {"n": {"enum": [1, 2]}}}),
        json!({"type": "object", "properties": {"s": {"type": "string", "pattern": "^a"}}}),
        json!({"anyOf": [{"type": "null"}, {"type": "object"}]}),
        json!({"type": "object", "required": ["x"], "additionalProperties": false}),
    ] {
        assert!(
            schemas_of(schema.clone(), Vec::new(), UnknownFields::Reject)
                .body_quick
                .is_none(),
            "{schema}"
        );
    }
}
