//! Listeners: the accept loop under a connection bound, HTTP/1.1 and h2c (prior knowledge) on
//! one port, and what bounds each connection: header block size and field count (431, from
//! hyper), the time a request head may take, the keep-alive idle time, and graceful shutdown
//! (stop accepting, let in-flight requests finish within the grace period, close keep-alive
//! connections cleanly). Every byte a connection sends also passes the framing scanner
//! (`framing::WireScanner`), whose finding is put on that connection's requests.
//!
//!
//! The head and idle timers, the in-flight bookkeeping and the socket wrapper that feeds them
//! live in `supervise.rs`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::body::Body;
use crate::config::ServerConfig;
use crate::framing::{LengthWithChunkedOnWire, WireScanner};
use crate::tls::{peer_identity, InboundTls, PeerIdentity};

mod supervise;

use supervise::{supervise, Activity, Timers, Tracked, Watched};

/// How connections are served: hyper's settings and the timers kept here.
pub struct Connections {
    http: auto::Builder<TokioExecutor>,
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
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        // The head timer is ours (see the module notes).
        .header_read_timeout(None)
        // The read buffer caps the head: a larger one is refused with 431, as are more fields.
        .max_buf_size(config.max_header_bytes.max(8192))
        .max_headers(config.max_headers)
        .keep_alive(true);
    http.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    Connections {
        http,
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
    H: Fn(hyper::Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<Body>> + Send + 'static,
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
        tokio::spawn(async move {
            let Some(tls) = connections.tls.clone() else {
                return connection(connections, stream, peer, None, handler, stopped, permit).await;
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
                    connection(connections, stream, peer, identity, handler, stopped, permit).await;
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

/// Serves one connection and keeps its timers; gives the permit back when it ends. `io` is the
/// plaintext stream (a TLS stream goes here, after its handshake, so the scanner sees HTTP).
async fn connection<IO, H, F>(
    connections: Arc<Connections>,
    io: IO,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    handler: H,
    mut stop: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<Body>> + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        io,
        scanner: WireScanner::default(),
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        service_fn(move |mut request: hyper::Request<Incoming>| {
            if activity.ambiguous.load(Ordering::Relaxed) {
                request.extensions_mut().insert(LengthWithChunkedOnWire);
            }
            if let Some(identity) = &identity {
                request.extensions_mut().insert(identity.clone());
            }
            if request.version() == http::Version::HTTP_2 {
                activity.h2.store(true, Ordering::Relaxed);
            }
            let busy = activity.begin();
            let response = handler(request, peer);
            async move { Ok::<_, Infallible>(response.await.map(|body| Tracked { body, _busy: busy })) }
        })
    };
    let conn = connections.http.serve_connection(io, service);
    tokio::pin!(conn);
    let ended = supervise(
        conn.as_mut(),
        |c| c.graceful_shutdown(),
        &activity,
        connections.timers,
        &mut stop,
    )
    .await;
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %crate::telemetry::error_chain(&*e), "connection ended with an error");
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
