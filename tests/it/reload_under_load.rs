//! Reloads while traffic flows: a steady client keeps sending through three config changes
//! (a caller added, a caller's token changed, a broken config) and a key file rewritten in
//! place of the old one; none of its requests fails, each change takes effect, and the broken
//! config changes nothing.

use crate::support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::client::Request;
use support::observe::eventually_within;
use support::process::replace;
use support::{Caller, Capture, Config, GatewayProcess, Team, TestConfig};

/// Team "sales" (key from `sales.key`) with callers (id, token).
fn config(upstream: &str, callers: &[(&str, &str)]) -> String {
    let team = Team::new("sales").key_file("sales.key").read(100_000);
    let config = callers
        .iter()
        .fold(Config::bare(upstream).team(team), |c, (id, token)| {
            c.caller(Caller::new(id, "sales").token(token))
        });
    config.render()
}

async fn status(addr: std::net::SocketAddr, token: &str) -> u16 {
    Request::new(addr, "GET", "/v2/api/users")
        .bearer(token)
        .send()
        .await
        .status
}

/// Each change is expected to apply within this.
const RELOADED: Duration = Duration::from_secs(5);

#[tokio::test]
async fn config_changes_and_key_rotation_under_load() {
    let up = Capture::start().await;
    let cfg = TestConfig::new(&config(&up.url(), &[("steady", "tok-steady"), ("crm", "tok-crm-1")]));
    cfg.write("sales.key", "ak_key_one\n");
    let gw = GatewayProcess::start(cfg, &[]);
    let dir = gw.config_dir().unwrap();
    let (config_file, key_file) = (dir.join("gateway.toml"), dir.join("sales.key"));
    let addr = gw.addr;

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if status(addr, "tok-steady").await != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // 1. A caller is added.
    replace(
        &config_file,
        &config(
            &up.url(),
            &[("steady", "tok-steady"), ("crm", "tok-crm-1"), ("new", "tok-new")],
        ),
    );
    eventually_within(&gw, RELOADED, "the new caller working", async || {
        status(addr, "tok-new").await == 200
    })
    .await;

    // 2. A caller's token is changed: the new one works, the old one stops.
    replace(
        &config_file,
        &config(
            &up.url(),
            &[("steady", "tok-steady"), ("crm", "tok-crm-2"), ("new", "tok-new")],
        ),
    );
    eventually_within(&gw, RELOADED, "the changed token working", async || {
        status(addr, "tok-crm-2").await == 200
    })
    .await;
    assert_eq!(status(addr, "tok-crm-1").await, 401);

    // 3. A broken config changes nothing.
    replace(&config_file, "[server]\nlisten = \"127.0.0.1:0\"\nthis is not toml");
    eventually_within(&gw, RELOADED, "the broken config being refused", async || {
        gw.log().contains("reload refused") || gw.log().contains("refused")
    })
    .await;
    assert_eq!(status(addr, "tok-crm-2").await, 200);
    assert_eq!(status(addr, "tok-new").await, 200);
    assert_eq!(status(addr, "tok-crm-1").await, 401);

    // Back to a valid config (the key file below is only read with a valid one).
    let valid = config(
        &up.url(),
        &[
            ("steady", "tok-steady"),
            ("crm", "tok-crm-2"),
            ("new", "tok-new"),
            ("late", "tok-late"),
        ],
    );
    replace(&config_file, &valid);
    eventually_within(&gw, RELOADED, "the config being valid again", async || {
        status(addr, "tok-late").await == 200
    })
    .await;

    // 4. The key file is rewritten: the upstream sees the new key within a second.
    let rotated = Instant::now();
    replace(&key_file, "ak_key_two\n");
    eventually_within(&gw, RELOADED, "the new key reaching the upstream", async || {
        up.taken()
            .last()
            .is_some_and(|c| c.all("authorization") == vec!["Api-Key ak_key_two".to_string()])
    })
    .await;
    assert!(
        rotated.elapsed() < Duration::from_secs(1),
        "the new key took {:?}",
        rotated.elapsed()
    );

    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(sent > 20, "too little traffic to prove anything: {sent}");
    assert_eq!(
        failed,
        0,
        "{failed} of {sent} steady requests failed during reloads:\n{}",
        gw.log()
    );
    // Every request carried exactly one key, one of the two.
    for c in up.taken() {
        let auth = c.all("authorization");
        assert!(
            auth == vec!["Api-Key ak_key_one"] || auth == vec!["Api-Key ak_key_two"],
            "{auth:?}"
        );
    }
}
