//! Allo's API as data, end to end on the real binary in front of a capture upstream: each change
//! listed in `allo-api/DRIFT.md` as the built-in description and rules now route it, report-only
//! validation (globally and per caller), and the drift signal read from Allo's answers.
//! Rules files, spec files, `check` and reload are in `api_data_reload.rs`.

use crate::support;

use std::time::Duration;

use support::api::{call, call_with, caller, start, with_callers, KEY_ENV, TEAM_KEY};
use support::observe::{events, metric};
use support::{eventually, Canned, Capture, GatewayProcess};

const NUMBER: &str = "%2B33612345678";
const RESET: &str = "/v2/api/dialing-queues/current";

/// A gateway on the built-in description: `ops` may call anything, `reader` and `writer`
/// hold one conversations scope each.
fn gateway(up: &Capture) -> GatewayProcess {
    let cfg = with_callers(&up.url(), &["ops"])
        .caller(caller("reader").scopes(&["CONVERSATIONS_READ"]))
        .caller(caller("writer").scopes(&["CONVERSATIONS_WRITE"]));
    start(cfg.folder())
}

#[tokio::test]
async fn drift_1_conversation_action_needs_conversations_write() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let target = format!("/v2/api/conversations/{NUMBER}/action");
    let body = r#"{"action":"ARCHIVE","allo_number":"+33100000000"}"#;
    let r = call(&gw, "reader", "PUT", &target, body).await;
    assert_eq!(
        r.refusal(),
        (403, Some("API_KEY_INSUFFICIENT_SCOPE".into())),
        "{}",
        r.text()
    );
    assert_eq!(up.count(), 0);
    let r = call(&gw, "writer", "PUT", &target, body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = up.taken();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].method.as_str(), got[0].target.as_str()),
        ("PUT", target.as_str())
    );
    assert_eq!(got[0].body.as_ref(), body.as_bytes());
}

#[tokio::test]
async fn drift_2_notes_are_routed_and_content_is_bounded() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let target = format!("/v2/api/conversations/{NUMBER}/notes");
    let body = r#"{"content":"hi","allo_number":"+33100000000"}"#;
    let r = call(&gw, "ops", "POST", &target, body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.taken()[0].target, target);
    assert_eq!(up.taken()[0].body.as_ref(), body.as_bytes());
    let long = format!(r#"{{"content":"{}","allo_number":"+33100000000"}}"#, "a".repeat(4001));
    let r = call(&gw, "ops", "POST", &target, &long).await;
    assert_eq!(r.refusal(), (400, Some("INVALID_REQUEST_BODY".into())), "{}", r.text());
    assert!(
        r.error_fields().contains(&"/content".to_string()),
        "{:?}",
        r.error_fields()
    );
    // Exactly 4,000 is still a note.
    let max = format!(r#"{{"content":"{}","allo_number":"+33100000000"}}"#, "a".repeat(4000));
    assert_eq!(call(&gw, "ops", "POST", &target, &max).await.status, 200);
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn drift_3_threads_are_routed() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let body = r#"{"entity_type":"CALL","entity_id":"cal_1","content":"look at this"}"#;
    let r = call(&gw, "ops", "POST", "/v2/api/threads", body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(
        &gw,
        "ops",
        "GET",
        "/v2/api/threads?entity_type=CALL&entity_id=cal_1",
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(&gw, "ops", "POST", "/v2/api/threads/thr_1/resolve", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = up.taken();
    let seen: Vec<(&str, &str)> = got.iter().map(|c| (c.method.as_str(), c.target.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v2/api/threads"),
            ("GET", "/v2/api/threads?entity_type=CALL&entity_id=cal_1"),
            ("POST", "/v2/api/threads/thr_1/resolve"),
        ]
    );
    assert_eq!(got[0].body.as_ref(), body.as_bytes());
    // A thread op is no conversations op: the conversations-only caller is refused.
    let r = call(&gw, "writer", "POST", "/v2/api/threads", body).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn drift_4_pin_and_unpin_are_routed() {
    let up = Capture::start().await;
    up.set(Canned {
        status: 204,
        headers: vec![],
        body: String::new(),
        delay: Duration::ZERO,
    });
    let gw = gateway(&up);
    let target = format!("/v2/api/conversations/{NUMBER}/pin");
    let body = r#"{"allo_number":"+33100000000"}"#;
    let r = call(&gw, "writer", "PUT", &target, body).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let unpin = format!("{target}?allo_number=%2B33100000000");
    let r = call(&gw, "writer", "DELETE", &unpin, "").await;
    assert_eq!(r.status, 204, "{}", r.text());
    let got = up.taken();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].method.as_str(), got[0].target.as_str()),
        ("PUT", target.as_str())
    );
    assert_eq!(got[0].body.as_ref(), body.as_bytes());
    assert_eq!(
        (got[1].method.as_str(), got[1].target.as_str()),
        ("DELETE", unpin.as_str())
    );
    assert!(got[1].body.is_empty());
}

#[tokio::test]
async fn drift_5_conversations_list_takes_pinned() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let target = format!("/v2/api/conversations?allo_number={NUMBER}&pinned=true");
    let r = call(&gw, "reader", "GET", &target, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.taken()[0].target, target);
    // Still a closed, typed query: `pinned` is a boolean.
    let r = call(
        &gw,
        "reader",
        "GET",
        &format!("/v2/api/conversations?allo_number={NUMBER}&pinned=maybe"),
        "",
    )
    .await;
    assert_eq!(
        r.refusal(),
        (400, Some("INVALID_QUERY_PARAMETER".into())),
        "{}",
        r.text()
    );
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn drift_6_webhooks_take_the_newer_topics() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    for topic in ["thread.created", "conversation_note.created", "partner.esim.ready"] {
        let body = format!(r#"{{"url":"https://hooks.example.com/allo","topics":["{topic}"]}}"#);
        let r = call(&gw, "ops", "POST", "/v2/api/webhooks", &body).await;
        assert_eq!(r.status, 200, "{topic}: {}", r.text());
        assert_eq!(up.taken().last().unwrap().body.as_ref(), body.as_bytes());
    }
}

#[tokio::test]
async fn drift_7_reset_renames_user_pid_to_user_id() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let cases = [
        (
            r#"{"user_pid":"usr_1","name":"Q"}"#,
            r#"{"user_id":"usr_1","name":"Q"}"#,
        ),
        (
            "  {\n  \"user_pid\" :\t\"usr_1\" ,\"name\":\"Q\"  }\n",
            "  {\n  \"user_id\" :\t\"usr_1\" ,\"name\":\"Q\"  }\n",
        ),
    ];
    for (sent, expected) in cases {
        let r = call(&gw, "ops", "POST", RESET, sent).await;
        assert_eq!(r.status, 200, "{sent}: {}", r.text());
        let got = up.taken().pop().unwrap();
        assert_eq!(String::from_utf8_lossy(&got.body), expected);
        assert_eq!(got.all("content-length"), vec![expected.len().to_string()]);
    }
    // Both spellings, equal: only the new one arrives.
    let r = call(&gw, "ops", "POST", RESET, r#"{"user_pid":"usr_1","user_id":"usr_1"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = up.taken().pop().unwrap();
    assert!(
        !String::from_utf8_lossy(&got.body).contains("user_pid"),
        "{:?}",
        got.body
    );
    let v: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(v, serde_json::json!({"user_id": "usr_1"}));
    // Different: refused, nothing forwarded.
    let before = up.count();
    let r = call(&gw, "ops", "POST", RESET, r#"{"user_pid":"usr_1","user_id":"usr_2"}"#).await;
    assert_eq!(r.refusal(), (400, Some("INVALID_REQUEST_BODY".into())), "{}", r.text());
    assert_eq!(up.count(), before);
    // The query's old spelling too.
    let r = call(&gw, "ops", "GET", &format!("{RESET}?user_pid=u1"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.taken().pop().unwrap().target, format!("{RESET}?user_id=u1"));
}

#[tokio::test]
async fn drift_7_reset_name_and_email_rules_hold() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let too_long = format!(r#"{{"name":"{}"}}"#, "a".repeat(256));
    let r = call(&gw, "ops", "POST", RESET, &too_long).await;
    assert_eq!(r.refusal(), (400, Some("INVALID_REQUEST_BODY".into())), "{}", r.text());
    assert!(r.error_fields().iter().all(|f| f == "/name"), "{:?}", r.error_fields());
    assert_eq!(r.json()["error"]["errors"][0]["code"], "maxLength");
    let r = call(&gw, "ops", "POST", RESET, r#"{"email":"not an email"}"#).await;
    assert_eq!(r.refusal(), (400, Some("INVALID_REQUEST_BODY".into())), "{}", r.text());
    assert!(r.error_fields().iter().all(|f| f == "/email"), "{:?}", r.error_fields());
    assert_eq!(r.json()["error"]["errors"][0]["code"], "format");
    assert_eq!(up.count(), 0);
    let accented = format!(r#"{{"name":"{}","email":"ana@example.com"}}"#, "é".repeat(255));
    let r = call(&gw, "ops", "POST", RESET, &accented).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.taken()[0].body.as_ref(), accented.as_bytes());
}

/// The description and the built-in rules both bound `name` at 255 and both ask `email` to be
/// an email: one violation each, listed once, and the message says nothing of "more".
#[tokio::test]
async fn a_bound_stated_by_description_and_rule_is_one_violation() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let body = format!(r#"{{"name":"{}","email":"x"}}"#, "a".repeat(300));
    let r = call(&gw, "ops", "POST", RESET, &body).await;
    assert_eq!(r.status, 400);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["/email", "/name"], "{}", r.text());
    let too_long = format!(r#"{{"name":"{}"}}"#, "a".repeat(300));
    let r = call(&gw, "ops", "POST", RESET, &too_long).await;
    assert_eq!(
        r.json()["error"]["message"],
        "name: must be at most 255 characters (got 300)"
    );
}

#[tokio::test]
async fn drift_8_deals_are_read_only() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let r = call(&gw, "ops", "POST", "/v2/api/crm/deals", r#"{"name":"big one"}"#).await;
    assert_eq!(r.refusal(), (404, Some("ENDPOINT_NOT_FOUND".into())), "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "not_found_error");
    assert_eq!(up.count(), 0);
    // Reading one still works.
    assert_eq!(
        call(&gw, "ops", "GET", "/v2/api/crm/deals/deal_1", "").await.status,
        200
    );
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn drift_9_esim_topups_require_an_idempotency_key() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let target = "/v2/api/partner/esims/esim_1/topups";
    let body = r#"{"code":"TOPUP_5GB"}"#;
    let r = call(&gw, "ops", "POST", target, body).await;
    assert_eq!(
        r.refusal(),
        (400, Some("INVALID_REQUEST_HEADER".into())),
        "{}",
        r.text()
    );
    assert_eq!(r.json()["error"]["code"], "INVALID_REQUEST_HEADER");
    assert_eq!(up.count(), 0);
    let r = call_with(&gw, "ops", "POST", target, &[("idempotency-key", "topup-7f3a")], body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = up.taken();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].target, target);
    assert_eq!(got[0].all("idempotency-key"), vec!["topup-7f3a"]);
    assert_eq!(got[0].body.as_ref(), body.as_bytes());
}

/// DRIFT row 9: the eSIM activation code hands over a phone line. Routed now, it reaches the
/// caller and nothing else: not a log line at any level, nor the team key.
#[tokio::test]
async fn drift_9_the_activation_code_never_reaches_a_log() {
    const CODE: &str = "LPA:1$smdp.example$ACTIVATION-MARKER-93f1";
    let up = Capture::start().await;
    up.set(Canned {
        body: format!(r#"{{"data":{{"activation_code":"{CODE}"}}}}"#),
        ..Canned::default()
    });
    let cfg = with_callers(&up.url(), &["ops"]).folder();
    let mut gw = GatewayProcess::start(cfg, &[(KEY_ENV, TEAM_KEY), ("ALLO_GATEWAY_LOG", "trace")]);
    let r = call(&gw, "ops", "GET", "/v2/api/partner/esims/esim_1/activation_code", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(CODE));
    gw.stop();
    let log = gw.log();
    assert!(log.contains("partner.getEsimActivationCode"), "{log}");
    assert!(
        log.contains("TRACE") || log.contains("\"level\":\"TRACE\""),
        "trace logging was on: {log}"
    );
    assert!(
        !log.contains("ACTIVATION-MARKER"),
        "the activation code reached the log"
    );
    assert!(!log.contains(TEAM_KEY), "the team key reached the log");
}

// --- report mode --------------------------------------------------------------------------

#[tokio::test]
async fn report_mode_forwards_invalid_requests_marked_logged_and_counted() {
    let up = Capture::start().await;
    let cfg = with_callers(&up.url(), &["ops"])
        .server("max_body_bytes", 1024)
        .api("validation", "report")
        .caller(caller("reader").scopes(&["CONVERSATIONS_READ"]));
    let gw = start(cfg.folder());
    let body = format!(r#"{{"name":"{}"}}"#, "a".repeat(300));
    let r = call(&gw, "ops", "POST", RESET, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-allo-gateway-warning").as_deref(),
        Some("INVALID_REQUEST_BODY")
    );
    assert!(r.gateway_error().is_none());
    assert_eq!(up.taken()[0].body.as_ref(), body.as_bytes());
    // A valid request carries no warning.
    let r = call(&gw, "ops", "POST", RESET, r#"{"name":"ok"}"#).await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-allo-gateway-warning").is_none());

    eventually(&gw, "the access log lines", || async { gw.access_logs().len() >= 2 }).await;
    let logs = gw.access_logs();
    let finding = logs[0]["validation"].as_str().unwrap_or_default().to_string();
    assert!(
        finding.contains("INVALID_REQUEST_BODY") && finding.contains("name"),
        "{logs:?}"
    );
    assert!(logs[1]["validation"].is_null(), "{logs:?}");
    let text = gw.metrics().await;
    let labels = [("route", "dialingQueues.resetCurrent"), ("caller", "ops")];
    assert_eq!(
        metric(&text, "allo_gateway_validation_reported_total", &labels),
        1.0,
        "{text}"
    );

    // Never report-only: authentication, scopes, size.
    let r = support::send(gw.addr, "POST", RESET, &[("authorization", "Bearer nope")], "").await;
    assert_eq!(r.refusal(), (401, Some("GATEWAY_UNAUTHENTICATED".into())));
    let r = call(&gw, "reader", "POST", RESET, &body).await;
    assert_eq!(r.refusal(), (403, Some("API_KEY_INSUFFICIENT_SCOPE".into())));
    let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(2000));
    let r = call(&gw, "ops", "POST", RESET, &big).await;
    assert_eq!(r.refusal(), (413, Some("PAYLOAD_TOO_LARGE".into())));
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn report_mode_per_caller_over_a_global_enforce() {
    let up = Capture::start().await;
    let cfg = with_callers(&up.url(), &["strict"]).caller(caller("rollout").set("validation", "report"));
    let gw = start(cfg.folder());
    let body = format!(r#"{{"name":"{}"}}"#, "a".repeat(300));
    let r = call(&gw, "strict", "POST", RESET, &body).await;
    assert_eq!(r.refusal(), (400, Some("INVALID_REQUEST_BODY".into())));
    assert_eq!(up.count(), 0);
    let r = call(&gw, "rollout", "POST", RESET, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-allo-gateway-warning").as_deref(),
        Some("INVALID_REQUEST_BODY")
    );
    assert_eq!(up.count(), 1);
    let text = gw.metrics().await;
    let name = "allo_gateway_validation_reported_total";
    assert_eq!(metric(&text, name, &[("caller", "rollout")]), 1.0, "{text}");
    assert_eq!(metric(&text, name, &[("caller", "strict")]), 0.0, "{text}");
}

// --- drift signal -------------------------------------------------------------------------

fn drift_warnings(gw: &GatewayProcess, route: &str) -> usize {
    events(gw)
        .iter()
        .filter(|e| e["level"] == "WARN" && e["route"] == route && e["kind"].is_string())
        .count()
}

#[tokio::test]
async fn a_valid_request_refused_by_allo_counts_as_drift_logged_once_a_minute() {
    let up = Capture::start().await;
    up.set(Canned {
        status: 400,
        body: r#"{"error":{"type":"validation_error","code":"X","message":"m"}}"#.into(),
        ..Canned::default()
    });
    let gw = gateway(&up);
    for _ in 0..2 {
        let r = call(&gw, "ops", "POST", RESET, r#"{"name":"Q"}"#).await;
        assert_eq!(r.status, 400);
        assert!(r.gateway_error().is_none(), "Allo's answer is passed through unmarked");
    }
    let text = gw.metrics().await;
    let labels = [("route", "dialingQueues.resetCurrent"), ("kind", "refused_valid")];
    assert_eq!(metric(&text, "allo_gateway_spec_drift_total", &labels), 2.0, "{text}");
    eventually(&gw, "the drift warning", || async {
        drift_warnings(&gw, "dialingQueues.resetCurrent") >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(drift_warnings(&gw, "dialingQueues.resetCurrent"), 1, "{}", gw.log());
}

#[tokio::test]
async fn a_404_outside_allo_s_envelope_is_a_route_gone_and_inside_is_no_drift() {
    let up = Capture::start().await;
    up.respond_with(|c| {
        if c.target.starts_with("/v2/api/users/") {
            Canned {
                status: 404,
                body: r#"{"error":{"type":"not_found_error","code":"USER_NOT_FOUND","message":"m"}}"#.into(),
                ..Canned::default()
            }
        } else {
            Canned {
                status: 404,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: "404 page not found".into(),
                ..Canned::default()
            }
        }
    });
    let gw = gateway(&up);
    let r = call(&gw, "ops", "GET", "/v2/api/tags", "").await;
    assert_eq!((r.status, r.text().as_str()), (404, "404 page not found"));
    let r = call(&gw, "ops", "GET", "/v2/api/users/usr_1", "").await;
    assert_eq!(r.status, 404);
    let text = gw.metrics().await;
    let drift = "allo_gateway_spec_drift_total";
    assert_eq!(
        metric(&text, drift, &[("route", "tags.list"), ("kind", "route_gone")]),
        1.0,
        "{text}"
    );
    assert_eq!(metric(&text, drift, &[("route", "users.get")]), 0.0, "{text}");
    eventually(&gw, "the drift warning", || async {
        drift_warnings(&gw, "tags.list") == 1
    })
    .await;
    assert_eq!(drift_warnings(&gw, "users.get"), 0);
}
