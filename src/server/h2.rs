//! HTTP/2 connections (h2 by ALPN, or h2c with prior knowledge), served on the `h2` crate
//! under the timers of `supervise.rs`. A plaintext connection is known to be HTTP/2 only once
//! its first bytes were read by the HTTP/1.1 side; they are given back ahead of the socket.
//!
//! The `h2` crate does the framing, HPACK, flow control and the stream-abuse bounds (resets,
//! header lists, concurrent streams); this file accepts streams, runs each request on a task
//! of its own and writes the answer back within the peer's flow-control window. Serving the
//! streams here rather than through hyper's server gives the gateway what hyper keeps to
//! itself:
//! - `Expect: 100-continue` is answered: a `100` goes out when the request's body is first
//!   read (`body::H2Body`), none if the request is refused from its head;
//! - an answer to HEAD is its HEADERS frame with END_STREAM, the length a GET would get kept.
//!
//! Each connection pings its peer (`h2/keep_alive.rs`: every 30 s, closed if unanswered for 20 s)
//! so a peer that vanished does not hold its streams until their own
//! timeouts.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::{Connection, Handshake, SendResponse};
use h2::{RecvStream, SendStream};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use super::grace::{Expiry, Graced};
use super::supervise::{supervise, Activity, InFlight, Rewound};
use super::Accepted;
use crate::answer::Answer;
use crate::body::{Body, BoxError, H2Body, RequestBody};
use crate::tls::PeerIdentity;

mod keep_alive;

use keep_alive::KeepAlive;

/// Flow-control windows offered to callers, per stream and per connection.
const WINDOW: u32 = 1024 * 1024;
/// Bytes of answer buffered per stream ahead of the peer's window.
const SEND_BUFFER: usize = 400 * 1024;

/// The HTTP/2 settings the listener offers.
pub(super) fn settings(max_header_list: u32) -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .max_header_list_size(max_header_list)
        .max_concurrent_streams(256)
        .initial_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .max_send_buffer_size(SEND_BUFFER);
    builder
}

/// What each stream needs to be served.
struct Streamer<H> {
    handler: H,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    activity: Arc<Activity>,
    /// The end of the grace period: each stream runs on a task of its own, so each registers.
    expiry: &'static Expiry,
}

/// Serves one HTTP/2 connection until it ends; `rewound` are the bytes the HTTP/1.1 side read
/// before it saw the preface.
pub(super) async fn serve<IO, H, F>(conn: &mut Accepted<H>, io: IO, rewound: Bytes)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let peer = conn.peer;
    let streamer = Streamer {
        handler: conn.handler.clone(),
        peer,
        identity: conn.identity.take(),
        activity: activity.clone(),
        expiry: conn.expiry,
    };
    let served = H2Conn {
        state: State::Handshaking(Box::pin(conn.connections.http2.handshake(Rewound { io, rewound }))),
        streamer,
        closing: false,
    };
    tokio::pin!(served);
    // The preface and the first SETTINGS are read under the first head's deadline, as with
    // HTTP/1.1.
    let timers = conn.connections.timers;
    let ended = supervise(
        served.as_mut(),
        H2Conn::close_gracefully,
        &activity,
        timers,
        &mut conn.stop,
    )
    .await;
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %crate::telemetry::error_chain(&e), "connection ended with an error");
    }
}

/// One connection as a future: the handshake, then accepting streams until the peer or a
/// graceful close ends it.
struct H2Conn<IO, H> {
    state: State<IO>,
    streamer: Streamer<H>,
    /// A graceful close was asked for (before the handshake ended, it is applied after).
    closing: bool,
}

// Nothing in it relies on staying put: the handshake, the connection and the timer are boxed.
impl<IO, H> Unpin for H2Conn<IO, H> {}

enum State<IO> {
    Handshaking(Pin<Box<Handshake<Rewound<IO>, Bytes>>>),
    Serving {
        conn: Box<Connection<Rewound<IO>, Bytes>>,
        keep_alive: KeepAlive,
    },
}

impl<IO, H, F> H2Conn<IO, H>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    /// GOAWAY, then serve the streams already open until they end.
    fn close_gracefully(self: Pin<&mut Self>) {
        let this = self.get_mut();
        this.closing = true;
        if let State::Serving { conn, .. } = &mut this.state {
            conn.graceful_shutdown();
        }
    }
}

impl<IO, H, F> Future for H2Conn<IO, H>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    type Output = Result<(), h2::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Handshaking(handshake) => {
                    let mut conn = match handshake.as_mut().poll(cx) {
                        Poll::Ready(Ok(conn)) => Box::new(conn),
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    };
                    if this.closing {
                        conn.graceful_shutdown();
                    }
                    let keep_alive = KeepAlive::new(conn.ping_pong());
                    this.state = State::Serving { conn, keep_alive };
                }
                State::Serving { conn, keep_alive } => {
                    // Accepting also drives the connection: reads frames, writes what the
                    // streams queued.
                    match conn.poll_accept(cx) {
                        Poll::Ready(Some(Ok((request, respond)))) => {
                            let busy = this.streamer.activity.begin();
                            tokio::spawn(this.streamer.serve(request, respond, busy));
                        }
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                        Poll::Ready(None) => return Poll::Ready(Ok(())),
                        Poll::Pending => {
                            if let Poll::Ready(lost) = keep_alive.poll(cx) {
                                tracing::debug!(peer = %this.streamer.peer, "{lost}; closing");
                                conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                                // Polled on: the GOAWAY is written, then the connection ends.
                                continue;
                            }
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }
}

impl<H, F> Streamer<H>
where
    H: Fn(hyper::Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    /// The task of one stream: the request to the handler, its answer back.
    fn serve(
        &self,
        request: Request<RecvStream>,
        mut respond: SendResponse<Bytes>,
        busy: InFlight,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (mut parts, recv) = request.into_parts();
        if let Some(identity) = &self.identity {
            parts.extensions.insert(identity.clone());
        }
        let head_only = parts.method == Method::HEAD;
        let (go_on, asked_to_go_on) = if expects_continue(&parts.headers) && !recv.is_end_stream() {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let length = declared_length(&parts.headers);
        let body = RequestBody::Http2(H2Body::new(recv, go_on, length));
        let answer = Graced::registered((self.handler)(Request::from_parts(parts, body), self.peer), self.expiry);
        let peer = self.peer;
        async move {
            let Some(answer) = answer_unless_reset(answer, &mut respond, asked_to_go_on).await else {
                return;
            };
            if let Err(e) = respond_with(respond, answer.into_response(), head_only).await {
                tracing::debug!(%peer, error = %crate::telemetry::error_chain(&*e), "HTTP/2 stream ended with an error");
            }
            drop(busy);
        }
    }
}

/// Waits for the handler's answer, sending `100 Continue` when its body is first read; `None`
/// if the client reset the stream first (the handler is dropped: nobody waits for it).
async fn answer_unless_reset<F: Future<Output = Answer>>(
    answer: F,
    respond: &mut SendResponse<Bytes>,
    mut asked_to_go_on: Option<oneshot::Receiver<()>>,
) -> Option<Answer> {
    let mut answer = std::pin::pin!(answer);
    poll_fn(|cx| {
        if let Some(asked) = asked_to_go_on.as_mut() {
            if let Poll::Ready(asked) = Pin::new(asked).poll(cx) {
                asked_to_go_on = None;
                if asked.is_ok() {
                    let mut go_on = Response::new(());
                    *go_on.status_mut() = StatusCode::CONTINUE;
                    let _ = respond.send_informational(go_on);
                }
            }
        }
        if let Poll::Ready(answer) = answer.as_mut().poll(cx) {
            return Poll::Ready(Some(answer));
        }
        match respond.poll_reset(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Sends the answer's head and, unless the request was HEAD, its body within the peer's
/// flow-control window, then its trailers if any.
async fn respond_with(
    mut respond: SendResponse<Bytes>,
    response: Response<Body>,
    head_only: bool,
) -> Result<(), BoxError> {
    let (mut head, body) = response.into_parts();
    // HTTP/2 has no connection-specific fields (RFC 9113 §8.2.2); h2 refuses a head with any.
    crate::upstream::strip_hop_by_hop(&mut head.headers);
    if !head.headers.contains_key(header::CONTENT_LENGTH) {
        if let Some(length) = body.size_hint().exact() {
            head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    if !head.headers.contains_key(header::DATE) {
        if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now())) {
            head.headers.insert(header::DATE, date);
        }
    }
    let end = head_only || body.is_end_stream();
    let mut stream = respond.send_response(Response::from_parts(head, ()), end)?;
    if end {
        return Ok(());
    }
    let mut body = std::pin::pin!(body);
    loop {
        match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => {
                stream.send_data(Bytes::new(), true)?;
                return Ok(());
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let last = body.is_end_stream();
                    send_within_window(&mut stream, data, last).await?;
                    if last {
                        return Ok(());
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        stream.send_trailers(trailers)?;
                        return Ok(());
                    }
                }
            },
            Some(Err(e)) => {
                // The client must not take a cut answer for a whole one.
                stream.send_reset(h2::Reason::INTERNAL_ERROR);
                return Err(e);
            }
        }
    }
}

/// Sends `data` as the peer's window opens; `last` ends the stream with it.
async fn send_within_window(stream: &mut SendStream<Bytes>, mut data: Bytes, last: bool) -> Result<(), BoxError> {
    if data.is_empty() {
        if last {
            stream.send_data(data, true)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err("the stream closed before its answer was sent".into()),
        };
        if granted == 0 {
            continue;
        }
        let piece = data.split_to(granted.min(data.len()));
        stream.send_data(piece, last && data.is_empty())?;
    }
    Ok(())
}

fn expects_continue(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_100_continue_expectation_asks_for_one() {
        let mut headers = http::HeaderMap::new();
        assert!(!expects_continue(&headers));
        headers.insert(header::EXPECT, HeaderValue::from_static("100-Continue"));
        assert!(expects_continue(&headers));
        headers.insert(header::EXPECT, HeaderValue::from_static("something-else"));
        assert!(!expects_continue(&headers));
    }

    #[test]
    fn a_declared_length_is_read_and_a_bad_one_is_none() {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("42"));
        assert_eq!(declared_length(&headers), Some(42));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("4x"));
        assert_eq!(declared_length(&headers), None);
    }
}
