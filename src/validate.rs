//! Request validation: the bounded body read, strict JSON parsing, and the schema check that
//! turns every violation into a field-level error with a JSON pointer. What is validated is
//! exactly what is forwarded: bytes are never rewritten, so anything a lenient parser would
//! "fix" (duplicate keys, trailing documents, invalid UTF-8, lone surrogates) is refused.

mod body;
mod bounded;
#[cfg(test)]
mod differential;
mod findings;
mod json;
mod media;
mod messages;
mod query;
mod rename;

pub use body::{announced_too_large, read_body, BodyLimits};
pub use bounded::{ErrorList, MAX_FIELD_BYTES, MAX_LISTED, MAX_MESSAGE_BYTES};
pub use findings::Findings;
pub use json::parse_strict;

use bytes::Bytes;
use http::HeaderMap;

use crate::routes::Route;

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
    #[error("a JSON request body must be UTF-8: a Content-Type charset other than utf-8 is not accepted")]
    UnsupportedCharset,
    // Boxed: refusals are the cold path, and every `Result` of this type carries its size.
    #[error("{message}")]
    InvalidBody { message: String, errors: Box<ErrorList> },
    #[error("{message}")]
    InvalidQuery { message: String, errors: Box<ErrorList> },
    #[error("this operation requires the {name} header")]
    MissingHeader { name: http::HeaderName },
}

impl ValidationError {
    fn body(errors: ErrorList) -> Self {
        ValidationError::InvalidBody {
            message: messages::summary(&errors),
            errors: Box::new(errors),
        }
    }

    fn query(errors: ErrorList) -> Self {
        ValidationError::InvalidQuery {
            message: messages::summary(&errors),
            errors: Box::new(errors),
        }
    }

    /// The field the first error is about, as a dotted name (`name`, `numbers.0.number`).
    pub fn param(&self) -> Option<String> {
        match self {
            ValidationError::MissingHeader { name } => Some(name.as_str().to_string()),
            ValidationError::InvalidBody { errors, .. } | ValidationError::InvalidQuery { errors, .. } => errors
                .first()
                .map(|e| messages::param_name(&e.field))
                .filter(|p| !p.is_empty()),
            _ => None,
        }
    }

    /// The field errors, for `errors[]`.
    pub fn field_errors(&self) -> Option<&ErrorList> {
        match self {
            ValidationError::InvalidBody { errors, .. } | ValidationError::InvalidQuery { errors, .. } => {
                Some(errors.as_ref())
            }
            _ => None,
        }
    }
}

/// A check's outcome and, when a rename applied, what is forwarded instead of what came. A
/// rename is applied even when the check fails, so a request forwarded in `report` mode never
/// carries the old spelling.
#[derive(Debug)]
pub struct Checked<T> {
    pub rewritten: Option<T>,
    pub result: Result<(), ValidationError>,
}

/// Checks the query string (`None`: no `?`) against the route's query schemas.
pub fn check_query(route: &Route, query: Option<&str>) -> Checked<String> {
    // No query where none is needed: most requests, decided at load.
    if query.is_none_or(str::is_empty) && route.schemas.empty_query_valid {
        return Checked {
            rewritten: None,
            result: Ok(()),
        };
    }
    let (rewritten, errors) = query::check(&route.schemas, &route.rename, query);
    Checked {
        rewritten,
        result: if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError::query(errors))
        },
    }
}

/// Every header the route requires is present (and not empty).
pub fn check_headers(route: &Route, headers: &HeaderMap) -> Result<(), ValidationError> {
    match route
        .require_headers
        .iter()
        .find(|name| headers.get(*name).is_none_or(|v| v.as_bytes().trim_ascii().is_empty()))
    {
        None => Ok(()),
        Some(name) => Err(ValidationError::MissingHeader { name: name.clone() }),
    }
}

/// Checks a complete body against the route's body schemas and rules.
pub fn check_body(route: &Route, headers: &HeaderMap, body: &Bytes) -> Checked<Bytes> {
    let mut rewritten = None;
    let result = body_errors(route, headers, body, &mut rewritten);
    Checked { rewritten, result }
}

fn body_errors(
    route: &Route,
    headers: &HeaderMap,
    body: &Bytes,
    rewritten: &mut Option<Bytes>,
) -> Result<(), ValidationError> {
    let schemas = &route.schemas;
    if body.is_empty() {
        if schemas.body_required && !schemas.body.is_empty() {
            return Err(ValidationError::body(ErrorList::one(messages::field_error(
                "",
                "required",
                "a JSON body is required",
            ))));
        }
        return Ok(());
    }
    media::check(headers)?;
    if schemas.body.is_empty() {
        return Err(ValidationError::body(ErrorList::one(messages::field_error(
            "",
            "body",
            "this endpoint takes no request body",
        ))));
    }
    if accepted_fast(route, body) {
        return Ok(());
    }
    // The strict parser stops at its first error: a broken body is one finding.
    let mut value = parse_strict(body).map_err(|e| ValidationError::body(ErrorList::one(e)))?;
    let mut errors = ErrorList::new();
    if !route.rename.is_empty() {
        match rename::apply(&mut value, body, &route.rename) {
            Ok(bytes) => *rewritten = bytes,
            Err(conflict) => errors.push_error(conflict),
        }
    }
    alternatives(&schemas.body, &value, &mut errors);
    if let Some(extra) = &schemas.body_extra {
        messages::schema_errors(extra, &value, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationError::body(errors))
    }
}

/// Most bodies are valid: the fast read says so without building the document. Anything it
/// cannot vouch for (or a name to rename) takes the full check, which words the errors.
fn accepted_fast(route: &Route, body: &[u8]) -> bool {
    let quick = route.schemas.body_quick.as_ref();
    quick.is_some_and(|quick| quick.accepts(body, &route.rename))
}

/// A body described more than once is valid if one description holds; otherwise the errors of
/// the description it came closest to (by the errors counted before each check stopped).
fn alternatives(validators: &[jsonschema::Validator], value: &serde_json::Value, out: &mut ErrorList) {
    if let [only] = validators {
        messages::schema_errors(only, value, out);
        return;
    }
    let mut best: Option<ErrorList> = None;
    for validator in validators {
        let mut errors = ErrorList::new();
        messages::schema_errors(validator, value, &mut errors);
        if errors.is_empty() {
            return;
        }
        if best.as_ref().is_none_or(|b| errors.total() < b.total()) {
            best = Some(errors);
        }
    }
    if let Some(best) = best {
        out.absorb(best);
    }
}
