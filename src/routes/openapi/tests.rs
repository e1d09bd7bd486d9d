use super::*;
use serde_json::{json, Map};

fn parse(doc: Value) -> Result<Description, SpecError> {
    Description::parse(&doc.to_string(), false, Source::BuiltIn)
}

fn doc(paths: Value, components: Value) -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths, "components": components})
}

fn op<'a>(d: &'a Description, method: &str, path: &str) -> &'a Operation {
    d.operations
        .iter()
        .find(|o| o.method.as_str() == method && o.path == path)
        .unwrap_or_else(|| panic!("no {method} {path}"))
}

#[test]
fn the_builtin_description_has_allos_late_2026_surface() {
    let d = Description::builtin().unwrap();
    // 91 operations, of which `POST /v1/api/sms#france` describes a second body of one.
    assert_eq!(d.operations.len(), 90);
    let sms = op(&d, "POST", "/v1/api/sms");
    assert_eq!(sms.body.as_ref().unwrap().alternatives.len(), 2);
    assert_eq!(
        op(&d, "PUT", "/v2/api/conversations/{contact_number}/action")
            .scope
            .as_deref(),
        Some("CONVERSATIONS_WRITE")
    );
    let conversations = op(&d, "GET", "/v2/api/conversations");
    assert!(conversations.query.iter().any(|p| p.name == "pinned"));
    // `$ref`d parameters are resolved.
    assert!(conversations
        .query
        .iter()
        .any(|p| p.name == "page" && p.schema["minimum"] == 1));
    let topup = op(&d, "POST", "/v2/api/partner/esims/{id}/topups");
    assert!(topup.headers.iter().any(|h| h.name == "Idempotency-Key" && h.required));
    // `nullable` (3.0) is a null type in 2020-12, inside a resolved `$ref`.
    let reset = &op(&d, "POST", "/v2/api/dialing-queues/current")
        .body
        .as_ref()
        .unwrap()
        .alternatives[0];
    assert_eq!(reset["properties"]["name"]["type"], json!(["string", "null"]));
}

#[test]
fn refs_nullable_and_composition_resolve() {
    let d = parse(doc(
        json!({
            "/a/{id}": {
                "parameters": [{"name": "tag", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}],
                "post": {
                    "parameters": [{"$ref": "#/components/parameters/Limit"}],
                    "requestBody": {"$ref": "#/components/requestBodies/A"}
                }
            }
        }),
        json!({
            "parameters": {"Limit": {"name": "limit", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 1, "exclusiveMinimum": true}}},
            "requestBodies": {"A": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}},
            "schemas": {
                "A": {"allOf": [{"$ref": "#/components/schemas/B"}, {"type": "object", "properties": {"n": {"type": "integer", "nullable": true, "enum": [1, 2]}}}]},
                "B": {"type": "object", "nullable": true, "properties": {"s": {"oneOf": [{"type": "string"}, {"$ref": "#/components/schemas/C"}]}}},
                "C": {"type": "integer"}
            }
        }),
    ))
    .unwrap();
    let a = op(&d, "POST", "/a/{id}");
    // Path-level and operation-level parameters both apply.
    let names: Vec<_> = a.query.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["limit", "tag"]);
    assert!(a.query[1].explode);
    assert_eq!(a.query[0].schema, json!({"type": "integer", "exclusiveMinimum": 1}));
    let body = a.body.as_ref().unwrap();
    assert!(body.required);
    let schema = &body.alternatives[0];
    assert_eq!(schema["allOf"][0]["type"], json!(["object", "null"]));
    assert_eq!(
        schema["allOf"][0]["properties"]["s"]["oneOf"][1],
        json!({"type": "integer"})
    );
    assert_eq!(schema["allOf"][1]["properties"]["n"]["enum"], json!([1, 2, null]));
}

#[test]
fn openapi_31_type_arrays_and_yaml() {
    let yaml = r#"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /b:
    get:
      parameters:
        - name: ids
          in: query
          style: form
          explode: false
          schema: {type: array, items: {type: integer}}
    patch:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                x: {type: [string, "null"], maxLength: 3}
"#;
    let d = Description::parse(yaml, true, Source::BuiltIn).unwrap();
    assert!(!op(&d, "GET", "/b").query[0].explode);
    let x = &op(&d, "PATCH", "/b").body.as_ref().unwrap().alternatives[0]["properties"]["x"];
    assert_eq!(*x, json!({"type": ["string", "null"], "maxLength": 3}));
}

#[test]
fn every_problem_is_listed_with_its_pointer() {
    let err = parse(doc(
        json!({
            "/a": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Missing"}}}}}},
            "/b": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Loop"}}}}}},
            "c": {"get": {}}
        }),
        json!({"schemas": {"Loop": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Loop"}}}}}),
    ))
    .unwrap_err();
    let text: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|p| p.contains("/paths/~1a/post/requestBody") && p.contains("points to nothing")),
        "{text:?}"
    );
    assert!(text.iter().any(|p| p.contains("recursive $ref")), "{text:?}");
    assert!(text.iter().any(|p| p.starts_with("/paths/c:")), "{text:?}");
}

#[test]
fn oversized_documents_are_refused_quickly() {
    let started = std::time::Instant::now();
    let mut paths = Map::new();
    for i in 0..10_000 {
        paths.insert(format!("/p{i}"), json!({"get": {}}));
    }
    let err = parse(doc(Value::Object(paths), json!({}))).unwrap_err();
    assert!(err.problems[0].message.contains("more than 2000 operations"), "{err}");

    let big = " ".repeat(MAX_SPEC_BYTES as usize + 1);
    let err = Description::parse(&big, false, Source::BuiltIn).unwrap_err();
    assert!(err.problems[0].message.contains("at most"), "{err}");

    // A schema whose references double at each level.
    let mut schemas = Map::new();
    for i in 0..40 {
        schemas.insert(
            format!("S{i}"),
            json!({"type": "object", "properties": {"a": {"$ref": format!("#/components/schemas/S{}", i + 1)}, "b": {"$ref": format!("#/components/schemas/S{}", i + 1)}}}),
        );
    }
    schemas.insert("S40".into(), json!({"type": "string"}));
    let err = parse(doc(
        json!({"/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}}}}),
        json!({"schemas": schemas}),
    ))
    .unwrap_err();
    assert!(err.problems[0].message.contains("schema nodes"), "{err}");
    // A guard against a hang, not a timing: in a release build all three take milliseconds.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
