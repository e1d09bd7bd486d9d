//! The HTTP/2 upstream under load, against an upstream that misbehaves as real ones do: it
//! sends GOAWAY with a last stream id below streams it has received (and then closes the
//! connection), refuses streams with REFUSED_STREAM, and resets a stream it has processed.
//! The upstream speaks raw HTTP/2 frames over rustls (ALPN h2) so that it can script exactly
//! that, and it counts what it processed, by the unique body of each request.
//!
//! What must hold: every request the upstream did not process is sent again and answered
//! (no 502), and a request the upstream processed and then reset is answered 502 and never
//! sent twice. And `[upstream] h2_connections` opens that many connections under load; a body
//! larger than the upstream's window goes out whole; an upstream that takes one stream at a
//! time is never sent two.

use crate::support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::eventually;
use support::observe::{events, metric};
use support::raw::find;
use support::{certs, Caller, Config, GatewayProcess, Team};

const TOKEN: &str = "h2-upstream-token";
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

const NO_ERROR: u32 = 0x0;
const INTERNAL_ERROR: u32 = 0x2;
const REFUSED_STREAM: u32 = 0x7;

/// How the upstream misbehaves.
#[derive(Clone, Copy, Default)]
struct Script {
    /// After this many streams on a connection: GOAWAY with the last stream id it answered,
    /// dropping the streams above it, then close once the rest are answered.
    goaway_after: Option<usize>,
    /// Refuse (REFUSED_STREAM) the first attempt of each request whose body holds "refuse-".
    refuse_marked: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS, if the upstream announces one.
    max_streams: Option<u32>,
}

impl Script {
    fn goaway_after(streams: usize) -> Script {
        Script {
            goaway_after: Some(streams),
            ..Script::default()
        }
    }

    fn refusing_marked() -> Script {
        Script {
            refuse_marked: true,
            ..Script::default()
        }
    }

    fn max_streams(streams: u32) -> Script {
        Script {
            max_streams: Some(streams),
            ..Script::default()
        }
    }
}

#[derive(Default)]
struct Seen {
    /// Times each body was processed (answered, or processed and then reset).
    processed: HashMap<Bytes, u32>,
    /// Bodies refused once already.
    refused: HashSet<Bytes>,
    goaways: usize,
    /// Streams dropped as above a GOAWAY's last stream id: received before it and not yet
    /// complete, or opened after it.
    dropped: usize,
    /// The most streams open at once on one connection (received, not yet answered).
    max_open: usize,
}

struct Upstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Seen>>,
}

impl Upstream {
    async fn start(pki: &certs::TestPki, script: Script) -> Upstream {
        let mut tls = certs::server_config(pki);
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (count, state) = (connections.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (acceptor, state) = (acceptor.clone(), state.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve(tls, script, state).await;
                    }
                });
            }
        });
        Upstream {
            addr,
            connections,
            seen,
        }
    }
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// `:status: 200` (static table entry 8) and a literal `content-type`, as HPACK.
fn ok_head() -> Vec<u8> {
    let mut block = vec![0x88, 0x00, 12];
    block.extend_from_slice(b"content-type");
    block.push(16);
    block.extend_from_slice(b"application/json");
    block
}

/// A request stream being received: its body so far, and whether it is complete.
#[derive(Default)]
struct Pending {
    body: Vec<u8>,
    complete: bool,
}

/// One connection: frames read in chunks; the requests completed by a chunk are answered
/// together after it, so several streams are in flight when a GOAWAY goes out.
async fn serve(mut io: tokio_rustls::server::TlsStream<TcpStream>, script: Script, seen: Arc<Mutex<Seen>>) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while buf.len() < PREFACE.len() {
        if io.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
    }
    assert_eq!(&buf[..PREFACE.len()], PREFACE);
    buf.advance(PREFACE.len());
    let mut out = Vec::new();
    let mut settings = Vec::new();
    if let Some(max) = script.max_streams {
        // SETTINGS_MAX_CONCURRENT_STREAMS (0x3).
        settings.extend_from_slice(&3u16.to_be_bytes());
        settings.extend_from_slice(&max.to_be_bytes());
    }
    frame(&mut out, SETTINGS, 0, 0, &settings);
    let mut pending: BTreeMap<u32, Pending> = BTreeMap::new();
    let mut received = 0usize;
    let mut answered_max = 0u32;
    // Set once the GOAWAY is sent: its last stream id.
    let mut last_id: Option<u32> = None;
    loop {
        while buf.len() >= 9 {
            let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            buf.advance(9);
            let payload = buf.split_to(len);
            match kind {
                SETTINGS if flags & ACK == 0 => frame(&mut out, SETTINGS, ACK, 0, &[]),
                PING if flags & ACK == 0 => frame(&mut out, PING, ACK, 0, &payload),
                HEADERS => {
                    if last_id.is_some_and(|last| stream > last) {
                        // Opened after the GOAWAY went out, above its last stream id.
                        seen.lock().unwrap().dropped += 1;
                        continue;
                    }
                    received += 1;
                    let entry = pending.entry(stream).or_default();
                    entry.complete = flags & END_STREAM != 0;
                }
                DATA => {
                    if !payload.is_empty() {
                        // Give the connection's and the stream's window back at once.
                        frame(&mut out, WINDOW_UPDATE, 0, 0, &(len as u32).to_be_bytes());
                        if flags & END_STREAM == 0 {
                            frame(&mut out, WINDOW_UPDATE, 0, stream, &(len as u32).to_be_bytes());
                        }
                    }
                    if let Some(entry) = pending.get_mut(&stream) {
                        let data = if flags & PADDED != 0 && !payload.is_empty() {
                            let pad = payload[0] as usize;
                            &payload[1..payload.len().saturating_sub(pad)]
                        } else {
                            &payload[..]
                        };
                        entry.body.extend_from_slice(data);
                        entry.complete |= flags & END_STREAM != 0;
                    }
                }
                RST_STREAM => {
                    pending.remove(&stream);
                }
                _ => {}
            }
        }
        {
            let mut seen = seen.lock().unwrap();
            seen.max_open = seen.max_open.max(pending.len());
        }
        // Answer (or refuse, or reset) what is complete; when going away, only the older half
        // of it: the newer half lies above the GOAWAY's last stream id, as a server that stops
        // taking work leaves what it has not begun.
        let going_away = last_id.is_none() && script.goaway_after.is_some_and(|after| received >= after);
        let mut complete: Vec<u32> = pending.iter().filter(|(_, p)| p.complete).map(|(id, _)| *id).collect();
        complete.sort_unstable();
        if going_away {
            complete.truncate(complete.len() / 2);
        }
        for id in complete {
            let Some(request) = pending.remove(&id) else { continue };
            let body = Bytes::from(request.body);
            let mut seen = seen.lock().unwrap();
            if script.refuse_marked && find(&body, b"refuse-").is_some() && seen.refused.insert(body.clone()) {
                frame(&mut out, RST_STREAM, 0, id, &REFUSED_STREAM.to_be_bytes());
                continue;
            }
            *seen.processed.entry(body.clone()).or_default() += 1;
            answered_max = answered_max.max(id);
            if find(&body, b"reset-").is_some() {
                frame(&mut out, RST_STREAM, 0, id, &INTERNAL_ERROR.to_be_bytes());
                continue;
            }
            frame(&mut out, HEADERS, END_HEADERS, id, &ok_head());
            frame(&mut out, DATA, END_STREAM, id, br#"{"ok":true}"#);
        }
        // Go away: the streams received and not answered lie above the last stream id.
        if going_away {
            let mut payload = answered_max.to_be_bytes().to_vec();
            payload.extend_from_slice(&NO_ERROR.to_be_bytes());
            frame(&mut out, GOAWAY, 0, 0, &payload);
            last_id = Some(answered_max);
            let before = pending.len();
            pending.retain(|id, _| *id <= answered_max);
            let mut seen = seen.lock().unwrap();
            seen.goaways += 1;
            seen.dropped += before - pending.len();
        }
        if !out.is_empty() {
            if io.write_all(&out).await.is_err() || io.flush().await.is_err() {
                return;
            }
            out.clear();
        }
        if last_id.is_some() && pending.is_empty() {
            // Gone away and done: close while the gateway may still be sending, as servers
            // do: our side first, then read what still comes until the gateway closes too
            // (closing with unread bytes would reset the connection, and with it the GOAWAY).
            let _ = io.shutdown().await;
            let drain = async {
                while matches!(io.read_buf(&mut buf).await, Ok(n) if n > 0) {
                    buf.clear()
                }
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
            return;
        }
        match io.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The gateway in front of `upstream` over TLS (trusting the test CA), with an admin listener
/// and one team with a budget the load never reaches; `edit` changes the config before start.
fn gateway(pki: &certs::TestPki, upstream: &Upstream, edit: impl FnOnce(Config) -> Config) -> GatewayProcess {
    let config = Config::new(&format!("https://127.0.0.1:{}", upstream.addr.port()))
        .admin()
        .ca_file("ca.pem")
        .upstream("connect_timeout", "2s")
        .team(
            Team::new("sales")
                .key_value("ak_h2_upstream")
                .read(100_000)
                .write(100_000),
        )
        .caller(Caller::new("crm-sync", "sales").token(TOKEN));
    let folder = edit(config).folder();
    folder.write("ca.pem", &pki.ca_pem);
    // One worker: the connection counts below are those of one upstream client (each worker
    // keeps its own).
    GatewayProcess::start(
        folder,
        &[
            ("ALLO_GATEWAY_LOG", "info,allo_gateway=debug"),
            ("ALLO_GATEWAY_WORKERS", "1"),
        ],
    )
}

/// A scripted upstream and the gateway in front of it (`edit`: as in `gateway`).
async fn start(script: Script, edit: impl FnOnce(Config) -> Config) -> (Upstream, GatewayProcess) {
    let pki = certs::pki();
    let up = Upstream::start(&pki, script).await;
    let gw = gateway(&pki, &up, edit);
    (up, gw)
}

/// A caller's POST of `body` to the dialing queue endpoint.
fn post(body: Bytes) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post("/v2/api/dialing-queues/current")
        .header("host", "gateway.local")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap()
}

/// A request body several times the upstream's initial flow-control window (65,535 bytes: its
/// SETTINGS name none) goes out whole, as the window is given back, on the shared connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_larger_than_the_upstreams_window_arrives_whole() {
    let (up, gw) = start(Script::default(), |c| c.routes("unknown_fields", "allow")).await;
    let pad = "p".repeat(300_000);
    let body = Bytes::from(format!(r#"{{"name":"big-1","pad":"{pad}"}}"#));
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    for _ in 0..2 {
        sender.ready().await.unwrap();
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            sender.send_request(post(body.clone())),
        )
        .await
        .expect("an answer within 20 s")
        .unwrap();
        let status = response.status();
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, 200, "{answer:?}\n{}", gw.log());
    }
    assert_eq!(up.seen.lock().unwrap().processed.get(&body), Some(&2));
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

/// Sends `total` POSTs from `callers` concurrent keep-alive connections, all connected before
/// the first request so that the first ones arrive together; the body of request `i` is
/// `name(i)`. Returns each body with the status it got. Keep-alive connections of hyper's own
/// client, not the kit's one request per connection: the load is many requests on each.
async fn load(gw: &GatewayProcess, callers: usize, total: usize, name: fn(usize) -> String) -> Vec<(Bytes, u16)> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(callers));
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (next, start, addr) = (next.clone(), start.clone(), gw.addr);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
            tokio::spawn(conn);
            start.wait().await;
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return got;
                }
                let body = Bytes::from(format!(r#"{{"name":"{}"}}"#, name(i)));
                sender.ready().await.unwrap();
                let response = sender.send_request(post(body.clone())).await.unwrap();
                let status = response.status().as_u16();
                response.into_body().collect().await.unwrap();
                got.push((body, status));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

/// Every request answered 200 and processed once, except those marked `reset-`: answered 502
/// and processed once too (never sent again).
fn assert_each_processed_once(answers: &[(Bytes, u16)], seen: &Seen, log: &str) {
    let mut failed = Vec::new();
    for (body, status) in answers {
        let reset = find(body, b"reset-").is_some();
        let expected = if reset { 502 } else { 200 };
        let processed = seen.processed.get(body).copied().unwrap_or(0);
        if *status != expected || processed != 1 {
            failed.push((String::from_utf8_lossy(body).into_owned(), *status, processed));
        }
    }
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"WARN\"") || l.contains("\"DEBUG\""))
        .collect();
    assert!(
        failed.is_empty(),
        "{} unexpected (body, status, times processed): {failed:?}\n{warnings:#?}",
        failed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_above_a_goaway_are_sent_again_and_a_processed_reset_is_not() {
    let (up, gw) = start(Script::goaway_after(400), |c| c).await;
    let name = |i: usize| {
        if i.is_multiple_of(97) {
            format!("reset-{i}")
        } else {
            format!("q-{i}")
        }
    };
    let answers = load(&gw, 64, 4000, name).await;
    assert_eq!(answers.len(), 4000);
    {
        let seen = up.seen.lock().unwrap();
        assert!(seen.goaways >= 5, "the upstream went away {} times", seen.goaways);
        assert!(seen.dropped > 0, "no stream was left above a GOAWAY's last stream id");
        // One new connection per GOAWAY, however many requests found the old one gone.
        let connections = up.connections.load(Ordering::SeqCst);
        assert!(
            connections <= seen.goaways + 1,
            "{connections} connections for {} GOAWAYs",
            seen.goaways
        );
        assert_each_processed_once(&answers, &seen, &gw.log());
    }
    // The processed-then-reset requests, and only they, are failures: counted and named.
    assert_failures_are_the_resets(&gw, &answers).await;
}

async fn assert_failures_are_the_resets(gw: &GatewayProcess, answers: &[(Bytes, u16)]) {
    let resets = answers
        .iter()
        .filter(|(body, _)| find(body, b"reset-").is_some())
        .count() as f64;
    let text = gw.metrics().await;
    let failures = |kind| metric(&text, "allo_gateway_upstream_failures_total", &[("kind", kind)]);
    assert_eq!(failures("reset"), resets, "{text}");
    assert_eq!(
        metric(&text, "allo_gateway_upstream_failures_total", &[]),
        resets,
        "{text}"
    );
    eventually(gw, "the reset named in a warn line", || async {
        events(gw).iter().any(|e| {
            e["level"] == "WARN"
                && e["kind"] == "reset"
                && e["error"]
                    .as_str()
                    .is_some_and(|t| t.contains("stream error received: unexpected internal error"))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_streams_are_sent_again() {
    let (up, gw) = start(Script::refusing_marked(), |c| c).await;
    let name = |i: usize| match i % 5 {
        0 => format!("refuse-{i}"),
        _ if i.is_multiple_of(89) => format!("reset-{i}"),
        _ => format!("q-{i}"),
    };
    let answers = load(&gw, 64, 2000, name).await;
    {
        let seen = up.seen.lock().unwrap();
        assert_eq!(seen.refused.len(), 400);
        assert_each_processed_once(&answers, &seen, &gw.log());
    }
    assert_failures_are_the_resets(&gw, &answers).await;
    // Refusals do not cost a connection.
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

/// An upstream that takes one stream at a time (SETTINGS_MAX_CONCURRENT_STREAMS = 1): the
/// requests wait their turn on the one connection, none is refused or lost, and no more than
/// one stream is ever open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_takes_one_stream_at_a_time_is_never_sent_two() {
    let (up, gw) = start(Script::max_streams(1), |c| c).await;
    // The first request opens the connection and brings the upstream's SETTINGS (before them
    // a client may open streams freely).
    let first = load(&gw, 1, 1, |i| format!("first-{i}")).await;
    assert_eq!(first[0].1, 200);
    let answers = load(&gw, 32, 600, |i| format!("q-{i}")).await;
    let seen = up.seen.lock().unwrap();
    assert_each_processed_once(&answers, &seen, &gw.log());
    assert_eq!(seen.max_open, 1, "streams open at once on the upstream's connection");
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_connections_spreads_requests_over_that_many_connections() {
    let (up, gw) = start(Script::default(), |c| c.h2_connections(3)).await;
    let answers = load(&gw, 64, 1000, |i| format!("q-{i}")).await;
    assert_each_processed_once(&answers, &up.seen.lock().unwrap(), &gw.log());
    assert_eq!(up.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_h2_connection_by_default_even_when_many_requests_start_at_once() {
    let (up, gw) = start(Script::default(), |c| c).await;
    let answers = load(&gw, 64, 256, |i| format!("q-{i}")).await;
    assert_each_processed_once(&answers, &up.seen.lock().unwrap(), &gw.log());
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_waiting_for_a_connection_share_its_failure() {
    let pki = certs::pki();
    // An upstream that takes each connection and closes it: every handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let up = Upstream {
        addr: listener.local_addr().unwrap(),
        connections: accepted.clone(),
        seen: Arc::default(),
    };
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            drop(tcp);
        }
    });
    let gw = gateway(&pki, &up, |c| c);
    let answers = load(&gw, 64, 64, |i| format!("q-{i}")).await;
    assert!(answers.iter().all(|(_, status)| *status == 502), "{answers:?}");
    // Requests that arrived together waited for one attempt rather than each making their own.
    let attempts = up.connections.load(Ordering::SeqCst);
    assert!(attempts <= 16, "{attempts} connection attempts for 64 requests");
}
