//! A fast local upstream for the benchmark (`tests/perf/run.sh`, `tests/perf/scaling.sh`):
//! HTTP/1.1 with keep-alive (hyper 1) and HTTP/2 (the `h2` crate), answering every request with
//! the same ~300-byte JSON body (a page of users, as `GET /v2/api/users` would return). It reads
//! the whole request body first, so a POST is consumed as a real upstream would consume it.
//!
//! Three extras, all free for requests that do not ask for them:
//! - a request's `x-request-id` is echoed on the response (the fixed-rate load script matches
//!   responses to their scheduled send time with it);
//! - a request carrying `x-perf-echo` is answered with what arrived (method, path, the
//!   `Authorization` header, the body length, the HTTP version) instead, so `run.sh` can check
//!   before measuring that every proxy injects the team key and forwards the body;
//! - `GET /__stats` answers `{"connections":N,"stats_requests":M}`: the connections accepted
//!   since start (each `/__stats` request included, M of them so far, this one counted), so the
//!   harness can tell how many connections a proxy opened to reach it. The same count is
//!   printed on stderr when the process is stopped with SIGTERM or SIGINT.
//!
//! Usage: `perf-upstream PORT [THREADS] [--tls h1|h2 CA_PEM]`.
//!
//! THREADS = 1 (the default) runs a current-thread runtime: on a 2-core machine that the load
//! generator and a proxy share, one core's worth of upstream is what each peer gets alike, and
//! a current-thread server does the least cross-thread work per request. THREADS > 1 runs a
//! multi-thread runtime with that many workers.
//!
//! `--tls` serves TLS (rustls, ring) with a certificate made at start: a fresh CA signs a leaf
//! for `localhost` and `127.0.0.1`, and the CA is written to CA_PEM for the proxies to trust.
//! `h1` offers only `http/1.1` by ALPN; `h2` offers `h2` first, then `http/1.1`. Each
//! connection is served as HTTP/2 when ALPN chose `h2` (on the `h2` crate, a request without a
//! body answered on its connection's task, see `serve_h2`), as HTTP/1.1 (hyper) otherwise.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, DATE};
use hyper::http::request;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The answer to every request: ~300 bytes of JSON.
const BODY: &str = concat!(
    r#"{"data":[{"id":"usr-7Qk2mW9xLpA3","name":"Alice Martin","email":"alice@sales.example","#,
    r#""role":"ADMIN","status":"ACTIVE","image_url":null},{"id":"usr-Jd81KqPz0vNe","name":"Bob"#,
    r#" Durand","email":"bob@sales.example","role":"MEMBER","status":"ACTIVE","image_url":null"#,
    r#"}],"meta":{"count":2,"team":"sales"}}"#
);

/// The path that answers with the counters instead of `BODY`.
const STATS_PATH: &str = "/__stats";

/// Connections accepted since start (TCP accepts, before any TLS handshake).
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
/// `/__stats` requests answered, this one included.
static STATS_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// What ALPN offers on a TLS listener.
#[derive(Clone, Copy)]
enum Alpn {
    /// `http/1.1` only.
    H1,
    /// `h2`, then `http/1.1`.
    H2,
}

struct Args {
    port: u16,
    threads: usize,
    tls: Option<(Alpn, String)>,
}

const USAGE: &str = "usage: perf-upstream PORT [THREADS] [--tls h1|h2 CA_PEM]";

fn parse_args() -> Option<Args> {
    let mut args = std::env::args().skip(1);
    let port = args.next()?.parse::<u16>().ok()?;
    let mut threads = 1;
    let mut tls = None;
    while let Some(arg) = args.next() {
        if arg == "--tls" {
            let alpn = match args.next()?.as_str() {
                "h1" => Alpn::H1,
                "h2" => Alpn::H2,
                _ => return None,
            };
            tls = Some((alpn, args.next()?));
        } else {
            threads = arg.parse::<usize>().ok()?;
        }
    }
    Some(Args { port, threads, tls })
}

/// hyper's service for HTTP/1.1: the body read whole, then [`reply`].
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    // Read the body whole, as a real upstream would; a broken body still gets an answer.
    let body_len = match body.collect().await {
        Ok(collected) => collected.to_bytes().len(),
        Err(_) => 0,
    };
    Ok(reply(&parts, body_len).map(Full::new))
}

/// The answer to a request whose body was `body_len` bytes: `BODY`, the echo, or the counters.
fn reply(parts: &request::Parts, body_len: usize) -> Response<Bytes> {
    let mut response = if parts.headers.contains_key("x-perf-echo") {
        let auth = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let text = serde_json::json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
            "authorization": auth,
            "authorization_count": parts.headers.get_all(hyper::header::AUTHORIZATION).iter().count(),
            "body_len": body_len,
            "version": format!("{:?}", parts.version),
        })
        .to_string();
        Response::new(Bytes::from(text))
    } else if parts.method == Method::GET && parts.uri.path() == STATS_PATH {
        let stats = STATS_REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
        let text = serde_json::json!({
            "connections": CONNECTIONS.load(Ordering::Relaxed),
            "stats_requests": stats,
        })
        .to_string();
        Response::new(Bytes::from(text))
    } else {
        Response::new(Bytes::from_static(BODY.as_bytes()))
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(id) = parts.headers.get("x-request-id") {
        headers.insert("x-request-id", id.clone());
    }
    response
}

/// A fresh CA and a leaf it signs for localhost and 127.0.0.1; the CA goes to `ca_out` as PEM.
fn tls_acceptor(alpn: Alpn, ca_out: &Path) -> Result<TlsAcceptor, Box<dyn std::error::Error>> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "allo-gateway perf-upstream CA");
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?
        .signed_by(&leaf_key, &issuer)?;
    std::fs::write(ca_out, ca_cert.pem())?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)?;
    config.alpn_protocols = match alpn {
        Alpn::H1 => vec![b"http/1.1".to_vec()],
        Alpn::H2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve_h1<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S) {
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service_fn(answer))
        .await;
}

/// HTTP/2 on the `h2` crate, as a production h2 server (nginx's, a CDN's) serves it: a stream
/// whose request ended with its head (a GET) is answered on the connection's own task, with no
/// task of its own; a stream with a body gets a task that reads it whole, then answers.
async fn serve_h2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S) {
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(1 << 20)
        .initial_connection_window_size(4 << 20)
        .max_concurrent_streams(256);
    let Ok(mut connection) = builder.handshake::<_, Bytes>(stream).await else {
        return;
    };
    while let Some(Ok((request, respond))) = connection.accept().await {
        let (parts, body) = request.into_parts();
        if body.is_end_stream() {
            send_h2(respond, reply(&parts, 0));
        } else {
            tokio::spawn(async move {
                let body_len = read_h2_body(body).await;
                send_h2(respond, reply(&parts, body_len));
            });
        }
    }
}

/// `Date` for now, made once a second, as hyper's HTTP/1.1 side sends it.
fn date() -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<(u64, HeaderValue)> =
            const { std::cell::RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    }
    let now = std::time::SystemTime::now();
    let second = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.with_borrow_mut(|(at, value)| {
        if *at != second {
            *at = second;
            *value =
                HeaderValue::try_from(httpdate::fmt_http_date(now)).unwrap_or_else(|_| HeaderValue::from_static(""));
        }
        value.clone()
    })
}

/// The body's length, read whole; the flow-control window is given back as it arrives.
async fn read_h2_body(mut body: h2::RecvStream) -> usize {
    let mut len = 0;
    while let Some(Ok(chunk)) = body.data().await {
        len += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    len
}

fn send_h2(mut respond: h2::server::SendResponse<Bytes>, response: Response<Bytes>) {
    let (mut head, body) = response.into_parts();
    head.headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    head.headers.insert(DATE, date());
    let Ok(mut stream) = respond.send_response(Response::from_parts(head, ()), body.is_empty()) else {
        return;
    };
    if !body.is_empty() {
        let _ = stream.send_data(body, true);
    }
}

async fn serve(port: u16, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!(
        "perf-upstream: listening on 127.0.0.1:{port}{}",
        if tls.is_some() { " (TLS)" } else { "" }
    );
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("perf-upstream: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        match &tls {
            None => {
                tokio::spawn(serve_h1(stream));
            }
            Some(acceptor) => {
                let accept = acceptor.accept(stream);
                tokio::spawn(async move {
                    let Ok(stream) = accept.await else { return };
                    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                        serve_h2(stream).await;
                    } else {
                        serve_h1(stream).await;
                    }
                });
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn stopped() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn main() -> std::process::ExitCode {
    let Some(args) = parse_args() else {
        eprintln!("{USAGE}");
        return std::process::ExitCode::from(2);
    };
    let tls = match &args.tls {
        None => None,
        Some((alpn, ca_out)) => match tls_acceptor(*alpn, Path::new(ca_out)) {
            Ok(acceptor) => Some(acceptor),
            Err(e) => {
                eprintln!("perf-upstream: TLS setup: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let result = match runtime {
        Ok(runtime) => runtime.block_on(async {
            tokio::select! {
                served = serve(args.port, tls) => served,
                () = stopped() => Ok(()),
            }
        }),
        Err(e) => Err(e),
    };
    eprintln!(
        "perf-upstream: {} connections accepted",
        CONNECTIONS.load(Ordering::Relaxed)
    );
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perf-upstream: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
