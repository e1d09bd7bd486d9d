//! Rate limits through the real binary and a capture upstream: a caller over its own limit and
//! a team over its budget get the gateway's 429 (envelope, `Retry-After`, `RateLimit-Policy`)
//! and nothing more reaches the upstream than was admitted; Allo's own 429 holds that team and
//! only that team; wait mode queues instead of refusing. Bursts are sent as fast as the test
//! can; assertions are bounds that hold however slow the machine is.

use crate::support;

use std::time::{Duration, Instant};

use support::budget::{self, burst, most_admitted, Call, READ, WRITE};
use support::client::Answer;
use support::{send, Caller, Canned, Capture, Config, GatewayProcess, Team};

const CRM: &str = "tok_ratelimit_crm_sync";
const HELPDESK: &str = "tok_ratelimit_helpdesk";

/// Teams "sales" and "support"; caller "crm" of sales, caller "helpdesk" of support.
fn config(upstream: &Capture) -> Config {
    Config::new(&upstream.url())
        .team(Team::new("sales").key_value("ak_test_sales"))
        .team(Team::new("support").key_value("ak_test_support"))
        .caller(Caller::new("crm", "sales").token(CRM))
        .caller(Caller::new("helpdesk", "support").token(HELPDESK))
}

async fn call(gw: &GatewayProcess, token: &str, request: Call) -> Answer {
    budget::call(gw.addr, token, request).await
}

/// The gateway's own 429, complete; returns its `Retry-After` seconds.
fn assert_gateway_429(a: &Answer, policy: &str) -> u64 {
    let retry_after = budget::assert_gateway_429(a, policy);
    let error = &a.json()["error"];
    assert_eq!(error["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(error["retryable"], true);
    assert_eq!(error["retry_after_seconds"], retry_after);
    let name = policy.split(';').next().unwrap();
    assert_eq!(a.header("ratelimit"), Some(format!("{name};r=0;t={retry_after}")));
    retry_after
}

#[tokio::test]
async fn a_burst_over_a_callers_limit_is_refused_before_the_upstream() {
    let up = Capture::start().await;
    let gw = config(&up).edit_caller("crm", |c| c.rate(1, 3)).start(&[]);
    let (answers, elapsed) = burst(&[gw.addr], CRM, READ, 10).await;
    let admitted = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status != 200).collect();
    assert_eq!(up.count(), admitted, "the upstream got exactly what was admitted");
    assert!(
        admitted <= most_admitted(3, 1, elapsed),
        "admitted {admitted} in {elapsed:?}"
    );
    assert!(!refused.is_empty());
    for a in refused {
        assert_gateway_429(a, "\"caller\";q=1;w=1");
    }
    // Another team's caller is not touched by this caller's limit.
    assert_eq!(call(&gw, HELPDESK, READ).await.status, 200);
}

#[tokio::test]
async fn a_burst_over_the_team_write_budget_is_refused_and_reads_still_pass() {
    let up = Capture::start().await;
    let gw = config(&up)
        .edit_team("sales", |t| t.write(2))
        .edit_caller("crm", |c| c.rate(100, 100))
        .start(&[]);
    let (answers, elapsed) = burst(&[gw.addr], CRM, WRITE, 8).await;
    let admitted = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(up.count(), admitted);
    assert!(
        admitted <= most_admitted(2, 2, elapsed),
        "admitted {admitted} in {elapsed:?}"
    );
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(!refused.is_empty());
    for a in refused {
        assert_gateway_429(a, "\"team-write\";q=2;w=1");
    }
    assert_eq!(call(&gw, CRM, READ).await.status, 200, "the read budget is separate");
    assert_eq!(up.count(), admitted + 1);
}

#[tokio::test]
async fn an_upstream_429_holds_that_team_and_only_that_team() {
    let up = Capture::start().await;
    up.set(Canned {
        status: 429,
        headers: vec![("content-type".into(), "application/json".into()), ("retry-after".into(), "30".into())],
        body: r#"{"error":{"type":"rate_limit_error","code":"RATE_LIMIT_EXCEEDED","retryable":true,"retry_after_seconds":30}}"#
            .into(),
        ..Canned::default()
    });
    // A team budget of its own (7 reads a second), so that the policy named below can only be
    // Allo's (20 a key), not the team's.
    let gw = config(&up).edit_team("sales", |t| t.read(7)).start(&[]);
    let first = call(&gw, CRM, READ).await;
    assert_eq!(first.status, 429);
    assert!(
        first.gateway_error().is_none(),
        "Allo's own 429 passes through unmarked"
    );
    assert_eq!(up.count(), 1);

    up.set(Canned::default());
    let held = call(&gw, CRM, READ).await;
    let retry_after = assert_gateway_429(&held, "\"allo-read\";q=20;w=1");
    assert!((25..=30).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(up.count(), 1, "the held request never reached the upstream");

    assert_eq!(call(&gw, HELPDESK, READ).await.status, 200, "another team is not held");
    assert_eq!(up.count(), 2);
    assert_eq!(call(&gw, CRM, READ).await.status, 429);
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn wait_mode_queues_instead_of_refusing() {
    let up = Capture::start().await;
    let gw = config(&up)
        .ratelimit("on_limit", "wait")
        .ratelimit("max_wait", "10s")
        .edit_team("sales", |t| t.read(4))
        .start(&[]);
    let started = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let addr = gw.addr;
            tokio::spawn(async move {
                let auth = format!("Bearer {CRM}");
                send(addr, "GET", "/v2/api/users", &[("authorization", auth.as_str())], "")
                    .await
                    .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(up.count(), 6);
    // 4 at once, then one per 250 ms: the last cannot have gone before 500 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}
