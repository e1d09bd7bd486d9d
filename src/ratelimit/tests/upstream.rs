//! Allo's own signals hold a team's budget, only that team's, never for long.

use std::time::Duration;

use http::StatusCode;

use super::{config, headers, ms};
use crate::ratelimit::{Budget, Cause, ManualLimiterClock, RateLimits, MAX_HOLD};
use crate::routes::RateClass::{Read, Write};

fn limits_at(unix: Duration) -> (ManualLimiterClock, RateLimits<ManualLimiterClock>) {
    let clock = ManualLimiterClock::new(unix);
    (clock.clone(), RateLimits::with_clock(&config("", ""), clock))
}

async fn held(
    limits: &RateLimits<ManualLimiterClock>,
    team: &str,
    class: crate::routes::RateClass,
) -> Option<Duration> {
    match limits.acquire_team(team, class).await {
        Ok(()) => None,
        Err(e) => {
            assert_eq!(
                (e.budget, e.class, e.cause),
                (Budget::Team, Some(class), Cause::Upstream)
            );
            Some(e.retry_after)
        }
    }
}

#[tokio::test]
async fn a_429_with_retry_after_holds_the_team_then_releases() {
    let (clock, limits) = limits_at(Duration::from_secs(1_700_000_000));
    limits.observe_upstream(
        "sales",
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "2")]),
    );
    // Class unknown: both classes are held; the other team is not.
    assert_eq!(held(&limits, "sales", Write).await, Some(Duration::from_secs(2)));
    assert_eq!(held(&limits, "sales", Read).await, Some(Duration::from_secs(2)));
    assert_eq!(held(&limits, "support", Write).await, None);
    clock.advance(ms(1999));
    assert_eq!(held(&limits, "sales", Write).await, Some(ms(1)));
    clock.advance(ms(1));
    // Refused requests spent nothing: the whole burst is there.
    for _ in 0..5 {
        limits.acquire_team("sales", Write).await.unwrap();
    }
    limits.acquire_team("sales", Read).await.unwrap();
}

#[tokio::test]
async fn a_429_of_a_known_class_holds_that_class_only() {
    let (_clock, limits) = limits_at(Duration::from_secs(1_700_000_000));
    limits.observe_upstream_class(
        "sales",
        Write,
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "1")]),
    );
    assert_eq!(held(&limits, "sales", Write).await, Some(Duration::from_secs(1)));
    assert_eq!(held(&limits, "sales", Read).await, None);
}

#[tokio::test]
async fn remaining_zero_holds_the_class_until_reset() {
    // 400 ms into the second; Allo's window ends at the next whole second.
    let (clock, limits) = limits_at(ms(1_700_000_000_400));
    let spent = headers(&[
        ("x-ratelimit-limit", "5"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1700000001"),
    ]);
    limits.observe_upstream_class("sales", Write, StatusCode::OK, &spent);
    assert_eq!(held(&limits, "sales", Write).await, Some(ms(600)));
    assert_eq!(held(&limits, "sales", Read).await, None);
    assert_eq!(held(&limits, "support", Write).await, None);
    clock.advance(ms(600));
    assert_eq!(held(&limits, "sales", Write).await, None);
    // Without the class, the header cannot be attributed and holds nothing.
    limits.observe_upstream(
        "sales",
        StatusCode::OK,
        &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000002")]),
    );
    assert_eq!(held(&limits, "sales", Read).await, None);
    assert_eq!(held(&limits, "sales", Write).await, None);
}

#[tokio::test]
async fn absurd_holds_are_capped() {
    let (clock, limits) = limits_at(Duration::from_secs(1_700_000_000));
    limits.observe_upstream(
        "sales",
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "86400")]),
    );
    assert_eq!(held(&limits, "sales", Write).await, Some(MAX_HOLD));
    let far = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "99999999999")]);
    limits.observe_upstream_class("support", Read, StatusCode::OK, &far);
    assert_eq!(held(&limits, "support", Read).await, Some(MAX_HOLD));
    clock.advance(MAX_HOLD);
    assert_eq!(held(&limits, "sales", Write).await, None);
    assert_eq!(held(&limits, "support", Read).await, None);
}

#[tokio::test]
async fn holds_only_grow_and_ordinary_answers_hold_nothing() {
    let (clock, limits) = limits_at(Duration::from_secs(1_700_000_000));
    limits.observe_upstream(
        "sales",
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "5")]),
    );
    limits.observe_upstream(
        "sales",
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "1")]),
    );
    assert_eq!(held(&limits, "sales", Write).await, Some(Duration::from_secs(5)));
    clock.advance(Duration::from_secs(5));
    let ok = headers(&[("x-ratelimit-remaining", "3"), ("x-ratelimit-reset", "1700000006")]);
    limits.observe_upstream_class("sales", Write, StatusCode::OK, &ok);
    limits.observe_upstream(
        "sales",
        StatusCode::SERVICE_UNAVAILABLE,
        &headers(&[("retry-after", "10")]),
    );
    // A 429 reporting budget left (an SMS quota) is not about the per-second budget.
    let quota = headers(&[("retry-after", "30"), ("x-ratelimit-remaining", "4")]);
    limits.observe_upstream_class("sales", Write, StatusCode::TOO_MANY_REQUESTS, &quota);
    limits.observe_upstream(
        "nobody",
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "5")]),
    );
    assert_eq!(held(&limits, "sales", Write).await, None);
}

#[tokio::test]
async fn a_hold_found_over_is_forgotten_and_a_later_one_holds_again() {
    let (clock, limits) = limits_at(Duration::from_secs(1_700_000_000));
    let retry_after_1 = headers(&[("retry-after", "1")]);
    limits.observe_upstream_class("sales", Write, StatusCode::TOO_MANY_REQUESTS, &retry_after_1);
    assert_eq!(held(&limits, "sales", Write).await, Some(Duration::from_secs(1)));
    clock.advance(Duration::from_secs(1));
    // Over: the request that finds it so goes through, and forgets the hold.
    limits.acquire_team("sales", Write).await.unwrap();
    assert_eq!(held(&limits, "sales", Write).await, None);
    // Allo's next signal holds the team again.
    limits.observe_upstream_class("sales", Write, StatusCode::TOO_MANY_REQUESTS, &retry_after_1);
    assert_eq!(held(&limits, "sales", Write).await, Some(Duration::from_secs(1)));
    clock.advance(ms(500));
    assert_eq!(held(&limits, "sales", Write).await, Some(ms(500)));
}
