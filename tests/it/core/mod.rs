//! The core gateway end to end: the real binary in front of a capture upstream on 127.0.0.1.
//! Authentication and key injection, byte-identical forwarding of valid bodies, field-level
//! refusals that never reach the upstream, query validation, upstream failures. Here:
//! authentication, scopes and routing; bodies and queries in `validation`, the upstream side
//! in `upstream`.

use crate::support;

use support::{send, Caller, Canned, Capture, Config, GatewayProcess, Team};

mod upstream;
mod validation;

const SALES_TOKEN: &str = "tok_sales_crm_0123456789abcdef";
const SUPPORT_TOKEN: &str = "tok_support_bot_0123456789abcdef";
const SALES_KEY: &str = "ak_live_SALESKEY";
const SUPPORT_KEY: &str = "ak_live_SUPPORTKEY";

/// Team `sales` (key from the environment) with caller `crm-sync`, team `support` (key from
/// a file) with caller `support-bot` holding only `USERS_READ`; 1 s upstream requests.
fn config(upstream: &str) -> Config {
    Config::new(upstream)
        .request_timeout("1s")
        .team(Team::new("sales").key_env("TEST_SALES_KEY").write(1000))
        .team(Team::new("support").key_file("support.key"))
        .caller(Caller::new("crm-sync", "sales").token(SALES_TOKEN))
        .caller(
            Caller::new("support-bot", "support")
                .token(SUPPORT_TOKEN)
                .scopes(&["USERS_READ"]),
        )
}

fn start(upstream: &str) -> GatewayProcess {
    start_config(config(upstream))
}

fn start_config(config: Config) -> GatewayProcess {
    let cfg = config.folder();
    cfg.write("support.key", format!("{SUPPORT_KEY}\n"));
    GatewayProcess::start(cfg, &[("TEST_SALES_KEY", SALES_KEY)])
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn each_caller_gets_its_own_team_key_exactly_once() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let a = gw.get("/v2/api/users?role=ADMIN").bearer(SALES_TOKEN).send().await;
    assert_eq!(a.status, 200, "{}", a.text());
    let b = send(
        gw.addr,
        "GET",
        "/v2/api/users",
        &[("authorization", &format!("Api-Key {SUPPORT_TOKEN}"))],
        "",
    )
    .await;
    assert_eq!(b.status, 200, "{}", b.text());
    let got = up.taken();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].all("authorization"), vec![format!("Api-Key {SALES_KEY}")]);
    assert_eq!(got[1].all("authorization"), vec![format!("Api-Key {SUPPORT_KEY}")]);
    assert_eq!(got[0].target, "/v2/api/users?role=ADMIN");
    assert_eq!(got[0].all("host"), vec![up.addr.to_string()]);
    for c in &got {
        let dump = format!("{:?}", c.headers);
        assert!(
            !dump.contains(SALES_TOKEN) && !dump.contains(SUPPORT_TOKEN),
            "caller token forwarded"
        );
    }
    // The request id travels: created in Allo's form, sent upstream, returned.
    let rid = a.header("x-request-id").unwrap();
    assert!(rid.starts_with("req_") && rid.len() == 16, "{rid}");
    assert_eq!(got[0].all("x-request-id"), vec![rid]);
}

#[tokio::test]
async fn unknown_or_missing_token_is_401_and_nothing_is_sent() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    for auth in [None, Some("Bearer nope"), Some("Basic abc"), Some(SALES_TOKEN)] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let r = send(gw.addr, "GET", "/v2/api/users", &headers, "").await;
        assert_eq!(r.status, 401);
        assert_eq!(r.gateway_error().as_deref(), Some("GATEWAY_UNAUTHENTICATED"));
        assert_eq!(r.json()["error"]["type"], "authentication_error");
        assert_eq!(
            r.json()["error"]["request_id"].as_str(),
            r.header("x-request-id").as_deref()
        );
    }
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn scopes_routes_unknown_paths_and_methods() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let support = bearer(SUPPORT_TOKEN);
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/dialing-queues/current",
        &[("authorization", &support)],
        "",
    )
    .await;
    assert_eq!(r.refusal(), (403, Some("API_KEY_INSUFFICIENT_SCOPE".into())));
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/nothing-here",
        &[("authorization", &support)],
        "",
    )
    .await;
    assert_eq!(r.refusal(), (404, Some("ENDPOINT_NOT_FOUND".into())));
    let r = send(gw.addr, "PUT", "/v2/api/users", &[("authorization", &support)], "").await;
    assert_eq!(r.refusal(), (405, Some("METHOD_NOT_ALLOWED".into())));
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn unknown_paths_are_forwarded_when_configured() {
    let up = Capture::start().await;
    let gw = start_config(config(&up.url()).forward_unknown());
    let r = gw.get("/v3/api/future?x=1").bearer(SALES_TOKEN).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(up.taken()[0].target, "/v3/api/future?x=1");
    // A caller restricted by scopes never reaches paths outside the table.
    let r = gw.get("/v3/api/future").bearer(SUPPORT_TOKEN).send().await;
    assert_eq!(r.status, 404);
    assert_eq!(up.count(), 1);
}

const RESET: &str = "/v2/api/dialing-queues/current";
