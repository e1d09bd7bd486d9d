//! HTTP/1.1 connections, served by the gateway itself: the head is parsed with httparse
//! straight into the request (`http1::parse_request_head`), the handler runs on the connection's own task,
//! and the response is written back in as few writes as it allows (`h1/write.rs`). This loop
//! moves bytes and keeps time; what the bytes mean is `http1`'s. hyper
//! serves HTTP/2 (`h2.rs`); a connection that opens with the HTTP/2 preface is handed there.
//!
//! The connection bounds live in this loop:
//! - `header_read_timeout`: the first head is due from the accept; a later one from its first
//!   byte. A head not complete by then closes the connection without an answer.
//! - `idle_timeout`: a connection with no request in flight and no byte of a new one for this
//!   long is closed.
//! - `max_header_bytes` / `max_headers`: 431 and close. A malformed head or ambiguous framing:
//!   400 and close. Each answer is an envelope.
//! - An answer sent before the request's body was read to its end (413, 401, a broken chunk)
//!   closes the connection; what the caller still sends is read and dropped for a bounded
//!   time first (`h1/close.rs`), as after a refused head.
//! - Shutdown: an idle connection closes at once; one with a request in flight finishes it,
//!   answers with `connection: close` and closes.
//! - A caller that does not take its answer for `idle_timeout` is closed as idle.
//!
//! One timer per connection (`alarm::Alarm`), so a request costs no timer insertion. A body
//! that arrived with its head goes to the handler whole; one still arriving is read as the
//! handler asks for it (`h1/body.rs`), which is also when `Expect: 100-continue` is answered.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Request;
use http_body_util::Full;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::alarm::Alarm;
use crate::answer::Answer;
use crate::body::{pipe, RequestBody};
use crate::http1::{parse_request_head, Decoder, RequestHead};
use crate::tls::PeerIdentity;
use crate::wake_time;

mod body;
mod close;
#[cfg(fuzzing)]
pub mod fuzz_logic;
mod write;

pub(crate) use crate::http1::HeadLimits;
use body::{alongside, pump_body};
use close::{linger, refuse, LINGER_BYTES};
use write::{write_response, Answering};

/// What every HTTP/2 connection opens with.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The listener's read buffer's usual size; a head may grow it up to `max_header_bytes`.
const READ_BUFFER: usize = 8 * 1024;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub head: HeadLimits,
    pub header_read: Duration,
    pub idle: Duration,
}

/// How a connection ended.
pub(super) enum Ended<IO> {
    Closed,
    /// It opened with the HTTP/2 preface: the bytes read so far and the socket.
    Http2(Bytes, IO),
}

/// Serves `io` until it closes, times out or is told to stop. The first head is due
/// `header_read_timeout` after `accepted`.
pub(super) async fn serve<IO, H, F>(
    mut io: IO,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    settings: Settings,
    accepted: Instant,
    handler: &H,
    stop: &watch::Receiver<bool>,
) -> io::Result<Ended<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<RequestBody>, SocketAddr) -> F,
    F: Future<Output = Answer>,
{
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let mut out = Vec::with_capacity(1024);
    // Each request's steps, in a heap block made by the first request and reused by the next.
    let mut steps: Option<Pin<Box<F>>> = None;
    let mut stop_rx = stop.clone();
    let mut stopped = pin!(stop_rx.wait_for(|stop| *stop));
    let mut clock = Clock {
        alarm: Alarm::new(accepted + settings.header_read),
        head_started: Some(accepted),
        idle_since: accepted,
        first: true,
    };
    loop {
        let head = match next_head(
            &mut io,
            &mut buf,
            &mut out,
            &mut clock,
            stopped.as_mut(),
            settings,
            peer,
        )
        .await?
        {
            Next::Head(head) => head,
            Next::Http2 => return Ok(Ended::Http2(buf.freeze(), io)),
            Next::Closed => return Ok(Ended::Closed),
        };
        clock.first = false;
        clock.head_started = None;

        let RequestHead {
            parts,
            body: decoder,
            keep_alive,
            expect_continue,
        } = head;
        let method = parts.method.clone();
        let version = parts.version;
        let (body, pump) = match decoder {
            Decoder::Length(0) => (RequestBody::empty(), None),
            Decoder::Length(n) if buf.len() as u64 >= n => {
                (RequestBody::Whole(Full::new(buf.split_to(n as usize).freeze())), None)
            }
            decoder => {
                let (tx, rx) = pipe();
                (RequestBody::Piped(rx), Some((tx, decoder)))
            }
        };
        let mut request = Request::from_parts(parts, body);
        if let Some(identity) = &identity {
            request.extensions_mut().insert(identity.clone());
        }
        // The handler's future goes straight into the connection's heap block for it: a
        // request's steps are a few KiB, and this spares an allocation and a free per request.
        // The body bytes the caller may still send if the handler answers before reading them
        // all (None: unknown, chunked).
        let mut unread = Some(0);
        let (response, body_complete) = match pump {
            None => (reuse(&mut steps, || handler(request, peer)).await, true),
            Some((tx, mut decoder)) => {
                let pumping = pump_body(&mut io, &mut buf, &mut decoder, expect_continue, tx);
                let answered = alongside(reuse(&mut steps, || handler(request, peer)), pumping).await;
                unread = decoder.remaining().map(|left| left.saturating_sub(buf.len() as u64));
                answered
            }
        };
        let answering = Answering {
            method: &method,
            version,
            keep_alive: keep_alive && body_complete && !*stop.borrow(),
        };
        // A caller that stops reading its answer for idle_timeout is idle too.
        let idle_from_now = || wake_time::tokio_now() + settings.idle;
        // Pinned where it is made: moved into `bound` it would be copied twice, a few hundred
        // bytes each time.
        let written = {
            let writing = pin!(write_response(&mut io, &mut out, response, answering));
            clock.alarm.bound(idle_from_now, writing).await
        };
        let Some(written) = written else {
            tracing::debug!(%peer, "the answer was not taken within idle_timeout; closing");
            return Ok(Ended::Closed);
        };
        if !written? {
            if body_complete {
                let _ = io.shutdown().await;
            } else {
                // Answered before its body was read (413, 401...): the rest of the body is
                // still coming, and closing on it would reset the connection under the answer.
                // Boxed, like `refuse`: its read buffer stays out of every connection's state.
                let bound = unread.map_or(LINGER_BYTES, |left| left.min(LINGER_BYTES as u64) as usize);
                Box::pin(linger(&mut io, bound)).await;
            }
            return Ok(Ended::Closed);
        }
        clock.idle_since = wake_time::tokio_now();
        if !buf.is_empty() {
            // The next head came with this one (pipelining): it is due from now.
            clock.head_started = Some(clock.idle_since);
        }
    }
}

/// Makes the next request's future in `slot`'s heap block (allocated the first time), in place
/// of the future of the request before, which has finished.
///
/// `make` is called with the block already emptied so that its result can be written straight
/// into it: a future made first and then moved in is copied whole, all of its states' room (a
/// few KiB) where making it writes only its arguments (a few hundred bytes).
#[allow(unsafe_code)] // the one way to build a value in a block already allocated
fn reuse<F: Future>(slot: &mut Option<Pin<Box<F>>>, make: impl FnOnce() -> F) -> Pin<&mut F> {
    let boxed = match slot.take() {
        None => Box::pin(make()),
        Some(boxed) => {
            // SAFETY: the future is dropped where it is pinned, as `Pin` requires, and never
            // touched again; the block then holds no value, which `MaybeUninit` says, until
            // `write` fills it and `assume_init` says so. Were `make` to panic, the empty block
            // is freed without a drop. Nothing moves a pinned value.
            let mut empty: Box<MaybeUninit<F>> = unsafe {
                let raw = Box::into_raw(Pin::into_inner_unchecked(boxed));
                std::ptr::drop_in_place(raw);
                Box::from_raw(raw.cast())
            };
            empty.write(make());
            // SAFETY: written just above.
            Box::into_pin(unsafe { empty.assume_init() })
        }
    };
    slot.insert(boxed).as_mut()
}

/// What the connection holds next. Returned once per request and taken apart at once: boxing
/// the head would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Next {
    Head(RequestHead),
    /// It opened with the HTTP/2 preface (all of it is in the buffer).
    Http2,
    Closed,
}

/// Reads until a whole head is in `buf` and takes it off, answering a refused one; or finds
/// the connection is done (closed, timed out, told to stop) or speaks HTTP/2.
async fn next_head<IO: AsyncRead + AsyncWrite + Unpin>(
    io: &mut IO,
    buf: &mut BytesMut,
    out: &mut Vec<u8>,
    clock: &mut Clock,
    mut stopped: Pin<&mut impl Future>,
    settings: Settings,
    peer: SocketAddr,
) -> io::Result<Next> {
    loop {
        if clock.first && !buf.is_empty() && PREFACE.starts_with(&buf[..buf.len().min(PREFACE.len())]) {
            if buf.len() >= PREFACE.len() {
                return Ok(Next::Http2);
            }
        } else {
            match parse_request_head(buf, settings.head) {
                Ok(Some(head)) => return Ok(Next::Head(head)),
                Ok(None) => {}
                Err(refused) => {
                    tracing::debug!(%peer, error = %refused, "request head refused");
                    // Boxed: a rare path, kept out of the state every request moves.
                    Box::pin(refuse(io, out, refused)).await?;
                    return Ok(Next::Closed);
                }
            }
        }
        if !buf.is_empty() && clock.head_started.is_none() {
            clock.head_started = Some(wake_time::tokio_now());
        }
        match clock.wait_for_bytes(io, buf, stopped.as_mut(), settings).await {
            Wait::Read(0) => {
                if !buf.is_empty() {
                    tracing::debug!(%peer, "connection closed in the middle of a request head");
                }
                return Ok(Next::Closed);
            }
            Wait::Read(_) => {}
            Wait::Failed(e) => return Err(e),
            Wait::HeadTimeout => {
                tracing::debug!(%peer, "request head not received within header_read_timeout; closing");
                return Ok(Next::Closed);
            }
            Wait::Idle | Wait::Stop => return Ok(Next::Closed),
        }
    }
}

/// Space to read into. Heads are split off the buffer's front, so its free space moves along
/// the allocation; once the last request's head is dropped, reading starts again at the
/// beginning, in the same few cache lines each time rather than in a colder part.
fn make_room(buf: &mut BytesMut) {
    if buf.is_empty() {
        let _ = buf.try_reclaim(READ_BUFFER);
    }
    if buf.capacity() - buf.len() < READ_BUFFER / 4 {
        buf.reserve(READ_BUFFER);
    }
}

/// What waiting for the next bytes of a head came to.
enum Wait {
    Read(usize),
    Failed(io::Error),
    HeadTimeout,
    Idle,
    Stop,
}

/// The connection's one timer and the times it is measured from.
struct Clock {
    alarm: Alarm,
    /// When the head being read started (the accept, for the first).
    head_started: Option<Instant>,
    /// When the last response was written.
    idle_since: Instant,
    /// No request has come yet (only the first may open with the HTTP/2 preface).
    first: bool,
}

impl Clock {
    async fn wait_for_bytes<IO: AsyncRead + Unpin>(
        &mut self,
        io: &mut IO,
        buf: &mut BytesMut,
        mut stopped: Pin<&mut impl Future>,
        settings: Settings,
    ) -> Wait {
        let (due, late) = match self.head_started {
            Some(started) => (started + settings.header_read, Wait::HeadTimeout),
            None => (self.idle_since + settings.idle, Wait::Idle),
        };
        let mut late = Some(late);
        make_room(buf);
        std::future::poll_fn(|cx| {
            match tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, buf) {
                Poll::Ready(Ok(n)) => return Poll::Ready(Wait::Read(n)),
                Poll::Ready(Err(e)) => return Poll::Ready(Wait::Failed(e)),
                Poll::Pending => {}
            }
            if buf.is_empty() && stopped.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wait::Stop);
            }
            self.alarm
                .poll_until(cx, due)
                .map(|()| late.take().unwrap_or(Wait::Idle))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
