//! Listeners: the accept loop under a connection bound, HTTP/1.1 and h2c (prior knowledge) on
//! one port, and what bounds each connection: header block size and field count (431, from
//! hyper), the time a request head may take, the keep-alive idle time, and graceful shutdown
//! (stop accepting, let in-flight requests finish within the grace period, close keep-alive
//! connections cleanly). Every byte a connection sends also passes the framing scanner
//! (`framing::WireScanner`), whose finding is put on that connection's requests.
//!
//! The two timers are kept here rather than in hyper, whose HTTP/1 header timer also runs
//! while a keep-alive connection waits, so it cannot tell "slow head" from "idle":
//! - `header_read_timeout`: from the accept (first request) or from the first byte after the
//!   previous response, the head must be complete within it, or the connection is dropped.
//! - `idle_timeout`: a connection with no request in flight and no byte of a new one for this
//!   long is closed gracefully (HTTP/1: closed; HTTP/2: GOAWAY).
//!
//! A request is in flight from the moment hyper hands it over until its response body is
//! done, so a slow upstream or a slow body never counts as idle; those have their own bounds
//! (`upstream.request_timeout`, `body_read_timeout`).
//!
//! Both timers share one `Sleep` per connection, checked in the same poll as the connection
//! itself, so a request costs no timer insertion and no extra wake-up of the connection task.
//! What moves a deadline happens inside that poll for HTTP/1 (hyper reads the head, runs the
//! service and drops the response body on the connection's task), so the deadline is simply
//! recomputed after each one. HTTP/2 streams end on their own tasks, unseen: while any is in
//! flight the sleep stays armed at most `idle_timeout` ahead, so an end is noticed before the
//! idle period that runs from it is over, and the close still comes on time.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::body::Body;
use crate::config::ServerConfig;
use crate::framing::{LengthWithChunkedOnWire, WireScanner};
use crate::tls::{peer_identity, InboundTls, PeerIdentity};

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

#[derive(Debug, Clone, Copy)]
struct Timers {
    header_read: Duration,
    idle: Duration,
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

/// Drives `conn` until it ends, applying the head and idle timers and the shutdown signal. The
/// loop here turns only on a shutdown, an idle close or a head timeout; requests pass inside
/// `Alarm::poll_conn`.
async fn supervise<C, E>(
    mut conn: Pin<&mut C>,
    graceful_shutdown: fn(Pin<&mut C>),
    activity: &Activity,
    timers: Timers,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut closing = false;
    // The first verdict is the first head's deadline, so the first poll arms nothing new.
    let mut alarm = Alarm {
        armed: Some(activity.at(0) + timers.header_read),
        sleep: std::pin::pin!(tokio::time::sleep_until(activity.at(0) + timers.header_read)),
    };
    loop {
        let watched = std::future::poll_fn(|cx| alarm.poll_conn(cx, conn.as_mut(), activity, timers, closing));
        let event = tokio::select! {
            biased;
            event = watched => event,
            _ = stop.wait_for(|stop| *stop), if !closing => Event::Stop,
        };
        match event {
            Event::Ended(ended) => return ended,
            Event::HeadTimeout => {
                // Dropping the connection closes the socket; hyper has not answered yet.
                tracing::debug!("request head not received within header_read_timeout; closing");
                return Ok(());
            }
            Event::Idle | Event::Stop => {
                closing = true;
                graceful_shutdown(conn.as_mut());
            }
        }
    }
}

/// Why `supervise` has to act.
enum Event<E> {
    Ended(Result<(), E>),
    HeadTimeout,
    Idle,
    Stop,
}

/// A connection's one timer and the deadline it is armed for (`None` once it has fired), kept
/// so that it is reset only when that deadline moves.
struct Alarm<'a> {
    armed: Option<Instant>,
    sleep: Pin<&'a mut tokio::time::Sleep>,
}

impl Alarm<'_> {
    /// Polls `conn`, then holds the timer to what the connection is doing now. Ready when the
    /// connection ends or a timer needs acting on.
    fn poll_conn<C, E>(
        &mut self,
        cx: &mut Context<'_>,
        conn: Pin<&mut C>,
        activity: &Activity,
        timers: Timers,
        closing: bool,
    ) -> Poll<Event<E>>
    where
        C: Future<Output = Result<(), E>>,
    {
        if let Poll::Ready(ended) = conn.poll(cx) {
            return Poll::Ready(Event::Ended(ended));
        }
        loop {
            let due = match next_alarm(self.armed, activity, Instant::now(), timers, closing) {
                Ok(due) => due,
                Err(event) => return Poll::Ready(event),
            };
            if self.armed != Some(due) {
                self.sleep.as_mut().reset(due);
                self.armed = Some(due);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed = None;
        }
    }
}

/// When the alarm should next go off, given the one `armed` (if it has not gone off), or what
/// to do now.
fn next_alarm<E>(
    armed: Option<Instant>,
    activity: &Activity,
    now: Instant,
    timers: Timers,
    closing: bool,
) -> Result<Instant, Event<E>> {
    match activity.verdict(now, timers) {
        Verdict::Until(at) => Ok(at),
        Verdict::HeadTimeout => Err(Event::HeadTimeout),
        Verdict::Idle if !closing => Err(Event::Idle),
        // Only a recheck is due, for an HTTP/2 stream that ends on its own task unseen. Any
        // deadline at most `idle` ahead notices that end before `idle` has passed since it, in
        // time to arm the close at the end plus `idle`; so the armed one stands, rather than
        // being reset on every poll.
        Verdict::Busy | Verdict::Idle => Ok(match armed {
            Some(at) if at <= now + timers.idle => at,
            _ => now + timers.header_read.min(timers.idle),
        }),
    }
}

const NONE: u64 = u64::MAX;

/// What a connection is doing, shared by its IO, its requests and its supervisor. Times are
/// milliseconds since the accept.
///
/// All but one access happen on the connection's task: hyper reads, calls the service and
/// (HTTP/1) drops the response body there, so those are Relaxed. The exception is an HTTP/2
/// stream ending on its own task, whose Release on `in_flight` publishes `idle_since` to the
/// supervisor's Acquire.
struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    /// When the last request ended (or the accept).
    idle_since: AtomicU64,
    /// When the first byte since then arrived (`NONE`: none yet). The first head is due from
    /// the accept.
    head_started: AtomicU64,
    /// HTTP/2 bytes between requests are pings and window updates, not a head.
    h2: AtomicBool,
    ambiguous: AtomicBool,
}

enum Verdict {
    Busy,
    Until(Instant),
    HeadTimeout,
    Idle,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            ambiguous: AtomicBool::new(false),
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.accepted).as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, millis: u64) -> Instant {
        self.accepted + Duration::from_millis(millis)
    }

    /// The supervisor needs no wake-up: this runs inside its poll of the connection.
    fn read_some(&self) {
        if !self.h2.load(Ordering::Relaxed)
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == NONE
        {
            self.head_started.store(self.millis(Instant::now()), Ordering::Relaxed);
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn verdict(&self, now: Instant, timers: Timers) -> Verdict {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::Busy;
        }
        let started = self.head_started.load(Ordering::Relaxed);
        if started != NONE && !self.h2.load(Ordering::Relaxed) {
            let due = self.at(started) + timers.header_read;
            return if now >= due {
                Verdict::HeadTimeout
            } else {
                Verdict::Until(due)
            };
        }
        let due = self.at(self.idle_since.load(Ordering::Relaxed)) + timers.idle;
        if now >= due {
            Verdict::Idle
        } else {
            Verdict::Until(due)
        }
    }
}

/// One request in flight on a connection, until its response body is done.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        // Reset the idle clock before the count, so a supervisor that sees none in flight
        // never sees the previous head's start nor the previous idle start.
        activity
            .idle_since
            .store(activity.millis(Instant::now()), Ordering::Relaxed);
        activity.head_started.store(NONE, Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Release);
    }
}

/// A response body that holds its request's `InFlight` until hyper is done with it.
struct Tracked<B> {
    body: B,
    _busy: InFlight,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The accepted socket, seen by the framing scanner and the head timer on every read.
struct Watched<IO> {
    io: IO,
    scanner: WireScanner,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            this.activity.read_some();
            if !this.scanner.seen() && this.scanner.scan(read) {
                this.activity.ambiguous.store(true, Ordering::Relaxed);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays an HTTP/2 connection on a fake clock: its one stream ends at `ends` on another
    /// task, unseen; the supervisor looks at the accept, on every `traffic` tick (pings, window
    /// updates) and whenever its alarm goes off. Returns when it closes the connection.
    fn h2_idle_close(timers: Timers, ends: Duration, traffic: Option<Duration>) -> Duration {
        let activity = Arc::new(Activity::new());
        activity.h2.store(true, Ordering::Relaxed);
        let mut stream = Some(activity.begin());
        let mut armed = Some(activity.accepted + timers.header_read);
        let mut now = Duration::ZERO;
        loop {
            if now >= ends && stream.is_some() {
                drop(stream.take());
                // The end is stamped by the real clock: restamp it on the fake one.
                let ended = u64::try_from(ends.as_millis()).unwrap();
                activity.idle_since.store(ended, Ordering::Relaxed);
            }
            match next_alarm::<Infallible>(armed, &activity, activity.accepted + now, timers, false) {
                Ok(due) => armed = Some(due),
                Err(Event::Idle) => return now,
                Err(_) => panic!("only an idle close is possible here"),
            }
            let alarm = armed.unwrap() - activity.accepted;
            let tick = traffic.map(|every| every * (u32::try_from(now.as_nanos() / every.as_nanos()).unwrap() + 1));
            now = tick.map_or(alarm, |tick| tick.min(alarm));
            if now == alarm {
                armed = None;
            }
        }
    }

    #[test]
    fn an_http2_connection_closes_idle_timeout_after_its_last_stream_ended_unseen() {
        let secs = Duration::from_secs;
        for (header_read, traffic) in [(10, None), (90, None), (10, Some(1)), (90, Some(7)), (60, Some(60))] {
            let timers = Timers {
                header_read: secs(header_read),
                idle: secs(60),
            };
            let traffic = traffic.map(secs);
            let closed = h2_idle_close(timers, secs(25), traffic);
            assert_eq!(
                closed,
                secs(85),
                "header_read {header_read}s, traffic every {traffic:?}"
            );
        }
    }
}
