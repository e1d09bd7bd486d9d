//! The HTTP/1.1 exchange, on the request's own task: the head (and a small body) written in
//! one go from the pooled connection's buffer, the answer's head read under the connection's
//! alarm, and a reused connection that fails before any answer replaced once (see the parent
//! module for when).

use std::io;

use bytes::Bytes;
use http::{Method, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{idempotent, Client, Opened, Outgoing};
use crate::alarm::Alarm;
use crate::answer::Answer;
use crate::body::{full, Body, BoxError};
use crate::http1::{self, Decoder};
use crate::upstream::failure::ClosedEarly;
use crate::upstream::pool::{Conn, PooledBody, READ_CHUNK};
use crate::upstream::rewrite::{forwarded_headers, is_hop_by_hop_name, sends_content_length};
use crate::upstream::UpstreamError;

/// Bodies up to this size go out in the same write as the head.
const INLINE_BODY: usize = 16 * 1024;
/// A failed exchange, and whether it may be sent again on a new connection.
struct Failed {
    error: BoxError,
    /// Writing failed, so the upstream cannot have the whole request (it may have a part,
    /// which it cannot act on), or no byte of an answer arrived.
    unwritten: bool,
    unanswered: bool,
    /// `request_timeout` ran out: answered as a timeout, never retried.
    timed_out: bool,
}
impl Client {
    /// The HTTP/1.1 exchange begun at `now`, on `opened` or a pooled (or new) connection.
    pub(super) async fn send_h1(
        &self,
        opened: Option<Conn>,
        now: Instant,
        out: Outgoing<'_>,
    ) -> Result<Answer, UpstreamError> {
        let Outgoing {
            parts,
            ref body,
            key,
            request_id,
        } = out;
        let deadline = now + self.request_timeout;
        let timed_out = || UpstreamError::Timeout(self.request_timeout);
        let separate_body = (body.len() > INLINE_BODY).then_some(body);

        let mut conn = match opened.or_else(|| self.pool.checkout(now.into_std())) {
            Some(conn) => conn,
            None => match self.open_until(deadline).await? {
                Opened::H1(conn) => conn,
                Opened::H2(sender) => return self.send_adopted(sender, out, deadline).await,
            },
        };
        loop {
            // Into the connection's own buffer, which it keeps for its next request.
            conn.out.clear();
            http1::encode_request(
                &mut conn.out,
                parts,
                &self.host,
                forwarded_headers(&parts.headers, &self.forward),
                key,
                request_id,
                sends_content_length(&parts.method, body.len()).then_some(body.len() as u64),
            );
            if separate_body.is_none() {
                conn.out.extend_from_slice(body);
            }
            let reused = conn.reused;
            let failed = match self.exchange(conn, separate_body, &parts.method, now, deadline).await {
                Ok(response) => return Ok(response),
                Err(failed) if failed.timed_out => return Err(timed_out()),
                Err(failed) => failed,
            };
            let again = reused && failed.unanswered && (failed.unwritten || idempotent(&parts.method));
            if !again {
                return Err(UpstreamError::Unavailable(failed.error));
            }
            tracing::debug!(error = %failed.error, "pooled upstream connection failed before an answer; retrying on a new one");
            conn = match self.open_until(deadline).await? {
                Opened::H1(conn) => conn,
                Opened::H2(sender) => return self.send_adopted(sender, out, deadline).await,
            };
        }
    }
    /// Writes the request on `conn` and reads the response head, by `deadline`.
    async fn exchange(
        &self,
        mut conn: Conn,
        body: Option<&Bytes>,
        method: &Method,
        sent: Instant,
        deadline: Instant,
    ) -> Result<Answer, Failed> {
        let mut alarm = conn.alarm.take().unwrap_or_else(|| Alarm::new(deadline));
        let head = alarm.bound(|| deadline, head_of(&mut conn, body, method)).await;
        conn.alarm = Some(alarm);
        let head = head.ok_or_else(|| Failed {
            error: "timed out".into(),
            unwritten: false,
            unanswered: false,
            timed_out: true,
        })??;
        let http1::ResponseHead {
            status,
            version,
            fields,
            body: decoder,
            whole_body,
            reusable,
        } = head;
        // The usual small answer came whole (or has no body): the connection goes back at once.
        let whole = match decoder {
            Decoder::Length(0) => Some(whole_body.unwrap_or_default()),
            _ => whole_body,
        };
        let body = match whole {
            Some(whole) => {
                if reusable {
                    self.pool.checkin(conn, sent.into_std());
                }
                full(whole)
            }
            None => Body::streamed(PooledBody::new(
                conn,
                decoder,
                reusable,
                self.pool.clone(),
                self.request_timeout,
            )),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.version_mut() = version;
        Ok(Answer {
            response,
            upstream: Some(fields),
            request_id: None,
        })
    }
}

/// Writes the head (and a small body) from `conn.out`, then a large body.
async fn write(conn: &mut Conn, body: Option<&Bytes>) -> io::Result<()> {
    conn.io.write_all(&conn.out).await?;
    if let Some(body) = body {
        conn.io.write_all(body).await?;
    }
    conn.io.flush().await
}

/// Writes the request and reads the response head off `conn`.
async fn head_of(conn: &mut Conn, body: Option<&Bytes>, method: &Method) -> Result<http1::ResponseHead, Failed> {
    let failed = |error: BoxError, unwritten: bool, unanswered: bool| Failed {
        error,
        unwritten,
        unanswered,
        timed_out: false,
    };
    if let Err(e) = write(conn, body).await {
        return Err(failed(e.into(), true, true));
    }
    loop {
        match http1::parse_response_head(&mut conn.buf, method, is_hop_by_hop_name) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) => {}
            Err(e) => return Err(failed(e.into(), false, false)),
        }
        conn.buf.reserve(READ_CHUNK);
        let error: BoxError = match conn.io.read_buf(&mut conn.buf).await {
            Ok(0) => ClosedEarly.into(),
            Ok(_) => continue,
            Err(e) => e.into(),
        };
        return Err(failed(error, false, conn.buf.is_empty()));
    }
}
