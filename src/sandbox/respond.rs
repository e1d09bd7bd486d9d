//! How the sandbox answers: a handler returns either a `Reply` (status + JSON value) or an
//! `ApiError` (status + Allo v2 envelope fields), and `finish` turns either into an
//! `http::Response` carrying the headers every Allo answer has (`Content-Type`, `X-Request-Id`,
//! the `X-RateLimit-*` trio once the key is known). Handlers never build responses themselves,
//! so no answer can leave without its request id.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use serde_json::Value;

use super::limits::Verdict;
use crate::envelope::{ErrorBody, FieldError};

/// A successful answer: status and JSON document (`None` for a 204, which has no body).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    pub(super) fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    pub(super) fn created(body: Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body: Some(body),
        }
    }

    pub(super) fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }
}

/// An error answer in Allo's v2 envelope, before the request id is known to it. Boxed so the
/// `Result`s handlers return stay small on the happy path.
#[derive(Debug, Clone)]
pub(crate) struct ApiError(Box<ErrorInfo>);

#[derive(Debug, Clone)]
pub(crate) struct ErrorInfo {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    pub errors: Vec<FieldError>,
    pub retry_after_seconds: Option<u64>,
    /// Methods for the `Allow` header of a 405.
    pub allow: Option<String>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorInfo;
    fn deref(&self) -> &ErrorInfo {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorInfo {
        &mut self.0
    }
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: String) -> Self {
        ApiError(Box::new(ErrorInfo {
            status,
            kind,
            code,
            message,
            param: None,
            errors: Vec::new(),
            retry_after_seconds: None,
            allow: None,
        }))
    }

    pub(super) fn validation(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", code, message.into())
    }

    pub(super) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", code, message.into())
    }

    pub(super) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "API_KEY_INVALID",
            "missing or invalid API key; send `Authorization: Api-Key <key>`".into(),
        )
    }

    pub(super) fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_error", code, message.into())
    }

    pub(super) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict_error", code, message.into())
    }

    pub(super) fn rate_limited(limit: u32, class: &str, retry_after: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "RATE_LIMIT_EXCEEDED",
            format!("rate limit exceeded: {class} requests are limited to {limit} requests per second."),
        );
        err.retry_after_seconds = Some(retry_after);
        err
    }

    pub(super) fn not_emulated(method: &str, template: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "server_error",
            "NOT_EMULATED",
            format!("{method} {template} is not emulated by the Allo sandbox"),
        )
    }

    pub(super) fn method_not_allowed(allow: String) -> Self {
        let mut err = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "validation_error",
            "METHOD_NOT_ALLOWED",
            format!("method not allowed on this path; allowed: {allow}"),
        );
        err.allow = Some(allow);
        err
    }

    pub(super) fn endpoint_not_found() -> Self {
        Self::not_found("ENDPOINT_NOT_FOUND", "no Allo endpoint at this path")
    }

    pub(super) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "validation_error",
            "PAYLOAD_TOO_LARGE",
            format!("request body exceeds {limit} bytes"),
        )
    }

    pub(super) fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// A 400 `INVALID_REQUEST_BODY` listing every field problem found; `param` is the first.
    pub(super) fn invalid_body(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [] => "invalid request body".to_owned(),
            [only] => only.message.clone(),
            [first, ..] => format!("{} (and {} more)", first.message, errors.len() - 1),
        };
        let param = errors
            .first()
            .map(|e| e.field.trim_start_matches('/').replace('/', "."));
        let mut err = Self::validation("INVALID_REQUEST_BODY", message);
        err.param = param.filter(|p| !p.is_empty());
        err.errors = errors;
        err
    }

    fn retryable(&self) -> bool {
        // Allo marks every rate_limit_error retryable and nothing else the sandbox emits.
        self.kind == "rate_limit_error"
    }
}

/// Builds the final response. `limits` is `None` only before the key is authenticated.
pub(crate) fn finish(outcome: Result<Reply, ApiError>, request_id: &str, limits: Option<&Verdict>) -> Response<Bytes> {
    let (status, body, retry_after, allow) = match outcome {
        Ok(Reply { status, body: None }) => (status, None, None, None),
        Ok(Reply {
            status,
            body: Some(body),
        }) => {
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            (status, Some(Bytes::from(bytes)), None, None)
        }
        Err(err) => {
            let retryable = err.retryable();
            let info = *err.0;
            let mut body = ErrorBody::new(info.kind, info.code, info.message);
            body.request_id = request_id.to_owned();
            body.retryable = retryable;
            body.param = info.param;
            body.errors = info.errors.into();
            body.retry_after_seconds = info.retry_after_seconds;
            (info.status, Some(body.to_bytes()), info.retry_after_seconds, info.allow)
        }
    };
    // A body-less answer (204) carries no Content-Type: there is nothing to describe.
    let has_body = body.is_some();
    let mut response = Response::new(body.unwrap_or_default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if has_body {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Some(verdict) = limits {
        let pairs = [
            ("x-ratelimit-limit", u64::from(verdict.limit)),
            ("x-ratelimit-remaining", u64::from(verdict.remaining)),
            ("x-ratelimit-reset", verdict.reset_unix),
        ];
        for (name, value) in pairs {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    if let Some(seconds) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Some(value) = allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_carries_request_id_and_headers() {
        let verdict = Verdict {
            limit: 5,
            remaining: 0,
            reset_unix: 1_700_000_001,
            retry_after: Some(1),
        };
        let resp = finish(Err(ApiError::rate_limited(5, "write", 1)), "req_abc", Some(&verdict));
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()["x-request-id"], "req_abc");
        assert_eq!(resp.headers()["retry-after"], "1");
        assert_eq!(resp.headers()["x-ratelimit-reset"], "1700000001");
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(v["error"]["request_id"], "req_abc");
        assert_eq!(v["error"]["retryable"], true);
        assert_eq!(v["error"]["retry_after_seconds"], 1);
    }

    #[test]
    fn no_content_has_no_body_and_no_content_type() {
        let resp = finish(Ok(Reply::no_content()), "req_abc", None);
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert!(resp.body().is_empty());
        assert!(resp.headers().get(CONTENT_TYPE).is_none());
        assert_eq!(resp.headers()["x-request-id"], "req_abc");
        let created = finish(Ok(Reply::created(serde_json::json!({"data": 1}))), "req_abc", None);
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(created.headers()[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn invalid_body_names_first_field() {
        let err = ApiError::invalid_body(vec![FieldError {
            field: "/numbers/0/number".into(),
            code: "type".into(),
            message: "numbers[0].number: must be a string".into(),
        }]);
        assert_eq!(err.param.as_deref(), Some("numbers.0.number"));
        assert_eq!(err.code, "INVALID_REQUEST_BODY");
    }
}
