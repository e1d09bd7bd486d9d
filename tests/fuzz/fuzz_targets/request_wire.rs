//! The listener's HTTP/1.1 connection loop (`server/h1.rs`, the function the server runs for
//! each connection) on arbitrary bytes, over an in-memory socket, on a current-thread runtime
//! with paused time (so a timer cannot hang the target: waiting only moves the clock).
//!
//! Input: the first byte's low 3 bits + 1 say how many piece sizes follow (each byte's low 4
//! bits + 1, so 1 to 16 bytes a read); the rest is what the caller sends before it closes.
//!
//! Properties:
//! - nothing panics, and the connection ends within its timers (`header_read_timeout`,
//!   `idle_timeout`, the linger after a refusal);
//! - the requests the handler sees (method, target, headers, body) are the same whether the
//!   bytes arrive at once or in those pieces;
//! - against hyper's HTTP/1.1 server on the same bytes, the gateway accepts the same requests,
//!   or stops earlier (refusing what hyper accepts is fine; accepting what hyper refuses, or
//!   seeing another target or body, is not). Headers are compared as name/value multisets,
//!   except `Content-Length` repeated with the same value, which hyper keeps once (the gateway
//!   keeps each field as sent; both read the same length).
//!
//! Out of this target's reach (libFuzzer's inputs stay under 4 KiB), and held alike by reading
//! hyper's decoder: chunk extensions adding up past 16 KiB over one body are refused by both
//! (`tests/it/edge_fuzz_found.rs`).
#![no_main]

use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

use allo_gateway::server::h1_fuzz_logic::{serve_pieces, PieceSocket, Seen};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

/// Longer than any connection may last: the head timer, the idle timer and the linger.
const BOUND: Duration = Duration::from_secs(60);

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let [control, rest @ ..] = data else {
        return;
    };
    let count = usize::from(control & 0x07) + 1;
    if rest.len() < count {
        return;
    }
    let (sizes, wire) = rest.split_at(count);
    let sizes: Vec<usize> = sizes.iter().map(|b| usize::from(b & 0x0f) + 1).collect();
    runtime().block_on(async {
        let whole = tokio::time::timeout(BOUND, serve_pieces(wire, &[]))
            .await
            .expect("the connection outlived its timers");
        let split = tokio::time::timeout(BOUND, serve_pieces(wire, &sizes))
            .await
            .expect("the connection outlived its timers (bytes in pieces)");
        assert_eq!(
            whole, split,
            "the requests depend on how the bytes were split ({sizes:?})"
        );
        let theirs = tokio::time::timeout(BOUND, hyper_serves(wire))
            .await
            .expect("hyper's connection outlived its timers");
        compare(&whole, &theirs);
    });
});

/// The requests hyper's HTTP/1.1 server hands its service for the same bytes, answered as the
/// gateway's handler answers them.
async fn hyper_serves(wire: &[u8]) -> Vec<Seen> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let recorded = seen.clone();
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let seen = recorded.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.ok().map(|b| b.to_bytes().to_vec());
            seen.borrow_mut().push(Seen::new(&parts, body));
            let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
            if parts.method == http::Method::CONNECT {
                *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
            }
            Ok::<_, Infallible>(response)
        }
    });
    let io = TokioIo::new(PieceSocket::new(wire, &[]));
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(5))
        // The input ends with the caller's side closed: requests already sent are still
        // answered, as the gateway does.
        .half_close(true)
        .serve_connection(io, service)
        .await;
    Rc::try_unwrap(seen).map(RefCell::into_inner).unwrap_or_default()
}

/// The requests each accepted whole, in order, and the gateway's a prefix of hyper's.
fn compare(gateway: &[Seen], hyper: &[Seen]) {
    let ours: Vec<&Seen> = gateway.iter().take_while(|s| s.body.is_some()).collect();
    let theirs: Vec<&Seen> = hyper.iter().take_while(|s| s.body.is_some()).collect();
    assert!(
        ours.len() <= theirs.len(),
        "the gateway accepted a request hyper refused:\n gateway: {}\n hyper: {}",
        show(&ours),
        show(&theirs)
    );
    for (ours, theirs) in ours.iter().zip(&theirs) {
        assert_eq!(ours.method, theirs.method);
        assert_eq!(ours.target, theirs.target);
        assert_eq!(ours.body, theirs.body, "another body than hyper's for {}", ours.target);
        assert_eq!(
            multiset(&ours.headers),
            multiset(&theirs.headers),
            "other headers than hyper's for {}",
            ours.target
        );
    }
}

fn multiset(headers: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut set = headers.to_vec();
    set.sort();
    // hyper keeps one of several equal Content-Length fields.
    set.dedup_by(|a, b| a.0 == "content-length" && a == b);
    set
}

/// Requests as text, for a failure's message.
fn show(seen: &[&Seen]) -> String {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let one = |s: &&Seen| {
        let headers: Vec<String> = s.headers.iter().map(|(n, v)| format!("{n}: {}", text(v))).collect();
        format!(
            "{} {} {headers:?} {:?}",
            s.method,
            s.target,
            s.body.as_deref().map(text)
        )
    };
    seen.iter().map(one).collect::<Vec<_>>().join("\n   ")
}
