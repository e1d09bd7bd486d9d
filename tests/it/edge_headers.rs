//! Header edges against the real binary, on real sockets: the caller's credentials and internal
//! routing fields (`Cookie`, `X-Api-Key`, `Forwarded`, `X-Forwarded-*`, `X-Real-Ip`) never
//! reach the upstream unless `[upstream] forward_headers` names them, and `check` refuses the
//! gateway's own fields there; HEAD on a GET endpoint is forwarded as HEAD and answered without
//! a body; a 401 carries `WWW-Authenticate`; an HTTP/1.1 request without `Host` is refused and
//! its connection closed; a JSON body labelled with a charset other than UTF-8 gets 415.

use crate::support;

use std::time::Duration;

use support::process::run_to_end;
use support::raw::{find, Raw};
use support::{eventually, one_caller, send, Canned, Capture, Config, GatewayProcess};

const TOKEN: &str = "tok_edge_headers_0123456789abcdef";
const KEY: &str = "ak_live_EDGEHEADERSKEY";
const RESET: &str = "/v2/api/dialing-queues/current";

/// One unrestricted caller.
fn config(url: &str) -> Config {
    one_caller(url, "TEST_EDGE_HEADERS_KEY", TOKEN)
}

fn start(config: Config) -> GatewayProcess {
    config.start(&[("TEST_EDGE_HEADERS_KEY", KEY)])
}

/// `GET /v2/api/users` with the caller's token; `fields` end with CRLF each.
fn get_users(fields: &str) -> String {
    format!("GET /v2/api/users HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TOKEN}\r\n{fields}\r\n")
}

/// What internal callers and proxies add, in the spellings they use.
const INTERNAL: &str = "Cookie: session=internal-only\r\n\
    Api-Key: another-service-key\r\n\
    X-Api-Key: another-service-key\r\n\
    Forwarded: for=10.1.2.3;host=crm.internal;proto=http\r\n\
    X-Forwarded-For: 10.1.2.3\r\n\
    x-forwarded-host: crm.internal\r\n\
    X-FORWARDED-PROTO: http\r\n\
    X-Forwarded-Port: 8080\r\n\
    X-Forwarded-Prefix: /crm\r\n\
    X-Real-Ip: 10.1.2.3\r\n\
    X-Keep: yes\r\n";

const STRIPPED: [&str; 10] = [
    "cookie",
    "api-key",
    "x-api-key",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-real-ip",
];

// ---------------------------------------------------------------- forward_headers

#[tokio::test]
async fn credentials_and_internal_fields_never_reach_the_upstream_by_default() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()));
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(get_users(INTERNAL)).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 200, "{}", reply.head);

    let taken = up.taken();
    assert_eq!(taken.len(), 1);
    for name in STRIPPED {
        assert!(taken[0].all(name).is_empty(), "{name} reached the upstream");
    }
    assert_eq!(taken[0].all("x-keep"), vec!["yes"], "other fields still pass");
    assert_eq!(taken[0].all("authorization"), vec![format!("Api-Key {KEY}")]);
}

#[tokio::test]
async fn a_field_named_in_forward_headers_reaches_the_upstream_and_only_that_one() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).upstream("forward_headers", ["x-FORWARDED-for", "Cookie"]));
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(get_users(INTERNAL)).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 200, "{}", reply.head);

    let seen = up.taken().pop().expect("forwarded");
    assert_eq!(seen.all("x-forwarded-for"), vec!["10.1.2.3"]);
    assert_eq!(seen.all("cookie"), vec!["session=internal-only"]);
    for name in STRIPPED.iter().filter(|n| !["x-forwarded-for", "cookie"].contains(n)) {
        assert!(seen.all(name).is_empty(), "{name} reached the upstream");
    }
}

#[test]
fn check_refuses_the_gateways_own_fields_in_forward_headers() {
    for listed in [
        vec!["Authorization"],
        vec!["x-forwarded-for", "HOST"],
        vec!["X-Request-Id"],
    ] {
        let cfg = config("http://127.0.0.1:9")
            .upstream("forward_headers", listed.clone())
            .folder();
        let (code, out, err) = run_to_end(&["check", "--config", cfg.path().to_str().unwrap()], &[]);
        assert_eq!(code, 78, "{listed:?}: {out}{err}");
        assert!(
            format!("{out}{err}").contains("upstream.forward_headers"),
            "{listed:?}: {out}{err}"
        );
    }
    let cfg = config("http://127.0.0.1:9")
        .upstream("forward_headers", ["X-Forwarded-For", "x-real-ip"])
        .folder();
    let (code, out, err) = run_to_end(
        &["check", "--config", cfg.path().to_str().unwrap()],
        &[("TEST_EDGE_HEADERS_KEY", KEY)],
    );
    assert_eq!(code, 0, "{out}{err}");
}

// ---------------------------------------------------------------- HEAD

#[tokio::test]
async fn head_on_a_get_endpoint_is_forwarded_as_head_and_answered_without_a_body() {
    let up = Capture::start().await;
    up.set(Canned {
        body: r#"{"data":[{"id":"usr-1"}]}"#.into(),
        ..Canned::default()
    });
    let gw = start(config(&up.url()));
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!(
        "HEAD /v2/api/users?role=ADMIN HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    ))
    .await;
    // The head, read by hand: a HEAD answer announces a length it does not send.
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(end) = find(&raw.buf, b"\r\n\r\n") {
                break end;
            }
            assert!(raw.fill().await, "closed before the head: {:?}", raw.text());
        }
    })
    .await
    .expect("a head within 10s");
    let head = String::from_utf8_lossy(&raw.buf[..end]).into_owned();
    raw.buf.drain(..end + 4);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(!head.contains("x-allo-gateway-error"), "{head}");

    // No body follows: the next answer on the connection starts right where the head ended.
    raw.write(get_users("")).await;
    let next = raw.reply().await;
    assert_eq!(next.status, 200, "{}: {:?}", next.head, next.body);
    assert_eq!(next.body, br#"{"data":[{"id":"usr-1"}]}"#);

    let taken = up.taken();
    assert_eq!(taken.len(), 2);
    assert_eq!(
        (taken[0].method.as_str(), taken[0].target.as_str()),
        ("HEAD", "/v2/api/users?role=ADMIN")
    );
    assert_eq!(taken[1].method, "GET");
    // The HEAD was logged (and counted, and limited) as the GET route. The log is read from the
    // process's output on another thread: waited for.
    eventually(&gw, "the access log line", || async { !gw.access_logs().is_empty() }).await;
    let first = gw.access_logs().first().cloned().expect("an access log line");
    assert_eq!(
        (first["method"].as_str(), first["route"].as_str()),
        (Some("HEAD"), Some("users.list")),
        "{first}"
    );

    // The GET route's query checks apply to HEAD too.
    let r = gw.request("HEAD", "/v2/api/users?role=BOSS").bearer(TOKEN).send().await;
    assert_eq!(r.refusal(), (400, Some("INVALID_QUERY_PARAMETER".into())));
    assert!(r.body.is_empty());
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn a_405_lists_head_wherever_it_lists_get() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()));
    let r = gw.request("PUT", "/v2/api/users").bearer(TOKEN).send().await;
    assert_eq!(r.refusal(), (405, Some("METHOD_NOT_ALLOWED".into())));
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    assert_eq!(up.count(), 0);
}

// ---------------------------------------------------------------- 401

#[tokio::test]
async fn a_401_carries_www_authenticate_for_both_schemes() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()));
    for auth in [None, Some("Bearer tok_unknown"), Some("Basic dXNlcjpwYXNz")] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let r = send(gw.addr, "GET", "/v2/api/users", &headers, "").await;
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(r.gateway_error().as_deref(), Some("GATEWAY_UNAUTHENTICATED"));
        let challenges: Vec<_> = r
            .headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            challenges,
            vec![r#"Bearer realm="allo-gateway""#, r#"Api-Key realm="allo-gateway""#],
            "{auth:?}"
        );
    }
    // Other refusals carry none.
    let r = gw.request("PUT", "/v2/api/users").bearer(TOKEN).send().await;
    assert!(r.header("www-authenticate").is_none());
    assert_eq!(up.count(), 0);
}

// ---------------------------------------------------------------- Host

#[tokio::test]
async fn an_http11_request_without_host_is_refused_and_its_connection_closed() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()));
    for request in [
        format!("GET /v2/api/users HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"),
        format!("GET /v2/api/users HTTP/1.1\r\nHost: gw\r\nHost: other\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"),
        // Absolute-form names an authority, but HTTP/1.1 still requires the field.
        format!("GET http://gw/v2/api/users HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"),
    ] {
        let mut raw = Raw::connect(gw.addr).await;
        raw.write(&request).await;
        let reply = raw.reply().await;
        assert_eq!(reply.status, 400, "{request:?} -> {}", reply.head);
        assert_eq!(reply.gateway_error().as_deref(), Some("MALFORMED_REQUEST"));
        assert!(raw.closed_within(Duration::from_secs(5)).await, "{request:?}");
    }
    assert_eq!(up.count(), 0);

    // HTTP/1.0 predates Host: served without one.
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!(
        "GET /v2/api/users HTTP/1.0\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    ))
    .await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(up.count(), 1);
}

// ---------------------------------------------------------------- charset

#[tokio::test]
async fn a_json_body_labelled_with_another_charset_gets_415() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()));
    let auth = format!("Bearer {TOKEN}");
    for content_type in [
        "application/json; charset=utf-16",
        "application/json; charset=latin1",
        "application/json;charset=\"ISO-8859-1\"",
        "application/json; charset=UTF-16LE",
    ] {
        let headers = [("authorization", auth.as_str()), ("content-type", content_type)];
        let r = send(gw.addr, "POST", RESET, &headers, "{}").await;
        assert_eq!(r.status, 415, "{content_type}: {}", r.text());
        assert_eq!(r.gateway_error().as_deref(), Some("UNSUPPORTED_MEDIA_TYPE"));
    }
    assert_eq!(up.count(), 0);

    for content_type in ["application/json; charset=UTF-8", "application/json; charset=\"utf-8\""] {
        let headers = [("authorization", auth.as_str()), ("content-type", content_type)];
        let r = send(gw.addr, "POST", RESET, &headers, "{}").await;
        assert_eq!(r.status, 200, "{content_type}: {}", r.text());
    }
    assert_eq!(up.count(), 2);
}
