//! An HTTP/2 connection's keep-alive: a ping every `KEEP_ALIVE`, and the peer deemed gone if
//! one stays unanswered for `KEEP_ALIVE_TIMEOUT`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use h2::{Ping, PingPong};
use tokio::time::{Instant, Sleep};

/// How often an HTTP/2 connection pings its peer.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection is closed.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The connection's keep-alive: a ping every `KEEP_ALIVE`, the connection given up if one
/// stays unanswered for `KEEP_ALIVE_TIMEOUT`.
pub(super) struct KeepAlive {
    ping_pong: Option<PingPong>,
    timer: Pin<Box<Sleep>>,
    awaiting_pong: bool,
}

impl KeepAlive {
    pub(super) fn new(ping_pong: Option<PingPong>) -> KeepAlive {
        KeepAlive {
            ping_pong,
            timer: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
            awaiting_pong: false,
        }
    }

    /// Ready with a reason when the peer is deemed gone.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<&'static str> {
        let Some(ping_pong) = self.ping_pong.as_mut() else {
            return Poll::Pending;
        };
        loop {
            if self.awaiting_pong {
                match ping_pong.poll_pong(cx) {
                    Poll::Ready(Ok(_)) => {
                        self.awaiting_pong = false;
                        self.timer.as_mut().reset(Instant::now() + KEEP_ALIVE);
                        continue;
                    }
                    Poll::Ready(Err(_)) => {
                        self.ping_pong = None;
                        return Poll::Pending;
                    }
                    Poll::Pending => {}
                }
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.awaiting_pong {
                return Poll::Ready("keep-alive ping not answered");
            }
            if ping_pong.send_ping(Ping::opaque()).is_err() {
                self.ping_pong = None;
                return Poll::Pending;
            }
            self.awaiting_pong = true;
            self.timer.as_mut().reset(Instant::now() + KEEP_ALIVE_TIMEOUT);
        }
    }
}
