//! What each team's key can do, asked of Allo (`[upstream] verify_keys`): a background task
//! sends `GET /v2/api/me` with each team's key at start, after each reload and every
//! `verify_interval`, and keeps Allo's answer (`key_status`): valid with its scopes, refused (401 or
//! 403), or unknown (Allo unreachable, a 5xx, an unreadable answer; the last answer is kept
//! beside the error). `/readyz?verbose` and `allo_gateway_team_key_valid` show it; the
//! description is compared with the config and the route table (`warn`).
//!
//! The request goes out as a forwarded one would: through `rotation::send` (so a refused
//! primary key is tried against the fallback, and the team switches if that one works), with
//! `Authorization: Api-Key <key>`, the upstream's Host and a new `X-Request-Id`, after taking an
//! in-flight slot and the team's read budget. A team with neither to spare is skipped this
//! round and asked at the next: the check must not take capacity callers are waiting for.
//! Nothing here blocks serving, and readiness never depends on it: Allo being unreachable must
//! not stop the gateway from serving what it can.

mod me;
mod warn;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Limited};
use tokio::task::JoinSet;

pub use me::{judge, CheckError, Me, MeEndpoint, Verdict};

use crate::routes::RateClass;
use crate::state::{Gateway, Runtime};

/// Allo's documented path for a key's description.
pub const ME_PATH: &str = "/v2/api/me";
/// A description larger than this is not one.
const MAX_BODY: usize = 256 * 1024;

/// Starts the checks for the process's life. With `verify_keys` off the task only waits for
/// a reload that might turn it on.
pub fn start(gateway: Arc<Gateway>) {
    let swaps = gateway.swaps();
    tokio::spawn(run(gateway, swaps));
}

async fn run(gateway: Arc<Gateway>, mut swaps: tokio::sync::watch::Receiver<u64>) {
    loop {
        // Marked seen before the state is loaded: a reload during the round brings another.
        swaps.borrow_and_update();
        let rt = gateway.runtime();
        let verify = rt.config.verify;
        if verify.enabled {
            round(&gateway, &rt).await;
        } else {
            gateway.key_checks.retain(|_| false, &gateway.metrics);
        }
        drop(rt);
        let next_tick = async {
            if verify.enabled {
                tokio::time::sleep(verify.interval).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = next_tick => {}
            changed = swaps.changed() => if changed.is_err() { return },
        }
    }
}

/// Asks about every team's key at once, records each answer, then logs what they say.
async fn round(gateway: &Arc<Gateway>, rt: &Arc<Runtime>) {
    let checks = &gateway.key_checks;
    checks.retain(|team| rt.teams.contains_key(team), &gateway.metrics);
    let mut asking = JoinSet::new();
    for team in rt.teams.keys() {
        let (rt, team) = (rt.clone(), team.clone());
        asking.spawn(async move {
            let request_id = crate::ids::new_request_id_value();
            let verdict = ask(&rt, &team, &request_id).await;
            (team, request_id, verdict)
        });
    }
    let mut drift = warn::Drift::default();
    while let Some(done) = asking.join_next().await {
        let Ok((team, request_id, verdict)) = done else {
            // A panic in one check: the others still count, and the next round asks again.
            continue;
        };
        let request_id = request_id.to_str().unwrap_or_default();
        match verdict {
            None => tracing::debug!(team, "no budget or slot to spare; the key is checked next round"),
            Some(Verdict::Valid(me)) => {
                warn::missing_scopes(&rt.config, &team, &me.scopes);
                drift.note(&rt.routes, &team, &me.endpoints);
                tracing::debug!(team, scopes = me.scopes.len(), "Allo accepts the team's key");
                checks.answered(&team, true, me.scopes, &gateway.metrics);
            }
            Some(Verdict::Invalid { status, code }) => {
                tracing::warn!(
                    team,
                    request_id,
                    status = status.as_u16(),
                    code = code.as_deref().unwrap_or("-"),
                    "Allo refuses the team's key; its requests will fail until the key is replaced"
                );
                checks.answered(&team, false, Vec::new(), &gateway.metrics);
            }
            Some(Verdict::Unknown(error)) => {
                let error = crate::telemetry::error_chain(&error);
                tracing::warn!(
                    team,
                    request_id,
                    error = %error,
                    "cannot check the team's key with Allo; its state is unknown until the next check"
                );
                checks.failed(&team, error, &gateway.metrics);
            }
        }
    }
    drift.log();
}

/// One team's check; `None` when it has no slot or read budget to spare this round.
async fn ask(rt: &Runtime, team_id: &str, request_id: &HeaderValue) -> Option<Verdict> {
    let team = rt.teams.get(team_id)?;
    let _slot = team.in_flight.try_take()?;
    rt.limits.acquire_team(team_id, RateClass::Read).await.ok()?;
    let parts = me_request();
    let sent = crate::rotation::send(&rt.upstream, team, &parts, Bytes::new(), request_id, &rt.metrics).await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return Some(Verdict::Unknown(CheckError::Upstream(e))),
    };
    rt.limits
        .observe_upstream_class(team_id, RateClass::Read, answer.status(), &answer);
    let status = answer.status();
    let timeout = rt.config.upstream.request_timeout;
    Some(match read_body(answer.response.into_body(), timeout).await {
        Ok(body) => judge(status, &body),
        Err(e) => Verdict::Unknown(e),
    })
}

/// `GET /v2/api/me` with no header of its own: the upstream client adds Host, the key and
/// the request id, as for a forwarded request.
fn me_request() -> http::request::Parts {
    let mut request = Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = http::Uri::from_static(ME_PATH);
    request.into_parts().0
}

async fn read_body(body: crate::body::Body, timeout: Duration) -> Result<Bytes, CheckError> {
    // Boxed as `dyn Future + Send`, as in `rotation`: the task that runs this must be Send.
    let collect: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(Limited::new(body, MAX_BODY).collect());
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => Err(CheckError::Body(e)),
        Err(_) => Err(CheckError::BodyTimeout(timeout)),
    }
}
