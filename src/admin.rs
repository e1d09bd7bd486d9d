//! The admin listener: `/healthz` (the process answers), `/readyz` (config loaded, secrets
//! resolved, listener bound, not draining). Needs no caller token, so it binds to loopback by
//! default and must not be exposed beyond the pod or host.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

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
    let (status, text) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => (StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") if ready.get() && !gateway.is_draining() => (StatusCode::OK, "ready\n"),
        (&Method::GET, "/readyz") => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => (StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    response
}
