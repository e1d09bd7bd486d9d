//! The core gateway end to end: the real binary in front of a capture upstream on 127.0.0.1.
//! Authentication and key injection, byte-identical forwarding of valid bodies, field-level
//! refusals that never reach the upstream, query validation, upstream failures.

mod support;

use support::{send, sha256_hex, Canned, Capture, GatewayProcess, TestConfig};

const SALES_TOKEN: &str = "tok_sales_crm_0123456789abcdef";
const SUPPORT_TOKEN: &str = "tok_support_bot_0123456789abcdef";
const SALES_KEY: &str = "ak_live_SALESKEY";
const SUPPORT_KEY: &str = "ak_live_SUPPORTKEY";

fn config(upstream: &str, extra: &str) -> String {
    config_with_server(upstream, "", extra)
}

fn config_with_server(upstream: &str, server: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
{server}
[upstream]
url = "{upstream}"
request_timeout = "1s"
connect_timeout = "1s"
{extra}
[[teams]]
id = "sales"
api_key = {{ env = "TEST_SALES_KEY" }}
write_per_second = 1000
[[teams]]
id = "support"
api_key = {{ file = "support.key" }}
[[callers]]
id = "crm-sync"
team = "sales"
token_sha256 = "{}"
[[callers]]
id = "support-bot"
team = "support"
token_sha256 = "{}"
scopes = ["USERS_READ"]
"#,
        sha256_hex(SALES_TOKEN),
        sha256_hex(SUPPORT_TOKEN)
    )
}

fn start(upstream: &str, extra: &str) -> GatewayProcess {
    start_config(config(upstream, extra))
}

fn start_with_server(upstream: &str, server: &str) -> GatewayProcess {
    start_config(config_with_server(upstream, server, ""))
}

fn start_config(text: String) -> GatewayProcess {
    let cfg = TestConfig::new(&text);
    cfg.write("support.key", format!("{SUPPORT_KEY}\n"));
    GatewayProcess::start(cfg, &[("TEST_SALES_KEY", SALES_KEY)])
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn each_caller_gets_its_own_team_key_exactly_once() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "");
    let a = send(
        gw.addr,
        "GET",
        "/v2/api/users?role=ADMIN",
        &[("authorization", &bearer(SALES_TOKEN))],
        "",
    )
    .await;
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
    let gw = start(&up.url(), "");
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
    let gw = start(&up.url(), "");
    let support = bearer(SUPPORT_TOKEN);
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/dialing-queues/current",
        &[("authorization", &support)],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (403, Some("API_KEY_INSUFFICIENT_SCOPE"))
    );
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/nothing-here",
        &[("authorization", &support)],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (404, Some("ENDPOINT_NOT_FOUND"))
    );
    let r = send(gw.addr, "PUT", "/v2/api/users", &[("authorization", &support)], "").await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn unknown_paths_are_forwarded_when_configured() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "[routes]\nunknown = \"forward\"");
    let r = send(
        gw.addr,
        "GET",
        "/v3/api/future?x=1",
        &[("authorization", &bearer(SALES_TOKEN))],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(up.taken()[0].target, "/v3/api/future?x=1");
    // A caller restricted by scopes never reaches paths outside the table.
    let r = send(
        gw.addr,
        "GET",
        "/v3/api/future",
        &[("authorization", &bearer(SUPPORT_TOKEN))],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(up.count(), 1);
}

const RESET: &str = "/v2/api/dialing-queues/current";

#[tokio::test]
async fn valid_reset_bodies_are_forwarded_byte_identical() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "");
    let auth = bearer(SALES_TOKEN);
    let long_name = format!(r#"{{"name":"{}"}}"#, "é".repeat(255));
    let bodies: Vec<String> = vec![
        String::new(),
        "{}".into(),
        r#"{"name":"Monday cold calls"}"#.into(),
        long_name,
        r#"{"user_pid":"usr-abc","email":"ana@example.com"}"#.into(),
        r#"{"user_pid":"usr-abc","user_id":"usr-abc","name":null}"#.into(),
        "  {\n \"name\" : \"spaced\" }\n".into(),
    ];
    for body in &bodies {
        let mut headers = vec![("authorization", auth.as_str())];
        if !body.is_empty() {
            headers.push(("content-type", "application/json; charset=utf-8"));
        }
        let r = send(gw.addr, "POST", RESET, &headers, body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
    }
    let got = up.taken();
    assert_eq!(got.len(), bodies.len());
    // Allo's current pages know only `user_id`: the older spelling arrives renamed, and a second
    // spelling of one value is dropped; every other byte is as sent.
    let forwarded: Vec<String> = bodies
        .iter()
        .map(|b| {
            b.replace(r#""user_pid":"usr-abc","user_id""#, r#""user_id""#)
                .replace(r#""user_pid""#, r#""user_id""#)
        })
        .collect();
    assert_eq!(forwarded[4], r#"{"user_id":"usr-abc","email":"ana@example.com"}"#);
    assert_eq!(forwarded[5], r#"{"user_id":"usr-abc","name":null}"#);
    for (c, body) in got.iter().zip(&forwarded) {
        assert_eq!(c.body.as_ref(), body.as_bytes());
        assert_eq!(c.method, "POST");
        assert_eq!(c.target, RESET);
        assert_eq!(c.all("content-length"), vec![body.len().to_string()]);
    }
}

#[tokio::test]
async fn invalid_reset_bodies_are_refused_with_the_field_named() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "");
    let auth = bearer(SALES_TOKEN);
    let name_256 = format!(r#"{{"name":"{}"}}"#, "a".repeat(256));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (name_256.into_bytes(), "/name"),
        (br#"{"email":"not-an-email"}"#.to_vec(), "/email"),
        (br#"{"name":123}"#.to_vec(), "/name"),
        (br#"{"nmae":"typo"}"#.to_vec(), "/nmae"),
        (br#"{"name":"a","name":"b"}"#.to_vec(), "/name"),
        (br#"{"name":"a"} {"name":"b"}"#.to_vec(), ""),
        (b"{\"name\":\"\xff\xfe\"}".to_vec(), ""),
        (br#"{"name":"\udc00"}"#.to_vec(), "/name"),
        (br#"{"user_pid":"usr-a","user_id":"usr-b"}"#.to_vec(), "/user_pid"),
    ];
    for (body, field) in &cases {
        let r = send(
            gw.addr,
            "POST",
            RESET,
            &[("authorization", &auth), ("content-type", "application/json")],
            body.clone(),
        )
        .await;
        let shown = String::from_utf8_lossy(body);
        assert_eq!(r.status, 400, "{shown}: {}", r.text());
        assert_eq!(r.gateway_error().as_deref(), Some("INVALID_REQUEST_BODY"), "{shown}");
        let e = &r.json()["error"];
        assert_eq!(e["code"], "INVALID_REQUEST_BODY");
        assert_eq!(e["type"], "validation_error");
        assert!(
            r.error_fields().contains(&field.to_string()),
            "{shown}: {:?}",
            r.error_fields()
        );
    }
    // The 256-character name: the message names the field, the rule and the size, not the value.
    let r = send(
        gw.addr,
        "POST",
        RESET,
        &[("authorization", &auth), ("content-type", "application/json")],
        format!(r#"{{"name":"{}"}}"#, "a".repeat(300)),
    )
    .await;
    let e = &r.json()["error"];
    assert_eq!(e["param"], "name");
    assert_eq!(e["message"], "name: must be at most 255 characters (got 300)");
    assert_eq!(e["errors"][0]["code"], "maxLength");
    // Every violation is listed, not only the first.
    let r = send(
        gw.addr,
        "POST",
        RESET,
        &[("authorization", &auth), ("content-type", "application/json")],
        r#"{"name":1,"email":"x","zzz":true}"#,
    )
    .await;
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["/email", "/name", "/zzz"]);
    assert_eq!(up.count(), 0, "an invalid request reached the upstream");
}

#[tokio::test]
async fn content_type_and_size_bounds() {
    let up = Capture::start().await;
    let gw = start_with_server(&up.url(), "max_body_bytes = 1024");
    let auth = bearer(SALES_TOKEN);
    let r = send(
        gw.addr,
        "POST",
        RESET,
        &[("authorization", &auth), ("content-type", "text/plain")],
        "{}",
    )
    .await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (415, Some("UNSUPPORTED_MEDIA_TYPE"))
    );
    let r = send(gw.addr, "POST", RESET, &[("authorization", &auth)], "{}").await;
    assert_eq!(r.status, 415);
    let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(2000));
    let r = send(
        gw.addr,
        "POST",
        RESET,
        &[("authorization", &auth), ("content-type", "application/json")],
        big,
    )
    .await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn query_strings_are_validated() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "");
    let auth = bearer(SALES_TOKEN);
    let r = send(
        gw.addr,
        "DELETE",
        "/v2/api/dialing-queues/current/numbers?position=-1",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (400, Some("INVALID_QUERY_PARAMETER")),
        "{}",
        r.text()
    );
    assert_eq!(r.error_fields(), vec!["/position"]);
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/users?role=OWNER",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    let r = send(gw.addr, "GET", "/v2/api/users?page=2", &[("authorization", &auth)], "").await;
    assert_eq!(r.status, 400);
    assert_eq!(up.count(), 0);
    let r = send(
        gw.addr,
        "DELETE",
        "/v2/api/dialing-queues/current/numbers?position=3",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        up.taken()[0].target,
        "/v2/api/dialing-queues/current/numbers?position=3"
    );
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_is_504() {
    // A port that was just free: nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = start(&format!("http://{free}"), "");
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/users",
        &[("authorization", &bearer(SALES_TOKEN))],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (502, Some("UPSTREAM_UNAVAILABLE"))
    );
    assert_eq!(r.json()["error"]["type"], "server_error");

    let up = Capture::start().await;
    up.set(Canned {
        delay: std::time::Duration::from_secs(3),
        ..Canned::default()
    });
    let gw = start(&up.url(), "");
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/users",
        &[("authorization", &bearer(SALES_TOKEN))],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.gateway_error().as_deref()),
        (504, Some("UPSTREAM_TIMEOUT"))
    );
}

#[tokio::test]
async fn upstream_answers_pass_through_unmarked() {
    let up = Capture::start().await;
    up.set(Canned {
        status: 404,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ratelimit-limit".into(), "20".into()),
            ("x-ratelimit-remaining".into(), "19".into()),
            ("x-ratelimit-reset".into(), "1700000000".into()),
            ("connection".into(), "x-hop".into()),
            ("x-hop".into(), "1".into()),
            ("x-request-id".into(), "the-upstream-s-own".into()),
        ],
        body: r#"{"error":{"code":"USER_NOT_FOUND"}}"#.into(),
        ..Canned::default()
    });
    let gw = start(&up.url(), "");
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/users/usr-x",
        &[("authorization", &bearer(SALES_TOKEN)), ("x-request-id", "my-trace-1")],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), r#"{"error":{"code":"USER_NOT_FOUND"}}"#);
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("19"));
    assert_eq!(r.header("x-ratelimit-reset").as_deref(), Some("1700000000"));
    assert!(r.gateway_error().is_none());
    assert!(r.header("x-hop").is_none());
    // One request id back, the gateway's, whatever the upstream put in its answer.
    let ids: Vec<_> = r.headers.get_all("x-request-id").iter().collect();
    assert_eq!(ids, ["my-trace-1"]);
    assert_eq!(up.taken()[0].all("x-request-id"), vec!["my-trace-1"]);
}

#[tokio::test]
async fn access_log_has_one_event_per_request() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "");
    send(gw.addr, "POST", RESET, &[("authorization", &bearer(SALES_TOKEN))], "").await;
    send(
        gw.addr,
        "GET",
        "/v2/api/users",
        &[("authorization", "Bearer wrong")],
        "",
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while gw.access_logs().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let logs = gw.access_logs();
    assert_eq!(logs.len(), 2, "{}", gw.log());
    assert_eq!(logs[0]["caller"], "crm-sync");
    assert_eq!(logs[0]["team"], "sales");
    assert_eq!(logs[0]["route"], "dialingQueues.resetCurrent");
    assert_eq!(logs[0]["status"], 200);
    assert_eq!(logs[0]["upstream_status"], 200);
    assert!(logs[0]["request_id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(logs[1]["status"], 401);
    assert_eq!(logs[1]["error"], "GATEWAY_UNAUTHENTICATED");
}

#[tokio::test]
async fn the_listener_speaks_h2c_with_prior_knowledge() {
    use http_body_util::{BodyExt, Full};
    let up = Capture::start().await;
    up.set(Canned {
        headers: vec![
            ("x-ratelimit-remaining".into(), "7".into()),
            ("connection".into(), "x-hop".into()),
            ("x-hop".into(), "1".into()),
            ("x-request-id".into(), "the-upstream-s-own".into()),
        ],
        body: "{}".into(),
        ..Canned::default()
    });
    let gw = start(&up.url(), "");
    let stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut ids_back = Vec::new();
    for name in ["first", "second"] {
        let req = hyper::Request::builder()
            .method("POST")
            .uri(format!("http://gateway.local{RESET}"))
            .header("authorization", bearer(SALES_TOKEN))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(format!(r#"{{"name":"{name}"}}"#))))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        // The upstream's HTTP/1.1 answer head, as a map for HTTP/2: its end-to-end fields,
        // not the hop-by-hop ones, and the gateway's request id only.
        let headers = resp.headers();
        assert_eq!(headers["x-ratelimit-remaining"], "7");
        assert!(headers.get("x-hop").is_none());
        let ids: Vec<_> = headers.get_all("x-request-id").iter().collect();
        assert_eq!(ids.len(), 1, "{headers:?}");
        ids_back.push(ids[0].to_str().unwrap().to_owned());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{}");
    }
    let got = up.taken();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body.as_ref(), br#"{"name":"second"}"#);
    // The id the caller got back is the one that went upstream.
    assert_eq!(got[0].all("x-request-id"), vec![ids_back[0].clone()]);
    assert_eq!(got[1].all("x-request-id"), vec![ids_back[1].clone()]);
    // The :authority the caller used never reaches the upstream.
    assert_eq!(got[0].all("host"), vec![up.addr.to_string()]);
}

#[tokio::test]
async fn upstream_connections_are_reused() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "");
    for _ in 0..20 {
        let r = send(
            gw.addr,
            "GET",
            "/v2/api/users",
            &[("authorization", &bearer(SALES_TOKEN))],
            "",
        )
        .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(up.count(), 20);
    // Sequential requests from new caller connections share one pooled upstream connection
    // per worker (each worker keeps its own pool; the default is one worker per core).
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let opened = up.connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=workers).contains(&opened), "{opened} upstream connections");
}
