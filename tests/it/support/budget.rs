//! For the rate-limit tests: requests as (method, target, body), sent one after another as a
//! caller, and what a budget may admit in the time a burst took.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::client::{Answer, Request};

/// A request: (method, target, JSON body or "").
pub(crate) type Call = (&'static str, &'static str, &'static str);

pub(crate) const READ: Call = ("GET", "/v2/api/users", "");
/// A POST search: a write for Allo's budget.
pub(crate) const WRITE: Call = ("POST", "/v2/api/conversations/items/search", "{}");

/// Sends `request` to `addr` as the caller holding `token`.
pub(crate) async fn call(addr: SocketAddr, token: &str, (method, target, body): Call) -> Answer {
    Request::new(addr, method, target).bearer(token).json(body).send().await
}

/// Sends `n` requests one after the other, round-robin over `addrs`; returns the answers and
/// how long it took.
pub(crate) async fn burst(addrs: &[SocketAddr], token: &str, request: Call, n: usize) -> (Vec<Answer>, Duration) {
    let started = Instant::now();
    let mut answers = Vec::new();
    for i in 0..n {
        answers.push(call(addrs[i % addrs.len()], token, request).await);
    }
    (answers, started.elapsed())
}

/// The most a budget can admit in `elapsed`: its burst, plus one per slot earned meanwhile.
pub(crate) fn most_admitted(burst: u32, per_second: u32, elapsed: Duration) -> usize {
    (burst as usize) + (elapsed.as_secs_f64() * f64::from(per_second)).ceil() as usize
}

/// How many of `answers` were 200.
pub(crate) fn admitted(answers: &[Answer]) -> usize {
    answers.iter().filter(|a| a.status == 200).count()
}

/// The gateway's own 429 under `policy` (the `RateLimit-Policy` value), with `Retry-After`;
/// returns its seconds.
pub(crate) fn assert_gateway_429(a: &Answer, policy: &str) -> u64 {
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(a.gateway_error().as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    assert_eq!(a.json()["error"]["type"], "rate_limit_error");
    let retry_after: u64 = a.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(a.header("ratelimit-policy").as_deref(), Some(policy));
    retry_after
}
