//! Rate limits through the real binary and a capture upstream: a caller over its own limit and
//! a team over its budget get the gateway's 429 (envelope, `Retry-After`, `RateLimit-Policy`)
//! and nothing more reaches the upstream than was admitted; Allo's own 429 holds that team and
//! only that team; wait mode queues instead of refusing. Bursts are sent as fast as the test
//! can; assertions are bounds that hold however slow the machine is.

mod support;

use std::time::{Duration, Instant};

use support::client::Answer;
use support::{send, sha256_hex, Canned, Capture, GatewayProcess, TestConfig};

const CRM: &str = "tok_ratelimit_crm_sync";
const HELPDESK: &str = "tok_ratelimit_helpdesk";
const READ: (&str, &str, &str) = ("GET", "/v2/api/users", "");
/// A POST search: a write for Allo's budget.
const WRITE: (&str, &str, &str) = ("POST", "/v2/api/conversations/items/search", "{}");

/// Teams "sales" (with `sales` keys) and "support"; caller "crm" of sales (with `crm` keys),
/// caller "helpdesk" of support; `[ratelimit]` from `ratelimit`.
fn start(upstream: &Capture, ratelimit: &str, sales: &str, crm: &str) -> GatewayProcess {
    let config = TestConfig::new(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
[upstream]
url = "{}"
[ratelimit]
{ratelimit}
[[teams]]
id = "sales"
api_key = {{ value = "ak_test_sales" }}
{sales}
[[teams]]
id = "support"
api_key = {{ value = "ak_test_support" }}
[[callers]]
id = "crm"
team = "sales"
token_sha256 = "{}"
{crm}
[[callers]]
id = "helpdesk"
team = "support"
token_sha256 = "{}"
"#,
        upstream.url(),
        sha256_hex(CRM),
        sha256_hex(HELPDESK)
    ));
    GatewayProcess::start(config, &[])
}

async fn call(gw: &GatewayProcess, token: &str, (method, target, body): (&str, &str, &str)) -> Answer {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    send(gw.addr, method, target, &headers, body.to_string()).await
}

/// Sends `n` requests one after the other; returns the answers and how long it took.
async fn burst(gw: &GatewayProcess, token: &str, request: (&str, &str, &str), n: usize) -> (Vec<Answer>, Duration) {
    let started = Instant::now();
    let mut answers = Vec::new();
    for _ in 0..n {
        answers.push(call(gw, token, request).await);
    }
    (answers, started.elapsed())
}

/// The most a budget can admit in `elapsed`: its burst, plus one per slot earned meanwhile.
fn most_admitted(burst: u32, per_second: u32, elapsed: Duration) -> usize {
    (burst as usize) + (elapsed.as_secs_f64() * f64::from(per_second)).ceil() as usize
}

/// The gateway's own 429, complete; returns its `Retry-After` seconds.
fn assert_gateway_429(a: &Answer, policy: &str) -> u64 {
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(a.gateway_error().as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    let error = &a.json()["error"];
    assert_eq!(error["type"], "rate_limit_error");
    assert_eq!(error["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(error["retryable"], true);
    let retry_after: u64 = a.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(error["retry_after_seconds"], retry_after);
    assert_eq!(a.header("ratelimit-policy").as_deref(), Some(policy));
    let name = policy.split(';').next().unwrap();
    assert_eq!(a.header("ratelimit"), Some(format!("{name};r=0;t={retry_after}")));
    retry_after
}

#[tokio::test]
async fn a_burst_over_a_callers_limit_is_refused_before_the_upstream() {
    let up = Capture::start().await;
    let gw = start(&up, "", "", "rate = { per_second = 1, burst = 3 }");
    let (answers, elapsed) = burst(&gw, CRM, READ, 10).await;
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
    let gw = start(
        &up,
        "",
        "write_per_second = 2",
        "rate = { per_second = 100, burst = 100 }",
    );
    let (answers, elapsed) = burst(&gw, CRM, WRITE, 8).await;
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
    let gw = start(&up, "", "", "");
    let first = call(&gw, CRM, READ).await;
    assert_eq!(first.status, 429);
    assert!(
        first.gateway_error().is_none(),
        "Allo's own 429 passes through unmarked"
    );
    assert_eq!(up.count(), 1);

    up.set(Canned::default());
    let held = call(&gw, CRM, READ).await;
    let retry_after = assert_gateway_429(&held, "\"team-read\";q=20;w=1");
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
    let gw = start(
        &up,
        "on_limit = \"wait\"\nmax_wait = \"10s\"",
        "read_per_second = 4",
        "",
    );
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
