//! A body arriving on an HTTP/2 stream (a caller's request, or the upstream's answer): DATA
//! frames as they come, each giving its flow-control window back once handed over, then the
//! trailers if any.
//!
//! A request that asked for `Expect: 100-continue` is told to go on the first time its body is
//! asked for, as the HTTP/1.1 listener does: a request refused from its head (credentials,
//! route, budgets) is answered without the client ever sending the body.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::oneshot;

use super::BoxError;

pub struct H2Body {
    recv: h2::RecvStream,
    /// Fired on the first read when the client waits for a `100 Continue`.
    go_on: Option<oneshot::Sender<()>>,
    /// The declared `content-length` (h2 itself holds the DATA frames to it).
    length: Option<u64>,
    data_done: bool,
}

impl H2Body {
    pub fn new(recv: h2::RecvStream, go_on: Option<oneshot::Sender<()>>, length: Option<u64>) -> H2Body {
        H2Body {
            recv,
            go_on,
            length,
            data_done: false,
        }
    }
}

impl http_body::Body for H2Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(go_on) = this.go_on.take() {
            let _ = go_on.send(());
        }
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // The window is ours to give back: the bytes are now the reader's.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e.into()))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.recv.is_end_stream() {
            return SizeHint::with_exact(0);
        }
        match self.length {
            Some(length) => SizeHint::with_exact(length),
            None => SizeHint::default(),
        }
    }
}
