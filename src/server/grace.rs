//! The end of `shutdown_grace`: a request still waiting for its answer when the grace period
//! runs out is answered `503 SHUTTING_DOWN` in the error envelope (its connection then closes)
//! rather than cut off with a bare close. An answer whose head has gone out and whose body is
//! still streaming cannot be changed any more; that connection is closed when the worker ends.
//!
//! Cost while serving: an atomic load of a flag no thread writes until then, when a request's
//! answer is not ready at once. Each connection task registers once with its worker's own
//! `Notify` (`Woken`) to be woken when the grace period ends; an HTTP/1.1 request runs on its
//! connection's task, so it sees the flag then. HTTP/2 requests run on tasks of their own
//! (hyper's), so each registers itself (`Graced::registered`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use crate::answer::Answer;
use crate::error::GatewayError;

/// One worker's "the grace period is over".
#[derive(Default)]
pub(super) struct Expiry {
    expired: AtomicBool,
    notify: Notify,
}

impl Expiry {
    /// A new one for one accept loop, for the life of the process (a few bytes per worker).
    pub(super) fn leak() -> &'static Expiry {
        Box::leak(Box::default())
    }

    /// Answers every request still waiting, now and later.
    pub(super) fn expire(&self) {
        self.expired.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    fn is_expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, or `503 SHUTTING_DOWN` once `expiry` goes off.
    pub(super) struct Graced<F> {
        #[pin]
        answer: F,
        expiry: &'static Expiry,
        // Whether this future registers to be woken, rather than its task doing so (`Woken`).
        register: bool,
        #[pin]
        notified: Option<Notified<'static>>,
    }
}

impl<F> Graced<F> {
    /// For a request whose task is woken at the end of the grace period (`Woken`).
    pub(super) fn new(answer: F, expiry: &'static Expiry) -> Graced<F> {
        Graced {
            answer,
            expiry,
            register: false,
            notified: None,
        }
    }

    /// For a request on a task of its own.
    pub(super) fn registered(answer: F, expiry: &'static Expiry) -> Graced<F> {
        Graced {
            answer,
            expiry,
            register: true,
            notified: None,
        }
    }
}

impl<F: Future<Output = Answer>> Future for Graced<F> {
    type Output = Answer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        let mut this = self.project();
        if let Poll::Ready(answer) = this.answer.poll(cx) {
            return Poll::Ready(answer);
        }
        if this.expiry.is_expired() {
            return Poll::Ready(shutting_down());
        }
        if *this.register && register(this.notified.as_mut(), this.expiry, cx) {
            return Poll::Ready(shutting_down());
        }
        Poll::Pending
    }
}

/// Registers the task of `cx` to be woken at `expiry`, the first time; true if it has gone off
/// already. Later calls do nothing: a task's waker stays valid for its life, so one
/// registration wakes it whenever it waits.
fn register(mut notified: Pin<&mut Option<Notified<'static>>>, expiry: &'static Expiry, cx: &mut Context<'_>) -> bool {
    if notified.is_some() {
        return false;
    }
    // Made before the second look at the flag: an `expire` after this line wakes it, one
    // before it shows in the flag.
    notified.set(Some(expiry.notify.notified()));
    let woken = match notified.as_pin_mut() {
        Some(notified) => notified.poll(cx).is_ready(),
        None => false,
    };
    woken || expiry.is_expired()
}

pin_project_lite::pin_project! {
    /// A connection's task, woken when the grace period ends so that the request it is serving
    /// (a `Graced::new`) sees the flag.
    pub(super) struct Woken<F> {
        #[pin]
        task: F,
        expiry: &'static Expiry,
        #[pin]
        notified: Option<Notified<'static>>,
    }
}

impl<F> Woken<F> {
    pub(super) fn new(task: F, expiry: &'static Expiry) -> Woken<F> {
        Woken {
            task,
            expiry,
            notified: None,
        }
    }
}

impl<F: Future> Future for Woken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _wake = crate::wake_time::Wake::begin();
        if let Poll::Ready(done) = this.task.poll(cx) {
            return Poll::Ready(done);
        }
        if register(this.notified, this.expiry, cx) {
            // It went off while the task ran: poll again, so the request sees it.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// The envelope for a request cut short by the end of the grace period. The request's own
/// id went with its dropped steps: the answer carries a new one.
fn shutting_down() -> Answer {
    let id = crate::ids::new_request_id_value();
    let mut answer = Answer::from(GatewayError::ShuttingDown.into_response(id.to_str().unwrap_or_default()));
    answer.set_request_id(id);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_request_gets_503_when_the_grace_period_ends() {
        let expiry = Expiry::leak();
        let waiting = tokio::spawn(Graced::registered(std::future::pending::<Answer>(), expiry));
        tokio::task::yield_now().await;
        expiry.expire();
        let answer = waiting.await.unwrap();
        assert_eq!(answer.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.response.headers()["x-allo-gateway-error"], "SHUTTING_DOWN");
    }

    #[tokio::test]
    async fn an_answer_ready_in_time_is_kept_and_a_request_after_the_end_is_refused() {
        let expiry = Expiry::leak();
        let ok = Answer::from(http::Response::new(crate::body::full("ok")));
        let answer = Graced::new(std::future::ready(ok), expiry).await;
        assert_eq!(answer.status(), http::StatusCode::OK);
        expiry.expire();
        let late = Graced::new(std::future::pending::<Answer>(), expiry).await;
        assert_eq!(late.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn a_connection_task_is_woken_so_its_request_answers_503() {
        let expiry = Expiry::leak();
        // The request registers nothing itself; its task does.
        let request = Graced::new(std::future::pending::<Answer>(), expiry);
        let task = tokio::spawn(Woken::new(request, expiry));
        tokio::task::yield_now().await;
        expiry.expire();
        assert_eq!(task.await.unwrap().status(), http::StatusCode::SERVICE_UNAVAILABLE);
    }
}
