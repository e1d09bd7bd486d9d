//! The gateway's own error codes, as a type: the envelope's `code`, the
//! `x-allo-gateway-error` header, the access log's `error` and the metrics all come from one
//! `Code`, so a new code is matched everywhere it must be, not found missing at run time.

use std::fmt;

use http::{HeaderName, HeaderValue, StatusCode};

/// A code of the status table (INTERFACE §5 and the README's additions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    MalformedRequest,
    RequestHeaderFieldsTooLarge,
    GatewayUnauthenticated,
    ApiKeyInsufficientScope,
    EndpointNotFound,
    MethodNotAllowed,
    InvalidRequestBody,
    InvalidQueryParameter,
    InvalidRequestHeader,
    PayloadTooLarge,
    UnsupportedMediaType,
    RequestTimeout,
    RateLimitExceeded,
    RateLimitUnavailable,
    UpstreamUnavailable,
    UpstreamTimeout,
    ShuttingDown,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::MalformedRequest => "MALFORMED_REQUEST",
            Code::RequestHeaderFieldsTooLarge => "REQUEST_HEADER_FIELDS_TOO_LARGE",
            Code::GatewayUnauthenticated => "GATEWAY_UNAUTHENTICATED",
            Code::ApiKeyInsufficientScope => "API_KEY_INSUFFICIENT_SCOPE",
            Code::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::InvalidRequestBody => "INVALID_REQUEST_BODY",
            Code::InvalidQueryParameter => "INVALID_QUERY_PARAMETER",
            Code::InvalidRequestHeader => "INVALID_REQUEST_HEADER",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::RequestTimeout => "REQUEST_TIMEOUT",
            Code::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            Code::RateLimitUnavailable => "RATE_LIMIT_UNAVAILABLE",
            Code::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Code::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Code::ShuttingDown => "SHUTTING_DOWN",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the status table: everything an error is answered with except its message
/// and the validation details of its body. Built by `GatewayError::classify` alone; the
/// envelope, its headers and the connection's fate are read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: StatusCode,
    /// The envelope's `type`.
    pub kind: &'static str,
    pub code: Code,
    /// Whether the same request may succeed later (the envelope's `retryable`).
    pub retryable: bool,
    /// Seconds before a retry is worth it: the envelope's `retry_after_seconds`, also sent
    /// as `Retry-After` among `headers`.
    pub retry_after: Option<u64>,
    /// Whether the connection must close after the answer: it carried a request whose framing
    /// cannot be trusted, so the next bytes on it cannot be either.
    pub close: bool,
    /// Headers the answer carries besides the envelope's own, in order; a name may repeat.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Outcome {
    pub(super) fn new(status: StatusCode, kind: &'static str, code: Code) -> Outcome {
        Outcome {
            status,
            kind,
            code,
            retryable: false,
            retry_after: None,
            close: false,
            headers: Vec::new(),
        }
    }

    pub(super) fn retryable(mut self) -> Outcome {
        self.retryable = true;
        self
    }

    pub(super) fn closing(mut self) -> Outcome {
        self.close = true;
        self
    }

    pub(super) fn retry_after(mut self, secs: u64) -> Outcome {
        self.retry_after = Some(secs);
        self.headers.push((http::header::RETRY_AFTER, HeaderValue::from(secs)));
        self
    }

    pub(super) fn with_headers(mut self, headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>) -> Outcome {
        self.headers.extend(headers);
        self
    }
}
