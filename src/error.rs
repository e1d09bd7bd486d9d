//! The one place where an error becomes a status code and an Allo v2 envelope. Each step has
//! its own error enum; `GatewayError` gathers them and the match below is the status table of
//! INTERFACE §5, exhaustive with no catch-all arm so a new error cannot slip through as a 500.
//! Its rows are typed (`Outcome`, `Code`): the envelope, the marker header, the access log and
//! the metrics all read the same `Code`, and the metrics match it exhaustively.

use http::{HeaderValue, Response, StatusCode};

use crate::auth::{AuthError, ScopeError};
use crate::body::{full, Body};
use crate::envelope::ErrorBody;
use crate::http1::BodyError;
use crate::http1::FramingError;
use crate::ratelimit::{Budget, Cause, RateLimited};
use crate::routes::RateClass;
use crate::upstream::UpstreamError;
use crate::validate::{Findings, ValidationError};

mod code;

pub use code::{Code, Outcome};

/// A validation error's row of the status table (also what `report` mode names it).
pub fn validation_outcome(e: &ValidationError) -> Outcome {
    use StatusCode as S;
    const V: &str = "validation_error";
    match e {
        ValidationError::BodyTooLarge { .. } => Outcome::new(S::PAYLOAD_TOO_LARGE, V, Code::PayloadTooLarge),
        ValidationError::BodyTimeout(_) => Outcome::new(S::REQUEST_TIMEOUT, V, Code::RequestTimeout),
        ValidationError::BodyRead(_) => Outcome::new(S::BAD_REQUEST, V, Code::InvalidRequestBody),
        ValidationError::UnsupportedMediaType | ValidationError::UnsupportedCharset => {
            Outcome::new(S::UNSUPPORTED_MEDIA_TYPE, V, Code::UnsupportedMediaType)
        }
        ValidationError::InvalidBody { .. } => Outcome::new(S::BAD_REQUEST, V, Code::InvalidRequestBody),
        ValidationError::InvalidQuery { .. } => Outcome::new(S::BAD_REQUEST, V, Code::InvalidQueryParameter),
        ValidationError::MissingHeader { .. } => Outcome::new(S::BAD_REQUEST, V, Code::InvalidRequestHeader),
    }
}

/// What `report` mode says about a request's findings, in the status table's words.
pub trait Reported {
    /// The code of the first finding, as an enforcing gateway would have answered it.
    fn first_code(&self) -> Option<Code>;
    /// Every finding on one line, for the access log: `CODE: message; CODE: message`.
    fn summary(&self) -> String;
}

impl Reported for Findings {
    fn first_code(&self) -> Option<Code> {
        self.found().first().map(|e| validation_outcome(e).code)
    }

    fn summary(&self) -> String {
        self.found()
            .iter()
            .map(|e| format!("{}: {e}", validation_outcome(e).code))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The 401 challenges: the two ways a caller presents its token (INTERFACE §3).
const CHALLENGES: [&str; 2] = ["Bearer realm=\"allo-gateway\"", "Api-Key realm=\"allo-gateway\""];

/// Marks answers the gateway made itself (never set on upstream answers).
pub const GATEWAY_ERROR_HEADER: &str = "x-allo-gateway-error";

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Framing(#[from] FramingError),
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    #[error(transparent)]
    Forbidden(#[from] ScopeError),
    #[error("{path_hint} is not an Allo API endpoint")]
    EndpointNotFound { path_hint: &'static str },
    #[error("method not allowed; this endpoint accepts {allowed}")]
    MethodNotAllowed { allowed: String },
    #[error(transparent)]
    Invalid(ValidationError),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    #[error("this team already has {limit} requests in flight")]
    TeamBusy { limit: usize },
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("the gateway is shutting down")]
    ShuttingDown,
}

impl From<ValidationError> for GatewayError {
    /// A body that could not be read because its chunked framing is broken is a framing
    /// failure, not a bad payload: the same 400 `MALFORMED_REQUEST` and closed connection as
    /// a malformed head, whichever step was reading the body.
    fn from(e: ValidationError) -> Self {
        if let ValidationError::BodyRead(source) = &e {
            if let Some(broken) = source.downcast_ref::<BodyError>() {
                return GatewayError::Framing(FramingError::Body(*broken));
            }
        }
        GatewayError::Invalid(e)
    }
}

impl GatewayError {
    /// The status table: status, envelope type, code, whether to retry and when, whether the
    /// connection closes, and the headers the answer carries.
    pub fn classify(&self) -> Outcome {
        use StatusCode as S;
        const V: &str = "validation_error";
        match self {
            // A connection that carried an ambiguous request is not trusted with another.
            GatewayError::Framing(e) if e.is_method() => {
                Outcome::new(S::METHOD_NOT_ALLOWED, V, Code::MethodNotAllowed).closing()
            }
            GatewayError::Framing(e) if e.is_too_large() => {
                Outcome::new(S::REQUEST_HEADER_FIELDS_TOO_LARGE, V, Code::RequestHeaderFieldsTooLarge).closing()
            }
            GatewayError::Framing(_) => Outcome::new(S::BAD_REQUEST, V, Code::MalformedRequest).closing(),
            // RFC 9110 §11.6.1: a 401 carries a challenge. One field per scheme the gateway
            // takes, rather than two challenges in one value, which clients split differently.
            GatewayError::Unauthenticated(_) => {
                Outcome::new(S::UNAUTHORIZED, "authentication_error", Code::GatewayUnauthenticated).with_headers(
                    CHALLENGES.map(|scheme| (http::header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme))),
                )
            }
            GatewayError::Forbidden(_) => Outcome::new(S::FORBIDDEN, "permission_error", Code::ApiKeyInsufficientScope),
            GatewayError::EndpointNotFound { .. } => {
                Outcome::new(S::NOT_FOUND, "not_found_error", Code::EndpointNotFound)
            }
            GatewayError::MethodNotAllowed { allowed } => {
                Outcome::new(S::METHOD_NOT_ALLOWED, V, Code::MethodNotAllowed)
                    .with_headers(HeaderValue::from_str(allowed).ok().map(|v| (http::header::ALLOW, v)))
            }
            GatewayError::Invalid(e) => validation_outcome(e),
            GatewayError::RateLimited(limited) => match limited.cause {
                Cause::Exhausted | Cause::Upstream | Cause::QueueFull => {
                    Outcome::new(S::TOO_MANY_REQUESTS, "rate_limit_error", Code::RateLimitExceeded)
                        .retryable()
                        .retry_after(limited.retry_after_secs())
                        .with_headers(ratelimit_headers(limited))
                }
                // The shared budget could not be checked (Redis down, failure_mode = "closed"):
                // the gateway's fault, not the caller's rate, and no budget state worth telling.
                Cause::StoreUnavailable => {
                    Outcome::new(S::SERVICE_UNAVAILABLE, "server_error", Code::RateLimitUnavailable)
                        .retryable()
                        .retry_after(limited.retry_after_secs())
                }
            },
            GatewayError::TeamBusy { .. } => {
                Outcome::new(S::TOO_MANY_REQUESTS, "rate_limit_error", Code::RateLimitExceeded)
                    .retryable()
                    .retry_after(1)
            }
            GatewayError::Upstream(e) => match e {
                UpstreamError::Timeout(_) => {
                    Outcome::new(S::GATEWAY_TIMEOUT, "server_error", Code::UpstreamTimeout).retryable()
                }
                UpstreamError::Unavailable(_) => {
                    Outcome::new(S::BAD_GATEWAY, "server_error", Code::UpstreamUnavailable).retryable()
                }
            },
            GatewayError::ShuttingDown => {
                Outcome::new(S::SERVICE_UNAVAILABLE, "server_error", Code::ShuttingDown).retryable()
            }
        }
    }

    /// The budget that refused the request, for a rate-limit refusal (the metrics' label).
    pub fn refusing_budget(&self) -> Option<Budget> {
        match self {
            GatewayError::RateLimited(limited) => Some(limited.budget),
            GatewayError::TeamBusy { .. } => Some(Budget::TeamConcurrency),
            _ => None,
        }
    }

    /// The envelope answer, marked with `x-allo-gateway-error`: the outcome's row, with the
    /// error's own message and, for a validation error, what was wrong where.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        self.answer(request_id).0
    }

    /// `into_response`, and the code it carries (classified once).
    pub fn answer(self, request_id: &str) -> (Response<Body>, Code) {
        let outcome = self.classify();
        let mut body = ErrorBody::new(outcome.kind, outcome.code.as_str(), self.to_string());
        body.request_id = request_id.to_string();
        body.retryable = outcome.retryable;
        body.retry_after_seconds = outcome.retry_after;
        if let GatewayError::Invalid(e) = &self {
            body.param = e.param();
            if let Some(errors) = e.field_errors() {
                body.errors = errors.listing().clone();
            }
        }
        let mut response = Response::new(full(body.to_bytes()));
        *response.status_mut() = outcome.status;
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(GATEWAY_ERROR_HEADER, HeaderValue::from_static(outcome.code.as_str()));
        if outcome.close {
            headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        // Appended: a name may come more than once (`WWW-Authenticate`), and none of the
        // outcome's names is among those set just above.
        for (name, value) in outcome.headers {
            headers.append(name, value);
        }
        (response, outcome.code)
    }
}

/// `RateLimit-Policy` / `RateLimit` (IETF httpapi ratelimit-headers draft) naming the exhausted
/// budget, `"caller"`, `"team-read"` or `"team-write"`: its quota per one-second window and
/// the seconds until it admits this request, e.g. `"team-write";q=5;w=1` and
/// `"team-write";r=0;t=1`. A team held because Allo itself said its key was exhausted names
/// Allo's policy, `"allo-read"` or `"allo-write"`, with Allo's quota per key (20 reads, 5 writes
/// a second), not the team's own configured one; Allo's signal without a class describes no
/// policy, and only `Retry-After` is sent.
fn ratelimit_headers(limited: &RateLimited) -> Vec<(http::HeaderName, HeaderValue)> {
    let (name, quota) = match (limited.cause, limited.class) {
        (Cause::Upstream, Some(class)) => (format!("allo-{}", class.as_str()), allo_quota(class)),
        (Cause::Upstream, None) => return Vec::new(),
        (_, Some(class)) => (format!("{}-{}", limited.budget.as_str(), class.as_str()), limited.limit),
        (_, None) => (limited.budget.as_str().to_string(), limited.limit),
    };
    let policy = format!("\"{name}\";q={quota};w=1");
    let state = format!("\"{name}\";r=0;t={}", limited.retry_after_secs());
    [("ratelimit-policy", policy), ("ratelimit", state)]
        .into_iter()
        .filter_map(|(n, v)| {
            HeaderValue::from_str(&v)
                .ok()
                .map(|v| (http::HeaderName::from_static(n), v))
        })
        .collect()
}

/// Allo's own limit per key and second for a class of request.
fn allo_quota(class: RateClass) -> u32 {
    match class {
        RateClass::Read => crate::config::defaults::TEAM_READ_PER_SECOND,
        RateClass::Write => crate::config::defaults::TEAM_WRITE_PER_SECOND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_challenges_with_both_schemes_and_other_answers_do_not() {
        let response = GatewayError::Unauthenticated(AuthError::UnknownCaller).into_response("req_abcdefabcdef");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = response
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap_or_default())
            .collect();
        assert_eq!(
            challenges,
            vec!["Bearer realm=\"allo-gateway\"", "Api-Key realm=\"allo-gateway\""]
        );
        let not_found = GatewayError::EndpointNotFound { path_hint: "this path" }.into_response("r");
        assert!(not_found.headers().get(http::header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn the_outcome_carries_the_retry_and_the_headers_the_answer_sends() {
        let busy = GatewayError::TeamBusy { limit: 4 };
        let outcome = busy.classify();
        assert!(outcome.retryable && !outcome.close);
        assert_eq!(outcome.retry_after, Some(1));
        let response = busy.into_response("r");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        assert!(response.headers().get(http::header::CONNECTION).is_none());

        let wrong_method = GatewayError::MethodNotAllowed {
            allowed: "GET, HEAD".into(),
        };
        let outcome = wrong_method.classify();
        assert!(!outcome.retryable && outcome.retry_after.is_none());
        assert_eq!(
            outcome.headers,
            vec![(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"))]
        );

        let shutting = GatewayError::ShuttingDown.classify();
        assert!(shutting.retryable && shutting.headers.is_empty());
    }
}
