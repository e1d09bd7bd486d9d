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
//! Sending again (once, `send.rs`): a request the upstream cannot have processed, by the
//! protocol's own word, is sent once more: on a fresh connection if its stream lay above the
//! last stream id of the upstream's GOAWAY or it never left the gateway because the connection
//! closed or went away first; on the slot's connection if its stream was refused
//! (`REFUSED_STREAM`). An idempotent request that failed on a closed or reset connection before
//! any answer is sent again too, as over HTTP/1.1. Anything else (a stream reset after the
//! upstream took it, a protocol error) fails with its cause, which the upstream failure log
//! and counter name.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::time::Instant;

use super::{Client, Opened};

mod send;
use crate::body::BoxError;
use crate::http1::MAX_RESPONSE_HEAD;
use crate::upstream::connect::Stream;
use crate::upstream::failure::WaitedConnect;
use crate::upstream::pool::Conn;
use crate::upstream::UpstreamError;

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

    /// A new connection's handle, named for `slot`; the upstream is now known to speak h2.
    fn named(&self, slot: usize, sender: H2Sender) -> Shared {
        self.speaks.store(H2, Ordering::Relaxed);
        Shared {
            sender,
            id: self.ids.fetch_add(1, Ordering::Relaxed),
            slot,
        }
    }

    fn install(&self, slot: usize, sender: H2Sender) -> Shared {
        let shared = self.named(slot, sender);
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
        self.named(slot, sender)
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
        self.lock().open()
    }
}

impl SlotState {
    fn open(&self) -> Option<Shared> {
        self.conn.clone().filter(|c| !c.sender.is_closed())
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
            if let Some(shared) = state.open() {
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
}
