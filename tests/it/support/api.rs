//! For the tests of Allo's API as data (`api_data*`, `edge_*`): a config with an admin
//! listener and one team `t` whose key comes from the environment, named callers whose token
//! is derived from their id, and requests sent as one of those callers.

use super::client::Answer;
use super::config::{Caller, Config, Team};
use super::process::{GatewayProcess, TestConfig};

pub(crate) const TEAM_KEY: &str = "ak_live_APIDATA_TEAMKEY";
pub(crate) const KEY_ENV: &str = "TEST_API_DATA_KEY";

/// The caller token of `caller_id`.
pub(crate) fn token(caller_id: &str) -> String {
    format!("tok_apidata_{caller_id}_0123456789abcdef")
}

/// The admin listener, 2 s upstream requests, and team `t` with a generous budget; no caller.
pub(crate) fn config(upstream: &str) -> Config {
    Config::new(upstream)
        .admin()
        .request_timeout("2s")
        .team(Team::new("t").key_env(KEY_ENV).read(1000).write(1000))
}

/// Caller `id` of team `t`, holding `token(id)`.
pub(crate) fn caller(id: &str) -> Caller {
    Caller::new(id, "t").token(&token(id))
}

/// `config` with callers `ids`.
pub(crate) fn with_callers(upstream: &str, ids: &[&str]) -> Config {
    ids.iter().fold(config(upstream), |c, id| c.caller(caller(id)))
}

/// Starts the gateway on `cfg` with the team key in the environment.
pub(crate) fn start(cfg: TestConfig) -> GatewayProcess {
    GatewayProcess::start(cfg, &[(KEY_ENV, TEAM_KEY)])
}

/// Runs `allo-gateway COMMAND --config <cfg>` to its end; returns (exit code, stdout, stderr).
pub(crate) fn run_command(cfg: &TestConfig, command: &str) -> (i32, String, String) {
    super::process::run_to_end(
        &[command, "--config", cfg.path().to_str().unwrap()],
        &[(KEY_ENV, TEAM_KEY)],
    )
}

/// Sends a request as `caller_id`; a non-empty body goes as `application/json`.
pub(crate) async fn call(gw: &GatewayProcess, caller_id: &str, method: &str, target: &str, body: &str) -> Answer {
    call_with(gw, caller_id, method, target, &[], body).await
}

/// As `call`, with extra request headers.
pub(crate) async fn call_with(
    gw: &GatewayProcess,
    caller_id: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    gw.request(method, target)
        .bearer(&token(caller_id))
        .json(body)
        .headers(headers)
        .send()
        .await
}
