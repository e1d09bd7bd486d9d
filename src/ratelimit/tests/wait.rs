//! Wait mode: a FIFO queue per team budget, bounded in length and in time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{headers, limits, ms};
use crate::ratelimit::{Cause, ManualLimiterClock, RateLimited, RateLimits};
use crate::routes::RateClass::{Read, Write};

/// Lets every spawned task run until it blocks (the runtime is single-threaded).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

type Results = Arc<Mutex<Vec<(usize, Result<(), RateLimited>)>>>;

/// Spawns waiter `id` for a sales write and lets it queue.
async fn spawn_waiter(limits: &Arc<RateLimits<ManualLimiterClock>>, results: &Results, id: usize) {
    let (limits, results) = (limits.clone(), results.clone());
    tokio::spawn(async move {
        let outcome = limits.acquire_team("sales", Write).await;
        results.lock().unwrap().push((id, outcome));
    });
    settle().await;
}

fn served(results: &Results) -> Vec<usize> {
    results
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| *id)
        .collect()
}

async fn spend_write_burst(limits: &RateLimits<ManualLimiterClock>) {
    for _ in 0..5 {
        limits.acquire_team("sales", Write).await.unwrap();
    }
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    let (clock, limits) = limits("on_limit = \"wait\"\nmax_wait = \"2s\"\nmax_waiters = 8");
    let limits = Arc::new(limits);
    let results = Results::default();
    spend_write_burst(&limits).await;
    for id in 0..3 {
        spawn_waiter(&limits, &results, id).await;
        assert_eq!(limits.waiting("sales", Write), id + 1);
    }
    assert!(served(&results).is_empty());
    clock.advance(ms(200));
    settle().await;
    assert_eq!(served(&results), [0]);
    // A newcomer queues behind the waiters even when a slot is about to free.
    spawn_waiter(&limits, &results, 3).await;
    assert_eq!(limits.waiting("sales", Write), 3);
    for expected in [&[0, 1][..], &[0, 1, 2], &[0, 1, 2, 3]] {
        clock.advance(ms(199));
        settle().await;
        assert_eq!(served(&results).len(), expected.len() - 1);
        clock.advance(ms(1));
        settle().await;
        assert_eq!(served(&results), expected);
    }
    assert_eq!(limits.waiting("sales", Write), 0);
    // Reads were never queued behind writes.
    limits.acquire_team("sales", Read).await.unwrap();
}

#[tokio::test]
async fn a_wait_past_max_wait_is_refused_at_once() {
    let (clock, limits) = limits("on_limit = \"wait\"\nmax_wait = \"1s\"\nmax_waiters = 64");
    let limits = Arc::new(limits);
    let results = Results::default();
    spend_write_burst(&limits).await;
    // Slots at 200, 400, 600, 800 and 1000 ms: five waiters fit in max_wait...
    for id in 0..5 {
        spawn_waiter(&limits, &results, id).await;
    }
    assert_eq!(limits.waiting("sales", Write), 5);
    // ...the sixth would wait 1.2 s: refused now, with that wait.
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!(
        (e.cause, e.retry_after, e.retry_after_secs()),
        (Cause::Exhausted, ms(1200), 2)
    );
    for _ in 0..5 {
        clock.advance(ms(200));
        settle().await;
    }
    assert_eq!(served(&results), [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn max_wait_running_out_in_the_queue_is_refused() {
    let (clock, limits) = limits("on_limit = \"wait\"\nmax_wait = \"1s\"\nmax_waiters = 64");
    let limits = Arc::new(limits);
    let results = Results::default();
    spend_write_burst(&limits).await;
    spawn_waiter(&limits, &results, 0).await;
    spawn_waiter(&limits, &results, 1).await;
    // While they wait, Allo asks for 5 s: neither can go within its max_wait.
    limits.observe_upstream(
        "sales",
        http::StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "5")]),
    );
    clock.advance(ms(200));
    settle().await;
    let results = results.lock().unwrap();
    assert_eq!(results.len(), 2);
    for (_, outcome) in results.iter() {
        let e = outcome.clone().unwrap_err();
        assert_eq!((e.cause, e.retry_after), (Cause::Upstream, ms(4800)));
    }
    assert_eq!(limits.waiting("sales", Write), 0);
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let (clock, limits) = limits("on_limit = \"wait\"\nmax_wait = \"5s\"\nmax_waiters = 2");
    let limits = Arc::new(limits);
    let results = Results::default();
    spend_write_burst(&limits).await;
    spawn_waiter(&limits, &results, 0).await;
    spawn_waiter(&limits, &results, 1).await;
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    // The queue drains in 200 + 2 x 200 ms.
    assert_eq!((e.cause, e.retry_after), (Cause::QueueFull, ms(600)));
    assert!(e.to_string().contains("queue is full"), "{e}");
    clock.advance(ms(400));
    settle().await;
    assert_eq!(served(&results), [0, 1]);
}

#[tokio::test]
async fn a_request_waits_out_an_upstream_hold_within_max_wait() {
    let (clock, limits) = limits("on_limit = \"wait\"\nmax_wait = \"2s\"");
    let limits = Arc::new(limits);
    let results = Results::default();
    limits.observe_upstream(
        "sales",
        http::StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "1")]),
    );
    spawn_waiter(&limits, &results, 0).await;
    clock.advance(ms(999));
    settle().await;
    assert!(served(&results).is_empty());
    clock.advance(ms(1));
    settle().await;
    assert_eq!(served(&results), [0]);
    // A hold longer than max_wait is refused at once.
    limits.observe_upstream(
        "sales",
        http::StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "3")]),
    );
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!((e.cause, e.retry_after), (Cause::Upstream, Duration::from_secs(3)));
}

#[tokio::test]
async fn no_waiters_allowed_means_reject() {
    let (_clock, limits) = limits("on_limit = \"wait\"\nmax_waiters = 0");
    spend_write_burst(&limits).await;
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!((e.cause, e.retry_after), (Cause::QueueFull, ms(200)));
}

#[tokio::test]
async fn reject_mode_never_waits() {
    let (_clock, limits) = limits("");
    spend_write_burst(&limits).await;
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!((e.cause, e.retry_after), (Cause::Exhausted, ms(200)));
    assert_eq!(limits.waiting("sales", Write), 0);
}
