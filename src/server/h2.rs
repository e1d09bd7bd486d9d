//! HTTP/2 connections (h2 by ALPN, or h2c with prior knowledge), served by hyper under the
//! timers of `supervise.rs`. A plaintext connection is known to be HTTP/2 only once its first
//! bytes were read by the HTTP/1.1 side; they are given back ahead of the socket.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::supervise::{supervise, Activity, Rewound, Timers, Tracked};
use crate::answer::Answer;
use crate::body::RequestBody;
use crate::tls::PeerIdentity;

/// Serves one HTTP/2 connection until it ends.
#[allow(clippy::too_many_arguments)]
pub(super) async fn serve<IO, H, F>(
    http: &hyper::server::conn::http2::Builder<TokioExecutor>,
    timers: Timers,
    io: IO,
    rewound: Bytes,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    handler: H,
    stop: &mut watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Rewound { io, rewound });
    let service = {
        let activity = activity.clone();
        service_fn(move |mut request: hyper::Request<Incoming>| {
            if let Some(identity) = &identity {
                request.extensions_mut().insert(identity.clone());
            }
            let busy = activity.begin();
            let response = handler(request.map(RequestBody::Http2), peer);
            async move {
                let response = response.await.into_response();
                Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
            }
        })
    };
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let ended = supervise(conn.as_mut(), |c| c.graceful_shutdown(), &activity, timers, stop).await;
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %crate::telemetry::error_chain(&e), "connection ended with an error");
    }
}
