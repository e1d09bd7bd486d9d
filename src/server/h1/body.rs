//! Request bodies still arriving when their head is parsed: read off the connection a piece
//! at a time as the handler asks (`body::pipe`), while the handler runs on the same task.
//! `Expect: 100-continue` is answered when the first piece is asked for, so a request refused
//! before its body is read never gets one.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::READ_BUFFER;
use crate::answer::Answer;
use crate::body::PipeSender;
use crate::http1::{Decoded, Decoder};

/// Runs the handler while the body it reads is pumped off the connection; the answer, and
/// whether the body was read to its end (else the connection cannot carry another request).
pub(super) fn alongside<F, P>(responding: F, pumping: P) -> Alongside<F, P>
where
    F: Future<Output = Answer>,
    P: Future<Output = bool>,
{
    Alongside {
        responding,
        pumping,
        pumped: None,
    }
}

pin_project_lite::pin_project! {
    /// `alongside`'s future. A named type rather than an `async fn`, whose state would hold
    /// both futures twice (as they came, and pinned).
    pub(super) struct Alongside<F, P> {
        #[pin]
        responding: F,
        #[pin]
        pumping: P,
        pumped: Option<bool>,
    }
}

impl<F, P> Future for Alongside<F, P>
where
    F: Future<Output = Answer>,
    P: Future<Output = bool>,
{
    type Output = (Answer, bool);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(Answer, bool)> {
        let this = self.project();
        if let Poll::Ready(answer) = this.responding.poll(cx) {
            return Poll::Ready((answer, *this.pumped == Some(true)));
        }
        if this.pumped.is_none() {
            if let Poll::Ready(complete) = this.pumping.poll(cx) {
                *this.pumped = Some(complete);
            }
        }
        Poll::Pending
    }
}

/// Feeds a body still arriving to the handler, a piece each time it asks; true once the body
/// was read to its end.
pub(super) async fn pump_body<IO>(
    io: &mut IO,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
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
            buf.reserve(READ_BUFFER);
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
