//! A connection's one timer, for deadlines that move on with every request. It is set once and
//! moved only when a deadline comes earlier than the one it is set for, or when it goes off
//! for a deadline that has since moved on; so a request that finishes in time costs no timer
//! insertion or removal. The listener's HTTP/1.1 connections and the upstream client's pooled
//! connections each keep one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

pub struct Alarm(Pin<Box<Sleep>>);

impl Alarm {
    pub fn new(deadline: Instant) -> Alarm {
        Alarm(Box::pin(tokio::time::sleep_until(deadline)))
    }

    /// Ready once `deadline` has passed; until then, the task is woken by then.
    pub fn poll_until(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        loop {
            if self.0.deadline() > deadline {
                self.0.as_mut().reset(deadline);
            }
            if self.0.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            // It went off for an earlier deadline that no longer holds.
            self.0.as_mut().reset(deadline);
        }
    }

    /// Runs `work` until the deadline; `None` if it was not done by then. The deadline is
    /// asked for only if `work` has to wait, so work done at once reads no clock.
    pub fn bound<F: Future, D: FnOnce() -> Instant>(&mut self, deadline: D, work: F) -> Bound<'_, F, D> {
        Bound {
            work,
            alarm: self,
            deadline: Some(deadline),
            due: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// `Alarm::bound`'s future. A named type rather than an `async fn`, whose state would hold
    /// `work` twice (as it came, and pinned).
    pub struct Bound<'a, F, D> {
        #[pin]
        work: F,
        alarm: &'a mut Alarm,
        deadline: Option<D>,
        due: Option<Instant>,
    }
}

impl<F: Future, D: FnOnce() -> Instant> Future for Bound<'_, F, D> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.project();
        if let Poll::Ready(done) = this.work.poll(cx) {
            return Poll::Ready(Some(done));
        }
        let deadline = this.deadline;
        let due = *this
            .due
            .get_or_insert_with(|| deadline.take().map_or_else(Instant::now, |f| f()));
        this.alarm.poll_until(cx, due).map(|()| None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_alarm_set_for_an_old_deadline_waits_for_the_new_one() {
        let start = Instant::now();
        let mut alarm = Alarm::new(start + Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(5)).await;
        // The alarm went off long ago; the new deadline still gets its full time.
        let deadline = Instant::now() + Duration::from_secs(3);
        let never = std::future::pending::<()>();
        assert_eq!(alarm.bound(|| deadline, never).await, None);
        assert_eq!(Instant::now(), deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_moves_the_alarm_forward_and_work_done_in_time_wins() {
        let start = Instant::now();
        let mut alarm = Alarm::new(start + Duration::from_secs(60));
        let never = std::future::pending::<()>();
        assert_eq!(alarm.bound(|| start + Duration::from_secs(2), never).await, None);
        assert_eq!(Instant::now(), start + Duration::from_secs(2));

        let quick = tokio::time::sleep(Duration::from_millis(10));
        assert_eq!(
            alarm.bound(|| Instant::now() + Duration::from_secs(1), quick).await,
            Some(())
        );
    }
}
