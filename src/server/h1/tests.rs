//! The connection loop on an in-memory socket, with a handler that answers with what it saw.

use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

const SETTINGS: Settings = Settings {
    head: HeadLimits {
        max_bytes: 8192,
        max_fields: 32,
    },
    header_read: Duration::from_secs(5),
    idle: Duration::from_secs(5),
};

/// Answers `<method> <path> <body>`, after reading the body.
async fn echo(request: Request<RequestBody>, _peer: SocketAddr) -> Answer {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let text = format!(
        "{} {} {}",
        parts.method,
        parts.uri.path(),
        String::from_utf8_lossy(&body)
    );
    http::Response::new(crate::body::full(text)).into()
}

fn start(server: DuplexStream) -> tokio::task::JoinHandle<io::Result<Ended<DuplexStream>>> {
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        let _keep = stop_tx;
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        serve(server, peer, None, SETTINGS, Instant::now(), &echo, &stop).await
    })
}

async fn read_all(client: &mut DuplexStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `wire` on a new connection and reads until the listener closes it, which it must.
async fn exchange(wire: &[u8]) -> String {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let serving = start(server);
    client.write_all(wire).await.unwrap();
    let answered = read_all(&mut client).await;
    assert!(matches!(serving.await.unwrap(), Ok(Ended::Closed)), "{answered}");
    answered
}

/// The answers on the wire, each from just after its status line.
fn answers(wire: &str) -> Vec<&str> {
    wire.split("HTTP/1.1 200 OK\r\n").skip(1).collect()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let wire = exchange(
        b"POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\none\
          GET /b HTTP/1.1\r\nHost: gw\r\n\r\n\
          POST /c HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\ntwo\r\n0\r\n\r\n",
    )
    .await;
    let answers = answers(&wire);
    assert_eq!(answers.len(), 3, "{wire}");
    assert!(answers[0].ends_with("\r\n\r\nPOST /a one"), "{}", answers[0]);
    assert!(answers[1].ends_with("\r\n\r\nGET /b "), "{}", answers[1]);
    assert!(answers[2].contains("connection: close\r\n"), "{}", answers[2]);
    assert!(answers[2].ends_with("\r\n\r\nPOST /c two"), "{}", answers[2]);
}

#[tokio::test]
async fn http10_closes_unless_asked_to_keep_alive() {
    let wire = exchange(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n").await;
    let answers = answers(&wire);
    assert_eq!(answers.len(), 2, "{wire}");
    assert!(answers[0].contains("connection: keep-alive\r\n"), "{}", answers[0]);
    assert!(answers[1].contains("connection: close\r\n"), "{}", answers[1]);
}

#[tokio::test]
async fn a_preface_that_arrives_in_pieces_goes_to_http2_with_every_byte_read() {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let serving = start(server);
    client.write_all(&PREFACE[..9]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.write_all(&PREFACE[9..]).await.unwrap();
    client.write_all(b"frames").await.unwrap();
    match serving.await.unwrap() {
        Ok(Ended::Http2(read, _)) => assert!(read.starts_with(PREFACE), "{read:?}"),
        _ => panic!("not handed to HTTP/2"),
    }
}

#[tokio::test]
async fn a_malformed_head_gets_the_envelope_and_the_connection_closes() {
    let wire = exchange(b"GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n").await;
    assert!(wire.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{wire}");
    assert!(wire.contains("x-allo-gateway-error: MALFORMED_REQUEST\r\n"), "{wire}");
    assert!(wire.contains("\"code\":\"MALFORMED_REQUEST\""), "{wire}");
}

#[test]
fn reading_starts_again_at_the_buffers_beginning_once_the_last_head_is_dropped() {
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let start = buf.as_ptr();
    buf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    let head = buf.split_to(buf.len()).freeze();
    make_room(&mut buf);
    assert_ne!(buf.as_ptr(), start, "the head still shares the front");
    drop(head);
    make_room(&mut buf);
    assert_eq!(buf.as_ptr(), start);
    assert!(buf.capacity() >= READ_BUFFER);
    // Pipelined bytes stay where they are.
    buf.extend_from_slice(b"GET /next");
    let kept = buf.as_ptr();
    make_room(&mut buf);
    assert_eq!((buf.as_ptr(), &buf[..]), (kept, &b"GET /next"[..]));
}

#[test]
fn each_requests_future_takes_the_block_of_the_one_before_which_is_dropped_first() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    /// Counts its drops, and how many of its kind were alive when it was made.
    struct Step {
        dropped: Arc<AtomicUsize>,
        alive_when_made: usize,
    }
    impl Future for Step {
        type Output = usize;
        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<usize> {
            Poll::Ready(self.alive_when_made)
        }
    }
    impl Drop for Step {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (dropped, made) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let step = || {
        let before = made.fetch_add(1, Ordering::SeqCst);
        Step {
            alive_when_made: before - dropped.load(Ordering::SeqCst),
            dropped: dropped.clone(),
        }
    };
    let mut slot = None;
    let first = &*reuse(&mut slot, step) as *const Step;
    for _ in 0..3 {
        let next = reuse(&mut slot, step);
        assert_eq!(&*next as *const Step, first, "a new block was allocated");
        assert_eq!(next.alive_when_made, 0, "the request before was still alive");
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
    drop(slot);
    assert_eq!((dropped.load(Ordering::SeqCst), made.load(Ordering::SeqCst)), (4, 4));
}

#[test]
fn a_future_that_panics_while_being_made_leaves_the_slot_empty_and_drops_nothing_twice() {
    let mut slot: Option<Pin<Box<std::future::Ready<String>>>> = None;
    reuse(&mut slot, || std::future::ready("first".to_owned()));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reuse(&mut slot, || -> std::future::Ready<String> { panic!("making failed") });
    }));
    assert!(panicked.is_err());
    assert!(slot.is_none());
    reuse(&mut slot, || std::future::ready("next".to_owned()));
    assert_eq!(
        slot.map(|next| Pin::into_inner(next).into_inner()).as_deref(),
        Some("next")
    );
}
