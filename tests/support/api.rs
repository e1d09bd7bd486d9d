//! For the tests of Allo's API as data (`api_data*.rs`): a config with an admin listener, one
//! team whose key comes from the environment and named callers (token derived from the id),
//! requests sent as one of those callers, metric values read from `/metrics`, JSON log events,
//! and polling with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use super::client::{send, Answer};
use super::process::{GatewayProcess, TestConfig};
use super::sha256_hex;

pub const TEAM_KEY: &str = "ak_live_APIDATA_TEAMKEY";
pub const KEY_ENV: &str = "TEST_API_DATA_KEY";
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The caller token of `caller_id` (each caller in `config` gets one).
pub fn token(caller_id: &str) -> String {
    format!("tok_apidata_{caller_id}_0123456789abcdef")
}

/// A gateway config: `server` lines added to `[server]`, `api` lines to `[api]`, one team
/// `t` with a generous budget, and `callers` as (id, extra TOML lines) of that team.
pub fn config(upstream: &str, server: &str, api: &str, callers: &[(&str, &str)]) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{server}\n\
         [upstream]\nurl = \"{upstream}\"\nrequest_timeout = \"2s\"\nconnect_timeout = \"1s\"\n\
         [api]\n{api}\n\
         [[teams]]\nid = \"t\"\napi_key = {{ env = \"{KEY_ENV}\" }}\n\
         read_per_second = 1000\nwrite_per_second = 1000\n"
    );
    for (id, extra) in callers {
        text.push_str(&format!(
            "[[callers]]\nid = \"{id}\"\nteam = \"t\"\ntoken_sha256 = \"{}\"\n{extra}\n",
            sha256_hex(&token(id))
        ));
    }
    text
}

/// Starts the gateway on `cfg` with the team key in the environment.
pub fn start(cfg: TestConfig) -> GatewayProcess {
    GatewayProcess::start(cfg, &[(KEY_ENV, TEAM_KEY)])
}

/// Runs `allo-gateway ARGS --config <cfg>` to its end; returns (exit code, stdout, stderr).
pub fn run_command(cfg: &TestConfig, command: &str) -> (i32, String, String) {
    super::process::run_to_end(
        &[command, "--config", cfg.path().to_str().unwrap()],
        &[(KEY_ENV, TEAM_KEY)],
    )
}

/// Sends a request as `caller_id`; a non-empty body goes as `application/json`.
pub async fn call(gw: &GatewayProcess, caller_id: &str, method: &str, target: &str, body: &str) -> Answer {
    call_with(gw, caller_id, method, target, &[], body).await
}

/// As `call`, with extra request headers.
pub async fn call_with(
    gw: &GatewayProcess,
    caller_id: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let auth = format!("Bearer {}", token(caller_id));
    let mut all = vec![("authorization", auth.as_str())];
    if !body.is_empty() {
        all.push(("content-type", "application/json"));
    }
    all.extend_from_slice(headers);
    send(gw.addr, method, target, &all, body.to_string()).await
}

/// The admin listener's `/metrics` text.
pub async fn metrics(gw: &GatewayProcess) -> String {
    let answer = send(gw.admin.expect("admin listener"), "GET", "/metrics", &[], "").await;
    assert_eq!(answer.status, 200);
    answer.text()
}

/// The value of the sample `name{labels...}` in `text` (0 when it is absent).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every JSON log event the process printed.
pub fn events(gw: &GatewayProcess) -> Vec<serde_json::Value> {
    gw.lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

/// Polls `check` until it holds, failing with the gateway's log after `deadline`.
pub async fn eventually<F, Fut>(gw: &GatewayProcess, what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for {what}:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
