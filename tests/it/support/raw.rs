//! A raw HTTP/1 client for tests that need exact bytes on the wire: requests written as given,
//! responses parsed by hand, and the connection's end (close, reset) observable.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response as read off the wire.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub(crate) fn gateway_error(&self) -> Option<String> {
        self.header("x-allo-gateway-error")
    }
}

/// A raw HTTP/1 client: bytes out exactly as written, responses parsed by hand.
pub(crate) struct Raw {
    pub stream: TcpStream,
    /// Bytes read and not yet taken as a response.
    pub buf: Vec<u8>,
}

impl Raw {
    pub(crate) async fn connect(addr: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    pub(crate) async fn write(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).await.unwrap();
    }

    /// Reads more bytes; false on EOF or reset.
    pub(crate) async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next response (a 1xx included), within 10 s.
    pub(crate) async fn reply(&mut self) -> Reply {
        tokio::time::timeout(Duration::from_secs(10), self.reply_inner())
            .await
            .expect("no response within 10s")
            .unwrap_or_else(|| panic!("connection closed before a response; got {:?}", self.text()))
    }

    async fn reply_inner(&mut self) -> Option<Reply> {
        let end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let mut reply = Reply {
            status,
            head,
            body: Vec::new(),
        };
        if (100..200).contains(&status) {
            return Some(reply);
        }
        if let Some(len) = reply.header("content-length") {
            let len: usize = len.parse().ok()?;
            while self.buf.len() < len {
                if !self.fill().await {
                    return None;
                }
            }
            reply.body = self.buf.drain(..len).collect();
        } else if reply
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    if !self.fill().await {
                        return None;
                    }
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    if !self.fill().await {
                        return None;
                    }
                }
                reply.body.extend(self.buf.drain(..size));
                self.buf.drain(..2);
                if size == 0 {
                    break;
                }
            }
        }
        Some(reply)
    }

    /// Whether the peer closes the connection within `within` (bytes read meanwhile are kept).
    pub(crate) async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async { while self.fill().await {} })
            .await
            .is_ok()
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends `wire` on a new connection and checks the framing refusal: 400 `MALFORMED_REQUEST`,
/// `Connection: close`, and the connection closed by the gateway. `what` names the case in a
/// failure.
pub(crate) async fn assert_refused_as_malformed(addr: SocketAddr, wire: impl AsRef<[u8]>, what: &str) {
    let mut raw = Raw::connect(addr).await;
    raw.write(wire).await;
    let reply = raw.reply().await;
    assert_eq!(reply.status, 400, "{what} -> {}", reply.head);
    assert_eq!(reply.gateway_error().as_deref(), Some("MALFORMED_REQUEST"), "{what}");
    assert_eq!(reply.header("connection").as_deref(), Some("close"), "{what}");
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "{what}: connection left open"
    );
}
