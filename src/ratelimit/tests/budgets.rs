//! Reject mode: the caller limits and the team budgets, and what a refusal says.

use std::time::Duration;

use super::{limits, ms};
use crate::ratelimit::{Budget, Cause, RateLimited};
use crate::routes::RateClass::{Read, Write};

/// Two callers allowed 10/s each hammer a team whose write budget is 5/s, for 3 simulated
/// seconds: the team budget, not the callers', decides what reaches Allo; every refusal says
/// exactly when the limiter frees a slot; the team's reads are untouched.
#[tokio::test]
async fn two_callers_cannot_exceed_the_team_write_budget() {
    let (clock, limits) = limits("");
    let (mut admitted, mut caller_refused, mut team_refused) = (0, 0, 0);
    // When the last team refusal said a slot frees (time since start), until one is taken.
    let mut free_at: Option<Duration> = None;
    while clock.elapsed() < Duration::from_secs(3) {
        // Each caller sends 2 every 50 ms: 40/s, four times its own limit.
        for caller in ["a", "b", "a", "b"] {
            if let Err(e) = limits.check_caller(caller) {
                assert_eq!((e.budget, e.class, e.limit), (Budget::Caller, None, 10));
                caller_refused += 1;
                continue;
            }
            let now = clock.elapsed();
            match limits.acquire_team("sales", Write).await {
                Ok(()) => {
                    assert!(
                        free_at.is_none_or(|t| now >= t),
                        "admitted at {now:?} before {free_at:?}"
                    );
                    free_at = None;
                    admitted += 1;
                }
                Err(e) => {
                    assert_eq!(
                        (e.budget, e.class, e.limit, e.cause),
                        (Budget::Team, Some(Write), 5, Cause::Exhausted)
                    );
                    assert!(!e.retry_after.is_zero() && e.retry_after <= ms(200), "{e:?}");
                    // Refused only before the slot the previous refusal announced, and both
                    // refusals announce the same slot.
                    if let Some(t) = free_at {
                        assert!(now < t, "refused at {now:?} though a slot was due at {t:?}");
                        assert_eq!(now + e.retry_after, t);
                    }
                    free_at = Some(now + e.retry_after);
                    team_refused += 1;
                }
            }
        }
        // One read per step (20/s) of the same team always passes.
        limits.acquire_team("sales", Read).await.unwrap();
        clock.advance(ms(50));
    }
    // 5 at once, then one per 200 ms until 2.95 s.
    assert!(admitted <= 5 * 3 + 5, "admitted {admitted}");
    assert_eq!(admitted, 19);
    assert!(caller_refused > 0 && team_refused > 0);
    assert_eq!(admitted + team_refused + caller_refused, 60 * 4);
}

#[tokio::test]
async fn retry_after_is_the_limiters_real_wait() {
    let (clock, limits) = limits("");
    for _ in 0..10 {
        limits.check_caller("a").unwrap();
    }
    let e = limits.check_caller("a").unwrap_err();
    assert_eq!(e.retry_after, ms(100));
    clock.advance(ms(99));
    assert_eq!(limits.check_caller("a").unwrap_err().retry_after, ms(1));
    clock.advance(ms(1));
    limits.check_caller("a").unwrap();
    assert_eq!(limits.check_caller("a").unwrap_err().retry_after, ms(100));
}

#[tokio::test]
async fn a_caller_exhausting_its_limit_does_not_refuse_another() {
    let (_clock, limits) = limits("");
    while limits.check_caller("a").is_ok() {}
    assert_eq!(limits.check_caller("a").unwrap_err().budget, Budget::Caller);
    limits.check_caller("b").unwrap();
    limits.acquire_team("sales", Write).await.unwrap();
    // No rate: no caller limiter at all; unknown identities have no limiter either.
    for _ in 0..1000 {
        limits.check_caller("free").unwrap();
    }
    limits.check_caller("nobody").unwrap();
    limits.acquire_team("nobody", Write).await.unwrap();
}

#[tokio::test]
async fn one_teams_budget_does_not_touch_another_teams() {
    let (_clock, limits) = limits("");
    while limits.acquire_team("sales", Write).await.is_ok() {}
    for _ in 0..5 {
        limits.acquire_team("support", Write).await.unwrap();
    }
    assert!(limits.acquire_team("support", Write).await.is_err());
}

#[test]
fn retry_after_secs_is_whole_seconds_at_least_one() {
    let limited = |retry_after| RateLimited {
        budget: Budget::Team,
        class: Some(Write),
        limit: 5,
        retry_after,
        cause: Cause::Exhausted,
    };
    assert_eq!(limited(Duration::ZERO).retry_after_secs(), 1);
    assert_eq!(limited(ms(200)).retry_after_secs(), 1);
    assert_eq!(limited(ms(1000)).retry_after_secs(), 1);
    assert_eq!(limited(ms(1001)).retry_after_secs(), 2);
    assert_eq!(limited(Duration::from_secs(60)).retry_after_secs(), 60);
}

#[test]
fn messages_name_the_budget() {
    let team = RateLimited {
        budget: Budget::Team,
        class: Some(Write),
        limit: 5,
        retry_after: ms(200),
        cause: Cause::Exhausted,
    };
    assert_eq!(
        team.to_string(),
        "the team's write budget (5 requests per second, shared by its callers) is exhausted; retry in 1 s"
    );
    let caller = RateLimited {
        budget: Budget::Caller,
        class: None,
        limit: 10,
        ..team.clone()
    };
    assert_eq!(
        caller.to_string(),
        "this caller's rate limit (10 requests per second) is exhausted; retry in 1 s"
    );
    let held = RateLimited {
        cause: Cause::Upstream,
        retry_after: ms(2500),
        ..team.clone()
    };
    assert_eq!(
        held.to_string(),
        "Allo reported the team's write budget exhausted; retry in 3 s"
    );
    let full = RateLimited {
        cause: Cause::QueueFull,
        class: Some(Read),
        ..team
    };
    assert_eq!(
        full.to_string(),
        "the team's read budget is exhausted and its wait queue is full; retry in 1 s"
    );
}
