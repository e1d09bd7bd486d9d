//! HTTP/2 connections (h2 by ALPN, or h2c with prior knowledge), served by hyper under the
//! timers of `supervise.rs`. A plaintext connection is known to be HTTP/2 only once its first
//! bytes were read by the HTTP/1.1 side; they are given back ahead of the socket.
//!
//! hyper's HTTP/2 server sends whatever body an answer has, HEAD or not, so an answer to HEAD
//! loses its body here (`without_body`): HEADERS with END_STREAM, the length it declares kept.
//! `Expect: 100-continue` cannot be answered over HTTP/2: hyper keeps the stream's `h2`
//! handle to itself and sends no `100` (hyperium/hyper#2743). A refusal decided from the head
//! is answered at once (the body is only read after authentication, routing and the budgets);
//! a request that needs its body waits for the client to send it, which curl does after 1 s.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Response};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::grace::Graced;
use super::supervise::{supervise, Activity, Rewound, Tracked};
use super::Accepted;
use crate::answer::Answer;
use crate::body::{full, Body, RequestBody};

/// Serves one HTTP/2 connection until it ends; `rewound` are the bytes the HTTP/1.1 side read
/// before it saw the preface.
pub(super) async fn serve<IO, H, F>(conn: &mut Accepted<H>, io: IO, rewound: Bytes)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let (peer, identity, handler, expiry) = (conn.peer, conn.identity.take(), conn.handler.clone(), conn.expiry);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Rewound { io, rewound });
    let service = {
        let activity = activity.clone();
        service_fn(move |mut request: hyper::Request<Incoming>| {
            if let Some(identity) = &identity {
                request.extensions_mut().insert(identity.clone());
            }
            let busy = activity.begin();
            let head = request.method() == Method::HEAD;
            // hyper runs each stream on a task of its own: the request registers for the end
            // of the grace period itself.
            let response = Graced::registered(handler(request.map(RequestBody::Http2), peer), expiry);
            async move {
                let mut response = response.await.into_response();
                if head {
                    response = without_body(response);
                }
                Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
            }
        })
    };
    let served = conn.connections.http2.serve_connection(io, service);
    tokio::pin!(served);
    let timers = conn.connections.timers;
    let ended = supervise(
        served.as_mut(),
        |c| c.graceful_shutdown(),
        &activity,
        timers,
        &mut conn.stop,
    )
    .await;
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %crate::telemetry::error_chain(&e), "connection ended with an error");
    }
}

/// The answer to a HEAD request: its head, stating the length a GET would get when it is
/// known, and no body, so hyper ends the stream with the HEADERS frame.
fn without_body(response: Response<Body>) -> Response<Body> {
    let (mut head, body) = response.into_parts();
    if !head.headers.contains_key(header::CONTENT_LENGTH) {
        if let Some(length) = body.size_hint().exact() {
            head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    Response::from_parts(head, full(Bytes::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_answer_keeps_its_length_and_loses_its_body() {
        let response = without_body(Response::new(full(r#"{"error":{}}"#)));
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "12");
        assert!(response.body().is_end_stream());

        let mut declared = Response::new(full(Bytes::new()));
        declared
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(4096u64));
        let response = without_body(declared);
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "4096");
        assert_eq!(response.body().size_hint().exact(), Some(0));
    }
}
