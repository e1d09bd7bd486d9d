//! Answers that go wrong and the bounds on them: broken and truncated answers, silence within
//! `request_timeout`, the pool's reaper, HEAD and interim heads, bytes past the answer, and
//! the exact bytes a request goes out as.

use super::*;

use crate::support::observe::eventually_within;

#[tokio::test]
async fn broken_answers_are_502_and_the_gateway_keeps_serving() {
    // `connection: close` keeps each answer on its own connection, whatever the outcome.
    let big = |size: usize| {
        let mut head = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\nx-big: ".to_vec();
        head.extend(vec![b'a'; size]);
        head.extend_from_slice(b"\r\ncontent-length: 2\r\n\r\n{}");
        head
    };
    let once = |bytes: Vec<u8>| vec![Step::Read, Step::Write(bytes), Step::Close];
    let up = Scripted::start(vec![
        // Just under the head limit passes: the limit is where it is meant to be.
        once(big(60 * 1024)),
        once(big(70 * 1024)),
        once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!".to_vec()),
        once(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()),
        answers_fine(),
    ])
    .await;
    let gw = start_default(&up);

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 200, "a 60 KiB head was refused: {}", a.text());
    assert_eq!(a.header("x-big").map(|v| v.len()), Some(60 * 1024));
    for what in ["head over 64 KiB", "conflicting Content-Length", "no status line"] {
        let a = get(&gw, "/v2/api/users").await;
        assert_unavailable(&a, what);
    }
    assert_still_serving(&gw).await;
    assert_eq!(up.accepted(), 5);
    assert_eq!(up.seen().len(), 5, "a broken answer was retried");
}

#[tokio::test]
async fn a_truncated_body_is_not_presented_as_complete() {
    let first = vec![
        Step::Read,
        Step::Write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n".to_vec()),
        Step::Pause(Duration::from_millis(50)),
        Step::Write(b"0123456789".to_vec()),
        Step::Close,
    ];
    let second = answers_fine();
    let up = Scripted::start(vec![first, second]).await;
    let gw = start_default(&up);

    let a = get_streamed(&gw, "/v2/api/users").await;
    match (a.status, &a.body) {
        (200, Err(_)) | (502, _) => {}
        (status, Ok(body)) => panic!("{status} with a {}-byte body presented as complete", body.len()),
        (status, Err(e)) => panic!("unexpected {status}: {e}"),
    }
    assert_still_serving(&gw).await;
    assert_eq!(up.accepted(), 2);
}

#[tokio::test]
async fn a_reused_connection_that_goes_silent_gets_its_full_request_timeout() {
    // One connection answers twice, with a pause longer than request_timeout between the
    // requests, then reads the third and says nothing: the timer the connection kept from the
    // first request has long gone off, and must not cut the third one short.
    let fine = || answer(r#"{"data":"fine"}"#);
    let mut first = fine();
    first.extend(fine());
    first.push(Step::Read);
    let up = Scripted::start(vec![first, answers_fine()]).await;
    let gw = start(&up, "300ms", "90s");

    assert_eq!(get(&gw, "/v2/api/users").await.status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&gw, "/v2/api/users").await.status, 200);
    let sent = Instant::now();
    let a = get(&gw, "/v2/api/users").await;
    let took = sent.elapsed();
    assert_eq!(a.gateway_error().as_deref(), Some("UPSTREAM_TIMEOUT"), "{}", a.text());
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(up.accepted(), 1, "all three went on the one pooled connection");
    assert_still_serving(&gw).await;
}

#[tokio::test]
async fn a_silent_upstream_is_504_within_request_timeout() {
    // The first connection reads the request and then says nothing until it is closed.
    let second = answers_fine();
    let up = Scripted::start(vec![vec![Step::Read], second]).await;
    let gw = start(&up, "300ms", "90s");

    let sent = Instant::now();
    let a = get(&gw, "/v2/api/users").await;
    let took = sent.elapsed();
    assert_eq!(a.status, 504, "{}", a.text());
    assert_eq!(a.gateway_error().as_deref(), Some("UPSTREAM_TIMEOUT"));
    assert_eq!(a.json()["error"]["code"], "UPSTREAM_TIMEOUT");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The abandoned connection is closed, not pooled with an answer still owed on it.
    within("close of the timed-out connection", async {
        while up.closed_by_gateway(0).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_still_serving(&gw).await;
    assert_eq!(up.accepted(), 2);
}

#[tokio::test]
async fn the_reaper_closes_connections_idle_past_pool_idle_timeout() {
    let up = Scripted::start(vec![answer(r#"{"data":[]}"#)]).await;
    let gw = start(&up, "5s", "1s");

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 200, "{}", a.text());
    let answered = Instant::now();
    // No request comes to notice the expiry: only the reaper can close it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let within = Duration::from_millis(500);
    eventually_within(&gw, within, "the idle connection closed within 3 s", async || {
        up.closed_by_gateway(0).is_some()
    })
    .await;
    let closed = up.closed_by_gateway(0).unwrap();
    let idle = closed.duration_since(answered);
    assert!(
        idle >= Duration::from_millis(500),
        "closed after {idle:?}, before it expired"
    );
    assert_eq!(up.accepted(), 1);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn head_answer_with_a_length_and_no_body_keeps_the_connection() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\n".to_vec();
    let script = vec![
        Step::Read,
        Step::Write(head),
        Step::Read,
        Step::Write(ok(r#"{"data":"after"}"#)),
    ];
    let up = Scripted::start(vec![script]).await;
    let gw = start_default(&up);

    let a = call(&gw, "HEAD", "/v3/api/probe").await;
    assert_eq!(a.status, 200, "{:?}", a.headers);
    assert_eq!(a.header("content-length").as_deref(), Some("5"));
    assert_eq!(a.header("content-type").as_deref(), Some("application/json"));
    assert!(a.body.is_empty());
    let b = get(&gw, "/v2/api/users").await;
    assert_eq!((b.status, b.text()), (200, r#"{"data":"after"}"#.to_string()));

    assert_eq!(up.accepted(), 1);
    let seen = up.seen();
    let lines: Vec<String> = seen.iter().map(Seen::request_line).collect();
    assert_eq!(lines, vec!["HEAD /v3/api/probe HTTP/1.1", "GET /v2/api/users HTTP/1.1"]);
    assert!(seen.iter().all(|s| s.conn == 0));
}

#[tokio::test]
async fn a_simple_get_goes_out_as_exactly_these_bytes() {
    let up = Scripted::start(vec![answer(r#"{"data":[]}"#)]).await;
    let gw = start_default(&up);

    let auth = format!("Bearer {TOKEN}");
    let headers = [("authorization", auth.as_str()), ("x-caller-note", "kept")];
    let a = within("GET", send(gw.addr, "GET", "/v2/api/users?role=ADMIN", &headers, "")).await;
    assert_eq!(a.status, 200, "{}", a.text());

    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    let text = String::from_utf8_lossy(&s.raw);
    assert_eq!(s.request_line(), "GET /v2/api/users?role=ADMIN HTTP/1.1", "{text}");
    assert_eq!(s.header("host"), vec![up.addr.to_string()], "{text}");
    assert_eq!(s.header("authorization"), vec![format!("Api-Key {KEY}")], "{text}");
    assert!(
        !s.raw.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the caller token reached the upstream: {text}"
    );
    assert!(
        !text.contains("gateway.local"),
        "the caller's Host was forwarded: {text}"
    );
    assert_eq!(s.header("x-caller-note"), vec!["kept"], "{text}");
    let ids = s.header("x-request-id");
    assert_eq!(ids.len(), 1, "{text}");
    assert_eq!(a.header("x-request-id").as_ref(), Some(&ids[0]));
    // A bodiless GET: the head is all there is, and it declares no body.
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    assert!(s.header("transfer-encoding").is_empty(), "{text}");
}

#[tokio::test]
async fn interim_heads_are_skipped_and_a_204_keeps_the_connection() {
    let script = vec![
        Step::Read,
        Step::Write(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        Step::Pause(Duration::from_millis(30)),
        Step::Write(
            b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\nx-done: yes\r\n\r\n"
                .to_vec(),
        ),
        Step::Read,
        Step::Write(ok(r#"{"data":"after"}"#)),
    ];
    let up = Scripted::start(vec![script]).await;
    let gw = start_default(&up);

    let a = get(&gw, "/v2/api/users").await;
    assert_eq!(a.status, 204, "{}", a.text());
    assert_eq!(a.header("x-done").as_deref(), Some("yes"));
    assert!(
        a.header("link").is_none(),
        "a 103's fields leaked into the final answer"
    );
    assert!(a.body.is_empty());
    let b = get(&gw, "/v2/api/users").await;
    assert_eq!((b.status, b.text()), (200, r#"{"data":"after"}"#.to_string()));
    assert_eq!(up.accepted(), 1);
}

#[tokio::test]
async fn bytes_after_the_answer_never_become_the_next_answer() {
    // An unasked second answer, in the same write as the first and, on the next connection,
    // a moment later. Either way the connection must not be reused: the stray answer would
    // be handed to the next caller.
    let stray = ok(r#"{"data":"stray"}"#);
    let mut same_write = ok(r#"{"data":"first"}"#);
    same_write.extend_from_slice(&stray);
    let up = Scripted::start(vec![
        vec![Step::Read, Step::Write(same_write)],
        vec![
            Step::Read,
            Step::Write(ok(r#"{"data":"second"}"#)),
            Step::Pause(Duration::from_millis(50)),
            Step::Write(stray),
        ],
        answer(r#"{"data":"third"}"#),
    ])
    .await;
    let gw = start_default(&up);

    for expected in ["first", "second", "third"] {
        let a = get(&gw, "/v2/api/users").await;
        assert_eq!((a.status, a.text()), (200, format!(r#"{{"data":"{expected}"}}"#)));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(up.accepted(), 3);
    assert_eq!(
        up.conns(),
        vec![0, 1, 2],
        "a request went to a connection with stray bytes on it"
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_fails_after_request_timeout() {
    // Head and a tenth of the body, then silence with the connection left open.
    let first = vec![
        Step::Read,
        Step::Write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n0123456789".to_vec()),
    ];
    let second = answers_fine();
    let up = Scripted::start(vec![first, second]).await;
    let gw = start(&up, "300ms", "90s");

    let sent = Instant::now();
    let a = get_streamed(&gw, "/v2/api/users").await;
    let took = sent.elapsed();
    assert_eq!(a.status, 200);
    assert!(a.body.is_err(), "a stalled body was presented as complete");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_still_serving(&gw).await;
    assert_eq!(up.accepted(), 2);
}

#[tokio::test]
async fn a_request_body_sent_in_pieces_goes_upstream_whole_with_its_length() {
    let up = Scripted::start(vec![answer(r#"{"data":"ok"}"#)]).await;
    let gw = start_default(&up);

    let body = r#"{"name":"Monday cold calls","email":"ana@example.com"}"#;
    let (one, rest) = body.split_at(10);
    let (two, three) = rest.split_at(20);
    let mut raw = within("connect", TcpStream::connect(gw.addr)).await.unwrap();
    let head = format!(
        "POST {RESET} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    for piece in [one, two, three] {
        tokio::time::sleep(Duration::from_millis(30)).await;
        raw.write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())
            .await
            .unwrap();
    }
    raw.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains(r#"{"data":"ok"}"#) {
        let n = within("answer", raw.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].raw.ends_with(format!("\r\n\r\n{body}").as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&seen[0].raw)
    );
    assert_eq!(seen[0].header("content-length"), vec![body.len().to_string()]);
    assert!(seen[0].header("transfer-encoding").is_empty());
}
