//! Graceful shutdown on SIGTERM/SIGINT, its grace bound, and the in-flight bound per team.

use super::*;

use crate::support::observe::eventually_within;

// ---------------------------------------------------------------- graceful shutdown

async fn readyz(admin: SocketAddr) -> u16 {
    send(admin, "GET", "/readyz", &[], "").await.status
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_closes_idle_ones_and_exits_0() {
    let up = Capture::start().await;
    let mut gw = start(config(&up.url()).server("shutdown_grace", "10s"));
    let admin = gw.admin.unwrap();
    assert_eq!(readyz(admin).await, 200);

    // An idle keep-alive connection, served once...
    let mut idle = Raw::connect(gw.addr).await;
    idle.write(get_users()).await;
    assert_eq!(idle.reply().await.status, 200);
    // ...and one request in flight at a now slow upstream.
    up.set(Canned {
        delay: Duration::from_secs(2),
        ..Canned::default()
    });
    let addr = gw.addr;
    let in_flight = tokio::spawn(async move {
        let mut raw = Raw::connect(addr).await;
        raw.write(get_users()).await;
        let reply = raw.reply().await;
        let closed = raw.closed_within(Duration::from_secs(5)).await;
        (reply, closed)
    });
    eventually(&gw, "the slow request reached the upstream", async || up.count() == 2).await;

    gw.signal("TERM");
    let within = Duration::from_secs(5);
    eventually_within(&gw, within, "new connections refused after SIGTERM", async || {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert_eq!(readyz(admin).await, 503, "/readyz during the drain");
    assert!(
        idle.closed_within(Duration::from_secs(1)).await,
        "idle keep-alive connection kept"
    );

    let (reply, closed) = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "the in-flight request was cut");
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    assert!(closed);
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", gw.log());
}

#[tokio::test]
async fn shutdown_grace_bounds_the_drain() {
    let up = Capture::start().await;
    up.set(Canned {
        delay: Duration::from_secs(30),
        ..Canned::default()
    });
    let mut gw = start(config(&up.url()).server("shutdown_grace", "300ms"));
    let addr = gw.addr;
    let in_flight = tokio::spawn(async move {
        let mut raw = Raw::connect(addr).await;
        raw.write(get_users()).await;
        raw.closed_within(Duration::from_secs(20)).await
    });
    eventually(&gw, "the request reached the upstream", async || up.count() == 1).await;
    let signalled = Instant::now();
    gw.signal("INT");
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
    assert!(in_flight.await.unwrap(), "the connection outlived the process");
    assert!(gw.log().contains("grace period over"), "{}", gw.log());
}

// ---------------------------------------------------------------- in flight per team

#[tokio::test]
async fn a_team_past_max_in_flight_per_team_gets_429_until_a_slot_frees() {
    let up = Capture::start().await;
    up.set(Canned {
        delay: Duration::from_millis(800),
        ..Canned::default()
    });
    let gw = start(config(&up.url()).server("max_in_flight_per_team", 2));
    let addr = gw.addr;
    let slow: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                let mut raw = Raw::connect(addr).await;
                raw.write(get_users()).await;
                raw.reply().await.status
            })
        })
        .collect();
    eventually(&gw, "two requests in flight", async || up.count() == 2).await;
    let mut raw = Raw::connect(addr).await;
    raw.write(get_users()).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.gateway_error().as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
    for status in slow {
        assert_eq!(status.await.unwrap(), 200);
    }
    // The slots are given back with the responses.
    raw.write(get_users()).await;
    assert_eq!(raw.reply().await.status, 200);
    assert_eq!(up.count(), 3);
}

#[tokio::test]
async fn a_streamed_answer_holds_its_teams_slot_until_its_body_is_done() {
    use crate::support::scripted::{Scripted, Step};
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\
                connection: close\r\n\r\n6\r\n{\"a\":1\r\n";
    let whole = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
    let first = vec![
        Step::Read,
        Step::Write(head.into()),
        Step::Pause(Duration::from_millis(700)),
        Step::Write(b"1\r\n}\r\n0\r\n\r\n".to_vec()),
        Step::Close,
    ];
    // Later connections answer whole.
    let up = Scripted::serving(vec![first], vec![Step::Read, Step::Write(whole.into()), Step::Close]).await;
    let gw = start(config(&up.url()).server("max_in_flight_per_team", 1));

    let mut streaming = Raw::connect(gw.addr).await;
    streaming.write(get_users()).await;
    // The answer's head is out, its body not done: the slot goes with the body.
    while support::raw::find(&streaming.buf, b"\r\n\r\n").is_none() {
        assert!(streaming.fill().await, "closed before the answer's head");
    }
    let mut other = Raw::connect(gw.addr).await;
    other.write(get_users()).await;
    let refused = other.reply().await;
    assert_eq!(refused.status, 429, "{}", refused.head);
    assert_eq!(refused.gateway_error().as_deref(), Some("RATE_LIMIT_EXCEEDED"));

    let streamed = streaming.reply().await;
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.body, br#"{"a":1}"#);
    // Given back with the body's end.
    eventually(&gw, "the slot given back", async || {
        let mut again = Raw::connect(gw.addr).await;
        again.write(get_users()).await;
        again.reply().await.status == 200
    })
    .await;
}
