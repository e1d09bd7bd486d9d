//! How an HTTP/1.1 connection ends when it cannot carry another request: a refused head is
//! answered with its envelope, and any connection closed with the caller still sending is
//! read from for a bounded time first, so that the answer is not lost to a reset.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::write::{write_response, Answering};
use crate::answer::Answer;
use crate::error::GatewayError;
use crate::http1::FramingError;

/// How long, and how much, a connection closed with a request unread is read from first.
const LINGER: Duration = Duration::from_secs(1);
pub(super) const LINGER_BYTES: usize = 1024 * 1024;

/// Answers a refused head with its envelope and closes.
pub(super) async fn refuse<IO: AsyncRead + AsyncWrite + Unpin>(
    io: &mut IO,
    out: &mut Vec<u8>,
    refused: FramingError,
) -> io::Result<()> {
    let request_id = crate::ids::new_request_id_value();
    let mut answer =
        Answer::from(GatewayError::Framing(refused).into_response(request_id.to_str().unwrap_or_default()));
    answer.set_request_id(request_id);
    let answering = Answering {
        method: &http::Method::GET,
        version: http::Version::HTTP_11,
        keep_alive: false,
    };
    write_response(io, out, answer, answering).await?;
    linger(io, LINGER_BYTES).await;
    Ok(())
}

/// Closes the sending side, then reads and drops what the caller still sends (up to `bytes`,
/// for up to `LINGER`) before the connection is dropped. Closing a socket with bytes unread
/// makes the kernel reset the connection, and a client still writing its request then sees
/// the reset (EPIPE, ECONNRESET) instead of the answer already sent to it. Bounded, so a
/// caller that never stops sending cannot hold the connection.
pub(super) async fn linger<IO: AsyncRead + AsyncWrite + Unpin>(io: &mut IO, bytes: usize) {
    let mut drain = [0u8; 8192];
    let _ = tokio::time::timeout(LINGER, async {
        if io.shutdown().await.is_err() {
            return;
        }
        let mut left = bytes;
        while left > 0 {
            let want = left.min(drain.len());
            match tokio::io::AsyncReadExt::read(io, &mut drain[..want]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left -= n,
            }
        }
    })
    .await;
}
