//! Cluster-wide team budgets through the real binary, a real redis-server and a capture
//! upstream: several gateway instances sharing one Redis admit one team budget between them
//! (reject and wait mode), Allo's 429 seen by one instance holds them all, and when Redis goes
//! away requests are answered within the timeout, on the local budgets (`open`) or with a 503
//! (`closed`), until Redis is back and sharing resumes with no restart. Also: the URL from a
//! file with a password (never logged), TLS (`rediss://`), and a benchmark of one decision.
//!
//! Bursts run as fast as the test can; assertions are bounds that hold however slow the
//! machine is (a bound only discriminates shared from per-instance budgets on a fast one).

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use allo_gateway::ratelimit::RateLimits;
use allo_gateway::routes::RateClass;
use support::client::Answer;
use support::redis::RedisServer;
use support::{send, sha256_hex, Canned, Capture, GatewayProcess, TestConfig};

const CRM: &str = "tok_redis_budget_crm_sync";
const READ: (&str, &str, &str) = ("GET", "/v2/api/users", "");
/// A POST search: a write for Allo's budget.
const WRITE: (&str, &str, &str) = ("POST", "/v2/api/conversations/items/search", "{}");
const SHARED_LOG: &str = "team budgets are shared across instances through Redis";
const CONNECTED_LOG: &str = "connected to Redis";
const RECOVERED_LOG: &str = "Redis answers again";

/// Team "sales" (write 5/s, read 20/s) with caller "crm" (no caller limit); `[ratelimit]`
/// from `ratelimit`, `[ratelimit.redis]` from `redis`.
fn config(upstream: &Capture, ratelimit: &str, redis: &str) -> TestConfig {
    TestConfig::new(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
[upstream]
url = "{}"
[ratelimit]
{ratelimit}
[ratelimit.redis]
{redis}
[[teams]]
id = "sales"
api_key = {{ value = "ak_test_sales" }}
write_per_second = 5
[[callers]]
id = "crm"
team = "sales"
token_sha256 = "{}"
"#,
        upstream.url(),
        sha256_hex(CRM)
    ))
}

/// `[ratelimit.redis]` keys for `url` in `failure_mode`, with the default 50 ms timeout.
fn redis_keys(url: &str, failure_mode: &str) -> String {
    format!("url = \"{url}\"\nfailure_mode = \"{failure_mode}\"")
}

/// The same with a generous timeout, for tests about sharing rather than a slow Redis: on a
/// loaded test host a 50 ms deadline can pass, and under `open` that decision is rightly made
/// on the local budget, which would blur the shared bound these tests check.
fn patient_redis_keys(url: &str) -> String {
    format!("{}\ntimeout = \"500ms\"", redis_keys(url, "open"))
}

/// A gateway, once connected to Redis.
async fn start(upstream: &Capture, ratelimit: &str, redis: &str) -> GatewayProcess {
    connected(GatewayProcess::start(config(upstream, ratelimit, redis), &[])).await
}

/// Returns `gateway` once its background connection to Redis is up. A gateway connects at
/// start; should it not have, its first decision does: one read is sent to make sure (the
/// upstream sees it, so tests count what reaches the upstream from after this).
async fn connected(gateway: GatewayProcess) -> GatewayProcess {
    call(gateway.addr, READ).await;
    wait_for_log(&gateway, CONNECTED_LOG).await;
    gateway
}

/// Waits until `gateway` has logged `text` (its log is read by another thread).
async fn wait_for_log(gateway: &GatewayProcess, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !gateway.log().contains(text) {
        assert!(Instant::now() < deadline, "never logged {text:?}:\n{}", gateway.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn call(addr: SocketAddr, (method, target, body): (&str, &str, &str)) -> Answer {
    let auth = format!("Bearer {CRM}");
    let mut headers = vec![("authorization", auth.as_str())];
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    send(addr, method, target, &headers, body.to_string()).await
}

/// Sends `n` writes one after the other, round-robin over `gateways`.
async fn round_robin(gateways: &[&GatewayProcess], n: usize) -> (Vec<Answer>, Duration) {
    let started = Instant::now();
    let mut answers = Vec::new();
    for i in 0..n {
        answers.push(call(gateways[i % gateways.len()].addr, WRITE).await);
    }
    (answers, started.elapsed())
}

/// The most a budget can admit in `elapsed`: its burst, plus one per slot earned meanwhile.
fn most_admitted(burst: u32, per_second: u32, elapsed: Duration) -> usize {
    (burst as usize) + (elapsed.as_secs_f64() * f64::from(per_second)).ceil() as usize
}

fn admitted(answers: &[Answer]) -> usize {
    answers.iter().filter(|a| a.status == 200).count()
}

/// The gateway's own 429 for the team's write budget, with `Retry-After`; returns its seconds.
fn assert_team_429(a: &Answer) -> u64 {
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(a.gateway_error().as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    assert_eq!(a.json()["error"]["type"], "rate_limit_error");
    let retry_after: u64 = a.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(a.header("ratelimit-policy").as_deref(), Some("\"team-write\";q=5;w=1"));
    retry_after
}

/// Pokes `gateway` with reads (which ask Redis too) until it logs that Redis answers again.
async fn until_redis_is_back(gateway: &GatewayProcess) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !gateway.log().contains(RECOVERED_LOG) {
        assert!(
            Instant::now() < deadline,
            "the gateway never used Redis again:\n{}",
            gateway.log()
        );
        call(gateway.addr, READ).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_one_team_write_budget() {
    let redis = RedisServer::start();
    let up = Capture::start().await;
    let mut gateways = Vec::new();
    for _ in 0..3 {
        gateways.push(start(&up, "", &patient_redis_keys(&redis.url())).await);
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
    let ratelimit = "on_limit = \"wait\"\nmax_wait = \"4s\"";
    let a = start(&up, ratelimit, &patient_redis_keys(&redis.url())).await;
    let b = start(&up, ratelimit, &patient_redis_keys(&redis.url())).await;
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
    let a = start(&up, "", &redis_keys(&redis.url(), "open")).await;
    let b = start(&up, "", &redis_keys(&redis.url(), "open")).await;
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
    assert!(assert_team_429(&held) >= 2, "b holds until Allo's reset");
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
    let a = start(&up, "", &redis_keys(&redis.url(), "open")).await;
    let b = start(&up, "", &redis_keys(&redis.url(), "open")).await;
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
        wait_for_log(gateway, "Redis is unavailable").await;
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
    let gateway = start(&up, "", &redis_keys(&redis.url(), "closed")).await;
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
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let a = call(gateway.addr, WRITE).await;
        if a.status == 200 {
            break;
        }
        assert_eq!(a.status, 503, "{}", a.text());
        assert!(Instant::now() < deadline, "never served again:\n{}", gateway.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_log(&gateway, RECOVERED_LOG).await;
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
    let section = "url = { file = \"redis-url\" }\nfailure_mode = \"closed\"";
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let config = config(&up, "", section);
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
    wait_for_log(&gateways[0], "Redis is unavailable").await;
    for gateway in &gateways {
        let log = gateway.log();
        assert!(!log.contains(PASSWORD), "the password was logged:\n{log}");
        assert!(!log.contains("redis://"), "the URL was logged:\n{log}");
    }
}

/// A redis-server speaking only TLS on a free loopback port, with a certificate for localhost
/// signed by a test CA; stopped on drop.
struct TlsRedis {
    port: u16,
    ca_file: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start() -> TlsRedis {
        let dir = tempfile::tempdir().unwrap();
        let pki = support::certs::pki();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let (cert, key, ca_file) = (
            file("redis.crt", &pki.leaf_pem),
            file("redis.key", &pki.leaf_key_pem),
            file("ca.pem", &pki.ca_pem),
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--tls-auth-clients", "no"])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca_file)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server (TLS) did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        TlsRedis {
            port,
            ca_file,
            child,
            _dir: dir,
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        let config = config(&up, "", &redis_keys(&url, "closed"));
        gateways.push(connected(GatewayProcess::start(config, &[("SSL_CERT_FILE", ca)])).await);
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
    let untrusting = GatewayProcess::start(config(&up, "", &redis_keys(&url, "closed")), &[]);
    assert_eq!(call(untrusting.addr, WRITE).await.status, 503);
}

/// The latency a shared team budget adds to a request: one decision through `RateLimits` (the
/// pipeline's call: hold check, breaker, one Lua script round trip) on loopback, against the
/// same decision on a local budget. Benchmark run (20,000 decisions, release build):
/// `ALLO_BENCH_REDIS=1 cargo test --release --test redis_budget -- bench_decision --nocapture`.
/// Without the variable it runs 200 and checks only that every decision was made by Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bench_decision() {
    let n: usize = if std::env::var_os("ALLO_BENCH_REDIS").is_some() {
        20_000
    } else {
        200
    };
    let redis = RedisServer::start();
    let text = |redis: &str| {
        format!(
            "[ratelimit]\n{redis}\n[[teams]]\nid = \"bench\"\napi_key = {{ value = \"ak_bench\" }}\n\
             read_per_second = 1000000\nwrite_per_second = 1000000\n"
        )
    };
    let load = |text: &str| allo_gateway::config::from_str(text, std::path::Path::new(".")).unwrap();
    let shared = Arc::new(RateLimits::new(&load(&text(&format!(
        "[ratelimit.redis]\n{}",
        redis_keys(&redis.url(), "closed")
    )))));
    let local = RateLimits::new(&load(&text("")));

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
