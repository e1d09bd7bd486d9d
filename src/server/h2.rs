//! HTTP/2 connections (h2 by ALPN, or h2c with prior knowledge), served by hyper under the
//! timers of `supervise.rs`. A plaintext connection is known to be HTTP/2 only once its first
//! bytes were read by the HTTP/1.1 side; `Rewound` gives those back.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use super::supervise::{supervise, Activity, Timers, Tracked, Watched};
use crate::body::{Body, RequestBody};
use crate::tls::PeerIdentity;

/// Serves one HTTP/2 connection until it ends.
#[allow(clippy::too_many_arguments)]
pub(super) async fn serve<IO, H, F>(
    http: &hyper::server::conn::http2::Builder<TokioExecutor>,
    timers: Timers,
    io: IO,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    handler: H,
    stop: &mut watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<Body>> + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        io,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        service_fn(move |mut request: hyper::Request<Incoming>| {
            if let Some(identity) = &identity {
                request.extensions_mut().insert(identity.clone());
            }
            activity.h2.store(true, Ordering::Relaxed);
            let busy = activity.begin();
            let response = handler(request.map(RequestBody::Http2), peer);
            async move { Ok::<_, Infallible>(response.await.map(|body| Tracked { body, _busy: busy })) }
        })
    };
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let ended = supervise(conn.as_mut(), |c| c.graceful_shutdown(), &activity, timers, stop).await;
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %crate::telemetry::error_chain(&e), "connection ended with an error");
    }
}

/// A socket with bytes already read from it put back in front.
pub(super) struct Rewound<IO> {
    read: Bytes,
    io: IO,
}

impl<IO> Rewound<IO> {
    pub(super) fn new(read: Bytes, io: IO) -> Rewound<IO> {
        Rewound { read, io }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewound<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.read.len().min(buf.remaining());
        buf.put_slice(&this.read[..n]);
        this.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewound<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
