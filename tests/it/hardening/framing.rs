//! Ambiguous framing refused and the connection closed, and where requests go: only the
//! configured upstream URL decides, an h2c upgrade is never honoured, CONNECT opens nothing.

use super::*;

// ---------------------------------------------------------------- ambiguous framing

/// Sends `request` on a fresh connection; expects a 400 and the connection closed.
async fn refused_and_closed(gw: &GatewayProcess, request: &str) -> Reply {
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(request).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 400, "{request:?} -> {}", reply.head);
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "{request:?}: connection left open"
    );
    reply
}

fn post_forwarded(headers: &str, body: &str) -> String {
    format!(
        "POST /v2/api/anything HTTP/1.1\r\nHost: gw\r\n{}Content-Type: application/json\r\n{headers}\r\n{body}",
        auth()
    )
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_and_the_connection_closed() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).forward_unknown());
    let chunked_body = "2\r\n{}\r\n0\r\n\r\n";
    for headers in [
        "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 7\r\n",
        "transfer-encoding: chunked\r\nCONTENT-LENGTH: 7\r\n",
        "Content-Length: 7\r\nX-Between: 1\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let reply = refused_and_closed(&gw, &post_forwarded(headers, chunked_body)).await;
        assert_eq!(
            reply.gateway_error().as_deref(),
            Some("MALFORMED_REQUEST"),
            "{headers:?}"
        );
        assert_eq!(reply.header("connection").as_deref(), Some("close"));
    }
    assert_eq!(up.count(), 0);

    // Plain chunked and plain Content-Length bodies still go through, twice on one connection.
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(post_forwarded("Transfer-Encoding: chunked\r\n", chunked_body))
        .await;
    assert_eq!(raw.reply().await.status, 200);
    raw.write(post_forwarded("Content-Length: 2\r\n", "{}")).await;
    assert_eq!(raw.reply().await.status, 200);
    let taken = up.taken();
    assert_eq!(taken.len(), 2);
    for captured in &taken {
        assert_eq!(&captured.body[..], b"{}");
        assert_eq!(
            captured.all("content-length"),
            vec!["2"],
            "the gateway sets the framing"
        );
        assert!(captured.all("transfer-encoding").is_empty());
    }
}

#[tokio::test]
async fn an_ambiguous_request_after_a_good_one_on_the_same_connection_is_refused() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).forward_unknown());
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(post_forwarded("Content-Length: 2\r\n", "{}")).await;
    assert_eq!(raw.reply().await.status, 200);
    // The second head follows the first body directly, as a smuggled request would.
    raw.write(post_forwarded(
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "2\r\n{}\r\n0\r\n\r\n",
    ))
    .await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.gateway_error().as_deref(), Some("MALFORMED_REQUEST"));
    assert!(raw.closed_within(Duration::from_secs(5)).await);
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn transfer_encodings_other_than_one_chunked_are_refused() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).forward_unknown());
    let body = "2\r\n{}\r\n0\r\n\r\n";
    for headers in [
        // hyper's own refusals (its parser cannot frame these)...
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: identity\r\n",
        // ...and the gateway's, for what hyper would accept.
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ] {
        refused_and_closed(&gw, &post_forwarded(headers, body)).await;
    }
    // HTTP/1.0 has no chunked encoding at all.
    refused_and_closed(
        &gw,
        &format!(
            "POST /v2/api/anything HTTP/1.0\r\nHost: gw\r\n{}Transfer-Encoding: chunked\r\n\r\n{body}",
            auth()
        ),
    )
    .await;
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn conflicting_content_lengths_are_refused() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).forward_unknown());
    for headers in [
        "Content-Length: 2\r\nContent-Length: 3\r\n",
        "Content-Length: 2, 3\r\n",
        "Content-Length: 2, 2\r\n",
        "Content-Length: +2\r\n",
        "Content-Length: -2\r\n",
        "Content-Length: 0x2\r\n",
    ] {
        refused_and_closed(&gw, &post_forwarded(headers, "{}")).await;
    }
    assert_eq!(up.count(), 0);
}

// ---------------------------------------------------------------- where requests go

/// Sends `head` (a request line and fields, without the caller token) and returns what the
/// capture upstream saw.
async fn forwarded(gw: &GatewayProcess, up: &Capture, head: &str) -> support::capture::Captured {
    let before = up.count();
    let mut raw = Raw::connect(gw.addr).await;
    let (line, rest) = head.split_once("\r\n").unwrap();
    raw.write(format!("{line}\r\n{}{rest}\r\n", auth())).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 200, "{head:?} -> {}", reply.head);
    assert_eq!(up.count(), before + 1, "{head:?}");
    up.taken().pop().unwrap()
}

#[tokio::test]
async fn only_the_configured_upstream_url_decides_where_a_request_goes() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).forward_unknown());
    let authority = up.addr.to_string();
    let cases = [
        // (request head, the target the upstream must see)
        (
            "GET http://evil.example/v2/api/users HTTP/1.1\r\nHost: evil.example\r\n",
            "/v2/api/users",
        ),
        (
            "GET https://evil.example:8443/v2/api/anything?x=1 HTTP/1.1\r\nHost: gw\r\n",
            "/v2/api/anything?x=1",
        ),
        ("GET http://evil.example HTTP/1.1\r\nHost: gw\r\n", "/"),
        ("OPTIONS * HTTP/1.1\r\nHost: evil.example\r\n", "*"),
        ("GET //evil.example/x HTTP/1.1\r\nHost: gw\r\n", "//evil.example/x"),
        ("GET /v2/api/users HTTP/1.1\r\nHost: evil.example\r\n", "/v2/api/users"),
        (
            "GET /v2/api/users HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\n",
            "/v2/api/users",
        ),
        ("GET /v2/../../evil HTTP/1.1\r\nHost: gw\r\n", "/v2/../../evil"),
        (
            "GET /%2F%2Fevil.example/x HTTP/1.1\r\nHost: gw\r\n",
            "/%2F%2Fevil.example/x",
        ),
        ("GET /@evil.example/x HTTP/1.1\r\nHost: gw\r\n", "/@evil.example/x"),
    ];
    for (head, target) in cases {
        let seen = forwarded(&gw, &up, head).await;
        assert_eq!(seen.target, target, "{head:?}");
        assert_eq!(seen.all("host"), vec![authority.clone()], "{head:?}");
        assert_eq!(seen.all("authorization"), vec![format!("Api-Key {KEY}")]);
    }

    // A backslash (which some URL parsers read as a slash): refused, or forwarded as is to the
    // configured upstream.
    let before = up.count();
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!("GET /\\evil.example/x HTTP/1.1\r\nHost: gw\r\n{}\r\n", auth()))
        .await;
    match raw.reply().await.status {
        400 => assert_eq!(up.count(), before),
        200 => {
            let seen = up.taken().pop().unwrap();
            assert_eq!(seen.target, "/\\evil.example/x");
            assert_eq!(seen.all("host"), vec![authority]);
        }
        other => panic!("backslash path answered {other}"),
    }
}

#[tokio::test]
async fn an_h2c_upgrade_is_never_honoured_and_the_connection_stays_http11() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).forward_unknown());
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!(
        "GET /v2/api/users HTTP/1.1\r\nHost: gw\r\n{}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        auth()
    ))
    .await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert!(reply.head.starts_with("HTTP/1.1 200"), "{}", reply.head);
    assert!(reply.header("upgrade").is_none());
    let seen = up.taken().pop().unwrap();
    for gone in ["upgrade", "http2-settings", "connection"] {
        assert!(seen.all(gone).is_empty(), "{gone} reached the upstream");
    }
    assert_eq!(seen.all("host"), vec![up.addr.to_string()]);

    // Still HTTP/1.1 on the same connection; websocket-style upgrades alike.
    raw.write(format!(
        "GET /v2/api/users HTTP/1.1\r\nHost: gw\r\n{}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        auth()
    ))
    .await;
    let reply = raw.reply().await;
    assert!(reply.head.starts_with("HTTP/1.1 200"), "{}", reply.head);
    assert!(up.taken().pop().unwrap().all("upgrade").is_empty());
}

#[tokio::test]
async fn connect_gets_405_and_opens_no_tunnel() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).forward_unknown());
    for target in ["evil.example:443", &up.addr.to_string()] {
        let mut raw = Raw::connect(gw.addr).await;
        raw.write(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{}\r\n", auth()))
            .await;
        let reply = raw.reply().await;
        assert_eq!(reply.status, 405, "{}", reply.head);
        assert_eq!(reply.gateway_error().as_deref(), Some("METHOD_NOT_ALLOWED"));
        // No tunnel: bytes sent now are not relayed anywhere and the connection closes.
        let _ = raw.stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(raw.closed_within(Duration::from_secs(5)).await);
    }
    assert_eq!(up.count(), 0);
}
