//! The life of a request, top to bottom:
//!
//! authenticate -> route -> authorise -> caller limit -> query and header check -> body read
//! + check -> team budget -> forward -> drift check.
//!
//! Why this order: nothing is looked at before the caller is known, so limiters are keyed only
//! by authenticated identity and unauthenticated input costs almost nothing. The caller's own
//! limit is spent before its body is read, so a runaway caller cannot make the gateway read
//! bodies at will. The team budget, which mirrors Allo's per-key limit, is spent last, only by
//! requests that will actually reach Allo: an invalid request never burns the team's budget.
//!
//! Validation may be report-only (`validation = "report"`, for rolling out a new API
//! description): a failing request is then forwarded, its findings logged, counted and named
//! in `x-allo-gateway-warning`. Only validation: authentication, scopes, rate limits and
//! framing always refuse. Renames apply either way, so the upstream never sees an old spelling.

mod drift;

use std::future::Future;
use std::sync::Arc;

use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;

use crate::answer::Answer;
use crate::body::{Body, RequestBody};
use crate::config::UnknownRoutes;
use crate::error::{Code, GatewayError, Reported};
use crate::ids;
use crate::ids::REQUEST_ID;
use crate::routes::{Match, RateClass};
use crate::state::{Gateway, Runtime};
use crate::telemetry::AccessLog;
use crate::tls::PeerIdentity;
use crate::validate::Findings;
use crate::validate::{self, BodyLimits};
use crate::wake_time;

/// Serves one request; never fails (errors become envelope answers).
///
/// This and `process` return `async move` blocks rather than being `async fn`s: an
/// `async fn` moves each argument into a local of its own, so its state would hold the request
/// twice and copy it once more when it starts.
#[allow(clippy::manual_async_fn)] // on purpose, see above
pub fn handle(gateway: Arc<Gateway>, request: Request<RequestBody>) -> impl Future<Output = Answer> {
    async move {
        let started = wake_time::now();
        let _in_flight = gateway.metrics.request_started();
        let method = request.method().clone();
        let request_id = request_id(&request);
        let rt = gateway.serving();
        let mut log = AccessLog {
            // Always visible ASCII (see `request_id`), so `to_str` does not fail.
            request_id: request_id.to_str().unwrap_or_default(),
            ..AccessLog::default()
        };
        let result = if gateway.is_draining() {
            Err(GatewayError::ShuttingDown)
        } else if let Err(e) = crate::http1::check(&request) {
            Err(e.into())
        } else {
            process(&rt, request, &request_id, &mut log).await
        };
        let (mut answer, error) = match result {
            Ok(answer) => (answer, None),
            Err(e) => {
                log.rate_limited = e.refusing_budget();
                let (response, code) = e.answer(log.request_id);
                (Answer::from(response), Some(code))
            }
        };
        let status = answer.status().as_u16();
        let elapsed = wake_time::now().saturating_duration_since(started);
        log.emit(&method, status, error.map(Code::as_str), elapsed);
        gateway.metrics.record(&log, status, error, elapsed);
        // Last, because the log borrows the id from this value.
        answer.set_request_id(request_id);
        answer
    }
}

#[allow(clippy::manual_async_fn)] // as `handle`
fn process<'a, 'l>(
    rt: &'l Runtime,
    request: Request<RequestBody>,
    request_id: &'a HeaderValue,
    log: &'a mut AccessLog<'l>,
) -> impl Future<Output = Result<Answer, GatewayError>> + use<'a, 'l> {
    async move {
        let caller = match request.extensions().get::<PeerIdentity>() {
            Some(peer) => rt.callers.authenticate_peer(peer)?,
            None => rt.callers.authenticate(request.headers())?,
        };
        log.caller = Some(&caller.id);
        log.team = Some(&caller.team);

        let (route, class) = match rt.routes.find(request.method(), request.uri().path()) {
            Match::Found(route) if route.blocked => {
                return Err(GatewayError::EndpointNotFound { path_hint: "this path" })
            }
            Match::Found(route) => {
                log.route = Some(&route.id);
                caller.authorize(route)?;
                (Some(route), route.class)
            }
            Match::MethodNotAllowed { allowed } => {
                let allowed: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                return Err(GatewayError::MethodNotAllowed {
                    allowed: allowed.join(", "),
                });
            }
            Match::NotFound if rt.config.routes.unknown == UnknownRoutes::Forward && caller.unrestricted() => {
                (None, RateClass::of_method(request.method()))
            }
            Match::NotFound => return Err(GatewayError::EndpointNotFound { path_hint: "this path" }),
        };

        rt.limits.check_caller(&caller.id)?;

        let mut findings = Findings::new(caller.validation);
        let (mut parts, body) = request.into_parts();
        if let Some(route) = route {
            let checked = validate::check_query(route, parts.uri.query());
            if let Some(query) = checked.rewritten {
                parts.uri = with_query(&parts.uri, &query)?;
            }
            findings.judge(checked.result)?;
            findings.judge(validate::check_headers(route, &parts.headers))?;
        }
        let limits = BodyLimits {
            max_bytes: rt.config.server.max_body_bytes,
            timeout: rt.config.server.body_read_timeout,
        };
        let mut body = validate::read_body(&parts.headers, body, limits).await?;
        if let Some(route) = route {
            let checked = validate::check_body(route, &parts.headers, &body);
            if let Some(renamed) = checked.rewritten {
                set_length(&mut parts.headers, renamed.len());
                body = renamed;
            }
            findings.judge(checked.result)?;
        }

        // A slot before the budget: a request refused for concurrency spends no budget, and one
        // waiting for budget (on_limit = "wait") counts as in flight. Held until the response
        // body is done, so a slow upstream cannot make one team hold every connection.
        // Config loading guarantees every caller's team exists; a miss is treated as unknown.
        let team = rt
            .teams
            .get(&*caller.team)
            .ok_or(crate::auth::AuthError::UnknownCaller)?;
        // Borrowed: cloning the slots' `Arc` for an owned slot would change a reference count
        // every worker shares; only a streamed answer needs one (below).
        let slot = team.in_flight.try_take().ok_or(GatewayError::TeamBusy {
            limit: rt.config.server.max_in_flight_per_team,
        })?;
        rt.limits.acquire_team(&caller.team, class).await?;
        let sent = wake_time::now();
        let mut answer = crate::rotation::send(&rt.upstream, team, &parts, body, request_id, &rt.metrics)
            .await
            .inspect_err(|e| rt.metrics.upstream_failure(rt.upstream.name(), e))?;
        // The request's fields are spent: their map serves the next head this thread parses.
        crate::http1::recycle_headers(parts.headers);
        rt.limits
            .observe_upstream_class(&caller.team, class, answer.status(), &answer);
        log.upstream_status = Some(answer.status().as_u16());
        log.upstream_duration = Some(wake_time::now().saturating_duration_since(sent));
        if let Some(route) = route {
            if let Some(kind) = drift::of(&answer, findings.is_clean()) {
                if rt.metrics.spec_drift(&route.id, kind) {
                    tracing::warn!(
                        route = &*route.id,
                        method = %route.method,
                        template = %route.template,
                        status = answer.status().as_u16(),
                        kind = kind.as_str(),
                        "Allo's answer differs from the API description in force (logged at most once a minute per route); compare the newest openapi.json with `allo-gateway spec diff`"
                    );
                }
            }
            if let Some(code) = findings.first_code() {
                rt.metrics.validation_reported(&route.id, &caller.id);
                answer
                    .response
                    .headers_mut()
                    .insert(WARNING_HEADER, HeaderValue::from_static(code.as_str()));
                log.reported = Some(findings.summary());
            }
        }
        // A body that came whole ends the exchange here; a streamed one holds the slot to its end.
        Ok(answer.map_body(|body| match body {
            Body::Streamed(body) => {
                let held = slot.keep(&team.in_flight);
                Body::streamed(body.map_frame(move |frame| {
                    let _held = &held;
                    frame
                }))
            }
            body => body,
        }))
    }
}

/// Marks an answer to a request that failed validation and was forwarded (`report` mode).
pub const WARNING_HEADER: &str = "x-allo-gateway-warning";

/// `uri` with its query replaced (a rename rewrote it).
fn with_query(uri: &http::Uri, query: &str) -> Result<http::Uri, GatewayError> {
    let mut parts = uri.clone().into_parts();
    let path_and_query = format!("{}?{query}", uri.path());
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| GatewayError::EndpointNotFound { path_hint: "this path" })?,
    );
    http::Uri::from_parts(parts).map_err(|_| GatewayError::EndpointNotFound { path_hint: "this path" })
}

/// A renamed body is shorter or longer than announced.
fn set_length(headers: &mut http::HeaderMap, length: usize) {
    if headers.contains_key(http::header::CONTENT_LENGTH) {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
}

/// The caller's `X-Request-Id` if acceptable, else a new one in Allo's form.
fn request_id<B>(request: &Request<B>) -> HeaderValue {
    match request.headers().get(REQUEST_ID) {
        Some(v) if ids::acceptable_request_id(v.as_bytes()) => v.clone(),
        _ => ids::new_request_id_value(),
    }
}
