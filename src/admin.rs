//! The admin listener: `/healthz` (the process answers), `/readyz` (config loaded, secrets
//! resolved, listener bound, not draining) and `/metrics` (OpenMetrics text, see `metrics`).
//! Needs no caller token, so it binds to loopback by default and must not be exposed beyond
//! the pod or host. A failed reload does not make the gateway unready: the previous config
//! keeps serving.
//!
//! `/readyz?verbose` answers with the same status, and in JSON says why and what each team's
//! key can do, as Allo last described it (`keycheck`, with `[upstream] verify_keys`):
//! `{"ready": true, "verify_keys": true, "teams": {"sales": {"key": "valid", "scopes": [...],
//! "checked_at": "..."}}}`, `key` being `valid`, `invalid` or `unknown`. Plain `/readyz` keeps
//! its one-word body for probes. Readiness never depends on the key check: an unreachable Allo
//! must not take the gateway out of service.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode};

use crate::body::{full, Body};
use crate::state::Gateway;

/// Readiness, set once the main listener is bound.
#[derive(Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

pub async fn handle<B>(gateway: Arc<Gateway>, ready: Arc<Readiness>, request: Request<B>) -> Response<Body> {
    let path = request.uri().path();
    if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let is_ready = ready.get() && !gateway.is_draining();
            if verbose(request.uri().query()) {
                readiness_detail(&gateway, is_ready)
            } else if is_ready {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }
        _ => {
            let mut response = Response::new(full(gateway.metrics.render()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            response
        }
    }
}

/// `?verbose` (or `verbose=...`) among the query's parameters.
fn verbose(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p == "verbose" || p.starts_with("verbose=")))
}

fn readiness_detail(gateway: &Gateway, is_ready: bool) -> Response<Body> {
    let rt = gateway.runtime();
    let detail = serde_json::json!({
        "ready": is_ready,
        "verify_keys": rt.config.verify.enabled,
        "teams": gateway.key_checks.report(rt.config.teams.iter().map(|t| t.id.as_str())),
    });
    let mut response = Response::new(full(format!("{detail}\n")));
    if !is_ready {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}
