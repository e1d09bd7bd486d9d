//! The gateway's own HTTP/1.1 upstream client on real sockets, against a scripted upstream: a
//! raw TCP server on 127.0.0.1 that reads requests and writes exactly the bytes each test
//! chooses, when it chooses, and records what arrived and how many connections were opened.
//! A capture upstream built on hyper would always answer correctly; these tests need the
//! upstream to misbehave (split writes, early closes, broken heads, silence) to show what the
//! caller sees and whether pooled connections are reused, retried or dropped as they should.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::client::Answer;
use support::{send, sha256_hex, GatewayProcess, TestConfig};

const TOKEN: &str = "tok_wire_caller_0123456789abcdef";
const KEY: &str = "ak_live_WIREKEY";
const RESET: &str = "/v2/api/dialing-queues/current";

/// What the scripted upstream does on one connection, in order.
#[derive(Debug, Clone)]
enum Step {
    /// Reads one request (head up to CRLFCRLF, then a Content-Length body) and records it.
    Read,
    /// Writes these bytes as they are.
    Write(Vec<u8>),
    Pause(Duration),
    /// Closes the connection without reading anything more.
    Close,
}

/// One request as it arrived on the wire.
#[derive(Debug, Clone)]
struct Seen {
    /// Which accepted connection it came on (0 for the first).
    conn: usize,
    raw: Vec<u8>,
}

impl Seen {
    fn request_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        text.split("\r\n").next().unwrap_or_default().to_string()
    }

    /// The values of header `name` (any case), in order.
    fn header(&self, name: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.raw);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        head.split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// The scripted upstream. Connection `i` follows `scripts[i]`; connections past the list read
/// one request and close unanswered (so an unexpected connection shows up as a failure). When
/// a script ends without `Close`, the connection is held: requests arriving later are recorded
/// but never answered, and the moment the gateway closes it is noted.
struct Scripted {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// (connection, when) for each held connection the gateway closed.
    closed_by_gateway: Arc<Mutex<Vec<(usize, Instant)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scripted {
    async fn start(scripts: Vec<Vec<Step>>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let closed_by_gateway = Arc::new(Mutex::new(Vec::new()));
        let (count, log, closes) = (accepted.clone(), seen.clone(), closed_by_gateway.clone());
        let task = tokio::spawn(async move {
            let mut scripts = scripts.into_iter();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let conn = count.fetch_add(1, Ordering::SeqCst);
                let script = scripts.next().unwrap_or_else(|| vec![Step::Read, Step::Close]);
                tokio::spawn(serve(conn, stream, script, log.clone(), closes.clone()));
            }
        });
        Scripted {
            addr,
            accepted,
            seen,
            closed_by_gateway,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Which connection each request came on, in order.
    fn conns(&self) -> Vec<usize> {
        self.seen().iter().map(|s| s.conn).collect()
    }

    fn closed_by_gateway(&self, conn: usize) -> Option<Instant> {
        let closes = self.closed_by_gateway.lock().unwrap();
        closes.iter().find(|(c, _)| *c == conn).map(|(_, at)| *at)
    }
}

async fn serve(
    conn: usize,
    mut stream: TcpStream,
    script: Vec<Step>,
    seen: Arc<Mutex<Vec<Seen>>>,
    closed_by_gateway: Arc<Mutex<Vec<(usize, Instant)>>>,
) {
    // Small writes must leave as separate segments, or the pauses between them test nothing.
    stream.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    for step in script {
        match step {
            Step::Read => match read_request(&mut stream, &mut buf).await {
                Some(raw) => seen.lock().unwrap().push(Seen { conn, raw }),
                None => return,
            },
            // The gateway may have closed first (that is what some tests provoke).
            Step::Write(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::Pause(d) => tokio::time::sleep(d).await,
            Step::Close => return,
        }
    }
    while let Some(raw) = read_request(&mut stream, &mut buf).await {
        seen.lock().unwrap().push(Seen { conn, raw });
    }
    closed_by_gateway.lock().unwrap().push((conn, Instant::now()));
}

/// One request off the connection (`buf` keeps what was read past it). None at end of stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_len = end + 4;
            let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
            let body_len = head
                .split("\r\n")
                .filter_map(|line| line.split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
            while buf.len() < head_len + body_len {
                read_more(stream, buf).await?;
            }
            return Some(buf.drain(..head_len + body_len).collect());
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// A complete JSON answer with a Content-Length.
fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `wire` written `size` bytes at a time with `pause` between the writes.
fn in_pieces(wire: &[u8], size: usize, pause: Duration) -> Vec<Step> {
    let mut steps = Vec::new();
    for piece in wire.chunks(size) {
        if !steps.is_empty() {
            steps.push(Step::Pause(pause));
        }
        steps.push(Step::Write(piece.to_vec()));
    }
    steps
}

/// The gateway in front of `up`, with these `[upstream]` timeouts.
fn start(up: &Scripted, request_timeout: &str, pool_idle_timeout: &str) -> GatewayProcess {
    // HEAD has no route in the Allo table: unknown paths are forwarded so it can be sent.
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[upstream]
url = "http://{}"
request_timeout = "{request_timeout}"
connect_timeout = "1s"
pool_idle_timeout = "{pool_idle_timeout}"
[routes]
unknown = "forward"
[[teams]]
id = "sales"
api_key = {{ env = "TEST_WIRE_KEY" }}
write_per_second = 1000
[[callers]]
id = "crm-sync"
team = "sales"
token_sha256 = "{}"
"#,
        up.addr,
        sha256_hex(TOKEN)
    );
    // One worker, so that consecutive requests share one upstream pool (each worker has its own).
    GatewayProcess::start(
        TestConfig::new(&text),
        &[("TEST_WIRE_KEY", KEY), ("ALLO_GATEWAY_WORKERS", "1")],
    )
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

#[tokio::test]
async fn broken_answers_are_502_and_the_gateway_keeps_serving() {
    // `connection: close` keeps each answer on its own connection, whatever the outcome.
    let big = |size: usize| {
        let mut head = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\nx-big: ".to_vec();
        head.extend(vec![b'a'; size]);
        head.extend_from_slice(b"\r\ncontent-length: 2\r\n\r\n{}");
        head
    };
    let once = |bytes: Vec<u8>| vec![Step::Read, Step::Write(bytes), Step::Close];
    let up = Scripted::start(vec![
        // Just under the head limit passes: the limit is where it is meant to be.
        once(big(60 * 1024)),
        once(big(70 * 1024)),
        once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!".to_vec()),
        once(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()),
        answers_fine(),
    ])
    .await;
    let gw = start_default(&up);

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 200, "a 60 KiB head was refused: {}", a.text());
    assert_eq!(a.header("x-big").map(|v| v.len()), Some(60 * 1024));
    for what in ["head over 64 KiB", "conflicting Content-Length", "no status line"] {
        let a = get(&gw, "/v2/api/users").await;
        assert_unavailable(&a, what);
    }
    assert_still_serving(&gw).await;
    assert_eq!(up.accepted(), 5);
    assert_eq!(up.seen().len(), 5, "a broken answer was retried");
}

#[tokio::test]
async fn a_truncated_body_is_not_presented_as_complete() {
    let first = vec![
        Step::Read,
        Step::Write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n".to_vec()),
        Step::Pause(Duration::from_millis(50)),
        Step::Write(b"0123456789".to_vec()),
        Step::Close,
    ];
    let second = answers_fine();
    let up = Scripted::start(vec![first, second]).await;
    let gw = start_default(&up);

    let a = get_streamed(&gw, "/v2/api/users").await;
    match (a.status, &a.body) {
        (200, Err(_)) | (502, _) => {}
        (status, Ok(body)) => panic!("{status} with a {}-byte body presented as complete", body.len()),
        (status, Err(e)) => panic!("unexpected {status}: {e}"),
    }
    assert_still_serving(&gw).await;
    assert_eq!(up.accepted(), 2);
}

#[tokio::test]
async fn a_reused_connection_that_goes_silent_gets_its_full_request_timeout() {
    // One connection answers twice, with a pause longer than request_timeout between the
    // requests, then reads the third and says nothing: the timer the connection kept from the
    // first request has long gone off, and must not cut the third one short.
    let fine = || answer(r#"{"data":"fine"}"#);
    let mut first = fine();
    first.extend(fine());
    first.push(Step::Read);
    let up = Scripted::start(vec![first, answers_fine()]).await;
    let gw = start(&up, "300ms", "90s");

    assert_eq!(get(&gw, "/v2/api/users").await.status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&gw, "/v2/api/users").await.status, 200);
    let sent = Instant::now();
    let a = get(&gw, "/v2/api/users").await;
    let took = sent.elapsed();
    assert_eq!(a.gateway_error().as_deref(), Some("UPSTREAM_TIMEOUT"), "{}", a.text());
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(up.accepted(), 1, "all three went on the one pooled connection");
    assert_still_serving(&gw).await;
}

#[tokio::test]
async fn a_silent_upstream_is_504_within_request_timeout() {
    // The first connection reads the request and then says nothing until it is closed.
    let second = answers_fine();
    let up = Scripted::start(vec![vec![Step::Read], second]).await;
    let gw = start(&up, "300ms", "90s");

    let sent = Instant::now();
    let a = get(&gw, "/v2/api/users").await;
    let took = sent.elapsed();
    assert_eq!(a.status, 504, "{}", a.text());
    assert_eq!(a.gateway_error().as_deref(), Some("UPSTREAM_TIMEOUT"));
    assert_eq!(a.json()["error"]["code"], "UPSTREAM_TIMEOUT");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The abandoned connection is closed, not pooled with an answer still owed on it.
    within("close of the timed-out connection", async {
        while up.closed_by_gateway(0).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_still_serving(&gw).await;
    assert_eq!(up.accepted(), 2);
}

#[tokio::test]
async fn the_reaper_closes_connections_idle_past_pool_idle_timeout() {
    let up = Scripted::start(vec![answer(r#"{"data":[]}"#)]).await;
    let gw = start(&up, "5s", "1s");

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let answered = Instant::now();
    // No request comes to notice the expiry: only the reaper can close it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut closed = up.closed_by_gateway(0);
    let deadline = Instant::now() + Duration::from_millis(500);
    while closed.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        closed = up.closed_by_gateway(0);
    }
    let closed = closed.expect("the idle connection was still open after 3 s");
    let idle = closed.duration_since(answered);
    assert!(
        idle >= Duration::from_millis(500),
        "closed after {idle:?}, before it expired"
    );
    assert_eq!(up.accepted(), 1);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn head_answer_with_a_length_and_no_body_keeps_the_connection() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\n".to_vec();
    let script = vec![
        Step::Read,
        Step::Write(head),
        Step::Read,
        Step::Write(ok(r#"{"data":"after"}"#)),
    ];
    let up = Scripted::start(vec![script]).await;
    let gw = start_default(&up);

    let a = call(&gw, "HEAD", "/v3/api/probe").await;
    assert_eq!(a.status, 200, "{:?}", a.headers);
    assert_eq!(a.header("content-length").as_deref(), Some("5"));
    assert_eq!(a.header("content-type").as_deref(), Some("application/json"));
    assert!(a.body.is_empty());
    let b = get(&gw, "/v2/api/users").await;
    assert_eq!((b.status, b.text()), (200, r#"{"data":"after"}"#.to_string()));

    assert_eq!(up.accepted(), 1);
    let seen = up.seen();
    let lines: Vec<String> = seen.iter().map(Seen::request_line).collect();
    assert_eq!(lines, vec!["HEAD /v3/api/probe HTTP/1.1", "GET /v2/api/users HTTP/1.1"]);
    assert!(seen.iter().all(|s| s.conn == 0));
}

#[tokio::test]
async fn a_simple_get_goes_out_as_exactly_these_bytes() {
    let up = Scripted::start(vec![answer(r#"{"data":[]}"#)]).await;
    let gw = start_default(&up);

    let auth = format!("Bearer {TOKEN}");
    let headers = [("authorization", auth.as_str()), ("x-caller-note", "kept")];
    let a = within("GET", send(gw.addr, "GET", "/v2/api/users?role=ADMIN", &headers, "")).await;
    assert_eq!(a.status, 200, "{}", a.text());

    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    let text = String::from_utf8_lossy(&s.raw);
    assert_eq!(s.request_line(), "GET /v2/api/users?role=ADMIN HTTP/1.1", "{text}");
    assert_eq!(s.header("host"), vec![up.addr.to_string()], "{text}");
    assert_eq!(s.header("authorization"), vec![format!("Api-Key {KEY}")], "{text}");
    assert!(
        !s.raw.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the caller token reached the upstream: {text}"
    );
    assert!(
        !text.contains("gateway.local"),
        "the caller's Host was forwarded: {text}"
    );
    assert_eq!(s.header("x-caller-note"), vec!["kept"], "{text}");
    let ids = s.header("x-request-id");
    assert_eq!(ids.len(), 1, "{text}");
    assert_eq!(a.header("x-request-id").as_ref(), Some(&ids[0]));
    // A bodiless GET: the head is all there is, and it declares no body.
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    assert!(s.header("transfer-encoding").is_empty(), "{text}");
}

#[tokio::test]
async fn interim_heads_are_skipped_and_a_204_keeps_the_connection() {
    let script = vec![
        Step::Read,
        Step::Write(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        Step::Pause(Duration::from_millis(30)),
        Step::Write(
            b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\nx-done: yes\r\n\r\n"
                .to_vec(),
        ),
        Step::Read,
        Step::Write(ok(r#"{"data":"after"}"#)),
    ];
    let up = Scripted::start(vec![script]).await;
    let gw = start_default(&up);

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 204, "{}", a.text());
    assert_eq!(a.header("x-done").as_deref(), Some("yes"));
    assert!(
        a.header("link").is_none(),
        "a 103's fields leaked into the final answer"
    );
    assert!(a.body.is_empty());
    let b = get(&gw, "/v2/api/users").await;
    assert_eq!((b.status, b.text()), (200, r#"{"data":"after"}"#.to_string()));
    assert_eq!(up.accepted(), 1);
}

#[tokio::test]
async fn bytes_after_the_answer_never_become_the_next_answer() {
    // An unasked second answer, in the same write as the first and, on the next connection,
    // a moment later. Either way the connection must not be reused: the stray answer would
    // be handed to the next caller.
    let stray = ok(r#"{"data":"stray"}"#);
    let mut same_write = ok(r#"{"data":"first"}"#);
    same_write.extend_from_slice(&stray);
    let up = Scripted::start(vec![
        vec![Step::Read, Step::Write(same_write)],
        vec![
            Step::Read,
            Step::Write(ok(r#"{"data":"second"}"#)),
            Step::Pause(Duration::from_millis(50)),
            Step::Write(stray),
        ],
        answer(r#"{"data":"third"}"#),
    ])
    .await;
    let gw = start_default(&up);

    for expected in ["first", "second", "third"] {
        let a = get(&gw, "/v2/api/users").await;
        assert_eq!((a.status, a.text()), (200, format!(r#"{{"data":"{expected}"}}"#)));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(up.accepted(), 3);
    assert_eq!(
        up.conns(),
        vec![0, 1, 2],
        "a request went to a connection with stray bytes on it"
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_fails_after_request_timeout() {
    // Head and a tenth of the body, then silence with the connection left open.
    let first = vec![
        Step::Read,
        Step::Write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n0123456789".to_vec()),
    ];
    let second = answers_fine();
    let up = Scripted::start(vec![first, second]).await;
    let gw = start(&up, "300ms", "90s");

    let sent = Instant::now();
    let a = get_streamed(&gw, "/v2/api/users").await;
    let took = sent.elapsed();
    assert_eq!(a.status, 200);
    assert!(a.body.is_err(), "a stalled body was presented as complete");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_still_serving(&gw).await;
    assert_eq!(up.accepted(), 2);
}

#[tokio::test]
async fn a_request_body_sent_in_pieces_goes_upstream_whole_with_its_length() {
    let up = Scripted::start(vec![answer(r#"{"data":"ok"}"#)]).await;
    let gw = start_default(&up);

    let body = r#"{"name":"Monday cold calls","email":"ana@example.com"}"#;
    let (one, rest) = body.split_at(10);
    let (two, three) = rest.split_at(20);
    let mut raw = within("connect", TcpStream::connect(gw.addr)).await.unwrap();
    let head = format!(
        "POST {RESET} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    for piece in [one, two, three] {
        tokio::time::sleep(Duration::from_millis(30)).await;
        raw.write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())
            .await
            .unwrap();
    }
    raw.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains(r#"{"data":"ok"}"#) {
        let n = within("answer", raw.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].raw.ends_with(format!("\r\n\r\n{body}").as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&seen[0].raw)
    );
    assert_eq!(seen[0].header("content-length"), vec![body.len().to_string()]);
    assert!(seen[0].header("transfer-encoding").is_empty());
}
