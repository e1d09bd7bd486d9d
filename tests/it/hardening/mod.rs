//! Hostile and careless clients against the real binary, on raw sockets: header block size,
//! field count and read time, body read time, keep-alive idle time, the connection bound,
//! accept errors, ambiguous framing, targets that try to name another host, and graceful
//! shutdown on SIGTERM/SIGINT. Here: header block bounds and time bounds; the rest in
//! `connections`, `framing` and `shutdown`.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::raw::{Raw, Reply};
use support::{eventually, one_caller, send, Canned, Capture, Config, GatewayProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod connections;
mod framing;
mod shutdown;

const TOKEN: &str = "tok_hardening_0123456789abcdef";
const KEY: &str = "ak_live_HARDENINGKEY";

/// The config with one unrestricted caller and the admin listener.
fn config(upstream: &str) -> Config {
    one_caller(upstream, "TEST_HARDENING_KEY", TOKEN).admin()
}

fn start(config: Config) -> GatewayProcess {
    config.start(&[("TEST_HARDENING_KEY", KEY)])
}

fn auth() -> String {
    format!("Authorization: Bearer {TOKEN}\r\n")
}

/// `GET /v2/api/users` with the caller's token, keep-alive.
fn get_users() -> String {
    format!("GET /v2/api/users HTTP/1.1\r\nHost: gw\r\n{}\r\n", auth())
}

// ---------------------------------------------------------------- header block bounds

#[tokio::test]
async fn a_header_block_over_max_header_bytes_gets_431() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).server("max_header_bytes", 8192));
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
    let gw = start(config(&up.url()).server("max_headers", 10));
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
    let gw = start(config(&up.url()).server("header_read_timeout", "300ms"));
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
    let gw = start(
        config(&up.url())
            .server("header_read_timeout", "300ms")
            .server("idle_timeout", "60s"),
    );
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
    let gw = start(
        config(&up.url())
            .server("header_read_timeout", "10s")
            .server("idle_timeout", "400ms"),
    );
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
    let gw = start(config(&up.url()).server("idle_timeout", "400ms"));
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
    let gw = start(
        config(&up.url())
            .server("header_read_timeout", "300ms")
            .server("idle_timeout", "10s"),
    );
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
        config(&up.url())
            .server("header_read_timeout", "300ms")
            .server("idle_timeout", "300ms"),
    );
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(get_users()).await;
    assert_eq!(raw.reply().await.status, 200);
}

#[tokio::test]
async fn a_body_slower_than_body_read_timeout_gets_408() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).server("body_read_timeout", "300ms"));
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
