//! Slowloris: 500 connections that each send half a request head and then hold it do not stop
//! a well-behaved client from getting its answers within a second, and the gateway's memory
//! stays bounded while they are held.

use crate::support;

use std::time::{Duration, Instant};

use support::{send, Caller, Capture, Config, Team};
use tokio::io::AsyncWriteExt;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn five_hundred_slow_heads_do_not_starve_a_good_client() {
    let up = Capture::start().await;
    let gw = Config::bare(&up.url())
        .server("header_read_timeout", "10s")
        .team(Team::new("t").key_value("ak_t").read(100_000))
        .caller(Caller::new("good", "t").token("good-token"))
        .start(&[]);
    let auth = [("authorization", "Bearer good-token")];
    assert_eq!(send(gw.addr, "GET", "/v2/api/users", &auth, "").await.status, 200);
    let before = rss_kib(gw.child.id());

    let mut slow = Vec::with_capacity(500);
    for _ in 0..500 {
        let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        stream
            .write_all(b"GET /v2/api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bea")
            .await
            .unwrap();
        slow.push(stream);
    }
    // Give the gateway time to accept them all before measuring the good client.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..20 {
        let started = Instant::now();
        let r = send(gw.addr, "GET", "/v2/api/users", &auth, "").await;
        assert_eq!(r.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a good request took {:?}",
            started.elapsed()
        );
    }
    let held = rss_kib(gw.child.id());
    // 500 idle connections cost buffers, not megabytes each.
    assert!(held < before + 32 * 1024, "RSS grew from {before} KiB to {held} KiB");
    drop(slow);
    assert_eq!(send(gw.addr, "GET", "/v2/api/users", &auth, "").await.status, 200);
}
