//! `--workers N`: N worker threads, each accepting on its own `SO_REUSEPORT` listener. What
//! must hold across them, on the real binary with four workers: the kernel spreads
//! connections over every worker, SIGTERM drains them all, a reload reaches them all, a team
//! budget and `max_connections` are one for the process, and a request the grace period
//! leaves gets a 503 envelope.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use support::client::h2c;
use support::observe::{eventually_within, metric};
use support::raw::Raw;
use support::{eventually, Caller, Canned, Capture, Config, GatewayProcess, Team};
use tokio::net::TcpStream;

const TOKEN: &str = "tok_workers_0123456789abcdef";
const OTHER_TOKEN: &str = "tok_workers_other_0123456789ab";
const KEY: &str = "ak_live_WORKERSKEY";
const KEY_ENV: &str = "TEST_WORKERS_KEY";
const WORKERS: usize = 4;

/// One team (`read_per_second` as given) and one caller, an admin listener, a 40 s request
/// timeout.
fn config(upstream: &str, read_per_second: u32) -> Config {
    Config::new(upstream)
        .admin()
        .request_timeout("40s")
        .team(Team::new("sales").key_env(KEY_ENV).read(read_per_second).write(1000))
        .caller(Caller::new("crm-sync", "sales").token(TOKEN))
}

/// The gateway on `config` with `WORKERS` workers.
fn start(config: &Config) -> GatewayProcess {
    let workers = WORKERS.to_string();
    config.start(&[(KEY_ENV, KEY), ("ALLO_GATEWAY_WORKERS", &workers)])
}

/// `GET /v2/api/users` as written on the wire, for connections kept open or watched closing.
fn get_users(token: &str) -> String {
    format!("GET /v2/api/users HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\n\r\n")
}

/// Sends one request on each of `count` new connections at once; their statuses.
async fn spread(gw: &GatewayProcess, token: &str, count: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let request = gw.get("/v2/api/users").bearer(token);
            tokio::spawn(async move { request.send().await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// Connections accepted by each worker so far.
async fn per_worker(gw: &GatewayProcess) -> Vec<f64> {
    let text = gw.metrics().await;
    (0..WORKERS)
        .map(|w| {
            metric(
                &text,
                "allo_gateway_worker_connections_total",
                &[("worker", &w.to_string())],
            )
        })
        .collect()
}

/// The names of the process's worker threads (worker 0, the main thread, has none).
fn worker_threads(gw: &GatewayProcess) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{}/task", gw.child.id()))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("allo-worker-"))
        .collect()
}

#[tokio::test]
async fn one_worker_serves_on_the_main_thread_alone() {
    let up = Capture::start().await;
    let gw = config(&up.url(), 1000).start(&[(KEY_ENV, KEY), ("ALLO_GATEWAY_WORKERS", "1")]);
    let statuses = spread(&gw, TOKEN, 8).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(worker_threads(&gw), Vec::<String>::new());
    let served = metric(
        &gw.metrics().await,
        "allo_gateway_worker_connections_total",
        &[("worker", "0")],
    );
    assert_eq!(served, 8.0);
}

#[tokio::test]
async fn every_worker_accepts_and_serves() {
    let up = Capture::start().await;
    let gw = start(&config(&up.url(), 1000));
    assert!(
        gw.log().contains(r#""workers":4"#),
        "not serving on four workers:\n{}",
        gw.log()
    );
    // Worker 0 is the main thread; the others have threads of their own (named as they start,
    // which may be just after the listening line).
    eventually(&gw, "every worker thread", async || {
        worker_threads(&gw).len() == WORKERS - 1
    })
    .await;
    let statuses = spread(&gw, TOKEN, 64).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(up.count(), 64);
    // 64 connections hashed over four listeners: the chance that one gets none is 4 * 0.75^64.
    let served = per_worker(&gw).await;
    assert!(served.iter().all(|n| *n >= 1.0), "connections per worker: {served:?}");
    assert_eq!(served.iter().sum::<f64>(), 64.0, "{served:?}");
    // Each worker counts its own requests; a scrape sums them.
    let text = gw.metrics().await;
    let answered = metric(&text, "allo_gateway_requests_total", &[("status", "200")]);
    assert_eq!(answered, 64.0, "{text}");
    let timed = metric(
        &text,
        "allo_gateway_upstream_duration_seconds_count",
        &[("route", "users.list")],
    );
    assert_eq!(timed, 64.0, "{text}");
}

#[tokio::test]
async fn sigterm_drains_every_worker_and_exits_0() {
    let up = Capture::start().await;
    let mut gw = start(&config(&up.url(), 1000).server("shutdown_grace", "20s"));
    up.set(Canned {
        delay: Duration::from_millis(1500),
        ..Canned::default()
    });
    // Sixteen requests in flight, spread over the workers.
    let in_flight: Vec<_> = (0..16)
        .map(|_| {
            let request = gw.get("/v2/api/users").bearer(TOKEN);
            tokio::spawn(async move {
                let answer = request.send().await;
                (answer.status, answer.header("connection"))
            })
        })
        .collect();
    eventually(&gw, "16 requests at the upstream", || async { up.count() == 16 }).await;
    let busy = per_worker(&gw).await;
    assert!(busy.iter().filter(|n| **n >= 1.0).count() >= 2, "{busy:?}");

    gw.signal("TERM");
    let addr = gw.addr;
    eventually_within(
        &gw,
        Duration::from_secs(5),
        "new connections refused after SIGTERM",
        async || TcpStream::connect(addr).await.is_err(),
    )
    .await;
    for task in in_flight {
        let (status, connection) = task.await.unwrap();
        assert_eq!(status, 200, "an in-flight request was cut");
        assert_eq!(connection.as_deref(), Some("close"));
    }
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.log());
    assert_eq!(up.count(), 16);
}

#[tokio::test]
async fn a_reload_reaches_every_worker() {
    let up = Capture::start().await;
    let before_reload = config(&up.url(), 1000);
    let gw = start(&before_reload);
    let before = spread(&gw, OTHER_TOKEN, 8).await;
    assert!(before.iter().all(|s| *s == 401), "{before:?}");

    // A second caller appears.
    let after_reload = before_reload.caller(Caller::new("billing", "sales").token(OTHER_TOKEN));
    let path = gw.config_dir().unwrap().join("gateway.toml");
    std::fs::write(&path, after_reload.render()).unwrap();
    gw.signal("HUP");
    eventually(&gw, "the reload", || async {
        metric(&gw.metrics().await, "allo_gateway_reloads_total", &[("result", "ok")]) >= 1.0
    })
    .await;

    let served_before = per_worker(&gw).await;
    let after = spread(&gw, OTHER_TOKEN, 64).await;
    assert!(after.iter().all(|s| *s == 200), "{after:?}");
    let served_after = per_worker(&gw).await;
    let reached: Vec<f64> = served_after.iter().zip(&served_before).map(|(a, b)| a - b).collect();
    assert!(
        reached.iter().all(|n| *n >= 1.0),
        "every worker should have served the new caller: {reached:?}"
    );
}

#[tokio::test]
async fn one_team_budget_holds_across_workers() {
    let up = Capture::start().await;
    let gw = start(&config(&up.url(), 5));
    let started = Instant::now();
    let statuses = spread(&gw, TOKEN, 40).await;
    let elapsed = started.elapsed();
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(admitted + refused, 40, "{statuses:?}");
    assert_eq!(up.count(), admitted);
    // One budget of 5 a second (burst 5), not one per worker (which would admit 20 at once).
    let most = 5 + (elapsed.as_secs_f64() * 5.0).ceil() as usize;
    assert!(admitted <= most, "admitted {admitted} in {elapsed:?}");
    assert!(admitted >= 1);
    let served = per_worker(&gw).await;
    assert!(served.iter().filter(|n| **n >= 1.0).count() >= 2, "{served:?}");
}

#[tokio::test]
async fn max_connections_bounds_the_process_not_each_worker() {
    let up = Capture::start().await;
    let gw = start(&config(&up.url(), 1000).server("max_connections", 2));
    // Two connections served and kept open: they hold both slots.
    let mut a = Raw::connect(gw.addr).await;
    a.write(get_users(TOKEN)).await;
    assert_eq!(a.reply().await.status, 200);
    let mut b = Raw::connect(gw.addr).await;
    b.write(get_users(TOKEN)).await;
    assert_eq!(b.reply().await.status, 200);

    // Eight more connections, landing on every worker: none is served while a and b are open
    // (per-worker bounds would serve those landing on a worker that a and b are not on).
    let served = Arc::new(AtomicUsize::new(0));
    let addr = gw.addr;
    let waiting: Vec<_> = (0..8)
        .map(|_| {
            let served = served.clone();
            tokio::spawn(async move {
                let mut raw = Raw::connect(addr).await;
                raw.write(get_users(TOKEN)).await;
                assert_eq!(raw.reply().await.status, 200);
                served.fetch_add(1, Ordering::SeqCst);
                // Keep the connection (and its slot) open.
                raw.closed_within(Duration::from_secs(30)).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        served.load(Ordering::SeqCst),
        0,
        "a connection past the bound was served"
    );

    // One slot frees up: exactly one waiting connection is served, whichever worker has it.
    drop(a);
    let within = Duration::from_secs(10);
    eventually_within(&gw, within, "a waiting connection served", async || {
        served.load(Ordering::SeqCst) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served.load(Ordering::SeqCst), 1);
    drop(b);
    eventually_within(&gw, within, "the second slot used", async || {
        served.load(Ordering::SeqCst) >= 2
    })
    .await;
    for task in waiting {
        task.abort();
    }
}

#[tokio::test]
async fn a_request_left_when_the_grace_period_ends_gets_a_503_envelope() {
    let up = Capture::start().await;
    up.set(Canned {
        delay: Duration::from_secs(30),
        ..Canned::default()
    });
    let mut gw = start(&config(&up.url(), 1000).server("shutdown_grace", "300ms"));
    // On a raw connection: whether the gateway closes it after the 503 is part of the claim.
    let addr = gw.addr;
    let in_flight = tokio::spawn(async move {
        let mut raw = Raw::connect(addr).await;
        raw.write(get_users(TOKEN)).await;
        let reply = raw.reply().await;
        let closed = raw.closed_within(Duration::from_secs(10)).await;
        (reply, closed)
    });
    eventually(&gw, "the request at the upstream", || async { up.count() == 1 }).await;
    let signalled = Instant::now();
    gw.signal("TERM");
    let (reply, closed) = in_flight.await.unwrap();
    assert_eq!(reply.status, 503, "{}", reply.head);
    assert_eq!(reply.gateway_error().as_deref(), Some("SHUTTING_DOWN"));
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["error"]["type"], "server_error");
    assert_eq!(json["error"]["code"], "SHUTTING_DOWN");
    assert_eq!(
        json["error"]["request_id"].as_str(),
        reply.header("x-request-id").as_deref()
    );
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    assert!(closed, "the connection stayed open after the 503");
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.log());
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn an_h2_stream_left_when_the_grace_period_ends_gets_a_503_envelope() {
    let up = Capture::start().await;
    up.set(Canned {
        delay: Duration::from_secs(30),
        ..Canned::default()
    });
    let mut gw = start(&config(&up.url(), 1000).server("shutdown_grace", "300ms"));
    let mut sender = h2c(gw.addr).await;
    let request = hyper::Request::get("http://gateway.local/v2/api/users")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = tokio::spawn(sender.send_request(request));
    eventually(&gw, "the request at the upstream", || async { up.count() == 1 }).await;
    gw.signal("TERM");
    let answer = tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("an answer within 10s")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["x-allo-gateway-error"], "SHUTTING_DOWN");
    let bytes = answer.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["error"]["code"], "SHUTTING_DOWN");
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.log());
}
