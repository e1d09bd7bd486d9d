//! A fast local upstream for the benchmark (`tests/perf/run.sh`): hyper 1 over HTTP/1.1 with
//! keep-alive, answering every request with the same ~300-byte JSON body (a page of users, as
//! `GET /v2/api/users` would return). It reads the whole request body first, so a POST is
//! consumed as a real upstream would consume it.
//!
//! Two extras, both free for requests that do not ask for them:
//! - a request's `x-request-id` is echoed on the response (the fixed-rate load script matches
//!   responses to their scheduled send time with it);
//! - a request carrying `x-perf-echo` is answered with what arrived (method, path, the
//!   `Authorization` header, the body length) instead, so `run.sh` can check before measuring
//!   that every proxy injects the team key and forwards the body.
//!
//! Usage: `perf-upstream PORT [THREADS]`. THREADS = 1 (the default) runs a current-thread
//! runtime: on a 2-core machine that the load generator and a proxy share, one core's worth of
//! upstream is what each peer gets alike, and a current-thread server does the least
//! cross-thread work per request. THREADS > 1 runs a multi-thread runtime with that many
//! workers.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The answer to every request: ~300 bytes of JSON.
const BODY: &str = concat!(
    r#"{"data":[{"id":"usr-7Qk2mW9xLpA3","name":"Alice Martin","email":"alice@sales.example","#,
    r#""role":"ADMIN","status":"ACTIVE","image_url":null},{"id":"usr-Jd81KqPz0vNe","name":"Bob"#,
    r#" Durand","email":"bob@sales.example","role":"MEMBER","status":"ACTIVE","image_url":null"#,
    r#"}],"meta":{"count":2,"team":"sales"}}"#
);

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    // Read the body whole, as a real upstream would; a broken body still gets an answer.
    let body_len = match body.collect().await {
        Ok(collected) => collected.to_bytes().len(),
        Err(_) => 0,
    };
    let echo_id = parts.headers.get("x-request-id").cloned();
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
        })
        .to_string();
        Response::new(Full::new(Bytes::from(text)))
    } else {
        Response::new(Full::new(Bytes::from_static(BODY.as_bytes())))
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(id) = echo_id {
        headers.insert("x-request-id", id);
    }
    Ok(response)
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!("perf-upstream: listening on 127.0.0.1:{port}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("perf-upstream: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(port) = args.next().and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: perf-upstream PORT [THREADS]");
        return std::process::ExitCode::from(2);
    };
    let threads = args.next().and_then(|t| t.parse::<usize>().ok()).unwrap_or(1);
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let result = match runtime {
        Ok(runtime) => runtime.block_on(serve(port)),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perf-upstream: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
