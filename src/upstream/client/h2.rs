//! The HTTP/2 side of the client. When the upstream's TLS picks h2 by ALPN, requests share
//! `h2_connections` HTTP/2 connections (multiplexed), taken in turn; each slot keeps its
//! connection until it closes or goes away, and is then filled again.
//!
//! On the `h2` crate directly, as the listener's side is: a request opens its stream on the
//! shared connection from its own task and awaits the response head there; only the
//! connection's framing runs on a task of its own. No channel, and no task per request in
//! between (a general purpose client spends about as much per request on those as on HTTP/2
//! itself).
//!
//! Connecting: one request per slot connects (`connecting`); the others that find the slot
//! empty wait for that connection rather than open their own, and share its failure if it
//! fails. The protocol is learnt from each new connection: an upstream that answers h2 by
//! ALPN fills the slots; one that answers HTTP/1.1 is served from the pool (`client.rs`).
//!
//! Sending again (once): a request the upstream cannot have processed, by the protocol's own
//! word, is sent once more: on a fresh connection if its stream lay above the last stream id
//! of the upstream's GOAWAY or it never left the gateway because the connection closed or went
//! away first; on the slot's connection if its stream was refused (`REFUSED_STREAM`). An
//! idempotent request that failed on a closed or reset connection before any answer is sent
//! again too, as over HTTP/1.1. Anything else (a stream reset after the upstream took it, a
//! protocol error) fails with its cause, which the upstream failure log and counter name.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use tokio::time::Instant;

use super::{idempotent, Client, Opened};
use crate::answer::Answer;
use crate::body::{Body, BoxError, H2Body};
use crate::http1::MAX_RESPONSE_HEAD;
use crate::secret::Secret;
use crate::upstream::connect::Stream;
use crate::upstream::failure::{connection_lost, unprocessed, unsent, Unprocessed, WaitedConnect};
use crate::upstream::pool::Conn;
use crate::upstream::{rewrite_request, strip_hop_by_hop, UpstreamError};

/// Flow-control windows offered to the upstream: a stream's answer up to 2 MiB, and 5 MiB
/// over all of a connection's streams, may arrive before the gateway's reader takes any.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;
/// Request bodies buffered per stream beyond what the upstream's window lets out.
const SEND_BUFFER: usize = 400 * 1024;

/// One HTTP/2 connection's handle for opening streams on it.
#[derive(Clone)]
pub(super) struct H2Sender {
    send: h2::client::SendRequest<Bytes>,
    /// Set when the connection's task ends (closed, failed or gone away and drained).
    closed: Arc<AtomicBool>,
}

impl H2Sender {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// What the upstream was last seen to speak.
const UNKNOWN: u8 = 0;
const H1: u8 = 1;
const H2: u8 = 2;

/// The shared HTTP/2 connections of one upstream.
pub(super) struct H2Conns {
    slots: Box<[Slot]>,
    next: AtomicUsize,
    speaks: AtomicU8,
    /// Names each connection, so that a request evicts only the one it failed on.
    ids: AtomicU64,
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    /// Held by the one request that connects this slot.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct SlotState {
    conn: Option<Shared>,
    /// Connection attempts begun, and the last one's failure (by attempt number).
    attempts: u64,
    failed: Option<(u64, Arc<dyn std::error::Error + Send + Sync>)>,
}

#[derive(Clone)]
pub(super) struct Shared {
    sender: H2Sender,
    id: u64,
    /// The slot whose turn it is.
    slot: usize,
}

/// What a request got for its turn.
pub(super) enum Taken {
    H2(Shared),
    /// The connection this request opened speaks HTTP/1.1.
    H1(Conn),
    /// The upstream speaks HTTP/1.1 (learnt by another request).
    SpeaksH1,
}

/// A failed HTTP/2 exchange.
pub(super) enum H2Failed {
    /// The upstream cannot have processed it (or it is idempotent and nothing was answered).
    /// `gone`: its connection closed or is going away, so the next goes on a new one.
    Again {
        error: BoxError,
        gone: bool,
    },
    Final(UpstreamError),
}

impl H2Conns {
    /// `connections` slots (at least one); `plain` upstreams never speak h2.
    pub(super) fn new(connections: usize, plain: bool) -> H2Conns {
        H2Conns {
            slots: (0..connections.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
            speaks: AtomicU8::new(if plain { H1 } else { UNKNOWN }),
            ids: AtomicU64::new(0),
        }
    }

    /// Whether a request should try the HTTP/2 slots first.
    pub(super) fn may_speak_h2(&self) -> bool {
        self.speaks.load(Ordering::Relaxed) != H1
    }

    /// The slot for the next request, in turn.
    pub(super) fn pick(&self) -> usize {
        if self.slots.len() == 1 {
            return 0;
        }
        self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()
    }

    pub(super) fn learnt_h1(&self) {
        self.speaks.store(H1, Ordering::Relaxed);
    }

    fn install(&self, slot: usize, sender: H2Sender) -> Shared {
        self.speaks.store(H2, Ordering::Relaxed);
        let shared = Shared {
            sender,
            id: self.ids.fetch_add(1, Ordering::Relaxed),
            slot,
        };
        self.slots[slot].lock().conn = Some(shared.clone());
        shared
    }

    /// The open connection of `slot`, if it has one.
    pub(super) fn current(&self, slot: usize) -> Option<Shared> {
        self.slots[slot].open()
    }

    /// A connection opened for HTTP/1.1 that turned out h2, for one request: it fills the
    /// next slot if that is empty.
    pub(super) fn adopt(&self, sender: H2Sender) -> Shared {
        let slot = self.pick();
        if self.slots[slot].open().is_none() {
            return self.install(slot, sender);
        }
        self.speaks.store(H2, Ordering::Relaxed);
        Shared {
            sender,
            id: self.ids.fetch_add(1, Ordering::Relaxed),
            slot,
        }
    }

    /// Forgets the connection `id` (if `slot` still holds it) so that the next request
    /// connects afresh.
    fn evict(&self, slot: usize, id: u64) {
        let mut state = self.slots[slot].lock();
        if state.conn.as_ref().is_some_and(|c| c.id == id) {
            state.conn = None;
        }
    }
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot's connection, if it is still open.
    fn open(&self) -> Option<Shared> {
        self.lock().conn.clone().filter(|c| !c.sender.is_closed())
    }
}

impl Client {
    /// A connection for a request in `slot`: the slot's own, or one this request opens (only
    /// one request per slot connects at a time; the others wait for its outcome).
    pub(super) async fn take_h2(&self, slot: usize, deadline: Instant) -> Result<Taken, UpstreamError> {
        let conns = &self.h2;
        let own = &conns.slots[slot];
        if let Some(shared) = own.open() {
            return Ok(Taken::H2(shared));
        }
        // Failures of attempts begun before this point are not this request's to share.
        let seen = own.lock().attempts;
        let _connecting = tokio::time::timeout_at(deadline, own.connecting.lock())
            .await
            .map_err(|_| UpstreamError::Timeout(self.request_timeout))?;
        let attempt = {
            let mut state = own.lock();
            if let Some(shared) = state.conn.clone().filter(|c| !c.sender.is_closed()) {
                return Ok(Taken::H2(shared));
            }
            if !conns.may_speak_h2() {
                return Ok(Taken::SpeaksH1);
            }
            match &state.failed {
                // The attempt this request waited for failed: so does the request.
                Some((attempt, error)) if *attempt > seen => {
                    return Err(UpstreamError::Unavailable(WaitedConnect(error.clone()).into()));
                }
                _ => {}
            }
            state.conn = None;
            state.attempts += 1;
            state.attempts
        };
        match self.open_until(deadline).await {
            Ok(Opened::H2(sender)) => Ok(Taken::H2(conns.install(slot, sender))),
            Ok(Opened::H1(conn)) => {
                conns.learnt_h1();
                Ok(Taken::H1(conn))
            }
            // This request's own time ran out; those waiting still have theirs to try.
            Err(UpstreamError::Timeout(after)) => Err(UpstreamError::Timeout(after)),
            Err(UpstreamError::Unavailable(error)) => {
                let error: Arc<dyn std::error::Error + Send + Sync> = Arc::from(error);
                own.lock().failed = Some((attempt, error.clone()));
                Err(UpstreamError::Unavailable(WaitedConnect(error).into()))
            }
        }
    }

    /// Makes `stream` (h2 by ALPN) an HTTP/2 connection, driven by a task of its own. No
    /// server push; an answer's head is bounded as over HTTP/1.1.
    pub(super) async fn handshake_h2(&self, stream: Stream) -> Result<H2Sender, UpstreamError> {
        let (send, connection) = h2::client::Builder::new()
            .enable_push(false)
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_header_list_size(MAX_RESPONSE_HEAD as u32)
            .max_send_buffer_size(SEND_BUFFER)
            .handshake::<_, Bytes>(stream)
            .await
            .map_err(|e| UpstreamError::Unavailable(e.into()))?;
        let closed = Arc::new(AtomicBool::new(false));
        let ended = closed.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %crate::telemetry::error_chain(&e), "upstream HTTP/2 connection ended");
            }
            ended.store(true, Ordering::Release);
        });
        Ok(H2Sender { send, closed })
    }

    /// Sends the request over `shared`, and once more if the upstream cannot have processed
    /// it (on a fresh connection unless its stream was refused); all by `deadline`. Boxed: its
    /// state (hyper's request future and a timer) would otherwise be carried in every HTTP/1.1
    /// request's state too.
    pub(super) fn send_h2_until<'a>(
        &'a self,
        shared: Shared,
        parts: &'a http::request::Parts,
        body: Bytes,
        key: &'a Secret,
        request_id: &'a HeaderValue,
        deadline: Instant,
    ) -> Pin<Box<dyn Future<Output = Result<Answer, UpstreamError>> + Send + 'a>> {
        Box::pin(async move {
            let timed_out = || UpstreamError::Timeout(self.request_timeout);
            let Shared { sender, id, slot } = shared;
            let first = self.send_h2(sender, parts, body.clone(), key, request_id);
            let error = match tokio::time::timeout_at(deadline, first)
                .await
                .map_err(|_| timed_out())?
            {
                Ok(answer) => return Ok(answer),
                Err(H2Failed::Final(error)) => return Err(error),
                Err(H2Failed::Again { error, gone }) => {
                    if gone {
                        self.h2.evict(slot, id);
                    }
                    error
                }
            };
            tracing::debug!(
                error = %crate::telemetry::error_chain(error.as_ref()),
                "the upstream did not process the request over HTTP/2; sending it again"
            );
            let fresh = match self.take_h2(slot, deadline).await? {
                Taken::H2(fresh) => fresh,
                // The upstream now speaks HTTP/1.1: the request fails as it failed.
                Taken::H1(_) | Taken::SpeaksH1 => return Err(UpstreamError::Unavailable(error)),
            };
            let again = self.send_h2(fresh.sender, parts, body, key, request_id);
            match tokio::time::timeout_at(deadline, again)
                .await
                .map_err(|_| timed_out())?
            {
                Ok(answer) => Ok(answer),
                Err(H2Failed::Final(error)) => Err(error),
                Err(H2Failed::Again { error, .. }) => {
                    tracing::debug!(
                        error = %crate::telemetry::error_chain(error.as_ref()),
                        same_connection = fresh.id == id,
                        "sent again over HTTP/2, and again not processed"
                    );
                    Err(UpstreamError::Unavailable(error))
                }
            }
        })
    }

    async fn send_h2(
        &self,
        sender: H2Sender,
        parts: &http::request::Parts,
        body: Bytes,
        key: &Secret,
        request_id: &HeaderValue,
    ) -> Result<Answer, H2Failed> {
        let request = rewrite_request(parts, &self.base, key, request_id, body.len(), &self.forward)
            .map_err(|e| H2Failed::Final(UpstreamError::Unavailable(e.into())))?;
        // Refused before its stream opened: the request never left the gateway.
        let not_sent = |e: h2::Error| {
            if unsent(&e) {
                H2Failed::Again {
                    error: e.into(),
                    gone: true,
                }
            } else {
                H2Failed::Final(UpstreamError::Unavailable(e.into()))
            }
        };
        let mut send = sender.send.ready().await.map_err(not_sent)?;
        let end = body.is_empty();
        let (response, mut stream) = send.send_request(request, end).map_err(not_sent)?;
        let sent = |e: h2::Error| match unprocessed(&e) {
            Some(Unprocessed::Refused) => H2Failed::Again {
                error: e.into(),
                gone: false,
            },
            Some(Unprocessed::Gone) => H2Failed::Again {
                error: e.into(),
                gone: true,
            },
            None if idempotent(&parts.method) && connection_lost(&e) => H2Failed::Again {
                error: e.into(),
                gone: true,
            },
            None => H2Failed::Final(UpstreamError::Unavailable(e.into())),
        };
        if !end {
            // Whole, in memory and bounded: h2 holds what the window does not yet let out.
            stream.send_data(body, true).map_err(sent)?;
        }
        let (mut head, recv) = response.await.map_err(sent)?.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let length = body_length(&parts.method, head.status, &head.headers);
        Ok(Response::from_parts(head, Body::streamed(H2Body::new(recv, None, length))).into())
    }
}

/// The length an answer's body declares, if it has one (not for HEAD, 204 or 304).
fn body_length(method: &Method, status: StatusCode, headers: &http::HeaderMap) -> Option<u64> {
    if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return None;
    }
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}
