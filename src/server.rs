//! Listeners: the accept loop under a connection bound, HTTP/1.1 and h2c (prior knowledge) on
//! one port (or HTTPS with HTTP/2 or HTTP/1.1 by ALPN), and graceful shutdown (stop
//! accepting, let in-flight requests finish within the grace period, close keep-alive
//! connections cleanly).
//!
//! HTTP/1.1 is served by the gateway's own connection loop (`h1.rs`: head size and field
//! count, head and idle timers), HTTP/2 by hyper (`h2.rs`, with the timers of
//! `supervise.rs`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::answer::Answer;
use crate::body::RequestBody;
use crate::config::ServerConfig;
use crate::tls::{peer_identity, InboundTls, PeerIdentity};

mod h1;
#[cfg(fuzzing)]
pub use h1::fuzz_logic as h1_fuzz_logic;
mod h2;
mod supervise;

use supervise::Timers;

/// How connections are served: the HTTP/1.1 bounds, hyper's HTTP/2 settings, TLS.
pub struct Connections {
    h1: h1::Settings,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
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
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
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

/// Accepts on `listener` until `shutdown` resolves, then drains for at most `grace`.
pub async fn serve<H, F>(
    listener: TcpListener,
    connections: Connections,
    max_connections: usize,
    grace: Duration,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let connections = Arc::new(connections);
    let (stop, stopped) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(max_connections));
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        // Past max_connections, new connections wait in the kernel's accept queue: no file
        // descriptor is spent on them until one is free.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tokio::select! {
                        () = backoff.failed(&e) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        backoff.succeeded();
        let _ = stream.set_nodelay(true);
        let (connections, handler, stopped) = (connections.clone(), handler.clone(), stopped.clone());
        // The first request head is due from here, a TLS handshake included.
        let accepted_at = tokio::time::Instant::now();
        tokio::spawn(async move {
            let Some(tls) = connections.tls.clone() else {
                return connection(
                    connections,
                    stream,
                    peer,
                    None,
                    false,
                    accepted_at,
                    handler,
                    stopped,
                    permit,
                )
                .await;
            };
            // The handshake is part of the first request's head: same time bound.
            let accepted = tokio::time::timeout(connections.timers.header_read, tls.acceptor().accept(stream)).await;
            match accepted {
                Ok(Ok(stream)) => {
                    let identity = if tls.requires_client_certificates() {
                        Some(peer_identity(stream.get_ref().1).unwrap_or_default())
                    } else {
                        None
                    };
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    connection(
                        connections,
                        stream,
                        peer,
                        identity,
                        h2,
                        accepted_at,
                        handler,
                        stopped,
                        permit,
                    )
                    .await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
    // New connections are refused from here on.
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends: all of them back means all closed.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = permits.acquire_many(all) => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "shutdown grace period over; closing remaining connections"),
    }
}

/// Serves one connection; gives the permit back when it ends. `io` is the plaintext stream (a
/// TLS stream comes here after its handshake, `h2` if ALPN chose HTTP/2).
#[allow(clippy::too_many_arguments)]
async fn connection<IO, H, F>(
    connections: Arc<Connections>,
    io: IO,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    h2: bool,
    accepted: tokio::time::Instant,
    handler: H,
    mut stop: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let ended = if h2 {
        Ok(h1::Ended::Http2(Bytes::new(), io))
    } else {
        h1::serve(io, peer, identity.clone(), connections.h1, accepted, &handler, &stop).await
    };
    match ended {
        Ok(h1::Ended::Closed) => {}
        Ok(h1::Ended::Http2(read, io)) => {
            h2::serve(
                &connections.http2,
                connections.timers,
                io,
                read,
                peer,
                identity,
                handler,
                &mut stop,
            )
            .await;
        }
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
    }
    drop(permit);
}

/// Accept errors (EMFILE, ENFILE, ENOBUFS...) are survived: wait, doubling up to a second, and
/// warn once per run of failures rather than on every retry.
#[derive(Default)]
struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    async fn failed(&mut self, e: &io::Error) {
        self.failures += 1;
        if self.failures == 1 {
            tracing::warn!(error = %e, "accept failed; backing off");
        } else {
            tracing::debug!(error = %e, failures = self.failures, "accept failed again");
        }
        let wait = Duration::from_millis(10 << self.failures.min(7)).min(Duration::from_secs(1));
        tokio::time::sleep(wait).await;
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting again");
            self.failures = 0;
        }
    }
}

/// Binds a TCP listener with a generous accept backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
