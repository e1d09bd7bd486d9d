//! Hostile and careless clients against the real binary, on raw sockets: header block size,
//! field count and read time, body read time, keep-alive idle time, the connection bound,
//! accept errors, ambiguous framing, targets that try to name another host, and graceful
//! shutdown on SIGTERM/SIGINT.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::raw::{Raw, Reply};
use support::{send, Canned, Capture, GatewayProcess, TestConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "tok_hardening_0123456789abcdef";
const KEY: &str = "ak_live_HARDENINGKEY";

/// A config with one unrestricted caller; `server` lines go under `[server]`, `extra` after
/// `[upstream]`.
fn config(upstream: &str, server: &str, extra: &str) -> String {
    let server = format!("admin_listen = \"127.0.0.1:0\"\n{server}");
    support::config::one_caller(upstream, &server, extra, "TEST_HARDENING_KEY", TOKEN)
}

fn start(upstream: &str, server: &str, extra: &str) -> GatewayProcess {
    GatewayProcess::start(
        TestConfig::new(&config(upstream, server, extra)),
        &[("TEST_HARDENING_KEY", KEY)],
    )
}

const FORWARD: &str = "[routes]\nunknown = \"forward\"";

fn auth() -> String {
    format!("Authorization: Bearer {TOKEN}\r\n")
}

/// `GET /v2/api/users` with the caller's token, keep-alive.
fn get_users() -> String {
    format!("GET /v2/api/users HTTP/1.1\r\nHost: gw\r\n{}\r\n", auth())
}

/// Polls `check` every 10 ms until it holds, for at most 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- header block bounds

#[tokio::test]
async fn a_header_block_over_max_header_bytes_gets_431() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "max_header_bytes = 8192", "");
    let under = "a".repeat(6000);
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!(
        "GET /v2/api/users HTTP/1.1\r\nHost: gw\r\nX-Pad: {under}\r\n{}\r\n",
        auth()
    ))
    .await;
    assert_eq!(raw.reply().await.status, 200);

    // Exactly 8192 bytes and the head still not over: every byte sent is read before the
    // refusal, so the close is clean and the answer cannot be lost to a reset.
    let start = "GET /v2/api/users HTTP/1.1\r\nHost: gw\r\nX-Pad: ";
    let over = format!("{start}{}", "a".repeat(8192 - start.len()));
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(over).await;
    assert_eq!(raw.reply().await.status, 431);
    assert!(raw.closed_within(Duration::from_secs(5)).await);
    assert_eq!(up.count(), 1, "only the first request reached the upstream");
}

#[tokio::test]
async fn more_header_fields_than_max_headers_get_431() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "max_headers = 10", "");
    let fields = |n: usize| (0..n).map(|i| format!("X-F{i}: v\r\n")).collect::<String>();
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!(
        "GET /v2/api/users HTTP/1.1\r\nHost: gw\r\n{}{}\r\n",
        fields(5),
        auth()
    ))
    .await;
    assert_eq!(raw.reply().await.status, 200);

    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!(
        "GET /v2/api/users HTTP/1.1\r\nHost: gw\r\n{}{}\r\n",
        fields(30),
        auth()
    ))
    .await;
    assert_eq!(raw.reply().await.status, 431);
    assert_eq!(up.count(), 1);
}

// ---------------------------------------------------------------- time bounds

#[tokio::test]
async fn a_head_dripped_slower_than_header_read_timeout_is_cut_off() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "header_read_timeout = \"300ms\"", "");
    let mut raw = Raw::connect(gw.addr).await;
    let started = Instant::now();
    // One byte every 50 ms: each read is quick, the head as a whole is not.
    let head = get_users();
    let mut closed = false;
    for byte in head.as_bytes() {
        if raw.stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        if raw.closed_within(Duration::from_millis(50)).await {
            closed = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(closed, "the whole head was accepted after {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(250), "closed too early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "closed too late: {elapsed:?}");
    assert!(!raw.text().contains("HTTP/1.1 200"));
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_header_read_timeout() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "header_read_timeout = \"300ms\"\nidle_timeout = \"60s\"", "");
    let mut raw = Raw::connect(gw.addr).await;
    let started = Instant::now();
    assert!(raw.closed_within(Duration::from_secs(5)).await);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "header_read_timeout = \"10s\"\nidle_timeout = \"400ms\"", "");
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(get_users()).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 200);
    assert_ne!(reply.header("connection").as_deref(), Some("close"));
    let idle_from = Instant::now();
    assert!(raw.closed_within(Duration::from_secs(5)).await, "not closed when idle");
    let idle = idle_from.elapsed();
    assert!(idle >= Duration::from_millis(300), "closed after {idle:?}");
    assert!(raw.buf.is_empty(), "closed with bytes: {:?}", raw.text());
}

#[tokio::test]
async fn a_caller_that_does_not_read_its_answer_is_closed_after_idle_timeout() {
    // An answer far larger than the socket buffers, to a caller that never reads: the gateway's
    // write cannot finish, and after idle_timeout it gives up rather than hold the connection.
    let up = Capture::start().await;
    let body = format!("\"{}\"", "x".repeat(32 * 1024 * 1024));
    up.set(Canned {
        body: body.clone(),
        ..Canned::default()
    });
    let gw = start(&up.url(), "idle_timeout = \"400ms\"", "");
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(get_users()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Now read everything: the connection ends before the whole answer has come.
    let mut received = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match raw.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
    assert!(
        received > 0 && received < body.len(),
        "received {received} of {}",
        body.len()
    );
}

#[tokio::test]
async fn keep_alive_outlives_header_read_timeout_when_idle_timeout_is_longer() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "header_read_timeout = \"300ms\"\nidle_timeout = \"10s\"", "");
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(get_users()).await;
    assert_eq!(raw.reply().await.status, 200);
    // Idle for more than header_read_timeout, less than idle_timeout: still open.
    assert!(!raw.closed_within(Duration::from_millis(900)).await);
    raw.write(get_users()).await;
    assert_eq!(raw.reply().await.status, 200);
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn a_slow_upstream_is_not_idleness() {
    let up = Capture::start().await;
    up.set(Canned {
        delay: Duration::from_millis(900),
        ..Canned::default()
    });
    let gw = start(
        &up.url(),
        "header_read_timeout = \"300ms\"\nidle_timeout = \"300ms\"",
        "",
    );
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(get_users()).await;
    assert_eq!(raw.reply().await.status, 200);
}

#[tokio::test]
async fn a_body_slower_than_body_read_timeout_gets_408() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "body_read_timeout = \"300ms\"", "");
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!(
        "POST /v2/api/dialing-queues/current HTTP/1.1\r\nHost: gw\r\n{}Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{{\"na",
        auth()
    ))
    .await;
    let started = Instant::now();
    let reply = raw.reply().await;
    assert_eq!(reply.status, 408);
    assert_eq!(reply.gateway_error().as_deref(), Some("REQUEST_TIMEOUT"));
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(up.count(), 0);
}

// ---------------------------------------------------------------- Expect: 100-continue

#[tokio::test]
async fn expect_continue_over_the_body_limit_gets_413_and_no_100_continue() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "max_body_bytes = 1024", "");
    let head = |len: usize| {
        format!(
            "POST /v2/api/dialing-queues/current HTTP/1.1\r\nHost: gw\r\n{}Content-Type: application/json\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n",
            auth()
        )
    };

    // Under the limit, the same request is told to go on, so the check below can fail.
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(head(2)).await;
    assert_eq!(raw.reply().await.status, 100);
    raw.write("{}").await;
    assert_eq!(raw.reply().await.status, 200);

    let mut raw = Raw::connect(gw.addr).await;
    raw.write(head(5000)).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 413, "{}", reply.head);
    assert_eq!(reply.gateway_error().as_deref(), Some("PAYLOAD_TOO_LARGE"));
    assert_eq!(up.count(), 1);
}

// ---------------------------------------------------------------- connection bound, fds

fn open_fds(gw: &GatewayProcess) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", gw.child.id()))
        .unwrap()
        .count()
}

#[tokio::test]
async fn connections_past_max_connections_wait_and_spend_no_descriptor() {
    let up = Capture::start().await;
    let gw = start(&up.url(), "max_connections = 2", "");
    let mut a = Raw::connect(gw.addr).await;
    a.write(get_users()).await;
    assert_eq!(a.reply().await.status, 200);
    let mut b = Raw::connect(gw.addr).await;
    b.write(get_users()).await;
    assert_eq!(b.reply().await.status, 200);
    let fds = open_fds(&gw);

    // A third connection is queued by the kernel, not served...
    let mut c = Raw::connect(gw.addr).await;
    c.write(get_users()).await;
    // ...and so are many more, without costing the gateway a descriptor each.
    let mut waiting = Vec::new();
    for _ in 0..50 {
        waiting.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), c.fill())
            .await
            .is_err(),
        "a connection past the bound was served: {:?}",
        c.text()
    );
    let grown = open_fds(&gw).saturating_sub(fds);
    assert!(
        grown <= 2,
        "the gateway opened {grown} descriptors for queued connections"
    );

    // One slot frees up: the queued connection is served.
    drop(a);
    assert_eq!(c.reply().await.status, 200);
    drop(waiting);
}

#[tokio::test]
async fn running_out_of_descriptors_is_logged_and_survived() {
    let up = Capture::start().await;
    let mut gw = start(&up.url(), "", "");
    let baseline = open_fds(&gw);
    let limit = baseline + 8;
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &gw.child.id().to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("skipping: prlimit unavailable ({other:?})");
            return;
        }
    }
    // More connections than descriptors: the accepts past the limit fail with EMFILE.
    let mut held = Vec::new();
    for _ in 0..30 {
        let mut raw = Raw::connect(gw.addr).await;
        raw.write(get_users()).await;
        held.push(raw);
    }
    eventually("an accept failure is logged", || gw.log().contains("accept failed")).await;
    assert!(gw.child.try_wait().unwrap().is_none(), "the gateway died on EMFILE");
    drop(held);
    // Descriptors free again: the gateway serves as before (once the queue of connections
    // closed meanwhile is worked off, which takes descriptors for a moment).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            send(
                gw.addr,
                "GET",
                "/v2/api/users",
                &[("authorization", &format!("Bearer {TOKEN}"))],
                "",
            ),
        )
        .await
        .expect("the gateway stopped answering after EMFILE");
        if answer.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still failing after EMFILE: {}",
            answer.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually("accepting again is logged", || gw.log().contains("accepting again")).await;
}

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
    let gw = start(&up.url(), "", FORWARD);
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
    let gw = start(&up.url(), "", FORWARD);
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
    let gw = start(&up.url(), "", FORWARD);
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
    let gw = start(&up.url(), "", FORWARD);
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
    let gw = start(&up.url(), "", FORWARD);
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
    let gw = start(&up.url(), "", FORWARD);
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
    let gw = start(&up.url(), "", FORWARD);
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

// ---------------------------------------------------------------- graceful shutdown

async fn readyz(admin: SocketAddr) -> u16 {
    send(admin, "GET", "/readyz", &[], "").await.status
}

fn wait_exit(gw: &mut GatewayProcess, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_closes_idle_ones_and_exits_0() {
    let up = Capture::start().await;
    let mut gw = start(&up.url(), "shutdown_grace = \"10s\"", "");
    let admin = gw.admin.unwrap();
    assert_eq!(readyz(admin).await, 200);

    // An idle keep-alive connection, served once...
    let mut idle = Raw::connect(gw.addr).await;
    idle.write(get_users()).await;
    assert_eq!(idle.reply().await.status, 200);
    // ...and one request in flight at a now slow upstream.
    up.set(Canned {
        delay: Duration::from_secs(2),
        ..Canned::default()
    });
    let addr = gw.addr;
    let in_flight = tokio::spawn(async move {
        let mut raw = Raw::connect(addr).await;
        raw.write(get_users()).await;
        let reply = raw.reply().await;
        let closed = raw.closed_within(Duration::from_secs(5)).await;
        (reply, closed)
    });
    eventually("the slow request reached the upstream", || up.count() == 2).await;

    gw.signal("TERM");
    let mut refused = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections still accepted after SIGTERM");
    assert_eq!(readyz(admin).await, 503, "/readyz during the drain");
    assert!(
        idle.closed_within(Duration::from_secs(1)).await,
        "idle keep-alive connection kept"
    );

    let (reply, closed) = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "the in-flight request was cut");
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    assert!(closed);
    let status = wait_exit(&mut gw, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.log());
}

#[tokio::test]
async fn shutdown_grace_bounds_the_drain() {
    let up = Capture::start().await;
    up.set(Canned {
        delay: Duration::from_secs(30),
        ..Canned::default()
    });
    let mut gw = start(&up.url(), "shutdown_grace = \"300ms\"", "");
    let addr = gw.addr;
    let in_flight = tokio::spawn(async move {
        let mut raw = Raw::connect(addr).await;
        raw.write(get_users()).await;
        raw.closed_within(Duration::from_secs(20)).await
    });
    eventually("the request reached the upstream", || up.count() == 1).await;
    let signalled = Instant::now();
    gw.signal("INT");
    let status = wait_exit(&mut gw, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
    assert!(in_flight.await.unwrap(), "the connection outlived the process");
    assert!(gw.log().contains("grace period over"), "{}", gw.log());
}

// ---------------------------------------------------------------- in flight per team

#[tokio::test]
async fn a_team_past_max_in_flight_per_team_gets_429_until_a_slot_frees() {
    let up = Capture::start().await;
    up.set(Canned {
        delay: Duration::from_millis(800),
        ..Canned::default()
    });
    let gw = start(&up.url(), "max_in_flight_per_team = 2", "");
    let addr = gw.addr;
    let slow: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                let mut raw = Raw::connect(addr).await;
                raw.write(get_users()).await;
                raw.reply().await.status
            })
        })
        .collect();
    eventually("two requests in flight", || up.count() == 2).await;
    let mut raw = Raw::connect(addr).await;
    raw.write(get_users()).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.gateway_error().as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
    for status in slow {
        assert_eq!(status.await.unwrap(), 200);
    }
    // The slots are given back with the responses.
    raw.write(get_users()).await;
    assert_eq!(raw.reply().await.status, 200);
    assert_eq!(up.count(), 3);
}
