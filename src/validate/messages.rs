//! Turning schema violations into `FieldError`s with messages a developer can act on.
//! Messages name the field and the rule and echo at most a short prefix of a bad value, so a
//! secret pasted into the wrong field is not reflected back whole.

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::Value;

use super::bounded::{cut, ErrorList, MAX_MESSAGE_BYTES};
use crate::envelope::FieldError;

/// Longest prefix of a bad value ever echoed in a message.
const ECHO_CHARS: usize = 16;

pub(super) fn field_error(pointer: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: pointer.to_string(),
        code: code.to_string(),
        message: message.into(),
    }
}

/// RFC 6901 escaping of one pointer segment.
pub(super) fn pointer_escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// `/numbers/0/number` -> `numbers.0.number`.
pub(super) fn param_name(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// The envelope's `message`: the first error, and how many more there are, in at most
/// `MAX_MESSAGE_BYTES`.
pub(super) fn summary(errors: &ErrorList) -> String {
    let Some(first) = errors.first() else {
        return "invalid request".to_string();
    };
    let name = param_name(&first.field);
    let head = if name.is_empty() {
        first.message.clone()
    } else {
        format!("{name}: {}", first.message)
    };
    let more = errors.total() - 1;
    let tail = match (more, errors.listing().at_least) {
        (0, false) => String::new(),
        (n, false) => format!(" (and {n} more)"),
        (n, true) => format!(" (and at least {n} more)"),
    };
    cut(head, MAX_MESSAGE_BYTES - tail.len()) + &tail
}

/// Records the violations of `validator` by `value` in `out`, until `out` is full.
pub(super) fn schema_errors(validator: &Validator, value: &Value, out: &mut ErrorList) {
    // Valid input is the common case: `is_valid` builds no error and its evaluation paths, so
    // the itemised walk runs only for input that fails.
    if validator.is_valid(value) {
        return;
    }
    // `iter_errors` is lazy: once the list is full, one more error is taken to count (an
    // object's unknown keys all come in one, counted whole) and the walk stops there.
    let mut errors = validator.iter_errors(value);
    while let Some(error) = errors.next() {
        if out.is_full() {
            record(&error, out);
            if errors.next().is_some() {
                out.stopped();
            }
            return;
        }
        record(&error, out);
    }
}

fn record(error: &jsonschema::ValidationError<'_>, out: &mut ErrorList) {
    let pointer = error.instance_path().as_str();
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            for name in unexpected {
                let field = format!("{pointer}/{}", pointer_escape(name));
                out.push(&field, "additionalProperties", || {
                    "is not a field of this endpoint".to_string()
                });
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let field = format!("{pointer}/{}", pointer_escape(name));
            out.push(&field, "required", || "is required".to_string());
        }
        kind => out.push(pointer, kind.keyword(), || describe(kind, error.instance())),
    }
}

fn describe(kind: &ValidationErrorKind, instance: &Value) -> String {
    match kind {
        ValidationErrorKind::MaxLength { limit } => {
            format!("must be at most {limit} characters (got {})", char_count(instance))
        }
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters (got {})", char_count(instance))
        }
        ValidationErrorKind::Format { format } => format!("must be a valid {format} (got {})", echo(instance)),
        ValidationErrorKind::Type { kind } => {
            format!("must be of type {} (got {})", type_names(kind), json_type(instance))
        }
        ValidationErrorKind::Enum { options } => format!("must be one of {options} (got {})", echo(instance)),
        ValidationErrorKind::Minimum { limit } => format!("must be >= {limit} (got {})", echo(instance)),
        ValidationErrorKind::Maximum { limit } => format!("must be <= {limit} (got {})", echo(instance)),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("must be > {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("must be < {limit}"),
        ValidationErrorKind::MinItems { limit } => format!("must have at least {limit} item(s)"),
        ValidationErrorKind::MaxItems { limit } => format!("must have at most {limit} item(s)"),
        ValidationErrorKind::Pattern { pattern } => format!("must match the pattern {pattern}"),
        ValidationErrorKind::AnyOf { .. } => "does not match any of the allowed shapes".to_string(),
        ValidationErrorKind::OneOfNotValid { .. } => "does not match exactly one of the allowed shapes".to_string(),
        ValidationErrorKind::OneOfMultipleValid { .. } => "matches more than one of the allowed shapes".to_string(),
        ValidationErrorKind::Constant { expected_value } => format!("must be {expected_value}"),
        ValidationErrorKind::UniqueItems => "items must be unique".to_string(),
        other => format!("violates the {} rule", other.keyword()),
    }
}

fn type_names(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(set) => {
            set.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or ")
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn char_count(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

/// A short, quoted prefix of a scalar value; the type for anything else.
fn echo(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() > ECHO_CHARS => {
            format!("{:?}...", s.chars().take(ECHO_CHARS).collect::<String>())
        }
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => {
            let text = n.to_string();
            if text.len() > ECHO_CHARS {
                "a number".to_string()
            } else {
                text
            }
        }
        Value::Bool(b) => b.to_string(),
        other => json_type(other).to_string(),
    }
}
