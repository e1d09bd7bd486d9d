//! An endpoint's compiled JSON Schemas (body and query string) and what is needed to apply them:
//! which query parameters are integers or booleans (query values arrive as strings), whether a
//! body is required, and whether the endpoint takes the `user_pid` alias of `user_id`.
//! Schemas are compiled once, with `format` asserted and no remote `$ref` retrieval.

use std::collections::HashMap;

use jsonschema::Validator;
use serde_json::Value;

use crate::config::UnknownFields;

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
    Array,
}

#[derive(Debug)]
pub struct Schemas {
    /// None: the endpoint takes no body.
    pub body: Option<Validator>,
    pub body_required: bool,
    /// None: the endpoint documents no query parameters.
    pub query: Option<Validator>,
    pub query_types: HashMap<String, QueryType>,
    /// `user_pid` and `user_id` are two spellings of one teammate id here.
    pub teammate_alias: bool,
    /// Unknown query keys refused even when the endpoint documents none.
    pub reject_unknown: bool,
    /// An empty query passes the query schema (decided once: most requests have none).
    pub empty_query_valid: bool,
}

impl Schemas {
    pub fn compile(
        body: Option<Value>,
        body_required: bool,
        query: Option<Value>,
        unknown_fields: UnknownFields,
        teammate_alias: bool,
    ) -> Result<Schemas, SchemaError> {
        let query_types = query.as_ref().map(query_types).unwrap_or_default();
        let query = query.map(|s| compile(s, unknown_fields)).transpose()?;
        let empty_query_valid = query
            .as_ref()
            .is_none_or(|validator| validator.is_valid(&Value::Object(serde_json::Map::new())));
        Ok(Schemas {
            body: body.map(|s| compile(s, unknown_fields)).transpose()?,
            body_required,
            query,
            query_types,
            teammate_alias,
            reject_unknown: unknown_fields == UnknownFields::Reject,
            empty_query_valid,
        })
    }
}

fn compile(mut schema: Value, unknown_fields: UnknownFields) -> Result<Validator, SchemaError> {
    if unknown_fields == UnknownFields::Allow {
        open_objects(&mut schema);
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_format("email", super::email::is_email)
        .build(&schema)
        .map_err(|e| SchemaError(e.to_string()))
}

/// `unknown_fields = "allow"`: drop every `additionalProperties: false`.
fn open_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                map.remove("additionalProperties");
            }
            map.values_mut().for_each(open_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(open_objects),
        _ => {}
    }
}

fn query_types(schema: &Value) -> HashMap<String, QueryType> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return HashMap::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let ty = match prop.get("type") {
                Some(Value::String(t)) => t.as_str(),
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|t| *t != "null")
                    .unwrap_or("string"),
                _ => "string",
            };
            let ty = match ty {
                "integer" => QueryType::Integer,
                "number" => QueryType::Number,
                "boolean" => QueryType::Boolean,
                "array" => QueryType::Array,
                _ => QueryType::String,
            };
            (name.clone(), ty)
        })
        .collect()
}
