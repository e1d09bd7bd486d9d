//! Everything around the endpoints: authentication, request ids, Allo's rate limits on the fake
//! clock, routing of non-emulated and unknown endpoints, the users endpoints, hostile input.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use serde_json::json;

use super::{Harness, BASE, SALES_KEY, SUPPORT_KEY};

#[test]
fn only_api_key_scheme_with_a_configured_key_is_accepted() {
    let h = Harness::new();
    let cases: [Option<&str>; 6] = [
        None,
        Some("Bearer ak_live_sales"),
        Some("ak_live_sales"),
        Some("Api-Key ak_live_wrong"),
        Some("Api-Key "),
        Some("Api-Key ak_live_sale"),
    ];
    for auth in cases {
        let mut req = Request::builder().uri("/v2/api/me").header("x-request-id", "trace-1");
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let a = h.send(req.body(Bytes::new()).unwrap());
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(a.code(), "API_KEY_INVALID");
        assert_eq!(a.json["error"]["type"], "authentication_error");
        assert_eq!(a.json["error"]["request_id"], "trace-1");
        assert_eq!(a.headers["x-request-id"], "trace-1");
        assert!(a.headers.get("x-ratelimit-limit").is_none());
    }
    let ok = Request::builder()
        .uri("/v2/api/me")
        .header("authorization", "api-key ak_live_sales")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(h.send(ok).status, StatusCode::OK);
    let twice = Request::builder()
        .uri("/v2/api/me")
        .header("authorization", "Api-Key ak_live_sales")
        .header("authorization", "Api-Key ak_live_support")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(h.send(twice).status, StatusCode::UNAUTHORIZED);
}

#[test]
fn request_ids_are_kept_or_minted() {
    let h = Harness::new();
    let kept = Request::builder()
        .uri("/v2/api/nope")
        .header("authorization", "Api-Key ak_live_sales")
        .header("x-request-id", "caller-id-42")
        .body(Bytes::new())
        .unwrap();
    let a = h.send(kept);
    assert_eq!(a.headers["x-request-id"], "caller-id-42");
    assert_eq!(a.json["error"]["request_id"], "caller-id-42");

    let replaced = Request::builder()
        .uri("/v2/api/me")
        .header("authorization", "Api-Key ak_live_sales")
        .header("x-request-id", "has space")
        .body(Bytes::new())
        .unwrap();
    let a = h.send(replaced);
    let id = a.headers["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_") && id.len() == 16, "{id}");
}

#[test]
fn allo_rate_limits_per_key_with_headers() {
    let h = Harness::new();
    h.clock.advance(Duration::from_millis(250));
    for i in 0..5u32 {
        let a = h.raw(Some(SALES_KEY), "POST", "/v2/api/dialing-queues/current", None);
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers["x-ratelimit-limit"], "5");
        assert_eq!(a.headers["x-ratelimit-remaining"], (4 - i).to_string().as_str());
        assert_eq!(a.headers["x-ratelimit-reset"], (BASE + 1).to_string().as_str());
    }
    let limited = h.raw(
        Some(SALES_KEY),
        "DELETE",
        "/v2/api/dialing-queues/current/numbers",
        None,
    );
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "RATE_LIMIT_EXCEEDED");
    assert_eq!(limited.json["error"]["type"], "rate_limit_error");
    assert_eq!(limited.json["error"]["retryable"], true);
    assert_eq!(limited.json["error"]["retry_after_seconds"], 1);
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    assert_eq!(
        limited.json["error"]["request_id"],
        limited.headers["x-request-id"].to_str().unwrap()
    );

    // Reads and the other team's key have budgets of their own.
    let read = h.raw(Some(SALES_KEY), "GET", "/v2/api/me", None);
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.headers["x-ratelimit-limit"], "20");
    assert_eq!(read.headers["x-ratelimit-remaining"], "19");
    let other = h.raw(Some(SUPPORT_KEY), "POST", "/v2/api/dialing-queues/current", None);
    assert_eq!(other.status, StatusCode::OK);

    h.clock.advance(Duration::from_millis(750));
    let next = h.raw(Some(SALES_KEY), "POST", "/v2/api/dialing-queues/current", None);
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(next.headers["x-ratelimit-remaining"], "4");
    assert_eq!(next.headers["x-ratelimit-reset"], (BASE + 2).to_string().as_str());

    for _ in 0..20 {
        assert_eq!(
            h.raw(Some(SALES_KEY), "GET", "/v2/api/users", None).status,
            StatusCode::OK
        );
    }
    let read_limited = h.raw(Some(SALES_KEY), "GET", "/v2/api/users", None);
    assert_eq!(read_limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(read_limited.json["error"]["message"].as_str().unwrap().contains("20"));
}

#[test]
fn routing_of_other_endpoints() {
    let h = Harness::new();
    let tags = h.call(SALES_KEY, "GET", "/v2/api/tags", None);
    assert_eq!(tags.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(tags.code(), "NOT_EMULATED");
    assert_eq!(tags.json["error"]["type"], "server_error");
    assert!(tags.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not emulated by the Allo sandbox"));
    assert!(tags.headers.get("x-ratelimit-limit").is_some());

    let sms = h.call(SALES_KEY, "POST", "/v1/api/sms", Some(json!({})));
    assert_eq!(sms.status, StatusCode::NOT_IMPLEMENTED);

    let unknown = h.call(SALES_KEY, "GET", "/v2/api/does-not-exist", None);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "ENDPOINT_NOT_FOUND");

    let wrong = h.call(SALES_KEY, "PUT", "/v2/api/me", None);
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.code(), "METHOD_NOT_ALLOWED");
    assert_eq!(wrong.headers["allow"], "GET, HEAD");
}

#[test]
fn newer_operations_are_known_and_removed_ones_are_not() {
    let h = Harness::new();
    for (method, path) in [
        ("GET", "/v2/api/threads?contact_number=%2B33612345678"),
        ("POST", "/v2/api/threads/thr_1/resolve"),
        ("GET", "/v2/api/partner/accounts/price"),
        ("PUT", "/v2/api/partner/esims/esim_1/tier"),
        ("GET", "/v2/api/crm/people/per_1/notes"),
    ] {
        let a = h.call(SALES_KEY, method, path, None);
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::NOT_IMPLEMENTED, "NOT_EMULATED"),
            "{method} {path}"
        );
    }
    let partner = h.call(SALES_KEY, "GET", "/v2/api/partner/accounts/price", None);
    assert!(partner.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("GET /v2/api/partner/accounts/price"));

    // The deal writes the late-2026 document removed: unknown path, or a path known for GET only.
    let create = h.call(SALES_KEY, "POST", "/v2/api/crm/deals", Some(json!({"name": "x"})));
    assert_eq!(
        (create.status, create.code()),
        (StatusCode::NOT_FOUND, "ENDPOINT_NOT_FOUND")
    );
    for method in ["PATCH", "DELETE"] {
        let a = h.call(SALES_KEY, method, "/v2/api/crm/deals/deal_1", None);
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(a.headers["allow"], "GET, HEAD");
    }
    // Paths seen only in third-party code are no longer recognised.
    let list = h.call(SALES_KEY, "GET", "/v2/api/dialing-queues", None);
    assert_eq!(list.code(), "ENDPOINT_NOT_FOUND");
}

#[test]
fn me_answers_in_the_documented_shape() {
    let h = Harness::new();
    let me = h.call(SALES_KEY, "GET", "/v2/api/me", None);
    assert_eq!(me.status, StatusCode::OK);
    let data = me.json["data"].as_object().unwrap();
    for key in ["api_key_id", "scopes", "endpoints", "team", "rate_limits"] {
        assert!(data.contains_key(key), "{key}");
    }
    assert!(data["api_key_id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(data["team"], json!({"id": "sales", "name": "sales (sandbox)"}));
    let scopes: Vec<&str> = data["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(scopes.len(), 20);
    for scope in [
        "NOTES_READ",
        "NOTES_WRITE",
        "THREADS_WRITE",
        "PARTNER",
        "CONVERSATIONS_WRITE",
    ] {
        assert!(scopes.contains(&scope), "{scope}");
    }
    assert!(!scopes.contains(&"CRM_DELETE"), "no operation of the document needs it");
    let endpoints = data["endpoints"].as_array().unwrap();
    let has = |method: &str, path: &str, scope: &str| {
        endpoints
            .iter()
            .any(|e| e["method"] == method && e["path"] == path && e["scope"] == scope)
    };
    assert!(has(
        "POST",
        "/v2/api/conversations/{contact_number}/notes",
        "NOTES_WRITE"
    ));
    assert!(has("GET", "/v2/api/conversations/notes/{id}", "NOTES_READ"));
    assert!(has(
        "PUT",
        "/v2/api/conversations/{contact_number}/pin",
        "CONVERSATIONS_WRITE"
    ));
    assert!(has("GET", "/v2/api/users", "USERS_READ"));
    assert!(
        !endpoints.iter().any(|e| e["path"] == "/v2/api/threads"),
        "only what is emulated"
    );
    let me_entry = endpoints.iter().find(|e| e["path"] == "/v2/api/me").unwrap();
    assert!(me_entry.get("scope").is_none(), "/me needs no scope");
    for entry in endpoints {
        assert!(entry["method"].is_string() && entry["path"].is_string());
        assert!(entry.get("scope").is_none_or(|s| s.is_string()));
    }
}

#[test]
fn me_and_users_come_from_the_roster() {
    let h = Harness::new();
    let me = h.call(SALES_KEY, "GET", "/v2/api/me", None);
    let data = &me.json["data"];
    assert_eq!(
        data["rate_limits"],
        json!({"read_per_second": 20, "write_per_second": 5})
    );
    assert_eq!(data["team"]["id"], "sales");
    assert_eq!(data["user"]["email"], "alice@sales.example");
    assert!(data["scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("DIALING_QUEUE_READ_WRITE")));
    assert_eq!(data["endpoints"].as_array().unwrap().len(), 16);
    assert!(!me.json.to_string().contains(SALES_KEY), "the key is never echoed");

    let users = h.call(SALES_KEY, "GET", "/v2/api/users", None);
    let list = users.json["data"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(users.json.get("pagination").is_none(), "users are not paginated");
    assert_eq!(list[1]["email"], "bob@sales.example");
    assert_eq!(list[1]["role"], "MANAGER");
    assert_eq!(list[2]["status"], "ACTIVE");

    let managers = h.call(SALES_KEY, "GET", "/v2/api/users?role=MANAGER", None);
    assert_eq!(managers.json["data"].as_array().unwrap().len(), 1);
    let blocked = h.call(SALES_KEY, "GET", "/v2/api/users?status=BLOCKED", None);
    assert_eq!(blocked.json["data"], json!([]));
    let bad = h.call(SALES_KEY, "GET", "/v2/api/users?role=OWNER", None);
    assert_eq!(bad.code(), "INVALID_QUERY_PARAMETER");

    let bob_id = list[1]["id"].as_str().unwrap();
    let bob = h.call(SALES_KEY, "GET", &format!("/v2/api/users/{bob_id}"), None);
    assert_eq!(bob.json["data"]["name"], "Bob Dupont");
    let missing = h.call(SALES_KEY, "GET", "/v2/api/users/usr-NOPE", None);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "MEMBER_NOT_FOUND");
    let cross = h.call(SUPPORT_KEY, "GET", &format!("/v2/api/users/{bob_id}"), None);
    assert_eq!(cross.code(), "MEMBER_NOT_FOUND");
}

#[test]
fn hostile_input_never_panics() {
    let h = Harness::new();
    let methods = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "BREW"];
    let paths = [
        "/",
        "/v2/api/dialing-queues/current?page=99999999999999999999&size=100",
        "/v2/api/dialing-queues/current?page=18446744073709551615&size=100",
        "/v2/api/dialing-queues/current/numbers?position=18446744073709551615",
        "/v2/api/dialing-queues/current/numbers?number=%FF%FE",
        "/v2/api/dialing-queues/current/numbers?number=%&position=%2",
        "/v2/api/dialing-queues//assignee",
        "/v2/api/users/%00",
        "/v2/api/users?role",
        "/v2/api/dialing-queues/current?user_id=&email=",
        "/v2/api/conversations/%FF/notes?allo_number=%FF&page=0",
        "/v2/api/conversations/+33612345678/notes?allo_number=+&size=18446744073709551616",
        "/v2/api/conversations/notes/note_seeded_by_bob",
        "/v2/api/conversations/notes/",
        "/v2/api/conversations/%2B/pin?allo_number=%00",
    ];
    let bodies = [
        None,
        Some(""),
        Some("{}"),
        Some("\u{0}"),
        Some("{\"numbers\":[{\"number\":\"\u{1F4DE}\"}]}"),
        Some("{\"numbers\":[{\"number\":\"+١٢٣٤٥٦٧٨٩\"}],\"user_id\":null}"),
        Some("{\"name\":{\"nested\":[1,2,3]},\"user_id\":7,\"email\":false}"),
        Some("{\"content\":\"\u{1F4DE}\",\"allo_number\":\"+33 (0)1 87\",\"sender_id\":[]}"),
        Some("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    ];
    for method in methods {
        for path in paths {
            for body in bodies {
                h.clock.advance(Duration::from_secs(1));
                let a = h.raw(Some(SALES_KEY), method, path, body.map(str::to_owned));
                assert!(a.status.as_u16() < 500 || a.status == StatusCode::NOT_IMPLEMENTED);
                assert!(a.headers.get("x-request-id").is_some());
            }
        }
    }
}
