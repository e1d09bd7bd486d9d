//! Allo's v2 error envelope, the one body shape for every error the gateway (or its sandbox)
//! answers itself: `{"error": {type, code, message, retryable, request_id, ...}}`.

use bytes::Bytes;
use serde::Serialize;

/// One field-level problem, e.g. `{"field": "/name", "code": "maxLength", ...}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// The `error` object of the envelope.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    pub retry_after_seconds: Option<u64>,
}

impl ErrorBody {
    pub fn new(kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        ErrorBody {
            kind,
            code,
            message: message.into(),
            retryable: false,
            request_id: String::new(),
            param: None,
            errors: Vec::new(),
            retry_after_seconds: None,
        }
    }

    /// Serialises `{"error": self}`.
    pub fn to_bytes(&self) -> Bytes {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: &'a ErrorBody,
        }
        // Serialising plain strings, bools and numbers cannot fail.
        Bytes::from(serde_json::to_vec(&Envelope { error: self }).unwrap_or_default())
    }
}
