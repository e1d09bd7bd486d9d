//! A one-piece pipe for a request body that is still arriving: the connection reads the next
//! piece off the socket only once the request's handler asks for one, so a body nobody reads is
//! never read (and `Expect: 100-continue` is answered only when it is wanted).

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::BoxError;

#[derive(Default)]
struct Slot {
    piece: Option<Result<Bytes, BoxError>>,
    /// The handler is waiting for a piece.
    wanted: bool,
    /// No more pieces will come (the sender finished or went away).
    ended: bool,
    receiver_gone: bool,
    receiver: Option<Waker>,
    sender: Option<Waker>,
}

#[derive(Default)]
struct Shared(Mutex<Slot>);

impl Shared {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        // A panic elsewhere cannot leave the slot half-written: every update is one assignment.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Keeps the waiting task's waker (once per task, not per poll).
fn park(waiter: &mut Option<Waker>, cx: &Context<'_>) {
    if !waiter.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *waiter = Some(cx.waker().clone());
    }
}

fn wake(waiter: &mut Option<Waker>) {
    if let Some(waker) = waiter.take() {
        waker.wake();
    }
}

/// Creates a pipe: the connection keeps the sender, the request body the receiver.
pub fn pipe() -> (PipeSender, PipeReceiver) {
    let shared = Arc::new(Shared::default());
    (PipeSender(shared.clone()), PipeReceiver(shared))
}

/// The connection's end. Dropping it ends the body; a body that was not complete by then must
/// have been given an error first.
pub struct PipeSender(Arc<Shared>);

impl PipeSender {
    /// Ready with `true` when the handler waits for a piece and none is pending, `false` once
    /// the body was dropped.
    pub fn poll_wanted(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut slot = self.0.slot();
        if slot.receiver_gone {
            return Poll::Ready(false);
        }
        if slot.wanted && slot.piece.is_none() {
            return Poll::Ready(true);
        }
        park(&mut slot.sender, cx);
        Poll::Pending
    }

    pub async fn wanted(&self) -> bool {
        std::future::poll_fn(|cx| self.poll_wanted(cx)).await
    }

    /// Hands over the next piece (or the error that ends the body).
    pub fn send(&self, piece: Result<Bytes, BoxError>) {
        let mut slot = self.0.slot();
        slot.piece = Some(piece);
        slot.wanted = false;
        wake(&mut slot.receiver);
    }
}

impl Drop for PipeSender {
    fn drop(&mut self) {
        let mut slot = self.0.slot();
        slot.ended = true;
        wake(&mut slot.receiver);
    }
}

/// The request body's end.
pub struct PipeReceiver(Arc<Shared>);

impl PipeReceiver {
    pub(super) fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        let mut slot = self.0.slot();
        if let Some(piece) = slot.piece.take() {
            return Poll::Ready(Some(piece));
        }
        if slot.ended {
            return Poll::Ready(None);
        }
        slot.wanted = true;
        park(&mut slot.receiver, cx);
        wake(&mut slot.sender);
        Poll::Pending
    }

    pub(super) fn is_end_stream(&self) -> bool {
        let slot = self.0.slot();
        slot.ended && slot.piece.is_none()
    }
}

impl Drop for PipeReceiver {
    fn drop(&mut self) {
        let mut slot = self.0.slot();
        slot.receiver_gone = true;
        wake(&mut slot.sender);
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use http_body_util::BodyExt;

    use super::*;
    use crate::body::RequestBody;

    #[tokio::test]
    async fn pieces_are_read_only_when_wanted_and_end_with_the_sender() {
        let (tx, rx) = pipe();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(tx.poll_wanted(&mut cx).is_pending(), "nobody asked yet");
        let reader = tokio::spawn(async move { RequestBody::Piped(rx).collect().await.map(|c| c.to_bytes()) });
        assert!(tx.wanted().await);
        tx.send(Ok(Bytes::from_static(b"ab")));
        assert!(tx.wanted().await, "asked again after the first piece");
        tx.send(Ok(Bytes::from_static(b"cd")));
        assert!(tx.wanted().await);
        drop(tx);
        assert_eq!(reader.await.unwrap().unwrap(), Bytes::from_static(b"abcd"));
    }

    #[tokio::test]
    async fn a_dropped_body_is_not_wanted_and_an_error_reaches_the_reader() {
        let (tx, rx) = pipe();
        drop(rx);
        assert!(!tx.wanted().await);

        let (tx, mut rx) = pipe();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(rx.poll_piece(&mut cx).is_pending());
        tx.send(Err("broken".into()));
        drop(tx);
        let piece = poll_fn(|cx| rx.poll_piece(cx)).await;
        assert!(matches!(piece, Some(Err(_))));
        assert!(poll_fn(|cx| rx.poll_piece(cx)).await.is_none());
    }
}
