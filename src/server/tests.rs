use std::time::Duration;

use super::*;

/// A plaintext connection's task is spawned and moved whole, as large as its largest state.
#[tokio::test]
async fn a_plaintext_connections_task_carries_neither_tls_nor_http2() {
    let timers = Timers {
        header_read: Duration::from_secs(5),
        idle: Duration::from_secs(5),
    };
    let connections = Arc::new(Connections {
        h1: h1::Settings {
            head: h1::HeadLimits {
                max_bytes: 8192,
                max_fields: 100,
            },
            header_read: timers.header_read,
            idle: timers.idle,
        },
        http2: h2::settings(8192),
        timers,
        tls: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let (_stop_tx, stop) = watch::channel(false);
    let (open, _all_closed) = mpsc::channel(1);
    let conn = Accepted {
        connections,
        peer,
        identity: None,
        accepted_at: tokio::time::Instant::now(),
        handler: |_request, _peer| std::future::pending::<Answer>(),
        stop,
        expiry: Expiry::leak(),
        _permit: Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap(),
        _open: open,
    };
    let task = conn.serve(stream);
    // Boxed apart, the handshake and a TLS stream's HTTP/1.1 and HTTP/2 states made it about
    // 10 KiB; the plaintext HTTP/1.1 loop's own state is under 3 KiB.
    let size = std::mem::size_of_val(&task);
    assert!(size < 4096, "a connection's task is {size} bytes");
    drop((task, client));
}
