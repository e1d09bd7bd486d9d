//! Entry points for the fuzz targets in `tests/fuzz` (compiled only under `cfg(fuzzing)`):
//! the connection loop the server runs for each HTTP/1.1 connection, over an in-memory socket
//! that hands its input out in pieces, with a handler that records what it was asked; and the
//! response writer into a buffer.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, Version};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::write::{write_response, Answering};
use super::{serve, HeadLimits, Settings};
use crate::answer::Answer;
use crate::body::RequestBody;

/// The bounds the connection runs under.
const SETTINGS: Settings = Settings {
    head: HeadLimits {
        max_bytes: 16 * 1024,
        max_fields: 100,
    },
    header_read: Duration::from_secs(5),
    idle: Duration::from_secs(5),
};

/// One request as the handler saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub target: String,
    /// Names (lowercase) and values, in the order they came.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body; `None` if reading it failed.
    pub body: Option<Vec<u8>>,
}

impl Seen {
    /// What a server handed over: the head's parts and the body it read (`None`: it failed).
    pub fn new(parts: &http::request::Parts, body: Option<Vec<u8>>) -> Seen {
        Seen {
            method: parts.method.to_string(),
            target: parts.uri.to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body,
        }
    }
}

/// A socket that hands out its input in pieces of the given sizes (repeated), then the end of
/// the stream; what is written to it is kept.
pub struct PieceSocket {
    input: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    next: usize,
    pub written: Vec<u8>,
}

impl PieceSocket {
    pub fn new(input: &[u8], sizes: &[usize]) -> PieceSocket {
        PieceSocket {
            input: input.to_vec(),
            at: 0,
            sizes: if sizes.is_empty() {
                vec![usize::MAX]
            } else {
                sizes.to_vec()
            },
            next: 0,
            written: Vec::new(),
        }
    }
}

impl AsyncRead for PieceSocket {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let size = this.sizes[this.next % this.sizes.len()].max(1);
        let n = size.min(this.input.len() - this.at).min(buf.remaining());
        buf.put_slice(&this.input[this.at..this.at + n]);
        this.at += n;
        this.next += 1;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PieceSocket {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.written.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Serves one connection that sends `input` in pieces of `sizes` and then closes its side:
/// the requests the handler saw, in order, each answered `200 ok` once its body was read
/// (CONNECT `405`, as the gateway answers it: a 2xx would make the connection a tunnel).
pub async fn serve_pieces(input: &[u8], sizes: &[usize]) -> Vec<Seen> {
    let seen = RefCell::new(Vec::new());
    let handler = |request: Request<RequestBody>, _peer: SocketAddr| {
        let seen = &seen;
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.ok().map(|b| b.to_bytes().to_vec());
            seen.borrow_mut().push(Seen::new(&parts, body));
            let mut response = http::Response::new(crate::body::full("ok"));
            if parts.method == Method::CONNECT {
                *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
            }
            Answer::from(response)
        }
    };
    let (_stop_tx, stop) = watch::channel(false);
    let peer = SocketAddr::from(([127, 0, 0, 1], 9));
    let io = PieceSocket::new(input, sizes);
    let _ = serve(io, peer, None, SETTINGS, Instant::now(), &handler, &stop).await;
    seen.into_inner()
}

/// Writes `answer` as the listener would to a request of `method` and `version`: the bytes,
/// and whether the connection could carry another request.
pub async fn write_answer(
    answer: Answer,
    method: &Method,
    version: Version,
    keep_alive: bool,
) -> io::Result<(Vec<u8>, bool)> {
    let mut wire = Vec::new();
    let answering = Answering {
        method,
        version,
        keep_alive,
    };
    let reusable = write_response(&mut wire, &mut Vec::new(), answer, answering).await?;
    Ok((wire, reusable))
}
