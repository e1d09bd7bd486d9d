//! An operation's compiled JSON Schemas (body and query string) and what is needed to apply
//! them: which query parameters are integers, booleans or arrays (query values arrive as
//! strings), whether a body is required, and the rules' extra fragments. Schemas are compiled
//! once, at load, with `format` asserted and no remote `$ref` retrieval.
//!
//! Allo's document leaves its request objects open; under `unknown_fields = "reject"` every
//! object that names its properties is closed here: with `additionalProperties: false` where it
//! stands alone, and with `unevaluatedProperties: false` where it is composed, which, unlike
//! `additionalProperties`, counts the properties named by `allOf`/`anyOf`/`oneOf` branches, so
//! composed schemas still accept what their parts name.

mod objects;
mod quick;

use std::collections::HashMap;

use jsonschema::Validator;
use serde_json::{Map, Value};

use super::openapi::{Parameter, RequestBody};
use crate::config::UnknownFields;
pub(super) use objects::closes;
use objects::{close_objects, open_objects};
pub use quick::Quick;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(String);

/// How a query parameter's string value is read before it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryType {
    String,
    Integer,
    Number,
    Boolean,
    /// The key repeated (`style: form, explode: true`).
    Array,
    /// One key, values separated by commas (`explode: false`).
    CommaArray,
}

#[derive(Debug)]
pub struct Schemas {
    /// Alternative descriptions of the body; empty: the endpoint takes no body.
    pub body: Vec<Validator>,
    pub body_required: bool,
    /// The fast yes for the body (`quick`); None where a schema uses a keyword it does not read.
    pub body_quick: Option<Quick>,
    /// The rules' body fragments, which must also hold.
    pub body_extra: Option<Validator>,
    /// None: the endpoint documents no query parameters.
    pub query: Option<Validator>,
    pub query_extra: Option<Validator>,
    pub query_types: HashMap<String, QueryType>,
    /// Unknown query keys refused even when the endpoint documents none.
    pub reject_unknown: bool,
    /// An empty query passes the query schemas (decided once: most requests have none).
    pub empty_query_valid: bool,
}

/// What the schemas are built from.
pub struct SchemaSource<'a> {
    pub body: Option<&'a RequestBody>,
    pub body_extra: Vec<Value>,
    pub query: &'a [Parameter],
    /// Unknown query keys pass (a parameter style the validator cannot read).
    pub query_open: bool,
    pub query_extra: Vec<Value>,
}

/// Which part of an operation failed to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Body(usize),
    BodyRule,
    Query,
    QueryRule,
}

impl Schemas {
    pub fn compile(source: SchemaSource<'_>, unknown_fields: UnknownFields) -> Result<Schemas, (Part, SchemaError)> {
        let reject = unknown_fields == UnknownFields::Reject;
        let body: Vec<Value> = match source.body {
            Some(body) => body
                .alternatives
                .iter()
                .map(|s| finish(prepare(s.clone(), reject), unknown_fields))
                .collect(),
            None => Vec::new(),
        };
        // A rule the description already states costs a second check for nothing: only what
        // the description does not say is compiled (a document that drops it brings it back).
        let alternatives: Vec<&Value> = source.body.map(|b| b.alternatives.iter().collect()).unwrap_or_default();
        let body_extra: Vec<Value> = source
            .body_extra
            .into_iter()
            .filter(|fragment| alternatives.is_empty() || !alternatives.iter().all(|doc| implied(doc, fragment)))
            .collect();
        let body_extra = all_of(body_extra).map(|s| finish(s, unknown_fields));
        let body_quick = Quick::new(&body, body_extra.as_ref());
        let body = body
            .iter()
            .enumerate()
            .map(|(i, s)| validator(s).map_err(|e| (Part::Body(i), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let body_extra = body_extra
            .as_ref()
            .map(validator)
            .transpose()
            .map_err(|e| (Part::BodyRule, e))?;
        let query_types: HashMap<String, QueryType> = source
            .query
            .iter()
            .map(|p| (p.name.clone(), query_type(&p.schema, p.explode)))
            .collect();
        let query = (!source.query.is_empty())
            .then(|| query_schema(source.query, reject && !source.query_open))
            .map(|s| compile(s, unknown_fields))
            .transpose()
            .map_err(|e| (Part::Query, e))?;
        let query_extra = all_of(source.query_extra)
            .map(|s| compile(s, unknown_fields))
            .transpose()
            .map_err(|e| (Part::QueryRule, e))?;
        let empty = Value::Object(Map::new());
        let empty_query_valid = [&query, &query_extra]
            .into_iter()
            .flatten()
            .all(|validator| validator.is_valid(&empty));
        Ok(Schemas {
            body,
            body_required: source.body.is_some_and(|b| b.required),
            body_quick,
            body_extra,
            query,
            query_extra,
            query_types,
            reject_unknown: reject && !source.query_open,
            empty_query_valid,
        })
    }
}

/// Whether `doc` already says everything `fragment` says: each keyword of the fragment is in
/// the document with the same value or a tighter bound, property by property. Conservative:
/// anything it cannot compare counts as not implied.
fn implied(doc: &Value, fragment: &Value) -> bool {
    let (Some(doc), Some(fragment)) = (doc.as_object(), fragment.as_object()) else {
        return false;
    };
    fragment.iter().all(|(key, want)| {
        let Some(have) = doc.get(key) else { return false };
        match key.as_str() {
            "properties" => match (have.as_object(), want.as_object()) {
                (Some(have), Some(want)) => want
                    .iter()
                    .all(|(name, w)| have.get(name).is_some_and(|h| implied(h, w))),
                _ => false,
            },
            "maxLength" | "maxItems" | "maximum" | "maxProperties" => {
                matches!((have.as_f64(), want.as_f64()), (Some(h), Some(w)) if h <= w)
            }
            "minLength" | "minItems" | "minimum" | "minProperties" => {
                matches!((have.as_f64(), want.as_f64()), (Some(h), Some(w)) if h >= w)
            }
            _ => have == want,
        }
    })
}

/// Several fragments that must all hold, as one schema.
fn all_of(mut fragments: Vec<Value>) -> Option<Value> {
    match fragments.len() {
        0 => None,
        1 => fragments.pop(),
        _ => {
            let mut map = Map::new();
            map.insert("allOf".into(), Value::Array(fragments));
            Some(Value::Object(map))
        }
    }
}

/// The query string as one object: a property per parameter.
fn query_schema(params: &[Parameter], closed: bool) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in params {
        properties.insert(p.name.clone(), p.schema.clone());
        if p.required {
            required.push(Value::String(p.name.clone()));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    if closed {
        schema.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(schema)
}

fn compile(schema: Value, unknown_fields: UnknownFields) -> Result<Validator, SchemaError> {
    validator(&finish(schema, unknown_fields))
}

/// The schema as compiled: `unknown_fields = "allow"` opens every object.
fn finish(mut schema: Value, unknown_fields: UnknownFields) -> Value {
    if unknown_fields == UnknownFields::Allow {
        open_objects(&mut schema);
    }
    schema
}

fn validator(schema: &Value) -> Result<Validator, SchemaError> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_format("email", super::email::is_email)
        .build(schema)
        .map_err(|e| SchemaError(e.to_string()))
}

fn prepare(mut schema: Value, reject: bool) -> Value {
    if reject {
        close_objects(&mut schema, false);
    }
    schema
}

fn query_type(schema: &Value, explode: bool) -> QueryType {
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string"),
        _ => "string",
    };
    match ty {
        "integer" => QueryType::Integer,
        "number" => QueryType::Number,
        "boolean" => QueryType::Boolean,
        "array" if explode => QueryType::Array,
        "array" => QueryType::CommaArray,
        _ => QueryType::String,
    }
}
