//! Responses onto the HTTP/1.1 wire: the head (status line, the response's end-to-end headers,
//! framing, `connection`, `date`) and the body, by length, chunked, or until close for an
//! HTTP/1.0 caller. A body that is ready goes out in the same write as the head.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::answer::{Answer, WireFields};
use crate::body::Body;
use crate::framing::{put_decimal, put_field};
use crate::ids::REQUEST_ID;

/// How much of a body is gathered before it is written.
const GATHER: usize = 64 * 1024;
/// Data frames at least this large are written as they are rather than copied.
const DIRECT: usize = 16 * 1024;

/// How the body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The request a response answers, as far as the wire needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answering<'a> {
    pub method: &'a Method,
    pub version: Version,
    /// The connection may carry another request.
    pub keep_alive: bool,
}

/// Writes `answer`; `Ok(true)` if the connection may carry another request. The head is
/// encoded at once, so the future holds only the body and what writing it needs (it is
/// part of every connection's state).
pub(super) fn write_response<'a, IO: AsyncWrite + Unpin>(
    io: &'a mut IO,
    out: &'a mut Vec<u8>,
    answer: Answer,
    answering: Answering<'_>,
) -> impl Future<Output = io::Result<bool>> + 'a {
    let declared = answer.declared_length();
    let Answer {
        response,
        upstream,
        request_id,
    } = answer;
    let (parts, mut body) = response.into_parts();
    let framing = framing(parts.status, declared, &body, answering);
    let keep_alive = answering.keep_alive && framing != Framing::UntilClose && !says_close(&parts.headers);
    let head = Outgoing {
        parts: &parts,
        upstream: upstream.as_ref(),
        request_id: request_id.as_ref(),
        declared,
    };
    encode_head(out, &head, framing, keep_alive, answering.version);
    async move {
        let complete = match framing {
            Framing::None => {
                drop(body);
                true
            }
            _ => write_body(io, out, &mut body, framing).await?,
        };
        if !out.is_empty() {
            io.write_all(out).await?;
            out.clear();
        }
        io.flush().await?;
        Ok(keep_alive && complete)
    }
}

fn framing(status: StatusCode, declared: Option<u64>, body: &Body, answering: Answering<'_>) -> Framing {
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Framing::None;
    }
    match declared.or_else(|| body.size_hint().exact()) {
        // A HEAD answer announces the length the GET body would have, and sends none.
        Some(_) if answering.method == Method::HEAD => Framing::None,
        Some(n) => Framing::Length(n),
        None if answering.method == Method::HEAD => Framing::None,
        None if answering.version == Version::HTTP_11 => Framing::Chunked,
        None => Framing::UntilClose,
    }
}

fn says_close(headers: &http::HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

/// Fields the wire framing owns: set here from the framing, never copied from the response.
fn is_framing(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::CONTENT_LENGTH
        || name == "keep-alive"
}

/// A head as it goes out: the gateway's fields, the upstream's lines, the request id.
struct Outgoing<'a> {
    parts: &'a http::response::Parts,
    upstream: Option<&'a WireFields>,
    request_id: Option<&'a HeaderValue>,
    /// The length either set of fields declares.
    declared: Option<u64>,
}

fn encode_head(out: &mut Vec<u8>, head: &Outgoing<'_>, framing: Framing, keep_alive: bool, version: Version) {
    let status = head.parts.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &head.parts.headers {
        if !is_framing(name) {
            put_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if let Some(fields) = head.upstream {
        out.extend_from_slice(fields.as_bytes());
    }
    if let Some(id) = head.request_id {
        put_field(out, REQUEST_ID.as_str().as_bytes(), id.as_bytes());
    }
    // A length framing a body; or, with no body sent (HEAD, 304), the length as declared.
    let length = match framing {
        Framing::Length(n) => Some(n),
        Framing::None => head.declared,
        Framing::Chunked | Framing::UntilClose => None,
    };
    if let Some(n) = length {
        out.extend_from_slice(b"content-length: ");
        put_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if !(head.parts.headers.contains_key(header::DATE) || head.upstream.is_some_and(|f| f.has_date)) {
        out.extend_from_slice(b"date: ");
        with_date(|date| out.extend_from_slice(date));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the body after the head in `out`; `Ok(false)` if it ended short of its length (the
/// connection then cannot carry another request).
async fn write_body<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    out: &mut Vec<u8>,
    body: &mut Body,
    framing: Framing,
) -> io::Result<bool> {
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        if body.is_end_stream() {
            break;
        }
        // What is ready is gathered behind the head; the rest is waited for after a write.
        let next = match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_frame(cx))).await {
            Poll::Ready(next) => next,
            Poll::Pending => {
                if !out.is_empty() {
                    io.write_all(out).await?;
                    out.clear();
                }
                io.flush().await?;
                body.frame().await
            }
        };
        let data = match next {
            None => break,
            Some(Err(e)) => return Err(io::Error::other(e)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers are not sent to HTTP/1.1 callers.
                Err(_) => continue,
            },
        };
        if data.is_empty() {
            continue;
        }
        if framing == Framing::Length(0) || data.len() as u64 > left {
            return Err(io::Error::other("the response body is longer than its Content-Length"));
        }
        left -= data.len() as u64;
        put_data(io, out, data, framing).await?;
        if out.len() >= GATHER {
            io.write_all(out).await?;
            out.clear();
        }
    }
    match framing {
        Framing::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
        Framing::Length(_) if left != 0 => return Ok(false),
        _ => {}
    }
    Ok(true)
}

async fn put_data<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    out: &mut Vec<u8>,
    data: Bytes,
    framing: Framing,
) -> io::Result<()> {
    if framing == Framing::Chunked {
        // Formatted straight into the buffer: no string per chunk.
        let _ = write!(out, "{:x}\r\n", data.len());
    }
    if data.len() >= DIRECT {
        io.write_all(out).await?;
        out.clear();
        io.write_all(&data).await?;
    } else {
        out.extend_from_slice(&data);
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"\r\n");
    }
    Ok(())
}

thread_local! {
    /// The `date` value, formatted once per second per thread.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

fn with_date(use_it: impl FnOnce(&[u8])) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == text.len() {
                text.copy_from_slice(formatted.as_bytes());
                *at = second;
            }
        }
        use_it(&text[..]);
    });
}

#[cfg(test)]
mod tests;
