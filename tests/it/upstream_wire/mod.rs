//! The gateway's own HTTP/1.1 upstream client on real sockets, against a scripted upstream
//! (`support::scripted`) that writes exactly the bytes each test chooses, when it chooses. A
//! capture upstream built on hyper would always answer correctly; these tests need the
//! upstream to misbehave (split writes, early closes, broken heads, silence) to show what the
//! caller sees and whether pooled connections are reused, retried or dropped as they should.
//! Here: reuse and retries on the pool; broken answers and timeouts in `answers`.

use crate::support;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::client::Answer;
use support::scripted::{in_pieces, ok, Scripted, Seen, Step};
use support::{send, Caller, Config, GatewayProcess, Team};

mod answers;

const TOKEN: &str = "tok_wire_caller_0123456789abcdef";
const KEY: &str = "ak_live_WIREKEY";
const RESET: &str = "/v2/api/dialing-queues/current";

/// The gateway in front of `up`, with these `[upstream]` timeouts.
fn start(up: &Scripted, request_timeout: &str, pool_idle_timeout: &str) -> GatewayProcess {
    // HEAD has no route in the Allo table: unknown paths are forwarded so it can be sent.
    Config::new(&up.url())
        .request_timeout(request_timeout)
        .upstream("pool_idle_timeout", pool_idle_timeout)
        .forward_unknown()
        .team(Team::new("sales").key_env("TEST_WIRE_KEY").write(1000))
        .caller(Caller::new("crm-sync", "sales").token(TOKEN))
        // One worker, so that consecutive requests share one upstream pool (each worker has its own).
        .start(&[("TEST_WIRE_KEY", KEY), ("ALLO_GATEWAY_WORKERS", "1")])
}

fn start_default(up: &Scripted) -> GatewayProcess {
    start(up, "5s", "90s")
}

/// A connection that reads one request and answers it with `body`.
fn answer(body: &str) -> Vec<Step> {
    vec![Step::Read, Step::Write(ok(body))]
}

/// A connection that answers one request well: what follows a broken one.
fn answers_fine() -> Vec<Step> {
    answer(r#"{"data":"fine"}"#)
}

/// The gateway still serves after what went before (on a connection `answers_fine` scripts).
async fn assert_still_serving(gw: &GatewayProcess) {
    let a = get(gw, "/v2/api/users").await;
    assert_eq!((a.status, a.text()), (200, r#"{"data":"fine"}"#.to_string()));
}

/// Fails the test instead of letting it hang.
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within 15 s"))
}

async fn call(gw: &GatewayProcess, method: &str, target: &str) -> Answer {
    let auth = format!("Bearer {TOKEN}");
    within(target, send(gw.addr, method, target, &[("authorization", &auth)], "")).await
}

async fn get(gw: &GatewayProcess, target: &str) -> Answer {
    call(gw, "GET", target).await
}

/// A caller's answer whose body may have failed part way (`send` would panic on that).
struct Streamed {
    status: u16,
    body: Result<Bytes, hyper::Error>,
}

async fn get_streamed(gw: &GatewayProcess, target: &str) -> Streamed {
    within(target, async {
        let stream = TcpStream::connect(gw.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = hyper::Request::get(target)
            .header("host", "gateway.local")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        Streamed { status, body }
    })
    .await
}

fn assert_unavailable(a: &Answer, what: &str) {
    assert_eq!(a.status, 502, "{what}: {}", a.text());
    assert_eq!(a.gateway_error().as_deref(), Some("UPSTREAM_UNAVAILABLE"), "{what}");
    assert_eq!(
        a.json()["error"]["code"],
        "UPSTREAM_UNAVAILABLE",
        "{what}: {}",
        a.text()
    );
    assert_eq!(a.json()["error"]["type"], "server_error", "{what}");
}

#[tokio::test]
async fn chunked_answer_in_pieces_arrives_whole_and_the_connection_is_reused() {
    let data = [r#"{"data":["#, r#"{"id":"usr-1"},"#, r#"{"id":"usr-2"}"#, "]}"];
    let mut wire = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n".to_vec();
    wire.extend_from_slice(b"transfer-encoding: chunked\r\ntrailer: x-digest\r\n\r\n");
    for (i, piece) in data.iter().enumerate() {
        wire.extend_from_slice(format!("{:x};piece={i}\r\n{piece}\r\n", piece.len()).as_bytes());
    }
    wire.extend_from_slice(b"0\r\nx-digest: abc\r\n\r\n");
    // Seven bytes at a time: pieces end inside the head, the size lines, the data and CRLFs.
    let mut first = vec![Step::Read];
    first.extend(in_pieces(&wire, 7, Duration::from_millis(10)));
    first.extend([Step::Read, Step::Write(ok(r#"{"data":[]}"#))]);
    let up = Scripted::start(vec![first]).await;
    let gw = start_default(&up);

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.text(), data.concat());
    assert_eq!(a.header("content-type").as_deref(), Some("application/json"));
    let b = get(&gw, "/v2/api/users/usr-1").await;
    assert_eq!((b.status, b.text()), (200, r#"{"data":[]}"#.to_string()));

    assert_eq!(up.accepted(), 1, "the connection was not reused after the trailer");
    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.conn == 0));
}

#[tokio::test]
async fn close_delimited_answer_arrives_whole_and_the_next_request_connects_again() {
    let first = vec![
        Step::Read,
        Step::Write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"data\":".to_vec()),
        Step::Pause(Duration::from_millis(50)),
        Step::Write(b"[1,2,".to_vec()),
        Step::Pause(Duration::from_millis(50)),
        Step::Write(b"3]}".to_vec()),
        Step::Close,
    ];
    let second = answer(r#"{"data":"second"}"#);
    let up = Scripted::start(vec![first, second]).await;
    let gw = start_default(&up);

    let a = get_streamed(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body.expect("the close-delimited body failed"), r#"{"data":[1,2,3]}"#);
    let b = get(&gw, "/v2/api/users").await;
    assert_eq!((b.status, b.text()), (200, r#"{"data":"second"}"#.to_string()));

    assert_eq!(up.accepted(), 2);
    assert_eq!(up.conns(), vec![0, 1]);
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_upstream_is_not_used_again() {
    let first = vec![
        Step::Read,
        Step::Write(ok(r#"{"data":"first"}"#)),
        Step::Pause(Duration::from_millis(100)),
        Step::Close,
    ];
    let second = answer(r#"{"data":"second"}"#);
    let up = Scripted::start(vec![first, second]).await;
    let gw = start_default(&up);

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!((a.status, a.text()), (200, r#"{"data":"first"}"#.to_string()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = get(&gw, "/v2/api/users").await;
    assert_eq!((b.status, b.text()), (200, r#"{"data":"second"}"#.to_string()));

    assert_eq!(up.accepted(), 2);
    assert_eq!(up.conns(), vec![0, 1]);
}

#[tokio::test]
async fn a_get_lost_to_a_stale_connection_is_sent_once_more_on_a_new_one() {
    // The upstream takes the second request and closes without a byte of answer: the race of
    // an idle timeout on its side with our write.
    let first = vec![
        Step::Read,
        Step::Write(ok(r#"{"data":"first"}"#)),
        Step::Read,
        Step::Close,
    ];
    let second = answer(r#"{"data":"retried"}"#);
    let up = Scripted::start(vec![first, second]).await;
    let gw = start_default(&up);

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let b = get(&gw, "/v2/api/users/usr-2").await;
    assert_eq!((b.status, b.text()), (200, r#"{"data":"retried"}"#.to_string()));

    assert_eq!(up.accepted(), 2);
    let lost: Vec<usize> = up
        .seen()
        .iter()
        .filter(|s| s.request_line() == "GET /v2/api/users/usr-2 HTTP/1.1")
        .map(|s| s.conn)
        .collect();
    assert_eq!(lost, vec![0, 1], "the GET should arrive once on each connection");
}

#[tokio::test]
async fn a_post_lost_to_a_stale_connection_is_not_sent_twice() {
    let first = vec![
        Step::Read,
        Step::Write(ok(r#"{"data":"first"}"#)),
        Step::Read,
        Step::Close,
    ];
    let up = Scripted::start(vec![first]).await;
    let gw = start_default(&up);

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let body = r#"{"name":"x","email":"a@example.com"}"#;
    let auth = format!("Bearer {TOKEN}");
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let b = within("POST", send(gw.addr, "POST", RESET, &headers, body)).await;
    assert_unavailable(&b, "POST on a connection closed unanswered");

    // A retry would have been sent before the 502; give a stray one time to land anyway.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(up.accepted(), 1, "a new connection was opened for the POST");
    let posts: Vec<Seen> = up
        .seen()
        .into_iter()
        .filter(|s| s.request_line() == format!("POST {RESET} HTTP/1.1"))
        .collect();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].raw.ends_with(body.as_bytes()), "the POST body did not arrive");
}
