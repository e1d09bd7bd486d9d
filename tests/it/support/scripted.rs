//! A scripted upstream: a raw TCP server on 127.0.0.1 that reads requests and writes exactly
//! the bytes each test chooses, when it chooses, and records what arrived and how many
//! connections were opened. A capture upstream built on hyper always answers correctly; this
//! one misbehaves on cue (split writes, early closes, broken heads, silence).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the scripted upstream does on one connection, in order.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Reads one request (head up to CRLFCRLF, then a Content-Length body) and records it.
    Read,
    /// Writes these bytes as they are.
    Write(Vec<u8>),
    Pause(Duration),
    /// Closes the connection without reading anything more.
    Close,
}

/// One request as it arrived on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// Which accepted connection it came on (0 for the first).
    pub conn: usize,
    pub raw: Vec<u8>,
}

impl Seen {
    pub(crate) fn request_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        text.split("\r\n").next().unwrap_or_default().to_string()
    }

    /// The values of header `name` (any case), in order.
    pub(crate) fn header(&self, name: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.raw);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        head.split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// The scripted upstream. Connection `i` follows `scripts[i]`; connections past the list read
/// one request and close unanswered (so an unexpected connection shows up as a failure). When
/// a script ends without `Close`, the connection is held: requests arriving later are recorded
/// but never answered, and the moment the gateway closes it is noted.
pub(crate) struct Scripted {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// (connection, when) for each held connection the gateway closed.
    closed_by_gateway: Arc<Mutex<Vec<(usize, Instant)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scripted {
    pub(crate) async fn start(scripts: Vec<Vec<Step>>) -> Scripted {
        Scripted::serving(scripts, vec![Step::Read, Step::Close]).await
    }

    /// Every connection follows `script`.
    pub(crate) async fn every(script: Vec<Step>) -> Scripted {
        Scripted::serving(Vec::new(), script).await
    }

    /// Connection `i` follows `scripts[i]`, and those past the list `rest`.
    pub(crate) async fn serving(scripts: Vec<Vec<Step>>, rest: Vec<Step>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let closed_by_gateway = Arc::new(Mutex::new(Vec::new()));
        let (count, log, closes) = (accepted.clone(), seen.clone(), closed_by_gateway.clone());
        let task = tokio::spawn(async move {
            let mut scripts = scripts.into_iter();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let conn = count.fetch_add(1, Ordering::SeqCst);
                let script = scripts.next().unwrap_or_else(|| rest.clone());
                tokio::spawn(serve(conn, stream, script, log.clone(), closes.clone()));
            }
        });
        Scripted {
            addr,
            accepted,
            seen,
            closed_by_gateway,
            task,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Which connection each request came on, in order.
    pub(crate) fn conns(&self) -> Vec<usize> {
        self.seen().iter().map(|s| s.conn).collect()
    }

    pub(crate) fn closed_by_gateway(&self, conn: usize) -> Option<Instant> {
        let closes = self.closed_by_gateway.lock().unwrap();
        closes.iter().find(|(c, _)| *c == conn).map(|(_, at)| *at)
    }
}

async fn serve(
    conn: usize,
    mut stream: TcpStream,
    script: Vec<Step>,
    seen: Arc<Mutex<Vec<Seen>>>,
    closed_by_gateway: Arc<Mutex<Vec<(usize, Instant)>>>,
) {
    // Small writes must leave as separate segments, or the pauses between them test nothing.
    stream.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    for step in script {
        match step {
            Step::Read => match read_request(&mut stream, &mut buf).await {
                Some(raw) => seen.lock().unwrap().push(Seen { conn, raw }),
                None => return,
            },
            // The gateway may have closed first (that is what some tests provoke).
            Step::Write(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::Pause(d) => tokio::time::sleep(d).await,
            Step::Close => return,
        }
    }
    while let Some(raw) = read_request(&mut stream, &mut buf).await {
        seen.lock().unwrap().push(Seen { conn, raw });
    }
    closed_by_gateway.lock().unwrap().push((conn, Instant::now()));
}

/// One request off the connection (`buf` keeps what was read past it). None at end of stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_len = end + 4;
            let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
            let body_len = head
                .split("\r\n")
                .filter_map(|line| line.split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
            while buf.len() < head_len + body_len {
                read_more(stream, buf).await?;
            }
            return Some(buf.drain(..head_len + body_len).collect());
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// A complete JSON answer with a Content-Length.
pub(crate) fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `wire` written `size` bytes at a time with `pause` between the writes.
pub(crate) fn in_pieces(wire: &[u8], size: usize, pause: Duration) -> Vec<Step> {
    let mut steps = Vec::new();
    for piece in wire.chunks(size) {
        if !steps.is_empty() {
            steps.push(Step::Pause(pause));
        }
        steps.push(Step::Write(piece.to_vec()));
    }
    steps
}
