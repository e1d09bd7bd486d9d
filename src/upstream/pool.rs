//! Idle HTTP/1.1 connections to the upstream, and the response body that gives its connection
//! back when the last byte is read.
//!
//! The pool is a stack under a plain mutex held for a push or a pop, never across an await:
//! the most recently used connection is taken first (its socket and TLS state are warm), and
//! the oldest are closed first when the pool is full or they have idled past
//! `pool_idle_timeout`. A connection is only pooled after a complete response with nothing
//! left over; before reuse it is checked for a close (or stray bytes) from the upstream.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};

use super::connect::Stream;
use crate::body::BoxError;
use crate::http1::{Decoded, Decoder};

/// Read buffer growth per read from the upstream.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// One HTTP/1.1 connection and what has been read from it but not consumed.
pub(super) struct Conn {
    pub io: Stream,
    pub buf: BytesMut,
    /// The request being written, kept between requests so its capacity is reused.
    pub out: Vec<u8>,
    /// Taken from the pool rather than just opened.
    pub reused: bool,
    /// The timer that bounds each exchange on this connection.
    pub alarm: Option<crate::alarm::Alarm>,
}

impl Conn {
    pub(super) fn new(io: Stream) -> Conn {
        Conn {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
            out: Vec::new(),
            reused: false,
            alarm: None,
        }
    }

    /// Whether the upstream closed this idle connection (or sent something unasked). Looks
    /// without waiting: a connection with nothing to read is open.
    fn closed_while_idle(&mut self) -> bool {
        self.io.closed_while_idle()
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Alone on its cache lines: each worker's pool is locked twice per request, and the pools of
/// the workers' clients are made one after the other.
#[repr(align(128))]
pub(super) struct Pool {
    idle: Mutex<VecDeque<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
    reaper: std::sync::Once,
}

impl Pool {
    pub(super) fn new(max_idle: usize, idle_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            idle: Mutex::new(VecDeque::new()),
            max_idle,
            idle_timeout,
            reaper: std::sync::Once::new(),
        })
    }

    /// The most recently pooled connection that is still usable at `now`.
    pub(super) fn checkout(&self, now: Instant) -> Option<Conn> {
        loop {
            let idle = self.lock().pop_back()?;
            if now.saturating_duration_since(idle.since) >= self.idle_timeout {
                // Everything older is expired too.
                self.close_expired();
                return None;
            }
            let mut conn = idle.conn;
            if conn.closed_while_idle() {
                continue;
            }
            conn.reused = true;
            return Some(conn);
        }
    }

    /// Keeps `conn` for a later request, if it is clean and there is room. `since` is when it
    /// became idle, or any time before (the request's start saves a clock read): an earlier
    /// stamp can only retire the connection early, never keep it past `pool_idle_timeout`.
    pub(super) fn checkin(self: &Arc<Self>, conn: Conn, since: Instant) {
        if !conn.buf.is_empty() || self.max_idle == 0 {
            return;
        }
        let evicted = {
            let mut idle = self.lock();
            let evicted = (idle.len() >= self.max_idle).then(|| idle.pop_front());
            idle.push_back(Idle { conn, since });
            evicted
        };
        // Closing a socket is a system call: not under the lock.
        drop(evicted);
        self.reaper.call_once(|| self.start_reaper());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        // A panic elsewhere cannot leave the queue half-updated: take it as it is.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the connections idle for `idle_timeout` or longer (the oldest are at the front).
    fn close_expired(&self) {
        let expired: Vec<Idle> = {
            let mut idle = self.lock();
            let keep = idle
                .iter()
                .position(|i| i.since.elapsed() < self.idle_timeout)
                .unwrap_or(idle.len());
            idle.drain(..keep).collect()
        };
        drop(expired);
    }

    /// Closes expired connections even when no request comes to notice them. Holds the pool
    /// weakly, so it ends with the pool.
    fn start_reaper(self: &Arc<Self>) {
        let pool: Weak<Pool> = Arc::downgrade(self);
        let every = (self.idle_timeout / 2).max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match pool.upgrade() {
                    Some(pool) => pool.close_expired(),
                    None => return,
                }
            }
        });
    }
}

/// A response body read from its connection as the caller reads it; the connection goes back
/// to the pool when the body is complete, or is closed if the body is dropped half-read. An
/// upstream that sends nothing for `stall_after` mid-body fails the body, so a stuck upstream
/// cannot hold the caller's connection forever.
pub(super) struct PooledBody {
    conn: Option<Conn>,
    decoder: Decoder,
    reusable: bool,
    pool: Arc<Pool>,
    stall_after: Duration,
    /// Armed at the first wait for bytes, pushed back whenever some arrive.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl PooledBody {
    pub(super) fn new(
        conn: Conn,
        decoder: Decoder,
        reusable: bool,
        pool: Arc<Pool>,
        stall_after: Duration,
    ) -> PooledBody {
        PooledBody {
            conn: Some(conn),
            decoder,
            reusable,
            pool,
            stall_after,
            stall: None,
        }
    }

    fn release(&mut self) {
        self.decoder = Decoder::Done;
        if let Some(conn) = self.conn.take() {
            if self.reusable {
                self.pool.checkin(conn, crate::wake_time::now());
            }
        }
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let decoded = match this.decoder.decode(&mut conn.buf) {
                Ok(Decoded::NeedMore) => {
                    conn.buf.reserve(READ_CHUNK);
                    match tokio_util::io::poll_read_buf(Pin::new(&mut conn.io), cx, &mut conn.buf) {
                        Poll::Ready(Ok(0)) => {
                            this.reusable = false;
                            this.decoder.closed()
                        }
                        Poll::Ready(Ok(_)) => {
                            if let Some(stall) = this.stall.as_mut() {
                                stall.as_mut().reset(tokio::time::Instant::now() + this.stall_after);
                            }
                            continue;
                        }
                        Poll::Ready(Err(e)) => {
                            this.conn = None;
                            return Poll::Ready(Some(Err(e.into())));
                        }
                        Poll::Pending => {
                            let after = this.stall_after;
                            let stall = this.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
                            if stall.as_mut().poll(cx).is_pending() {
                                return Poll::Pending;
                            }
                            this.conn = None;
                            let stalled: BoxError = format!("the upstream sent no body bytes for {after:?}").into();
                            return Poll::Ready(Some(Err(stalled)));
                        }
                    }
                }
                decoded => decoded,
            };
            return match decoded {
                Ok(Decoded::Data(data)) => {
                    if this.decoder.is_done() {
                        this.release();
                    }
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Ok(Decoded::End) => {
                    this.release();
                    Poll::Ready(None)
                }
                Ok(Decoded::NeedMore) => continue,
                Err(e) => {
                    this.conn = None;
                    Poll::Ready(Some(Err(e.into())))
                }
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
