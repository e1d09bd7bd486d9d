//! Running the sandbox alone as an HTTP/1.1 server (`allo-gateway` can also call
//! `Sandbox::handle` in-process, without this). This file owns only the transport's bounds:
//! header and body read time, body size (Content-Length checked first, then a streaming
//! limit), connections in flight, and a graceful stop; everything Allo-like is in `handle`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::respond::{finish, ApiError};
use super::{request_id, Sandbox};

/// Largest request body the standalone sandbox reads (the gateway's default too).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_CONNECTIONS: usize = 1024;
/// How long in-flight connections get to finish once `shutdown` resolves.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serve the sandbox alone as an HTTP/1.1 server on an already-bound listener until
/// `shutdown` resolves; then stop accepting and let in-flight requests finish (bounded).
pub async fn serve(
    listener: TcpListener,
    sandbox: Arc<Sandbox>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "sandbox: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let sandbox = Arc::clone(&sandbox);
        let service = service_fn(move |req| {
            let sandbox = Arc::clone(&sandbox);
            async move { Ok::<_, Infallible>(answer(&sandbox, req).await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "sandbox: connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("sandbox: connections still open after the shutdown grace period");
    }
    Ok(())
}

/// Reads the body within its bounds, then hands the complete request to the sandbox.
async fn answer(sandbox: &Sandbox, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let refuse = |err: ApiError| finish(Err(err), &request_id(&parts.headers), None).map(Full::new);

    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return refuse(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    let read = Limited::new(body, MAX_BODY_BYTES).collect();
    let bytes = match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return refuse(ApiError::payload_too_large(MAX_BODY_BYTES));
        }
        Ok(Err(_)) => {
            return refuse(ApiError::validation(
                "INVALID_REQUEST_BODY",
                "the request body could not be read",
            ));
        }
        Err(_) => {
            let mut err = ApiError::validation("REQUEST_TIMEOUT", "the request body was not received in time");
            err.status = StatusCode::REQUEST_TIMEOUT;
            return refuse(err);
        }
    };
    sandbox.handle(Request::from_parts(parts, bytes)).map(Full::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn exchange(addr: std::net::SocketAddr, raw: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(raw.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn serves_over_tcp_and_bounds_bodies() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sandbox = Arc::new(Sandbox::new(vec![("sales".into(), Secret::new("k1"))]));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, sandbox, async {
            let _ = stopped.await;
        }));

        let me = exchange(
            addr,
            "GET /v2/api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Api-Key k1\r\nX-Request-Id: abc\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(me.starts_with("HTTP/1.1 200"), "{me}");
        assert!(me.contains("x-request-id: abc"));
        assert!(me.contains("alice@sales.example"));

        let big = exchange(
            addr,
            "POST /v2/api/dialing-queues/current HTTP/1.1\r\nHost: x\r\nAuthorization: Api-Key k1\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(big.starts_with("HTTP/1.1 413"), "{big}");
        assert!(big.contains("PAYLOAD_TOO_LARGE"));

        let chunk = "x".repeat(MAX_BODY_BYTES + 1);
        let chunked = format!(
            "POST /v2/api/dialing-queues/current HTTP/1.1\r\nHost: x\r\nAuthorization: Api-Key k1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        let streamed = exchange(addr, &chunked).await;
        assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed}");

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
