//! The Redis-backed team budget against a real redis-server: the GCRA admits the budget and
//! its burst and no more across clients, pauses reach every client (and say they are pauses),
//! a dead Redis answers within the timeout, and a restarted one is used again without a new
//! client.

use std::time::{Duration, Instant};

use crate::support::redis::RedisServer;
use allo_gateway::routes::RateClass;
use allo_gateway::shared_budget::{Decision, SharedBudgets};

fn budgets(redis: &RedisServer) -> SharedBudgets {
    SharedBudgets::new(&redis.url(), Duration::from_millis(200), "test:").unwrap()
}

#[tokio::test]
async fn three_clients_share_one_budget() {
    let redis = RedisServer::start();
    let clients = [budgets(&redis), budgets(&redis), budgets(&redis)];
    let mut allowed = 0;
    let mut refused = Vec::new();
    for round in 0..30 {
        match clients[round % 3]
            .acquire("sales", RateClass::Write, 5, 5)
            .await
            .unwrap()
        {
            Decision::Allowed => allowed += 1,
            Decision::Refused { retry_after } => refused.push(retry_after),
            Decision::Paused { .. } => panic!("nothing paused this budget"),
        }
    }
    // A burst of 5 is admitted at once; 30 quick calls take far less than a second, so at
    // most one more slot can have been earned meanwhile.
    assert!((5..=6).contains(&allowed), "allowed {allowed}");
    assert!(
        refused
            .iter()
            .all(|d| *d > Duration::ZERO && *d <= Duration::from_millis(200)),
        "{refused:?}"
    );
    // Another team and the read class are separate budgets.
    assert_eq!(
        clients[0].acquire("support", RateClass::Write, 5, 5).await.unwrap(),
        Decision::Allowed
    );
    assert_eq!(
        clients[0].acquire("sales", RateClass::Read, 20, 20).await.unwrap(),
        Decision::Allowed
    );
}

#[tokio::test]
async fn a_pause_stops_every_client() {
    let redis = RedisServer::start();
    let (a, b) = (budgets(&redis), budgets(&redis));
    a.pause("sales", RateClass::Write, Duration::from_secs(2))
        .await
        .unwrap();
    match b.acquire("sales", RateClass::Write, 5, 5).await.unwrap() {
        Decision::Paused { retry_after } => assert!(retry_after > Duration::from_millis(1500), "{retry_after:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b.acquire("support", RateClass::Write, 5, 5).await.unwrap(),
        Decision::Allowed
    );
}

#[tokio::test]
async fn a_dead_redis_fails_fast_and_a_restarted_one_is_used_again() {
    let mut redis = RedisServer::start();
    let client = budgets(&redis);
    assert_eq!(
        client.acquire("t", RateClass::Write, 100, 100).await.unwrap(),
        Decision::Allowed
    );
    redis.stop();
    let started = Instant::now();
    assert!(client.acquire("t", RateClass::Write, 100, 100).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if client.acquire("t", RateClass::Write, 100, 100).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the client never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
