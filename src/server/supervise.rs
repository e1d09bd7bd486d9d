//! Supervising one HTTP/2 connection: the head and idle timers, the
//! in-flight count, and the socket wrapper that gives back the bytes read before the preface.
//! HTTP/1.1 connections keep their own, simpler clock in `h1.rs`.
//!
//! The two timers:
//! - `header_read_timeout`: the first request must arrive within it of the accept, or the
//!   connection is dropped.
//! - `idle_timeout`: a connection with no request in flight for this long is closed
//!   gracefully (GOAWAY).
//!
//! A request is in flight from the moment its stream is accepted until its response body is
//! done, so a slow upstream or a slow body never counts as idle; those have their own bounds
//! (`upstream.request_timeout`, `body_read_timeout`).
//!
//! Both timers share one `Sleep` per connection, checked in the same poll as the connection
//! itself, so a request costs no timer insertion and no extra wake-up of the connection task.
//! Streams end on their own tasks, unseen: while any is in flight the sleep stays armed at
//! most `idle_timeout` ahead, so an end is noticed before the idle period that runs from it is
//! over, and the close still comes on time.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::alarm::Alarm;

#[derive(Debug, Clone, Copy)]
pub(super) struct Timers {
    pub header_read: Duration,
    pub idle: Duration,
}

/// Drives `conn` until it ends, applying the head and idle timers and the shutdown signal. The
/// loop here turns only on a shutdown, an idle close or a head timeout; requests pass inside
/// `Watchdog::poll_conn`.
pub(super) async fn supervise<C, E>(
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
    let mut watchdog = Watchdog {
        armed: Some(activity.at(0) + timers.header_read),
        alarm: Alarm::new(activity.at(0) + timers.header_read),
    };
    loop {
        let watched = std::future::poll_fn(|cx| watchdog.poll_conn(cx, conn.as_mut(), activity, timers, closing));
        let event = tokio::select! {
            biased;
            event = watched => event,
            _ = stop.wait_for(|stop| *stop), if !closing => Event::Stop,
        };
        match event {
            Event::Ended(ended) => return ended,
            Event::HeadTimeout => {
                // Dropping the connection closes the socket; nothing has been answered yet.
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

/// A connection's one timer (the same `Alarm` every connection keeps) and the deadline it is
/// armed for (`None` once it has gone off).
struct Watchdog {
    armed: Option<Instant>,
    alarm: Alarm,
}

impl Watchdog {
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
            self.armed = Some(due);
            if self.alarm.poll_until(cx, due).is_pending() {
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
/// All but one access happen on the connection's task: streams are accepted and begun
/// there, so those are Relaxed. The exception is a stream ending on its own task, whose
/// Release on `in_flight` publishes `idle_since` to the supervisor's Acquire.
pub(super) struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    /// When the last request ended (or the accept).
    idle_since: AtomicU64,
    /// The first request is due from the accept (0) until a request has ended (`NONE`); after
    /// that, bytes between requests are pings and window updates, not a head.
    head_started: AtomicU64,
}

enum Verdict {
    Busy,
    Until(Instant),
    HeadTimeout,
    Idle,
}

impl Activity {
    pub(super) fn new() -> Activity {
        Activity {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.accepted).as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, millis: u64) -> Instant {
        self.accepted + Duration::from_millis(millis)
    }

    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn verdict(&self, now: Instant, timers: Timers) -> Verdict {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::Busy;
        }
        let started = self.head_started.load(Ordering::Relaxed);
        if started != NONE {
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
pub(super) struct InFlight(Arc<Activity>);

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

/// The accepted socket with the bytes already read from it (by the HTTP/1.1 side, before it
/// saw the HTTP/2 preface) put back in front.
pub(super) struct Rewound<IO> {
    pub io: IO,
    pub rewound: Bytes,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewound<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.rewound.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.rewound.len().min(buf.remaining());
        buf.put_slice(&this.rewound[..n]);
        this.rewound.advance(n);
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

#[cfg(test)]
mod tests;
