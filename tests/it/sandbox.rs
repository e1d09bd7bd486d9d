//! The gateway in front of its built-in Allo emulator (`[upstream] url = "sandbox"`): a whole
//! dialing-queue lifecycle for two teams whose state never mixes, the emulator's own refusals
//! passing through unmarked, its 429 reaching the caller unchanged, and the emulator alone.

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::client::Request;
use support::process::GatewayProcess;
use support::{send, Caller, Config, Team, TestConfig};

const SALES: &str = "tok_sandbox_sales";
const SUPPORT: &str = "tok_sandbox_support";

fn config(write_per_second: u32) -> TestConfig {
    config_for("sandbox", write_per_second)
}

/// Teams "sales" and "support" with `write_per_second` each; caller "crm" of sales and
/// "helpdesk" of support; the gateway's default upstream timeouts.
fn config_for(upstream: &str, write_per_second: u32) -> TestConfig {
    Config::bare(upstream)
        .team(Team::new("sales").key_value("ak_sbx_sales").write(write_per_second))
        .team(Team::new("support").key_value("ak_sbx_support").write(write_per_second))
        .caller(Caller::new("crm", "sales").token(SALES))
        .caller(Caller::new("helpdesk", "support").token(SUPPORT))
        .folder()
}

struct Client {
    addr: std::net::SocketAddr,
    auth: String,
    patient: bool,
}

impl Client {
    async fn call(&self, method: &str, target: &str, body: &str) -> (u16, Value, support::client::Answer) {
        loop {
            let a = Request::new(self.addr, method, target)
                .header("authorization", &self.auth)
                .json(body)
                .send()
                .await;
            // Like a well-behaved Allo client: wait out the emulator's per-key limit.
            if a.status == 429 && self.patient {
                let secs: u64 = a.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(1);
                tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                continue;
            }
            return (a.status, a.json(), a);
        }
    }
}

#[tokio::test]
async fn dialing_queue_lifecycle_for_two_teams() {
    let gw = GatewayProcess::start(config(1000), &[]);
    let sales = Client {
        addr: gw.addr,
        auth: format!("Bearer {SALES}"),
        patient: true,
    };
    let support = Client {
        addr: gw.addr,
        auth: format!("Api-Key {SUPPORT}"),
        patient: true,
    };

    let (s, me, _) = sales.call("GET", "/v2/api/me", "").await;
    assert_eq!(s, 200, "{me}");
    let (s, users, _) = sales.call("GET", "/v2/api/users", "").await;
    assert_eq!(s, 200);
    let users = users["data"].as_array().unwrap().clone();
    assert_eq!(users.len(), 3);
    let owner_id = users[0]["id"].as_str().unwrap().to_string();
    let bob_id = users[1]["id"].as_str().unwrap().to_string();
    assert!(owner_id.starts_with("usr-"));
    let (s, bob, _) = sales.call("GET", &format!("/v2/api/users/{bob_id}"), "").await;
    assert_eq!((s, bob["data"]["id"].as_str()), (200, Some(bob_id.as_str())));

    // Reset with a name: a new empty queue owned and assigned to the key owner.
    let (s, reset, _) = sales
        .call("POST", "/v2/api/dialing-queues/current", r#"{"name":"Monday"}"#)
        .await;
    assert_eq!(s, 200, "{reset}");
    let text = reset.to_string();
    assert!(text.contains("pdl_"), "{text}");
    assert!(text.contains(&owner_id), "creator/assignee is the key owner: {text}");

    // Upsert touches only the given field.
    let (s, upsert, _) = sales
        .call(
            "PATCH",
            "/v2/api/dialing-queues/current",
            r#"{"voicemail_handling":"SKIP"}"#,
        )
        .await;
    assert_eq!(s, 200, "{upsert}");
    assert!(upsert.to_string().contains("Monday"), "name kept: {upsert}");
    assert!(upsert.to_string().contains("SKIP"));

    // Append: one good number normalised, one bad number skipped.
    let (s, append, _) = sales
        .call(
            "POST",
            "/v2/api/dialing-queues/current/numbers",
            r#"{"numbers":[{"number":"+33 6 12 34 56 78","name":"Ana"},{"number":"06 98 76 54 32"},{"number":"not a number"}]}"#,
        )
        .await;
    assert_eq!(s, 200, "{append}");
    let text = append.to_string();
    assert!(text.contains("+33612345678") && text.contains("+33698765432"), "{text}");
    assert!(text.contains("INVALID_PHONE_NUMBER"), "{text}");

    // Get current shows both numbers; the other team sees nothing of it.
    let (s, current, _) = sales.call("GET", "/v2/api/dialing-queues/current", "").await;
    assert_eq!(s, 200);
    assert!(current.to_string().contains("+33612345678"));
    let (s, other, _) = support.call("GET", "/v2/api/dialing-queues/current", "").await;
    assert_eq!(s, 200);
    assert!(
        !other.to_string().contains("+33612345678"),
        "teams share state: {other}"
    );
    assert!(!other.to_string().contains("Monday"));

    // Clear by number (a second time removes nothing), by position (a position not in the
    // queue is the sandbox's 404), then everything not yet called.
    let (s, cleared, _) = sales
        .call(
            "DELETE",
            "/v2/api/dialing-queues/current/numbers?number=%2B33612345678",
            "",
        )
        .await;
    assert_eq!((s, cleared["data"]["removed"].as_u64()), (200, Some(1)), "{cleared}");
    let (s, again, _) = sales
        .call(
            "DELETE",
            "/v2/api/dialing-queues/current/numbers?number=%2B33612345678",
            "",
        )
        .await;
    assert_eq!((s, again["data"]["removed"].as_u64()), (200, Some(0)), "{again}");
    let (s, nowhere, a) = sales
        .call("DELETE", "/v2/api/dialing-queues/current/numbers?position=99", "")
        .await;
    assert_eq!(
        (s, nowhere["error"]["code"].as_str()),
        (404, Some("QUEUE_NUMBER_POSITION_NOT_FOUND")),
        "{nowhere}"
    );
    assert!(
        a.gateway_error().is_none(),
        "the refusal comes from the sandbox, not the gateway"
    );
    let (s, _, a) = sales
        .call(
            "DELETE",
            "/v2/api/dialing-queues/current/numbers?unassigned=true&position=1",
            "",
        )
        .await;
    assert_eq!(s, 400, "conflicting filters are refused by the gateway's schema");
    assert_eq!(a.gateway_error().as_deref(), Some("INVALID_QUERY_PARAMETER"));
    let (s, rest, _) = sales
        .call("DELETE", "/v2/api/dialing-queues/current/numbers?unassigned=true", "")
        .await;
    assert_eq!((s, rest["data"]["removed"].as_u64()), (200, Some(1)), "{rest}");

    // Reassign the queue to a teammate by email.
    let queue_id = text_field(&current, "pdl_");
    let (s, moved, _) = sales
        .call(
            "PATCH",
            &format!("/v2/api/dialing-queues/{queue_id}/assignee"),
            r#"{"email":"bob@sales.example"}"#,
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    assert!(moved.to_string().contains(&bob_id), "{moved}");

    // A teammate who does not exist: the sandbox's 404, not a gateway refusal.
    let (s, missing, a) = sales
        .call(
            "POST",
            "/v2/api/dialing-queues/current",
            r#"{"email":"nobody@sales.example"}"#,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(missing["error"]["code"], "ASSIGNEE_NOT_FOUND");
    assert!(a.gateway_error().is_none());

    // The same call with a 256-character name never reaches the sandbox.
    let long = format!(r#"{{"name":"{}"}}"#, "a".repeat(256));
    let (s, _, a) = sales.call("POST", "/v2/api/dialing-queues/current", &long).await;
    assert_eq!((s, a.gateway_error().as_deref()), (400, Some("INVALID_REQUEST_BODY")));

    // A non-emulated endpoint says so, in the envelope.
    let (s, body, _) = sales.call("GET", "/v2/api/tags", "").await;
    assert_eq!(s, 501, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("not emulated"),
        "{body}"
    );
}

/// The first string in `value` that starts with `prefix`.
fn text_field(value: &Value, prefix: &str) -> String {
    match value {
        Value::String(s) if s.starts_with(prefix) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| text_field(v, prefix))
            .find(|s| !s.is_empty())
            .unwrap_or_default(),
        Value::Object(map) => map
            .values()
            .map(|v| text_field(v, prefix))
            .find(|s| !s.is_empty())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn the_sandbox_429_reaches_the_caller_unchanged() {
    // Two sidecars of one team in front of one emulator (run alone, as `allo-gateway sandbox`):
    // the first spends the key's 5 writes and, told `X-RateLimit-Remaining: 0`, holds the team
    // itself; the second has not been told, so its request meets the emulator's own 429, which
    // must reach its caller unchanged.
    let emulator_cfg = config(5);
    let emulator = GatewayProcess::spawn(
        &[
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--config",
            emulator_cfg.path().to_str().unwrap(),
        ],
        &[],
    );
    let upstream = format!("http://{}", emulator.addr);
    let first = GatewayProcess::start(config_for(&upstream, 1000), &[]);
    let second = GatewayProcess::start(config_for(&upstream, 1000), &[]);
    let (a, b) = (
        Client {
            addr: first.addr,
            auth: format!("Bearer {SALES}"),
            patient: false,
        },
        Client {
            addr: second.addr,
            auth: format!("Bearer {SALES}"),
            patient: false,
        },
    );
    let mut limited = None;
    // The emulator's windows are whole seconds; a window may roll over between the two
    // gateways' requests, so try a few times.
    for _ in 0..5 {
        for _ in 0..6 {
            let (s, _, r) = a.call("POST", "/v2/api/dialing-queues/current", "").await;
            if s == 429 {
                break;
            }
            assert_eq!(s, 200);
            assert!(r.header("x-ratelimit-limit").is_some());
        }
        let (s, body, r) = b.call("POST", "/v2/api/dialing-queues/current", "").await;
        if s == 429 {
            limited = Some((body, r));
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let (body, a) = limited.expect("the sandbox never answered 429");
    assert!(
        a.gateway_error().is_none(),
        "a 429 from upstream must not be marked as the gateway's"
    );
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    assert!(body["error"]["retry_after_seconds"].as_u64().unwrap() >= 1);
    assert!(a.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(a.header("x-ratelimit-limit").as_deref(), Some("5"));
    assert_eq!(a.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(a.header("x-ratelimit-reset").unwrap().parse::<u64>().unwrap() > 1_700_000_000);
    assert_eq!(
        body["error"]["request_id"].as_str(),
        a.header("x-request-id").as_deref()
    );
}

#[tokio::test]
async fn the_emulator_runs_alone_with_the_configs_keys() {
    let cfg = config(5);
    let path = cfg.path();
    let gw = GatewayProcess::spawn(
        &["sandbox", "--listen", "127.0.0.1:0", "--config", path.to_str().unwrap()],
        &[],
    );
    let ok = send(
        gw.addr,
        "GET",
        "/v2/api/me",
        &[("authorization", "Api-Key ak_sbx_sales"), ("x-request-id", "trace-42")],
        "",
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("x-request-id").as_deref(), Some("trace-42"));
    let bad = send(
        gw.addr,
        "GET",
        "/v2/api/me",
        &[("authorization", "Api-Key ak_wrong")],
        "",
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"]["code"], "API_KEY_INVALID");
    let id = bad.json()["error"]["request_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("req_") && id.len() == 16);
    drop(cfg);
}

/// The emulator reads the same description as the gateway: notes and pins are routed and
/// emulated end to end, an operation it does not emulate is 501 `NOT_EMULATED` in Allo's
/// envelope (from the emulator, not the gateway), never a 404 that would look like drift.
#[tokio::test]
async fn notes_and_pins_through_the_gateway_and_the_rest_not_emulated() {
    let gw = GatewayProcess::start(config(1000), &[]);
    let sales = Client {
        addr: gw.addr,
        auth: format!("Bearer {SALES}"),
        patient: true,
    };
    let notes = "/v2/api/conversations/%2B33612345678/notes";
    let (s, created, a) = sales
        .call(
            "POST",
            notes,
            r#"{"content":"Asked for a demo","allo_number":"+33187654321"}"#,
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert!(a.gateway_error().is_none());
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let (s, list, _) = sales
        .call("GET", &format!("{notes}?allo_number=%2B33187654321"), "")
        .await;
    assert_eq!(s, 200, "{list}");
    assert!(
        list["data"].as_array().unwrap().iter().any(|n| n["id"] == id.as_str()),
        "{list}"
    );

    // 4,001 characters: refused by the gateway's schema before Allo (the emulator) sees it.
    let long = format!(r#"{{"content":"{}","allo_number":"+33187654321"}}"#, "é".repeat(4001));
    let (s, _, a) = sales.call("POST", notes, &long).await;
    assert_eq!((s, a.gateway_error().as_deref()), (400, Some("INVALID_REQUEST_BODY")));
    // Only the author may change a note: the seeded one is bob's.
    let (s, body, a) = sales
        .call(
            "PATCH",
            "/v2/api/conversations/notes/note_seeded_by_bob",
            r#"{"content":"mine now"}"#,
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "NOT_NOTE_AUTHOR");
    assert!(a.gateway_error().is_none());
    let (s, _, _) = sales
        .call("DELETE", &format!("/v2/api/conversations/notes/{id}"), "")
        .await;
    assert_eq!(s, 204);

    let (s, body, _) = sales
        .call(
            "PUT",
            "/v2/api/conversations/%2B33612345678/pin",
            r#"{"allo_number":"+33187654321"}"#,
        )
        .await;
    assert_eq!(s, 204, "{body}");

    let (s, body, a) = sales
        .call("GET", "/v2/api/threads?entity_type=CALL&entity_id=c1", "")
        .await;
    assert_eq!(s, 501, "{body}");
    assert_eq!(body["error"]["code"], "NOT_EMULATED");
    assert!(a.gateway_error().is_none(), "the emulator answers, not the gateway");
}
