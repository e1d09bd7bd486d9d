//! Edges seen by outside clients: over HTTP/2 a HEAD the gateway refuses ends with its
//! HEADERS (no DATA) and the HTTP/1.1 listener writes no body bytes for one either; a request
//! with `Expect: 100-continue` over HTTP/2 draws a `100` when its body is wanted and none when
//! it is refused from its head; a large answer waits for the client's window; an upstream
//! that fails (certificate refused, connection refused) is named in one warn line a minute and
//! counted by kind; the pretty log format writes no colour codes into a pipe.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use support::api::{self, call, TEAM_KEY};
use support::certs;
use support::client::h2_raw;
use support::observe::{events, metric, DEADLINE};
use support::{eventually, Capture, GatewayProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CALLER: &str = "svc";

fn gateway(upstream: &str) -> GatewayProcess {
    api::start(api::with_callers(upstream, &[CALLER]).folder())
}

#[tokio::test]
async fn a_refused_head_over_h2_ends_with_its_headers() {
    let up = Capture::start().await;
    let gw = gateway(&up.url());
    let auth = format!("Bearer {}", api::token(CALLER));
    let cases = [
        (None, "/v2/api/users", 401),
        (Some(auth.as_str()), "/v2/api/no-such-thing", 404),
        // HEAD stands for GET; a path with no GET has no HEAD either.
        (Some(auth.as_str()), "/v2/api/dialing-queues/current/numbers", 405),
    ];
    let mut sender = h2_raw(gw.addr).await;
    for (auth, path, status) in cases {
        let mut request = http::Request::head(format!("http://gateway.local{path}"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let (answer, _) = sender.send_request(request.body(()).unwrap(), true).unwrap();
        let answer = answer.await.unwrap();
        assert_eq!(answer.status(), status, "{path}");
        assert!(answer.headers().contains_key("x-allo-gateway-error"));
        let mut body = answer.into_body();
        assert!(
            body.is_end_stream(),
            "HEAD {path}: the HEADERS frame did not end the stream"
        );
        assert!(body.data().await.is_none(), "HEAD {path}: DATA followed");
        sender = sender.ready().await.unwrap();
    }
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_refused_head_over_http1_has_no_body_bytes() {
    let up = Capture::start().await;
    let gw = gateway(&up.url());
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"HEAD /v2/api/users HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut wire = Vec::new();
    tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut wire))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&wire);
    assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
    let end = text.find("\r\n\r\n").expect("a whole head") + 4;
    assert_eq!(&text[end..], "", "body bytes after a HEAD answer");
}

/// The next informational answer on `answer`, or `None` if the final one came first.
async fn informational(answer: &mut h2::client::ResponseFuture) -> Option<u16> {
    let next = std::future::poll_fn(|cx| answer.poll_informational(cx));
    let got = tokio::time::timeout(DEADLINE, next).await.expect("an answer in time");
    got.map(|r| r.unwrap().status().as_u16())
}

#[tokio::test]
async fn expect_100_continue_over_h2_draws_a_100_before_the_body_is_sent() {
    let up = Capture::start().await;
    let gw = gateway(&up.url());
    let mut sender = h2_raw(gw.addr).await;
    let request = http::Request::post("http://gateway.local/v2/api/dialing-queues/current")
        .header("authorization", format!("Bearer {}", api::token(CALLER)))
        .header("content-type", "application/json")
        .header("expect", "100-continue")
        .body(())
        .unwrap();
    // Only the head goes out; the body waits for the 100, as curl's does.
    let (mut answer, mut body) = sender.send_request(request, false).unwrap();
    assert_eq!(informational(&mut answer).await, Some(100));
    body.send_data(Bytes::from_static(br#"{"name":"quick"}"#), true)
        .unwrap();
    let answer = tokio::time::timeout(DEADLINE, answer).await.unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    let got = up.taken();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].body[..], br#"{"name":"quick"}"#);
    assert!(got[0].all("expect").is_empty());
}

#[tokio::test]
async fn expect_100_continue_over_h2_refused_from_the_head_draws_no_100() {
    let up = Capture::start().await;
    let gw = gateway(&up.url());
    let mut sender = h2_raw(gw.addr).await;
    let request = http::Request::post("http://gateway.local/v2/api/dialing-queues/current")
        .header("content-type", "application/json")
        .header("expect", "100-continue")
        .body(())
        .unwrap();
    let (mut answer, _body) = sender.send_request(request, false).unwrap();
    // The final 401 comes without the body ever being sent, and with no 100 before it.
    assert_eq!(informational(&mut answer).await, None);
    let answer = tokio::time::timeout(DEADLINE, answer).await.unwrap().unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_large_answer_over_h2_arrives_whole_within_the_flow_control_window() {
    // Bigger than the 64 KiB window a client starts with: the answer must wait for window
    // updates rather than overrun or stall.
    let big = "x".repeat(300 * 1024);
    let up = Capture::start().await;
    up.canned.lock().unwrap().body = format!("{{\"data\":\"{big}\"}}");
    let gw = gateway(&up.url());
    let mut sender = h2_raw(gw.addr).await;
    let request = http::Request::get("http://gateway.local/v2/api/users")
        .header("authorization", format!("Bearer {}", api::token(CALLER)))
        .body(())
        .unwrap();
    let (answer, _) = sender.send_request(request, true).unwrap();
    let answer = tokio::time::timeout(DEADLINE, answer).await.unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    let mut body = answer.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = tokio::time::timeout(DEADLINE, body.data()).await.unwrap() {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got.len(), big.len() + 11);
    assert!(got.ends_with(b"xx\"}"));
}

/// Waits until both 502s are in the access log: each request's warn line, if any, was
/// written before its access line, and lines are written in order.
async fn both_answers_logged(gw: &GatewayProcess) {
    eventually(gw, "two access lines", || async {
        gw.access_logs().iter().filter(|l| l["status"] == 502).count() == 2
    })
    .await;
}

/// The warn lines that name an upstream failure.
fn failure_lines(gw: &GatewayProcess) -> Vec<serde_json::Value> {
    events(gw)
        .into_iter()
        .filter(|e| e["level"] == "WARN" && e["kind"].is_string() && e["upstream"].is_string())
        .collect()
}

async fn failures(gw: &GatewayProcess, kind: &str) -> f64 {
    metric(
        &gw.metrics().await,
        "allo_gateway_upstream_failures_total",
        &[("kind", kind)],
    )
}

#[tokio::test]
async fn an_untrusted_upstream_certificate_is_named_once_and_counted_each_time() {
    let pki = certs::pki();
    let up = Capture::start_tls(certs::server_config(&pki)).await;
    let gw = gateway(&format!("https://127.0.0.1:{}", up.addr.port()));
    for _ in 0..2 {
        let r = call(&gw, CALLER, "GET", "/v2/api/users", "").await;
        assert_eq!(r.status, 502, "{}", r.text());
    }
    eventually(&gw, "two tls failures", || async { failures(&gw, "tls").await == 2.0 }).await;
    assert_eq!(failures(&gw, "connect").await, 0.0);
    both_answers_logged(&gw).await;
    let lines = failure_lines(&gw);
    assert_eq!(lines.len(), 1, "{}", gw.log());
    assert_eq!(lines[0]["kind"], "tls");
    let error = lines[0]["error"].as_str().unwrap();
    assert!(
        error.contains("certificate") && error.contains("UnknownIssuer"),
        "{error}"
    );
    assert!(!gw.log().contains(TEAM_KEY));
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_refused_connection_is_named_and_counted() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let gw = gateway(&format!("http://127.0.0.1:{port}"));
    for _ in 0..2 {
        let r = call(&gw, CALLER, "GET", "/v2/api/users", "").await;
        assert_eq!(r.status, 502, "{}", r.text());
    }
    eventually(&gw, "two connect failures", || async {
        failures(&gw, "connect").await == 2.0
    })
    .await;
    both_answers_logged(&gw).await;
    let lines = failure_lines(&gw);
    assert_eq!(lines.len(), 1, "{}", gw.log());
    assert_eq!(lines[0]["kind"], "connect");
    assert_eq!(lines[0]["upstream"], format!("http://127.0.0.1:{port}"));
    let error = lines[0]["error"].as_str().unwrap().to_lowercase();
    assert!(error.contains("refused"), "{error}");
}

#[test]
fn the_pretty_log_writes_no_colour_codes_into_a_pipe() {
    let cfg = api::with_callers("sandbox", &[CALLER]).log("format", "pretty").folder();
    let mut child = Command::new(support::process::BIN)
        .args(["run", "--config", cfg.path().to_str().unwrap()])
        .env("ALLO_GATEWAY_LOG", "info")
        .env(api::KEY_ENV, TEAM_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while !lines.iter().any(|l: &String| l.contains("listening")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.contains("listening")), "{lines:?}");
    for line in &lines {
        assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
    }
}
