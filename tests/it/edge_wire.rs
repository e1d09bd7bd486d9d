//! Edges of the wire against the real binary, on real sockets: header names with an
//! underscore (a smuggling twin of their dashed spelling behind CGI-style servers) never
//! reach the upstream, over HTTP/1.1 or h2c; a bare LF or CR in a chunk line is refused, by
//! the listener and by the upstream response decoder alike; and an answer sent before the
//! request's body was read (413, 401) reaches a client still sending that body, the rest of
//! which is drained for a bounded time before the connection closes.

use crate::support;

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use support::capture::Captured;
use support::client::h2c;
use support::raw::{assert_refused_as_malformed, Raw};
use support::scripted::{Scripted, Step};
use support::{one_caller, Capture, GatewayProcess};
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "tok_edge_wire_0123456789abcdef";
const KEY: &str = "ak_live_EDGEWIREKEY";

/// One unrestricted caller; paths outside Allo's table are forwarded.
fn start(upstream: &str) -> GatewayProcess {
    one_caller(upstream, "TEST_EDGE_WIRE_KEY", TOKEN)
        .forward_unknown()
        .start(&[("TEST_EDGE_WIRE_KEY", KEY)])
}

/// A POST to a forwarded path with the caller's token; `fields` end with CRLF each.
fn post(fields: &str, body: &str) -> String {
    format!(
        "POST /v2/api/anything HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n{fields}\r\n{body}"
    )
}

fn assert_no_underscored_name(captured: &Captured) {
    let names: Vec<_> = captured.headers.keys().map(|n| n.as_str()).collect();
    assert!(!names.iter().any(|n| n.contains('_')), "forwarded: {names:?}");
}

// ---------------------------------------------------------------- underscores in names

#[tokio::test]
async fn header_names_with_an_underscore_never_reach_the_upstream_over_http1() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let mut raw = Raw::connect(gw.addr).await;
    // Framed by its Content-Length: `Transfer_Encoding` is not Transfer-Encoding. Were it
    // taken for one, the chunked body would be read from `{}` and the next request.
    raw.write(post(
        "Content-Length: 2\r\nTransfer_Encoding: chunked\r\nX_Foo: 1\r\nX-Keep: yes\r\n",
        "{}",
    ))
    .await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    // ...and the other way round: chunked, with a `Content_Length` that is not a length.
    raw.write(post(
        "Transfer-Encoding: chunked\r\nContent_Length: 7\r\nx_request_id: req_smuggled0001\r\n",
        "2\r\n{}\r\n0\r\n\r\n",
    ))
    .await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_ne!(reply.header("x-request-id").as_deref(), Some("req_smuggled0001"));

    let taken = up.taken();
    assert_eq!(taken.len(), 2);
    for captured in &taken {
        assert_no_underscored_name(captured);
        assert_eq!(&captured.body[..], b"{}");
        assert_eq!(captured.all("content-length"), vec!["2"]);
        assert!(captured.all("transfer-encoding").is_empty());
    }
    assert_eq!(taken[0].all("x-keep"), vec!["yes"], "other fields still pass");
}

#[tokio::test]
async fn header_names_with_an_underscore_never_reach_the_upstream_over_h2c() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let mut sender = h2c(gw.addr).await;
    let request = hyper::Request::builder()
        .method("POST")
        .uri("http://gateway.local/v2/api/anything")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .header("transfer_encoding", "chunked")
        .header("content_length", "7")
        .header("x_foo", "1")
        .header("x-keep", "yes")
        .body(Full::new(bytes::Bytes::from_static(b"{}")))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], br#"{"data":{"ok":true}}"#);

    let taken = up.taken();
    assert_eq!(taken.len(), 1);
    assert_no_underscored_name(&taken[0]);
    assert_eq!(&taken[0].body[..], b"{}");
    assert_eq!(taken[0].all("content-length"), vec!["2"]);
    assert_eq!(taken[0].all("x-keep"), vec!["yes"]);
}

// ---------------------------------------------------------------- bare LF and CR in chunks

#[tokio::test]
async fn a_bare_lf_or_cr_in_a_chunk_line_is_refused_and_the_connection_closed() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    for body in [
        "2;ext\nfoo\r\n{}\r\n0\r\n\r\n",
        "2\n{}\r\n0\r\n\r\n",
        "2;ext\rfoo\r\n{}\r\n0\r\n\r\n",
        "2\r\n{}\r\n0;a\nb\r\n\r\n",
        "2\r\n{}\r\n0\r\nX-Trailer: 1\nX-Other: 2\r\n\r\n",
    ] {
        let wire = post("Transfer-Encoding: chunked\r\n", body);
        assert_refused_as_malformed(gw.addr, wire, &format!("{body:?}")).await;
    }
    assert_eq!(up.count(), 0, "nothing reaches the upstream");

    // Extensions and trailers with proper line ends are still read and dropped.
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(post(
        "Transfer-Encoding: chunked\r\n",
        "2;name=value\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n",
    ))
    .await;
    assert_eq!(raw.reply().await.status, 200);
    assert_eq!(&up.taken()[0].body[..], b"{}");
}

/// An upstream that answers every request with `answer` and closes.
async fn scripted_upstream(answer: String) -> Scripted {
    Scripted::every(vec![Step::Read, Step::Write(answer.into_bytes()), Step::Close]).await
}

/// `GET /v2/api/anything` on a fresh connection; every byte of the answer, up to the close.
async fn get_to_the_close(gw: &GatewayProcess) -> String {
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(format!(
        "GET /v2/api/anything HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    ))
    .await;
    assert!(raw.closed_within(Duration::from_secs(10)).await, "no close");
    raw.text()
}

#[tokio::test]
async fn an_upstream_answer_with_a_bare_lf_in_a_chunk_line_is_never_passed_on_as_complete() {
    const HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    // The same answer with proper line ends arrives whole, so the check below can fail.
    let good = scripted_upstream(format!("{HEAD}2;ext=1\r\n{{}}\r\n0\r\n\r\n")).await;
    let gw = start(&good.url());
    let wire = get_to_the_close(&gw).await;
    assert!(wire.starts_with("HTTP/1.1 200"), "{wire:?}");
    assert!(wire.contains("{}"), "{wire:?}");

    for broken in [
        "2;ext\nfoo\r\n{}\r\n0\r\n\r\n",
        "2\r\n{}\r\n0\r\nX-T: 1\nX-U: 2\r\n\r\n",
    ] {
        let up = scripted_upstream(format!("{HEAD}{broken}")).await;
        let gw = start(&up.url());
        let wire = get_to_the_close(&gw).await;
        // Refused before a byte went out (502), or cut off mid-answer: never a complete body.
        if wire.starts_with("HTTP/1.1 502") {
            assert!(wire.contains("UPSTREAM_UNAVAILABLE"), "{wire:?}");
        } else {
            assert!(
                !wire.contains("{}") || !wire.ends_with("0\r\n\r\n"),
                "{broken:?} -> {wire:?}"
            );
        }
    }
}

// ---------------------------------------------------------------- answers before the body

/// Sends `head`, then body pieces for a while without reading: every write must succeed,
/// since the gateway drains what it refused rather than resetting the connection. Then the
/// answer is read whole, the gateway's side is seen closed, and a caller that goes on
/// sending is cut off within the drain's bound.
async fn answered_while_still_sending(gw: &GatewayProcess, head: &str, status: u16, code: &str) {
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(head).await;
    let piece = vec![b'x'; 16 * 1024];
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if let Err(e) = raw.stream.write_all(&piece).await {
            panic!("write {i} of the body failed before the answer was read: {e}");
        }
    }
    let reply = raw.reply().await;
    assert_eq!(reply.status, status, "{}", reply.head);
    assert_eq!(reply.gateway_error().as_deref(), Some(code));
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    let envelope: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(envelope["error"]["code"], code);
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "the gateway's side stays open"
    );

    // Writing on regardless: the drain stops after its bound (1 s) and the connection resets.
    let started = Instant::now();
    let cut_off = tokio::time::timeout(Duration::from_secs(10), async {
        while raw.stream.write_all(&piece).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(cut_off.is_ok(), "a caller that never stops sending was never cut off");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_413_reaches_a_caller_still_sending_its_body_and_the_drain_is_bounded() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let head = format!(
        "POST /v2/api/anything HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
    );
    answered_while_still_sending(&gw, &head, 413, "PAYLOAD_TOO_LARGE").await;
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_401_before_the_body_is_read_reaches_a_caller_still_sending_it() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    let head = "POST /v2/api/anything HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer not-a-caller\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n";
    answered_while_still_sending(&gw, head, 401, "GATEWAY_UNAUTHENTICATED").await;
    assert_eq!(up.count(), 0);
}
