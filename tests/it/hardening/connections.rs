//! Expect: 100-continue over the body limit, the connection bound (waiting connections spend
//! no descriptor) and running out of descriptors.

use super::*;

use crate::support::observe::eventually_within;

// ---------------------------------------------------------------- Expect: 100-continue

#[tokio::test]
async fn expect_continue_over_the_body_limit_gets_413_and_no_100_continue() {
    let up = Capture::start().await;
    let gw = start(config(&up.url()).server("max_body_bytes", 1024));
    let head = |len: usize| {
        format!(
            "POST /v2/api/dialing-queues/current HTTP/1.1\r\nHost: gw\r\n{}Content-Type: application/json\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n",
            auth()
        )
    };

    // Under the limit, the same request is told to go on, so the check below can fail.
    let mut raw = Raw::connect(gw.addr).await;
    raw.write(head(2)).await;
    assert_eq!(raw.reply().await.status, 100);
    raw.write("{}").await;
    assert_eq!(raw.reply().await.status, 200);

    let mut raw = Raw::connect(gw.addr).await;
    raw.write(head(5000)).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 413, "{}", reply.head);
    assert_eq!(reply.gateway_error().as_deref(), Some("PAYLOAD_TOO_LARGE"));
    assert_eq!(up.count(), 1);
}

// ---------------------------------------------------------------- connection bound, fds

fn open_fds(gw: &GatewayProcess) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", gw.child.id()))
        .unwrap()
        .count()
}

#[tokio::test]
async fn connections_past_max_connections_wait_and_spend_no_descriptor() {
    let up = Capture::start().await;
    // One worker: the queued connection below must be the one a freed slot goes to. With
    // several, each worker has its own accept queue and the slot goes to whichever has a
    // connection waiting (`workers::max_connections_bounds_the_process_not_each_worker`).
    let gw = config(&up.url())
        .server("max_connections", 2)
        .start(&[("TEST_HARDENING_KEY", KEY), ("ALLO_GATEWAY_WORKERS", "1")]);
    let mut a = Raw::connect(gw.addr).await;
    a.write(get_users()).await;
    assert_eq!(a.reply().await.status, 200);
    let mut b = Raw::connect(gw.addr).await;
    b.write(get_users()).await;
    assert_eq!(b.reply().await.status, 200);
    let fds = open_fds(&gw);

    // A third connection is queued by the kernel, not served...
    let mut c = Raw::connect(gw.addr).await;
    c.write(get_users()).await;
    // ...and so are many more, without costing the gateway a descriptor each.
    let mut waiting = Vec::new();
    for _ in 0..50 {
        waiting.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), c.fill())
            .await
            .is_err(),
        "a connection past the bound was served: {:?}",
        c.text()
    );
    let grown = open_fds(&gw).saturating_sub(fds);
    assert!(
        grown <= 2,
        "the gateway opened {grown} descriptors for queued connections"
    );

    // One slot frees up: the queued connection is served.
    drop(a);
    assert_eq!(c.reply().await.status, 200);
    drop(waiting);
}

#[tokio::test]
async fn running_out_of_descriptors_is_logged_and_survived() {
    let up = Capture::start().await;
    let mut gw = start(config(&up.url()));
    let baseline = open_fds(&gw);
    let limit = baseline + 8;
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &gw.child.id().to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("skipping: prlimit unavailable ({other:?})");
            return;
        }
    }
    // More connections than descriptors: the accepts past the limit fail with EMFILE.
    let mut held = Vec::new();
    for _ in 0..30 {
        let mut raw = Raw::connect(gw.addr).await;
        raw.write(get_users()).await;
        held.push(raw);
    }
    eventually(&gw, "an accept failure is logged", async || {
        gw.log().contains("accept failed")
    })
    .await;
    assert!(gw.child.try_wait().unwrap().is_none(), "the gateway died on EMFILE");
    drop(held);
    // Descriptors free again: the gateway serves as before (once the queue of connections
    // closed meanwhile is worked off, which takes descriptors for a moment).
    let within = Duration::from_secs(10);
    eventually_within(&gw, within, "serving again after EMFILE", async || {
        let answer = tokio::time::timeout(Duration::from_secs(5), gw.get("/v2/api/users").bearer(TOKEN).send())
            .await
            .expect("the gateway stopped answering after EMFILE");
        answer.status == 200
    })
    .await;
    eventually(&gw, "accepting again is logged", async || {
        gw.log().contains("accepting again")
    })
    .await;
}
