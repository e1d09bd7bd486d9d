//! Request validation: the bounded body read, strict JSON parsing, and the schema check that
//! turns every violation into a field-level error with a JSON pointer. What is validated is
//! exactly what is forwarded: bytes are never rewritten, so anything a lenient parser would
//! "fix" (duplicate keys, trailing documents, invalid UTF-8, lone surrogates) is refused.

mod body;
mod json;
mod messages;
mod query;

pub use body::{announced_too_large, read_body, BodyLimits};
pub use json::parse_strict;

use bytes::Bytes;
use http::HeaderMap;

use crate::envelope::FieldError;
use crate::routes::Schemas;

#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("request body was not received within {0:?}")]
    BodyTimeout(std::time::Duration),
    #[error("request body could not be read")]
    BodyRead(#[source] crate::body::BoxError),
    #[error("a request body needs a JSON Content-Type (application/json)")]
    UnsupportedMediaType,
    #[error("{message}")]
    InvalidBody { message: String, errors: Vec<FieldError> },
    #[error("{message}")]
    InvalidQuery { message: String, errors: Vec<FieldError> },
}

impl ValidationError {
    fn body(errors: Vec<FieldError>) -> Self {
        ValidationError::InvalidBody {
            message: messages::summary(&errors),
            errors,
        }
    }

    fn query(errors: Vec<FieldError>) -> Self {
        ValidationError::InvalidQuery {
            message: messages::summary(&errors),
            errors,
        }
    }

    /// The field the first error is about, as a dotted name (`name`, `numbers.0.number`).
    pub fn param(&self) -> Option<String> {
        match self {
            ValidationError::InvalidBody { errors, .. } | ValidationError::InvalidQuery { errors, .. } => errors
                .first()
                .map(|e| messages::param_name(&e.field))
                .filter(|p| !p.is_empty()),
            _ => None,
        }
    }

    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ValidationError::InvalidBody { errors, .. } | ValidationError::InvalidQuery { errors, .. } => errors,
            _ => &[],
        }
    }
}

/// Checks the query string (`None`: no `?`) against the endpoint's query schema.
pub fn check_query(schemas: &Schemas, query: Option<&str>) -> Result<(), ValidationError> {
    query::check(schemas, query).map_err(ValidationError::query)
}

/// Checks a complete body against the endpoint's body schema.
pub fn check_body(schemas: &Schemas, headers: &HeaderMap, body: &Bytes) -> Result<(), ValidationError> {
    if body.is_empty() {
        if schemas.body_required && schemas.body.is_some() {
            return Err(ValidationError::body(vec![messages::field_error(
                "",
                "required",
                "a JSON body is required",
            )]));
        }
        return Ok(());
    }
    if !is_json(headers) {
        return Err(ValidationError::UnsupportedMediaType);
    }
    let Some(validator) = &schemas.body else {
        return Err(ValidationError::body(vec![messages::field_error(
            "",
            "body",
            "this endpoint takes no request body",
        )]));
    };
    let value = parse_strict(body).map_err(|e| ValidationError::body(vec![e]))?;
    let mut errors = messages::schema_errors(validator, &value);
    if schemas.teammate_alias {
        errors.extend(messages::teammate_alias(&value));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationError::body(errors))
    }
}

/// `application/json` or `application/<x>+json`, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json") || sub.to_ascii_lowercase().ends_with("+json"))
}
