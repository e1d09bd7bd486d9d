//! Memory taken by a burst of large bodies is given back once the burst is over: the
//! gateway's resident set returns close to where it was before, rather than staying near its
//! peak for good (glibc keeps freed memory in its arenas unless asked; `src/memory.rs`).

use crate::support;

use std::time::Duration;

use support::observe::eventually_within;
use support::{Capture, GatewayProcess};

const TOKEN: &str = "tok_memory_0123456789abcdefghij";
const KEY_ENV: &str = "TEST_MEMORY_KEY";

/// A `VmRSS`-style line of `/proc/<pid>/status`, in KiB.
fn status_kib(gw: &GatewayProcess, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.child.id())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

#[tokio::test]
async fn memory_taken_by_a_burst_of_large_bodies_is_given_back() {
    let up = Capture::start().await;
    let gw = support::one_caller(&up.url(), KEY_ENV, TOKEN).start(&[(KEY_ENV, "ak_live_MEMORYKEY")]);
    // Warm: the first requests build what stays (pools, caches, buffers).
    for _ in 0..4 {
        let a = gw
            .post("/v2/api/dialing-queues/current")
            .bearer(TOKEN)
            .json(r#"{"name":"warm"}"#)
            .send()
            .await;
        assert_eq!(a.status, 200, "{}", a.text());
    }
    let idle = status_kib(&gw, "VmRSS:");

    // 32 callers, 3 bodies each of about 0.8 MB: unknown keys, each refused with a listing.
    let keys: Vec<String> = (0..28_000).map(|i| format!("\"unknown_field_{i:06}\":\"x\"")).collect();
    let body = format!("{{{}}}", keys.join(","));
    let callers: Vec<_> = (0..32)
        .map(|_| {
            let (addr, body) = (gw.addr, body.clone());
            tokio::spawn(async move {
                for _ in 0..3 {
                    let auth = format!("Bearer {TOKEN}");
                    let a = support::send(
                        addr,
                        "POST",
                        "/v2/api/dialing-queues/current",
                        &[("authorization", auth.as_str()), ("content-type", "application/json")],
                        body.clone(),
                    )
                    .await;
                    assert_eq!(a.status, 400, "{}", a.text());
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let peak = status_kib(&gw, "VmHWM:");
    assert!(
        peak > idle + 20 * 1024,
        "the burst took little memory: {idle} KiB idle, {peak} KiB peak"
    );

    // Given back within a few periods of the burst's end.
    let given_back = async || status_kib(&gw, "VmRSS:") <= idle + 10 * 1024;
    eventually_within(&gw, Duration::from_secs(20), "the memory given back", given_back).await;
    assert_eq!(up.count(), 4);
}
