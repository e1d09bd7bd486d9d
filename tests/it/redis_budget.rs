//! Cluster-wide team budgets through the real binary, a real redis-server and a capture
//! upstream: several gateway instances sharing one Redis admit one team budget between them
//! (reject and wait mode), Allo's 429 seen by one instance holds them all, and when Redis goes
//! away requests are answered within the timeout, on the local budgets (`open`) or with a 503
//! (`closed`), until Redis is back and sharing resumes with no restart. Also: the URL from a
//! file with a password (never logged), TLS (`rediss://`), and a benchmark of one decision.
//!
//! Bursts run as fast as the test can; assertions are bounds that hold however slow the
//! machine is (a bound only discriminates shared from per-instance budgets on a fast one).

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use allo_gateway::ratelimit::RateLimits;
use allo_gateway::routes::RateClass;
use support::budget::{self, admitted, assert_gateway_429, burst, most_admitted, Call, READ, WRITE};
use support::client::Answer;
use support::config::file;
use support::observe::logged;
use support::redis::{RedisServer, TlsRedis};
use support::{eventually, Caller, Canned, Capture, Config, GatewayProcess, Team};

const CRM: &str = "tok_redis_budget_crm_sync";
const SHARED_LOG: &str = "team budgets are shared across instances through Redis";
const CONNECTED_LOG: &str = "connected to Redis";
const RECOVERED_LOG: &str = "Redis answers again";

/// Team "sales" (write 5/s, read 20/s) with caller "crm" (no caller limit).
fn config(upstream: &Capture) -> Config {
    Config::new(&upstream.url())
        .team(Team::new("sales").key_value("ak_test_sales").write(5))
        .caller(Caller::new("crm", "sales").token(CRM))
}

/// `config` with the team budget shared through Redis at `url`, in `failure_mode`, with the
/// default 50 ms timeout.
fn shared(upstream: &Capture, url: &str, failure_mode: &str) -> Config {
    config(upstream).redis("url", url).redis("failure_mode", failure_mode)
}

/// The same with a generous timeout, for tests about sharing rather than a slow Redis: on a
/// loaded test host a 50 ms deadline can pass, and under `open` that decision is rightly made
/// on the local budget, which would blur the shared bound these tests check.
fn patient(upstream: &Capture, url: &str) -> Config {
    shared(upstream, url, "open").redis("timeout", "500ms")
}

/// A gateway, once connected to Redis.
async fn start(config: Config) -> GatewayProcess {
    connected(config.start(&[])).await
}

/// Returns `gateway` once its background connection to Redis is up. A gateway connects at
/// start; should it not have, its first decision does: one read is sent to make sure (the
/// upstream sees it, so tests count what reaches the upstream from after this).
async fn connected(gateway: GatewayProcess) -> GatewayProcess {
    call(gateway.addr, READ).await;
    logged(&gateway, CONNECTED_LOG).await;
    gateway
}

async fn call(addr: SocketAddr, request: Call) -> Answer {
    budget::call(addr, CRM, request).await
}

/// Sends `n` writes one after the other, round-robin over `gateways`.
async fn round_robin(gateways: &[&GatewayProcess], n: usize) -> (Vec<Answer>, Duration) {
    let addrs: Vec<SocketAddr> = gateways.iter().map(|g| g.addr).collect();
    burst(&addrs, CRM, WRITE, n).await
}

/// The gateway's own 429 for the team's write budget; returns its `Retry-After` seconds.
fn assert_team_429(a: &Answer) -> u64 {
    assert_gateway_429(a, "\"team-write\";q=5;w=1")
}

/// Pokes `gateway` with reads (which ask Redis too) until it logs that Redis answers again.
async fn until_redis_is_back(gateway: &GatewayProcess) {
    eventually(gateway, "the gateway using Redis again", async || {
        if gateway.log().contains(RECOVERED_LOG) {
            return true;
        }
        call(gateway.addr, READ).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        false
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_one_team_write_budget() {
    let redis = RedisServer::start();
    let up = Capture::start().await;
    let mut gateways = Vec::new();
    for _ in 0..3 {
        gateways.push(start(patient(&up, &redis.url())).await);
    }
    let sent_before = up.count();
    // Three clients per instance, each sending writes for three seconds.
    let started = Instant::now();
    let until = started + Duration::from_secs(3);
    let mut clients = Vec::new();
    for (instance, gateway) in gateways.iter().enumerate() {
        for _ in 0..3 {
            let addr = gateway.addr;
            clients.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                while Instant::now() < until {
                    answers.push((instance, call(addr, WRITE).await));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                answers
            }));
        }
    }
    let mut answers = Vec::new();
    for client in clients {
        answers.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    let ok: Vec<usize> = answers
        .iter()
        .filter(|(_, a)| a.status == 200)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(
        up.count() - sent_before,
        ok.len(),
        "the upstream got exactly what was admitted"
    );
    // One budget of 5/s with a burst of 5 for all three, not three: at most 5 + 5 x 3 (and a
    // slot for the time the last answers took).
    assert!(
        ok.len() <= most_admitted(5, 5, elapsed),
        "admitted {} in {elapsed:?}",
        ok.len()
    );
    assert!(ok.len() >= 10, "the shared budget kept refilling: {}", ok.len());
    for instance in 0..3 {
        assert!(ok.contains(&instance), "instance {instance} never got a slot");
    }
    let refused: Vec<&Answer> = answers.iter().map(|(_, a)| a).filter(|a| a.status != 200).collect();
    assert!(refused.len() > answers.len() / 2, "{} refused", refused.len());
    for a in refused {
        assert_team_429(a);
    }
    for gateway in &gateways {
        assert!(gateway.log().contains(SHARED_LOG));
        assert!(!gateway.log().contains("Redis is unavailable"), "{}", gateway.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_mode_queues_for_the_shared_budget_across_instances() {
    let redis = RedisServer::start();
    let up = Capture::start().await;
    let waiting = || {
        patient(&up, &redis.url())
            .ratelimit("on_limit", "wait")
            .ratelimit("max_wait", "4s")
    };
    let a = start(waiting()).await;
    let b = start(waiting()).await;
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = arrivals.clone();
    up.respond_with(move |_| {
        seen.lock().unwrap().push(Instant::now());
        Canned::default()
    });
    // Seven writes at once on each instance: with per-instance budgets they would all be
    // sent within 0.4 s; sharing 5/s, the last of the 14 leaves 9 slots (1.8 s) after the
    // burst.
    let mut requests = Vec::new();
    for _ in 0..7 {
        for addr in [a.addr, b.addr] {
            requests.push(tokio::spawn(call(addr, WRITE)));
        }
    }
    for request in requests {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let mut arrivals = arrivals.lock().unwrap().clone();
    arrivals.sort();
    assert_eq!(arrivals.len(), 14);
    let span = arrivals[13] - arrivals[0];
    assert!(span >= Duration::from_millis(1650), "all sent within {span:?}");
    // Never more than the burst plus the slots earned, over any stretch.
    for (i, first) in arrivals.iter().enumerate() {
        for (j, last) in arrivals.iter().enumerate().skip(i) {
            assert!(
                j - i < most_admitted(5, 5, *last - *first),
                "{} sent within {:?}",
                j - i + 1,
                *last - *first
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allos_429_seen_by_one_instance_holds_every_instance() {
    let redis = RedisServer::start();
    let up = Capture::start().await;
    let a = start(shared(&up, &redis.url(), "open")).await;
    let b = start(shared(&up, &redis.url(), "open")).await;
    up.set(Canned {
        status: 429,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("retry-after".into(), "3".into()),
        ],
        body: r#"{"error":{"type":"rate_limit_error","code":"RATE_LIMIT_EXCEEDED","retryable":true}}"#.into(),
        ..Canned::default()
    });
    let allo = call(a.addr, WRITE).await;
    assert_eq!((allo.status, allo.gateway_error()), (429, None), "Allo's own answer");
    up.set(Canned::default());
    // The pause is pushed to Redis in the background; give it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = up.count();
    let held = call(b.addr, WRITE).await;
    // Held by Allo's own signal: the policy named is Allo's.
    let retry_after = assert_gateway_429(&held, "\"allo-write\";q=5;w=1");
    assert!(retry_after >= 2, "b holds until Allo's reset");
    assert!(
        held.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Allo reported the team's write budget exhausted"),
        "{}",
        held.text()
    );
    assert_eq!(up.count(), sent, "nothing reached Allo through the other instance");
    // Allo counts reads apart: the read budget is not held.
    assert_eq!(call(b.addr, READ).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_falls_back_to_local_budgets_while_redis_is_down_then_shares_again() {
    let mut redis = RedisServer::start();
    let up = Capture::start().await;
    let a = start(shared(&up, &redis.url(), "open")).await;
    let b = start(shared(&up, &redis.url(), "open")).await;
    let both = [&a, &b];

    // Redis up: the two instances share one burst of 5.
    let (answers, elapsed) = round_robin(&both, 12).await;
    assert!(admitted(&answers) <= most_admitted(5, 5, elapsed), "{elapsed:?}");
    answers.iter().filter(|a| a.status != 200).for_each(|a| {
        assert_team_429(a);
    });

    // Redis down: every answer comes within the timeout (the breaker skips Redis after the
    // first failure), and each instance admits on its own budget, whose burst it never spent.
    redis.stop();
    for gateway in both {
        let started = Instant::now();
        let mut answers = Vec::new();
        for _ in 0..8 {
            let sent = Instant::now();
            let answer = call(gateway.addr, WRITE).await;
            assert!(sent.elapsed() < Duration::from_millis(500), "took {:?}", sent.elapsed());
            answers.push(answer);
        }
        let elapsed = started.elapsed();
        let ok = admitted(&answers);
        assert!(
            (5..=most_admitted(5, 5, elapsed)).contains(&ok),
            "admitted {ok} in {elapsed:?}"
        );
        answers.iter().filter(|a| a.status != 200).for_each(|a| {
            assert_team_429(a);
        });
        logged(gateway, "Redis is unavailable").await;
    }

    // Redis back: within a breaker period and a reconnect, both share again, no restart.
    redis.restart();
    for gateway in both {
        until_redis_is_back(gateway).await;
    }
    // Every local burst refills; only a shared budget keeps the pair to one burst.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (answers, elapsed) = round_robin(&both, 12).await;
    assert!(
        admitted(&answers) <= most_admitted(5, 5, elapsed),
        "admitted {} in {elapsed:?}",
        admitted(&answers)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closed_answers_503_at_once_while_redis_is_down_then_serves_again() {
    let mut redis = RedisServer::start();
    let up = Capture::start().await;
    let gateway = start(shared(&up, &redis.url(), "closed")).await;
    assert_eq!(call(gateway.addr, WRITE).await.status, 200);

    redis.stop();
    let sent_before = up.count();
    for request in [WRITE, READ, WRITE, READ, WRITE, WRITE, READ, WRITE] {
        let sent = Instant::now();
        let a = call(gateway.addr, request).await;
        assert!(sent.elapsed() < Duration::from_millis(500), "took {:?}", sent.elapsed());
        assert_eq!(a.status, 503, "{}", a.text());
        assert_eq!(a.gateway_error().as_deref(), Some("RATE_LIMIT_UNAVAILABLE"));
        let error = &a.json()["error"];
        assert_eq!(error["type"], "server_error");
        assert_eq!(error["retryable"], true);
        assert_eq!(a.header("retry-after").as_deref(), Some("1"));
        assert_eq!(error["retry_after_seconds"], 1);
        assert!(a.header("ratelimit-policy").is_none(), "no budget state to describe");
    }
    assert_eq!(up.count(), sent_before, "nothing was sent unchecked");

    redis.restart();
    eventually(&gateway, "serving again", async || {
        let a = call(gateway.addr, WRITE).await;
        if a.status == 200 {
            return true;
        }
        assert_eq!(a.status, 503, "{}", a.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
        false
    })
    .await;
    logged(&gateway, RECOVERED_LOG).await;
}

/// The URL from a file secret, with a password Redis requires: shared budgets work, and the
/// password appears in no log line, even when Redis fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_url_with_a_password_from_a_file_is_used_and_never_logged() {
    const PASSWORD: &str = "s3cret-redis-password-marker";
    let mut redis = RedisServer::start();
    let admin = redis::Client::open(redis.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(PASSWORD)
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let up = Capture::start().await;
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port);
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let config = config(&up)
            .redis("url", file("redis-url"))
            .redis("failure_mode", "closed")
            .folder();
        config.write("redis-url", format!("{url}\n"));
        gateways.push(connected(GatewayProcess::start(config, &[])).await);
    }
    let both = [&gateways[0], &gateways[1]];
    let (answers, elapsed) = round_robin(&both, 12).await;
    assert!(admitted(&answers) >= 5, "AUTH failed? {}", gateways[0].log());
    assert!(admitted(&answers) <= most_admitted(5, 5, elapsed));
    // Redis gone: the failure is logged, the URL and its password are not.
    redis.stop();
    for _ in 0..3 {
        assert_eq!(call(gateways[0].addr, WRITE).await.status, 503);
    }
    logged(&gateways[0], "Redis is unavailable").await;
    for gateway in &gateways {
        let log = gateway.log();
        assert!(!log.contains(PASSWORD), "the password was logged:\n{log}");
        assert!(!log.contains("redis://"), "the URL was logged:\n{log}");
    }
}

/// `rediss://`: TLS with the system trust store (here the test CA, through `SSL_CERT_FILE`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rediss_urls_use_tls() {
    let redis = TlsRedis::start();
    let up = Capture::start().await;
    let url = format!("rediss://localhost:{}", redis.port);
    let ca = redis.ca_file.to_str().unwrap();
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let config = shared(&up, &url, "closed");
        gateways.push(connected(config.start(&[("SSL_CERT_FILE", ca)])).await);
    }
    let (answers, elapsed) = round_robin(&[&gateways[0], &gateways[1]], 12).await;
    assert!(
        admitted(&answers) >= 5,
        "TLS failed? {}\n{}",
        answers[0].text(),
        gateways[0].log()
    );
    assert!(admitted(&answers) <= most_admitted(5, 5, elapsed));
    // Not trusting the CA: the handshake fails, and `closed` refuses.
    let untrusting = shared(&up, &url, "closed").start(&[]);
    assert_eq!(call(untrusting.addr, WRITE).await.status, 503);
}

/// The latency a shared team budget adds to a request: one decision through `RateLimits` (the
/// pipeline's call: hold check, breaker, one Lua script round trip) on loopback, against the
/// same decision on a local budget. Benchmark run (20,000 decisions, release build):
/// `ALLO_BENCH_REDIS=1 cargo test --release --test it redis_budget::bench_decision -- --nocapture`.
/// Without the variable it runs 200 and checks only that every decision was made by Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bench_decision() {
    let n: usize = if std::env::var_os("ALLO_BENCH_REDIS").is_some() {
        20_000
    } else {
        200
    };
    let redis = RedisServer::start();
    let local = Config::empty().team(
        Team::new("bench")
            .key_value("ak_bench")
            .read(1_000_000)
            .write(1_000_000),
    );
    let load = |config: &Config| allo_gateway::config::from_str(&config.render(), std::path::Path::new(".")).unwrap();
    let shared = local.clone().redis("url", redis.url()).redis("failure_mode", "closed");
    let shared = Arc::new(RateLimits::new(&load(&shared)));
    let local = RateLimits::new(&load(&local));

    for _ in 0..100 {
        shared.acquire_team("bench", RateClass::Write).await.unwrap();
    }
    let one_by_one = |latencies: &mut Vec<Duration>| {
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        (at(0.5), at(0.99), latencies[latencies.len() - 1])
    };
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        shared.acquire_team("bench", RateClass::Write).await.unwrap();
        latencies.push(t.elapsed());
    }
    let sequential = n as f64 / started.elapsed().as_secs_f64();
    let (p50, p99, max) = one_by_one(&mut latencies);

    // Concurrent callers share the multiplexed connection.
    let tasks = 32;
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let shared = shared.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..n / tasks {
                shared.acquire_team("bench", RateClass::Read).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let concurrent = (n / tasks * tasks) as f64 / started.elapsed().as_secs_f64();

    let mut local_latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        local.acquire_team("bench", RateClass::Write).await.unwrap();
        local_latencies.push(t.elapsed());
    }
    let (local_p50, local_p99, _) = one_by_one(&mut local_latencies);

    assert_eq!(
        (shared.redis_errors(), shared.redis_fallbacks()),
        (0, 0),
        "every decision was Redis's"
    );
    println!("team-budget decision, {n} decisions, loopback redis-server:");
    println!("  through Redis, one at a time: p50 {p50:?}, p99 {p99:?}, max {max:?}, {sequential:.0} decisions/s");
    println!("  through Redis, {tasks} concurrent callers: {concurrent:.0} decisions/s");
    println!("  local budget (no Redis):       p50 {local_p50:?}, p99 {local_p99:?}");
}
