//! Edges a hostile or careless client reaches, on real sockets: an answer to a request that
//! breaks thousands of rules stays small (50 entries listed, the rest counted, the whole
//! envelope within 16 KiB), and a path parameter that a later hop could read as a path step
//! (`..`, `%2e%2e`, `..%2Fconversations`) matches no endpoint and is never forwarded.

use crate::support;

use support::api::{call, caller, start, with_callers};
use support::Capture;

/// The bound on an envelope's bytes (README, "Status codes").
const MAX_ENVELOPE_BYTES: usize = 16 * 1024;
const RESET: &str = "/v2/api/dialing-queues/current";

/// `full` may call anything; `reader` holds only `USERS_READ`.
fn gateway(up: &Capture) -> support::GatewayProcess {
    let cfg = with_callers(&up.url(), &["full"]).caller(caller("reader").scopes(&["USERS_READ"]));
    start(cfg.folder())
}

fn entries(answer: &support::client::Answer) -> Vec<serde_json::Value> {
    answer.json()["error"]["errors"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn ten_thousand_unknown_body_keys_get_a_bounded_answer() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let keys: Vec<String> = (0..10_000).map(|i| format!("\"k{i:05}\":0")).collect();
    let body = format!("{{{}}}", keys.join(","));
    assert!(body.len() < 1 << 20, "under max_body_bytes");
    let a = call(&gw, "full", "POST", RESET, &body).await;
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(a.gateway_error().as_deref(), Some("INVALID_REQUEST_BODY"));
    assert!(a.body.len() <= MAX_ENVELOPE_BYTES, "{} bytes", a.body.len());
    let list = entries(&a);
    assert_eq!(list.len(), 51);
    assert_eq!(list[0]["field"], "/k00000");
    assert_eq!(list[49]["field"], "/k00049");
    assert_eq!(list[50]["code"], "tooManyErrors");
    assert_eq!(list[50]["message"], "and 9950 more errors not listed");
    let message = a.json()["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.ends_with("(and 9999 more)"), "{message}");
    assert_eq!(a.json()["error"]["param"], "k00000");
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn nine_thousand_unknown_query_parameters_get_a_bounded_answer() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let pairs: Vec<String> = (0..9_000).map(|i| format!("x{i}")).collect();
    let target = format!("/v2/api/users?{}", pairs.join("&"));
    let a = call(&gw, "full", "GET", &target, "").await;
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(a.gateway_error().as_deref(), Some("INVALID_QUERY_PARAMETER"));
    assert!(a.body.len() <= MAX_ENVELOPE_BYTES, "{} bytes", a.body.len());
    let list = entries(&a);
    assert_eq!(list.len(), 51);
    assert_eq!(list[0]["field"], "/x0");
    assert_eq!(list[50]["code"], "tooManyErrors");
    assert_eq!(list[50]["message"], "and 8950 more errors not listed");
    let message = a.json()["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.ends_with("(and 8999 more)"), "{message}");
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn long_escaped_field_names_are_cut_and_the_answer_stays_bounded() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    // A control character is six bytes once escaped: 80 such keys of 2,000 characters.
    let keys: Vec<String> = (0..80)
        .map(|i| format!("\"{i:02}{}\":0", "\\u0001".repeat(2_000)))
        .collect();
    let body = format!("{{{}}}", keys.join(","));
    let a = call(&gw, "full", "POST", RESET, &body).await;
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.body.len() <= MAX_ENVELOPE_BYTES, "{} bytes", a.body.len());
    let list = entries(&a);
    let last = list.last().cloned().unwrap_or_default();
    assert_eq!(last["code"], "tooManyErrors");
    let listed = list.len() - 1;
    // Fewer than 50: the bound on the whole answer, not the count, decided how many fit.
    assert!((1..50).contains(&listed), "{listed}: {}", a.text());
    assert_eq!(last["message"], format!("and {} more errors not listed", 80 - listed));
    for entry in &list[..listed] {
        let field = entry["field"].as_str().unwrap_or_default();
        assert!(field.len() <= 128 && field.ends_with("..."), "{field:?}");
    }
    let message = a.json()["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.len() <= 200 && message.ends_with("(and 79 more)"),
        "{message:?}"
    );
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_path_parameter_that_is_a_path_step_reaches_nothing() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    for path in [
        "/v2/api/users/..",
        "/v2/api/users/.",
        "/v2/api/users/%2e%2e",
        "/v2/api/users/%2E%2e",
        "/v2/api/users/.%2E",
        "/v2/api/users/..%2Fconversations",
        "/v2/api/users/..%2fconversations",
        "/v2/api/users/usr_1%2F..%2F..%2Fconversations",
        "/v2/api/users/usr_1%5C..",
        "/v2/api/users/usr_1%00",
        "/v2/api/users/..;x=1",
    ] {
        let a = call(&gw, "reader", "GET", path, "").await;
        assert_eq!(
            (a.status, a.gateway_error().as_deref()),
            (404, Some("ENDPOINT_NOT_FOUND")),
            "{path}: {}",
            a.text()
        );
    }
    // A caller allowed everywhere gets the same answer: the path fits no endpoint.
    let a = call(&gw, "full", "GET", "/v2/api/conversations/%2e%2e/notes", "").await;
    assert_eq!(a.status, 404, "{}", a.text());
    assert_eq!(up.count(), 0, "{:?}", up.taken());
}

#[tokio::test]
async fn ordinary_path_parameters_are_forwarded_as_sent() {
    let up = Capture::start().await;
    let gw = gateway(&up);
    let a = call(&gw, "reader", "GET", "/v2/api/users/usr_1", "").await;
    assert_eq!(a.status, 200, "{}", a.text());
    for number in ["%2B33612345678", "+33612345678"] {
        let target = format!("/v2/api/conversations/{number}/notes?allo_number=%2B33187654321");
        let a = call(&gw, "full", "GET", &target, "").await;
        assert_eq!(a.status, 200, "{target}: {}", a.text());
    }
    let targets: Vec<String> = up.taken().into_iter().map(|c| c.target).collect();
    assert_eq!(
        targets,
        [
            "/v2/api/users/usr_1",
            "/v2/api/conversations/%2B33612345678/notes?allo_number=%2B33187654321",
            "/v2/api/conversations/+33612345678/notes?allo_number=%2B33187654321",
        ]
    );
}
