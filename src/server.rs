//! Listeners: the accept loop under a connection bound, HTTP/1.1 and h2c (prior knowledge) on
//! one port (or HTTPS with HTTP/2 or HTTP/1.1 by ALPN), and graceful shutdown (stop
//! accepting, let in-flight requests finish within the grace period, answer what is still
//! waiting at its end with 503, close keep-alive connections cleanly).
//!
//! HTTP/1.1 is served by the gateway's own connection loop (`h1.rs`: head size and field
//! count, head and idle timers), HTTP/2 on the `h2` crate (`h2.rs`, with the timers of
//! `supervise.rs`). `workers.rs` runs one accept loop per worker thread; `grace.rs` answers
//! the requests the grace period leaves; `signals.rs` hears SIGTERM and SIGINT.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::answer::Answer;
use crate::body::RequestBody;
use crate::config::ServerConfig;
use crate::tls::{peer_identity, InboundTls, PeerIdentity};

mod backoff;
mod grace;
mod h1;
#[cfg(fuzzing)]
pub use h1::fuzz_logic as h1_fuzz_logic;
mod h2;
pub mod signals;
mod supervise;
pub mod workers;

use backoff::AcceptBackoff;
use grace::{Expiry, Graced, Woken};
use supervise::Timers;

/// How long, once the grace period is over, the 503s it caused have to be written before the
/// worker closes what is left.
const AFTER_GRACE: Duration = Duration::from_secs(1);

/// How connections are served: the HTTP/1.1 bounds, the HTTP/2 settings, TLS. Each
/// worker has its own copy, so no count shared between threads changes per connection.
#[derive(Clone)]
pub struct Connections {
    h1: h1::Settings,
    http2: ::h2::server::Builder,
    timers: Timers,
    tls: Option<Arc<InboundTls>>,
}

impl Connections {
    /// Serves HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with `tls` instead of plaintext.
    pub fn with_tls(mut self, tls: Arc<InboundTls>) -> Connections {
        self.tls = Some(tls);
        self
    }
}

/// Builds the connection server for the configured bounds.
pub fn connection_builder(config: &ServerConfig) -> Connections {
    let http2 = h2::settings(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
    Connections {
        h1: h1::Settings {
            head: h1::HeadLimits {
                max_bytes: config.max_header_bytes,
                max_fields: config.max_headers,
            },
            header_read: config.header_read_timeout,
            idle: config.idle_timeout,
        },
        http2,
        timers: Timers {
            header_read: config.header_read_timeout,
            idle: config.idle_timeout,
        },
        tls: None,
    }
}

/// What one accept loop needs besides its listener.
pub struct Serving<H> {
    pub connections: Connections,
    /// Held by each connection until it ends: `max_connections`, for the whole process when
    /// the workers share it.
    pub permits: Arc<Semaphore>,
    /// How long in-flight requests may take once shutdown has begun.
    pub grace: Duration,
    pub handler: H,
    /// Counts the connections this loop accepts.
    pub accepted: Option<Counter>,
}

/// One accepted connection and what serving it needs; the permit and the `open` mark are
/// given back when it is dropped, at the connection's end.
struct Accepted<H> {
    connections: Arc<Connections>,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    accepted_at: tokio::time::Instant,
    handler: H,
    stop: watch::Receiver<bool>,
    /// The end of the grace period, for the requests on this connection.
    expiry: &'static Expiry,
    _permit: OwnedSemaphorePermit,
    _open: mpsc::Sender<()>,
}

/// Accepts on `listener` until `shutdown` resolves, then drains for at most `grace`; what is
/// still waiting for its answer then gets a 503. Must run inside a tokio runtime, which serves
/// every connection this loop accepts.
pub async fn serve<H, F>(listener: std::net::TcpListener, serving: Serving<H>, shutdown: impl Future<Output = ()>)
where
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    // Watched for readiness apart from accepting (see the loop). `new` is deprecated because
    // a value that does not own its descriptor could close it under the reactor; the listener
    // owns its descriptor and lives inside the `AsyncFd` until it is dropped.
    #[allow(deprecated)]
    let listener = match AsyncFd::new(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch the listener");
            return;
        }
    };
    let Serving {
        connections,
        permits,
        grace,
        handler,
        accepted,
    } = serving;
    let connections = Arc::new(connections);
    let expiry = Expiry::leak();
    let (stop, stopped) = watch::channel(false);
    // Each connection holds a sender: the channel closes when the last one has ended.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let ready = tokio::select! {
            ready = listener.readable() => ready,
            () = &mut shutdown => break,
        };
        let mut ready = match ready {
            Ok(ready) => ready,
            Err(e) => {
                tracing::error!(error = %e, "the listener failed");
                break;
            }
        };
        // A connection waits in this loop's accept queue: a slot for it first. Past
        // max_connections, connections wait in the kernel's queue and spend no file
        // descriptor until one is free; and a worker waits for a slot only when it has a
        // connection to serve, so a freed slot never goes to a worker with none.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = match ready.try_io(|listener| listener.get_ref().accept()) {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(e)) => {
                drop((permit, ready));
                tokio::select! {
                    () = backoff.failed(&e) => continue,
                    () = &mut shutdown => break,
                }
            }
            // Taken already, or spurious: wait for the next one.
            Err(_would_block) => continue,
        };
        backoff.succeeded();
        let stream = match stream
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpStream::from_std(stream))
        {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "cannot register an accepted connection");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Some(accepted) = &accepted {
            accepted.inc();
        }
        let conn = Accepted {
            connections: connections.clone(),
            peer,
            identity: None,
            // The first request head is due from here, a TLS handshake included.
            accepted_at: tokio::time::Instant::now(),
            handler: handler.clone(),
            stop: stopped.clone(),
            expiry,
            _permit: permit,
            _open: open.clone(),
        };
        tokio::spawn(Woken::new(conn.serve(stream), expiry));
    }
    // New connections are refused from here on.
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    tokio::select! {
        _ = all_closed.recv() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "shutdown grace period over; answering what is still in flight with 503 and closing the remaining connections");
            expiry.expire();
            let _ = tokio::time::timeout(AFTER_GRACE, all_closed.recv()).await;
        }
    }
}

impl<H, F> Accepted<H>
where
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    /// Serves the connection (after its TLS handshake, if any) until it ends.
    async fn serve(self, stream: tokio::net::TcpStream) {
        match self.connections.tls.clone() {
            None => self.connection(stream, false).await,
            // Boxed: a handshake's state and a TLS stream's take kilobytes, which every
            // plaintext connection's task would otherwise carry, and copy as it is spawned.
            Some(tls) => Box::pin(self.serve_tls(stream, tls)).await,
        }
    }

    async fn serve_tls(mut self, stream: tokio::net::TcpStream, tls: Arc<InboundTls>) {
        // The handshake is part of the first request's head: same time bound.
        let header_read = self.connections.timers.header_read;
        let peer = self.peer;
        match tokio::time::timeout(header_read, tls.acceptor().accept(stream)).await {
            Ok(Ok(stream)) => {
                if tls.requires_client_certificates() {
                    self.identity = Some(peer_identity(stream.get_ref().1).unwrap_or_default());
                }
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                self.connection(stream, h2).await;
            }
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    /// Serves one connection. `io` is the plaintext stream (a TLS stream comes here after its
    /// handshake, `h2` if ALPN chose HTTP/2).
    async fn connection<IO>(mut self, io: IO, h2: bool)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ended = if h2 {
            Ok(h1::Ended::Http2(Bytes::new(), io))
        } else {
            let settings = self.connections.h1;
            let identity = self.identity.clone();
            // Requests run on this connection's task, which `Woken` wakes at the grace's end.
            let (handler, expiry) = (&self.handler, self.expiry);
            let handler = move |request, peer| Graced::new(handler(request, peer), expiry);
            h1::serve(
                io,
                self.peer,
                identity,
                settings,
                self.accepted_at,
                &handler,
                &self.stop,
            )
            .await
        };
        match ended {
            Ok(h1::Ended::Closed) => {}
            // Boxed, as the TLS path is: an HTTP/2 connection's state stays out of the
            // HTTP/1.1 connection's task.
            Ok(h1::Ended::Http2(read, io)) => Box::pin(h2::serve(&mut self, io, read)).await,
            Err(e) => tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error"),
        }
    }
}

#[cfg(test)]
mod tests;
