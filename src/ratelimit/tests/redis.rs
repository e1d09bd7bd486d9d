//! Team budgets shared through Redis when Redis cannot be reached (a closed loopback port; no
//! Redis needed): `failure_mode` decides, the breaker keeps a dead Redis from costing every
//! request its timeout, the counters count, Allo's holds still work, and a reload keeps the
//! client only while its settings are unchanged. (Against a real redis-server:
//! tests/shared_budget.rs and tests/redis_budget.rs.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;

use super::{config, headers, limits, ms};
use crate::ratelimit::{Budget, Cause, RateLimited, RateLimits, BREAKER_OPEN, FAILURES_TO_OPEN};
use crate::routes::RateClass::{Read, Write};

/// A loopback URL where nothing listens: connections are refused at once.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("redis://127.0.0.1:{}", listener.local_addr().unwrap().port())
}

/// `[ratelimit]` keys, then `[ratelimit.redis]` at `url` in `mode`.
fn with_redis(keys: &str, mode: &str, url: &str) -> String {
    format!("{keys}\n[ratelimit.redis]\nurl = \"{url}\"\nfailure_mode = \"{mode}\"\ntimeout = \"50ms\"")
}

/// Lets every spawned task run until it blocks (the runtime is single-threaded).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn open_decides_on_the_local_budget_and_the_breaker_skips_a_dead_redis() {
    assert_eq!(FAILURES_TO_OPEN, 3);
    let (clock, limits) = limits(&with_redis("", "open", &dead_url()));
    let started = Instant::now();
    for _ in 0..5 {
        limits.acquire_team("sales", Write).await.unwrap();
    }
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!(
        (e.cause, e.retry_after),
        (Cause::Exhausted, ms(200)),
        "the local limiter"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // Three failed calls (50 ms each), then the breaker skips Redis: six decisions, three
    // errors.
    assert_eq!((limits.redis_errors(), limits.redis_fallbacks()), (3, 6));
    clock.advance(BREAKER_OPEN - ms(1));
    limits.acquire_team("sales", Read).await.unwrap();
    assert_eq!((limits.redis_errors(), limits.redis_fallbacks()), (3, 7));
    // Once the breaker's second is over, the next decision probes Redis, which fails again
    // and opens the breaker again at once.
    clock.advance(ms(1));
    limits.acquire_team("sales", Write).await.unwrap();
    limits.acquire_team("sales", Write).await.unwrap();
    assert_eq!((limits.redis_errors(), limits.redis_fallbacks()), (4, 9));
    // Caller limits are per instance and never ask Redis.
    for _ in 0..10 {
        limits.check_caller("a").unwrap();
    }
    assert_eq!(limits.check_caller("a").unwrap_err().budget, Budget::Caller);
    assert_eq!(limits.redis_fallbacks(), 9);
}

#[tokio::test]
async fn closed_refuses_at_once_until_redis_answers() {
    let (clock, limits) = limits(&with_redis("", "closed", &dead_url()));
    for _ in 0..3 {
        let started = Instant::now();
        let e = limits.acquire_team("sales", Write).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            (e.budget, e.class, e.limit, e.cause, e.retry_after),
            (Budget::Team, Some(Write), 5, Cause::StoreUnavailable, BREAKER_OPEN)
        );
        assert_eq!(
            e.to_string(),
            "the team's write budget cannot be checked: the shared rate-limit store is unavailable; retry in 1 s"
        );
    }
    // The breaker is open: refusals say when Redis will be asked again, without asking it.
    clock.advance(ms(300));
    let e = limits.acquire_team("support", Read).await.unwrap_err();
    assert_eq!((e.cause, e.retry_after), (Cause::StoreUnavailable, ms(700)));
    assert_eq!((limits.redis_errors(), limits.redis_fallbacks()), (3, 4));
    // Caller limits do not depend on Redis.
    limits.check_caller("a").unwrap();
    // Allo's hold is known here and refuses as such, before Redis is asked.
    limits.observe_upstream_class(
        "sales",
        Write,
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "3")]),
    );
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!((e.cause, e.retry_after), (Cause::Upstream, Duration::from_secs(3)));
    assert_eq!(limits.redis_fallbacks(), 4);
}

#[tokio::test]
async fn wait_mode_open_waits_on_the_local_budget() {
    let keys = "on_limit = \"wait\"\nmax_wait = \"2s\"";
    let (clock, limits) = limits(&with_redis(keys, "open", &dead_url()));
    let limits = Arc::new(limits);
    for _ in 0..5 {
        limits.acquire_team("sales", Write).await.unwrap();
    }
    let results: Arc<Mutex<Vec<Result<(), RateLimited>>>> = Arc::default();
    for _ in 0..2 {
        let (limits, results) = (limits.clone(), results.clone());
        tokio::spawn(async move {
            let outcome = limits.acquire_team("sales", Write).await;
            results.lock().unwrap().push(outcome);
        });
        settle().await;
    }
    assert_eq!(limits.waiting("sales", Write), 2);
    clock.advance(ms(200));
    settle().await;
    assert_eq!(results.lock().unwrap().len(), 1);
    clock.advance(ms(200));
    settle().await;
    assert!(results.lock().unwrap().iter().all(Result::is_ok));
    assert_eq!(limits.redis_errors(), 3, "the breaker opened during the burst");
}

#[tokio::test]
async fn wait_mode_closed_does_not_queue() {
    let keys = "on_limit = \"wait\"\nmax_wait = \"2s\"";
    let (_clock, limits) = limits(&with_redis(keys, "closed", &dead_url()));
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!(e.cause, Cause::StoreUnavailable);
    assert_eq!(limits.waiting("sales", Write), 0);
}

#[tokio::test]
async fn an_unusable_url_is_redis_down_without_a_call() {
    let unset = "url = { env = \"ALLO_GATEWAY_TEST_REDIS_URL_NEVER_SET\" }";
    let text = |mode: &str| format!("[ratelimit.redis]\n{unset}\nfailure_mode = \"{mode}\"");
    let (_clock, closed) = limits(&text("closed"));
    let e = closed.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!((e.cause, e.retry_after), (Cause::StoreUnavailable, BREAKER_OPEN));
    assert_eq!((closed.redis_errors(), closed.redis_fallbacks()), (0, 1));
    let (_clock, open) = limits(&text("open"));
    for _ in 0..5 {
        open.acquire_team("sales", Write).await.unwrap();
    }
    assert_eq!(
        open.acquire_team("sales", Write).await.unwrap_err().cause,
        Cause::Exhausted
    );
    // A URL the redis crate refuses (the config only checks the scheme).
    let (_clock, bad) = limits(&with_redis("", "open", "redis://127.0.0.1:notaport"));
    bad.acquire_team("sales", Write).await.unwrap();
    assert_eq!((bad.redis_errors(), bad.redis_fallbacks()), (0, 1));
}

#[tokio::test]
async fn allos_signal_holds_here_and_is_pushed_to_redis_in_the_background() {
    let (_clock, limits) = limits(&with_redis("", "open", &dead_url()));
    limits.observe_upstream_class(
        "sales",
        Write,
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "2")]),
    );
    // Held here at once, whatever Redis does; the hold is checked before Redis is asked.
    let e = limits.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!((e.cause, e.retry_after), (Cause::Upstream, Duration::from_secs(2)));
    assert_eq!(limits.redis_fallbacks(), 0);
    // The pause to Redis runs in the background and fails within the timeout.
    let deadline = Instant::now() + Duration::from_secs(2);
    while limits.redis_errors() == 0 {
        assert!(Instant::now() < deadline, "the pause was never attempted");
        tokio::time::sleep(ms(5)).await;
    }
    assert_eq!(limits.redis_errors(), 1);
}

#[tokio::test]
async fn a_reload_keeps_the_client_while_its_settings_are_unchanged() {
    let url = dead_url();
    let old = RateLimits::with_clock(
        &config(&with_redis("", "open", &url), ""),
        crate::ratelimit::ManualLimiterClock::default(),
    );
    for _ in 0..3 {
        old.acquire_team("sales", Write).await.unwrap();
    }
    assert_eq!(old.redis_errors(), 3);
    let client = |l: &RateLimits<_>| l.shared.as_ref().map(|s| s.same_client(old.shared.as_ref().unwrap()));
    // failure_mode is not a client setting: kept (with its open breaker), and now closed.
    let same = old.carry_over(&config(&with_redis("", "closed", &url), ""));
    assert_eq!(client(&same), Some(true));
    assert_eq!(
        same.acquire_team("sales", Write).await.unwrap_err().cause,
        Cause::StoreUnavailable
    );
    assert_eq!(same.redis_errors(), 3, "the breaker came along: no new call");
    let timeout = with_redis("", "open", &url).replace("50ms", "60ms");
    assert_eq!(client(&old.carry_over(&config(&timeout, ""))), Some(false));
    let prefix = format!("{}\nkey_prefix = \"other:\"", with_redis("", "open", &url));
    assert_eq!(client(&old.carry_over(&config(&prefix, ""))), Some(false));
    let moved = old.carry_over(&config(&with_redis("", "open", &dead_url()), ""));
    assert_eq!(client(&moved), Some(false));
    moved.acquire_team("sales", Write).await.unwrap();
    // The counters are the process's: kept whatever the new config says, even without Redis.
    let none = moved.carry_over(&config("", ""));
    assert!(none.shared.is_none());
    assert_eq!((none.redis_errors(), none.redis_fallbacks()), (4, 5));
    assert!(Arc::ptr_eq(&none.redis_stats(), &old.redis_stats()));
}
