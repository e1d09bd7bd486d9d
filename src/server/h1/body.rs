//! Request bodies still arriving when their head is parsed: read off the connection a piece
//! at a time as the handler asks (`body::pipe`), while the handler runs on the same task.
//! `Expect: 100-continue` is answered when the first piece is asked for, so a request refused
//! before its body is read never gets one.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::Poll;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::READ_CHUNK;
use crate::answer::Answer;
use crate::body::PipeSender;
use crate::framing::body::{Decoded, Decoder};

/// Runs the handler while the body it reads is pumped off the connection; the answer, and
/// whether the body was read to its end (else the connection cannot carry another request).
pub(super) async fn alongside<F, P>(responding: F, pumping: P) -> (Answer, bool)
where
    F: Future<Output = Answer>,
    P: Future<Output = bool>,
{
    let mut responding = pin!(responding);
    let mut pumping = pin!(pumping);
    let mut pumped = None;
    let response = std::future::poll_fn(|cx| {
        if let Poll::Ready(response) = responding.as_mut().poll(cx) {
            return Poll::Ready(response);
        }
        if pumped.is_none() {
            if let Poll::Ready(complete) = pumping.as_mut().poll(cx) {
                pumped = Some(complete);
            }
        }
        Poll::Pending
    })
    .await;
    (response, pumped == Some(true))
}

/// Feeds a body still arriving to the handler, a piece each time it asks; true once the body
/// was read to its end.
pub(super) async fn pump_body<IO>(
    io: &mut IO,
    buf: &mut BytesMut,
    mut decoder: Decoder,
    mut expect_continue: bool,
    tx: PipeSender,
) -> bool
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        if !tx.wanted().await {
            return false;
        }
        if std::mem::take(&mut expect_continue) && buf.is_empty() {
            if let Err(e) = io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await {
                tx.send(Err(e.into()));
                return false;
            }
        }
        loop {
            match decoder.decode(buf) {
                Ok(Decoded::Data(data)) => {
                    tx.send(Ok(data));
                    if decoder.is_done() {
                        return true;
                    }
                    break;
                }
                Ok(Decoded::End) => return true,
                Ok(Decoded::NeedMore) => {}
                Err(e) => {
                    tx.send(Err(e.into()));
                    return false;
                }
            }
            buf.reserve(READ_CHUNK);
            match tokio::io::AsyncReadExt::read_buf(io, buf).await {
                Ok(0) => {
                    let ended = decoder.closed().err().map_or_else(
                        || io::Error::from(io::ErrorKind::UnexpectedEof),
                        |e| io::Error::new(io::ErrorKind::UnexpectedEof, e),
                    );
                    tx.send(Err(ended.into()));
                    return false;
                }
                Ok(_) => {}
                Err(e) => {
                    tx.send(Err(e.into()));
                    return false;
                }
            }
        }
    }
}
