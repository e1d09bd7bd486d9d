//! `carry_over`: a reload keeps the state of every identity whose quota did not change.

use std::time::Duration;

use http::StatusCode;

use super::{config, headers, limits};
use crate::config::OnLimit;
use crate::ratelimit::{Cause, RateLimits};
use crate::routes::RateClass::{Read, Write};

#[tokio::test]
async fn unchanged_identities_keep_their_state() {
    let (_clock, old) = limits("");
    while old.check_caller("a").is_ok() {}
    while old.acquire_team("sales", Write).await.is_ok() {}
    old.observe_upstream_class(
        "support",
        Read,
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "3")]),
    );

    // Wait mode, with a max_wait shorter than any wait here so nothing waits on the still clock.
    let new = old.carry_over(&config("on_limit = \"wait\"\nmax_wait = \"100ms\"", ""));
    assert_eq!(new.on_limit, OnLimit::Wait);
    assert!(new.check_caller("a").is_err());
    assert!(new.acquire_team("sales", Write).await.is_err());
    assert_eq!(
        new.acquire_team("support", Read).await.unwrap_err().cause,
        Cause::Upstream
    );
    // Spending on one spends on the other: the state is shared, not copied.
    new.check_caller("b").unwrap();
    let b_left = std::iter::from_fn(|| old.check_caller("b").ok()).count();
    assert_eq!(b_left, 9);
}

#[tokio::test]
async fn a_changed_quota_starts_afresh_but_keeps_allos_hold() {
    let (clock, old) = limits("");
    while old.check_caller("a").is_ok() {}
    while old.acquire_team("sales", Write).await.is_ok() {}
    while old.acquire_team("sales", Read).await.is_ok() {}
    old.observe_upstream_class(
        "sales",
        Write,
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "2")]),
    );

    let mut changed = config("", "read_per_second = 20");
    changed.teams[0].write_per_second = std::num::NonZeroU32::new(8).unwrap();
    changed.callers[0].rate.as_mut().unwrap().per_second = std::num::NonZeroU32::new(11).unwrap();
    changed.callers.retain(|c| c.id != "b");
    let new: RateLimits<_> = old.carry_over(&changed);

    new.check_caller("a").unwrap();
    new.check_caller("b").unwrap();
    assert!(
        new.acquire_team("sales", Read).await.is_err(),
        "read quota unchanged: still spent"
    );
    let e = new.acquire_team("sales", Write).await.unwrap_err();
    assert_eq!(
        (e.cause, e.limit, e.retry_after),
        (Cause::Upstream, 8, Duration::from_secs(2))
    );
    clock.advance(Duration::from_secs(2));
    for _ in 0..8 {
        new.acquire_team("sales", Write).await.unwrap();
    }
}
