//! Allo's API as data from the operator's files, end to end on the real binary: an `[api] rules`
//! file laid over the built-in rules (blocked, body fragment, scope), an `[api] spec` file that
//! replaces the built-in description, `check` and `run` refusing bad files with exit 78 and
//! naming where the problem is, and reload of the spec by SIGHUP and by file change, a bad new
//! file keeping the last good table.

use crate::support;

use std::time::Duration;

use support::api::{call, caller, run_command, start, with_callers};
use support::observe::{events, eventually_within};
use support::process::replace;
use support::{eventually, Capture, TestConfig};

const NUMBER: &str = "%2B33612345678";

// --- rules file ---------------------------------------------------------------------------

const RULES: &str = r#"
[operations."DELETE /v2/api/webhooks/{webhook_id}"]
blocked = true

[operations."POST /v2/api/conversations/{contact_number}/notes"]
body = { properties = { content = { maxLength = 10 } } }

[operations."GET /v2/api/tags"]
scope = "USERS_READ"
"#;

fn with_rules(upstream: &str, rules: &str) -> TestConfig {
    let cfg = with_callers(upstream, &["ops"])
        .api("rules", "rules.toml")
        .caller(caller("users").scopes(&["USERS_READ"]))
        .caller(caller("reader").scopes(&["CONVERSATIONS_READ"]))
        .folder();
    cfg.write("rules.toml", rules);
    cfg
}

#[tokio::test]
async fn a_rules_file_blocks_bounds_and_rescopes_operations() {
    let up = Capture::start().await;
    let gw = start(with_rules(&up.url(), RULES));

    let r = call(&gw, "ops", "DELETE", "/v2/api/webhooks/wh_1", "").await;
    assert_eq!(r.refusal(), (404, Some("ENDPOINT_NOT_FOUND".into())));
    assert_eq!(call(&gw, "ops", "GET", "/v2/api/webhooks/wh_1", "").await.status, 200);

    let notes = format!("/v2/api/conversations/{NUMBER}/notes");
    let long = r#"{"content":"eleven char","allo_number":"+33100000000"}"#;
    let r = call(&gw, "ops", "POST", &notes, long).await;
    assert_eq!(r.refusal(), (400, Some("INVALID_REQUEST_BODY".into())));
    assert_eq!(r.error_fields(), vec!["/content"], "{}", r.text());
    let short = r#"{"content":"ten chars!","allo_number":"+33100000000"}"#;
    assert_eq!(call(&gw, "ops", "POST", &notes, short).await.status, 200);

    // TAGS_READ is no longer asked for (no caller may even name it); USERS_READ is.
    assert_eq!(call(&gw, "users", "GET", "/v2/api/tags", "").await.status, 200);
    let r = call(&gw, "reader", "GET", "/v2/api/tags", "").await;
    assert_eq!(r.refusal(), (403, Some("API_KEY_INSUFFICIENT_SCOPE".into())));

    let seen: Vec<String> = up
        .taken()
        .iter()
        .map(|c| format!("{} {}", c.method, c.target))
        .collect();
    assert_eq!(
        seen,
        [
            "GET /v2/api/webhooks/wh_1".to_string(),
            format!("POST {notes}"),
            "GET /v2/api/tags".to_string()
        ]
    );
}

#[tokio::test]
async fn check_refuses_a_rule_for_an_unknown_operation_naming_its_key() {
    let cfg = with_rules(
        "http://127.0.0.1:9",
        "[operations.\"GET /v2/api/nowhere\"]\nscope = \"USERS_READ\"\n",
    );
    let (code, out, err) = run_command(&cfg, "check");
    assert_eq!(code, 78, "{out}{err}");
    assert!(err.contains(r#"operations."GET /v2/api/nowhere""#), "{err}");
    assert!(err.contains("api.rules"), "{err}");
    // The same config is fine without that rule.
    let cfg = with_rules("http://127.0.0.1:9", RULES);
    let (code, out, err) = run_command(&cfg, "check");
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn check_refuses_an_unknown_key_in_the_rules_file() {
    let cfg = with_rules(
        "http://127.0.0.1:9",
        "[operations.\"GET /v2/api/tags\"]\ncolour = \"red\"\n",
    );
    let (code, out, err) = run_command(&cfg, "check");
    assert_eq!(code, 78, "{out}{err}");
    assert!(err.contains("colour"), "{err}");
    let cfg = with_rules(
        "http://127.0.0.1:9",
        "[operation.\"GET /v2/api/tags\"]\nscope = \"USERS_READ\"\n",
    );
    let (code, out, err) = run_command(&cfg, "check");
    assert_eq!(code, 78, "{out}{err}");
    assert!(err.contains("operation"), "{err}");
}

// --- spec file ----------------------------------------------------------------------------

/// A small OpenAPI document: `GET /v2/api/users` and `POST /v2/api/widgets` (name at most 5
/// characters, through a `$ref` to `Widget`), plus `extra` path entries.
fn spec(extra: &str, widget_ref: &str) -> String {
    format!(
        r##"{{
  "openapi": "3.0.3",
  "info": {{"title": "test", "version": "1"}},
  "paths": {{
    "/v2/api/users": {{"get": {{"operationId": "listUsers", "x-scope": "USERS_READ",
      "responses": {{"200": {{"description": "ok"}}}}}}}},
    "/v2/api/widgets": {{"post": {{"operationId": "createWidget", "x-scope": "USERS_READ",
      "requestBody": {{"required": true, "content": {{"application/json":
        {{"schema": {{"$ref": "{widget_ref}"}}}}}}}},
      "responses": {{"200": {{"description": "ok"}}}}}}}}{extra}
  }},
  "components": {{"schemas": {{"Widget": {{"type": "object", "required": ["name"],
    "properties": {{"name": {{"type": "string", "maxLength": 5}}}}}}}}}}
}}"##
    )
}

const GOOD_REF: &str = "#/components/schemas/Widget";
const BAD_REF: &str = "#/components/schemas/Gadget";
const BAD_POINTER: &str = "/paths/~1v2~1api~1widgets/post/requestBody/content/application~1json/schema/$ref";

const GET_WIDGET: &str = r#",
    "/v2/api/widgets/{id}": {"get": {"operationId": "getWidget", "x-scope": "USERS_READ",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "ok"}}}}"#;

fn with_spec(upstream: &str, spec_text: &str) -> TestConfig {
    let cfg = with_callers(upstream, &["ops"]).api("spec", "spec.json").folder();
    cfg.write("spec.json", spec_text);
    cfg
}

#[tokio::test]
async fn a_spec_file_replaces_the_built_in_description() {
    let up = Capture::start().await;
    let gw = start(with_spec(&up.url(), &spec("", GOOD_REF)));
    assert_eq!(call(&gw, "ops", "GET", "/v2/api/users", "").await.status, 200);
    // Built-in operations the file does not have are unknown.
    for (method, path) in [("GET", "/v2/api/tags"), ("POST", "/v2/api/dialing-queues/current")] {
        let r = call(&gw, "ops", method, path, "").await;
        assert_eq!(
            (r.status, r.gateway_error()),
            (404, Some("ENDPOINT_NOT_FOUND".into())),
            "{path}"
        );
    }
    assert_eq!(
        call(&gw, "ops", "POST", "/v2/api/widgets", r#"{"name":"abc"}"#)
            .await
            .status,
        200
    );
    let r = call(&gw, "ops", "POST", "/v2/api/widgets", r#"{"name":"abcdef"}"#).await;
    assert_eq!(
        (r.status, r.error_fields()),
        (400, vec!["/name".to_string()]),
        "{}",
        r.text()
    );
    assert_eq!(up.count(), 2);
    // The built-in rules still name the operations they know.
    eventually(&gw, "the access log", || async { !gw.access_logs().is_empty() }).await;
    assert_eq!(gw.access_logs()[0]["route"], "users.list");
}

#[tokio::test]
async fn check_summarises_a_spec_file() {
    let cfg = with_spec("http://127.0.0.1:9", &spec("", GOOD_REF));
    let (code, out, err) = run_command(&cfg, "check");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("routes:  2 Allo endpoints"), "{out}");
}

#[tokio::test]
async fn a_ref_to_nowhere_is_refused_by_check_and_run_with_its_pointer() {
    let cfg = with_spec("http://127.0.0.1:9", &spec("", BAD_REF));
    let (code, out, err) = run_command(&cfg, "check");
    assert_eq!(code, 78, "{out}{err}");
    assert!(err.contains(BAD_POINTER), "{err}");
    assert!(err.contains("api.spec"), "{err}");
    let (code, out, err) = run_command(&cfg, "run");
    assert_eq!(code, 78, "{out}{err}");
    assert!(err.contains(BAD_POINTER), "{err}");
    assert!(!out.contains("listening") && !err.contains("listening"), "{out}{err}");
}

#[tokio::test]
async fn sighup_reloads_the_spec_and_a_bad_one_keeps_the_last_good_table() {
    let up = Capture::start().await;
    let gw = start(with_spec(&up.url(), &spec("", GOOD_REF)));
    let spec_path = gw.config_dir().unwrap().join("spec.json");
    let r = call(&gw, "ops", "GET", "/v2/api/widgets/w1", "").await;
    assert_eq!(r.status, 404);

    replace(&spec_path, &spec(GET_WIDGET, GOOD_REF));
    gw.signal("HUP");
    eventually(&gw, "the new operation to route", || async {
        call(&gw, "ops", "GET", "/v2/api/widgets/w1", "").await.status == 200
    })
    .await;

    let refused = |gw: &support::GatewayProcess| {
        events(gw)
            .iter()
            .filter(|e| e["message"] == "configuration reload refused; the previous configuration keeps serving")
            .count()
    };
    replace(&spec_path, &spec(GET_WIDGET, BAD_REF));
    gw.signal("HUP");
    // The file change and the signal may each trigger one.
    eventually(&gw, "the refused reload", || async { refused(&gw) >= 1 }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let why = events(&gw)
        .into_iter()
        .filter(|e| e["message"] == "configuration problem")
        .map(|e| format!("{} {}", e["path"], e["problem"]))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(why.contains("api.spec") && why.contains(BAD_POINTER), "{}", gw.log());
    assert_eq!(call(&gw, "ops", "GET", "/v2/api/widgets/w1", "").await.status, 200);
    assert_eq!(call(&gw, "ops", "GET", "/v2/api/users", "").await.status, 200);
}

#[tokio::test]
async fn a_changed_spec_file_is_picked_up_without_a_signal() {
    let up = Capture::start().await;
    let gw = start(with_spec(&up.url(), &spec("", GOOD_REF)));
    let spec_path = gw.config_dir().unwrap().join("spec.json");
    assert_eq!(call(&gw, "ops", "GET", "/v2/api/widgets/w1", "").await.status, 404);
    replace(&spec_path, &spec(GET_WIDGET, GOOD_REF));
    let within = Duration::from_secs(10);
    eventually_within(&gw, within, "the new operation to route", || async {
        call(&gw, "ops", "GET", "/v2/api/widgets/w1", "").await.status == 200
    })
    .await;
}
