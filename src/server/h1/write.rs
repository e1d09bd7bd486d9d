//! Responses onto the HTTP/1.1 wire: the head (encoded by `http1::encode_response_head`) and
//! the body, by length, chunked, or until close for an HTTP/1.0 caller. A body that is ready
//! goes out in the same write as the head.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use http::{Method, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::answer::Answer;
use crate::body::Body;
use crate::http1::{encode_response_head, put_chunk_size, response_framing, OutgoingHead, ResponseFraming, LAST_CHUNK};

/// How much of a body is gathered before it is written.
const GATHER: usize = 64 * 1024;
/// Data frames at least this large are written as they are rather than copied.
const DIRECT: usize = 16 * 1024;

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
    let length = declared.or_else(|| body.size_hint().exact());
    let framing = response_framing(parts.status, length, answering.method, answering.version);
    let head = OutgoingHead {
        status: parts.status,
        headers: &parts.headers,
        upstream: upstream.as_ref(),
        request_id: request_id.as_ref(),
        declared,
    };
    let keep_alive = answering.keep_alive && framing != ResponseFraming::UntilClose && !head.says_close();
    encode_response_head(out, &head, framing, keep_alive, answering.version);
    async move {
        let complete = match framing {
            ResponseFraming::None => {
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

/// Writes the body after the head in `out`; `Ok(false)` if it ended short of its length (the
/// connection then cannot carry another request).
async fn write_body<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    out: &mut Vec<u8>,
    body: &mut Body,
    framing: ResponseFraming,
) -> io::Result<bool> {
    let mut left = match framing {
        ResponseFraming::Length(n) => n,
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
        if framing == ResponseFraming::Length(0) || data.len() as u64 > left {
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
        ResponseFraming::Chunked => out.extend_from_slice(LAST_CHUNK),
        ResponseFraming::Length(_) if left != 0 => return Ok(false),
        _ => {}
    }
    Ok(true)
}

async fn put_data<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    out: &mut Vec<u8>,
    data: Bytes,
    framing: ResponseFraming,
) -> io::Result<()> {
    if framing == ResponseFraming::Chunked {
        put_chunk_size(out, data.len());
    }
    if data.len() >= DIRECT {
        io.write_all(out).await?;
        out.clear();
        io.write_all(&data).await?;
    } else {
        out.extend_from_slice(&data);
    }
    if framing == ResponseFraming::Chunked {
        out.extend_from_slice(b"\r\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
