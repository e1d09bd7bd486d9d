//! The network client. For HTTP/1.1 the request's own task does the whole exchange on a
//! pooled connection: one write of the head (and a small body), reads until the response head
//! is complete, and a body that reads on as the caller does and gives the connection back at
//! its end. No task per connection and no channel in between, which is where a general
//! purpose client spends most of its time per request.
//!
//! When the upstream's TLS picks h2 by ALPN, `h2_connections` HTTP/2 connections (on the `h2`
//! crate) carry every request (multiplexed, taken in turn) until they close (`client/h2.rs`,
//! which also sends again what the upstream did not process); a new connection learns the
//! protocol afresh.
//!
//! Retry: a request that fails on a reused connection before any byte of answer arrives (the
//! upstream closed it while idle, racing our write) is sent once more on a new connection, if
//! it is idempotent or its write failed (the upstream cannot have received all of it).
//! Anything else is answered as it failed.
//!
//! Time: `request_timeout` bounds everything up to the response head, on the `Alarm` each
//! pooled connection keeps (so a request arms no timer of its own); a body
//! that stops arriving for as long fails (`PooledBody`).

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::connect::Connector;
use super::failure::{ClosedEarly, ConnectFailed};
use super::pool::{Conn, Pool, PooledBody, READ_CHUNK};
use super::rewrite::{forwarded_headers, is_hop_by_hop_name, sends_content_length};
use super::{UpstreamError, UpstreamSetupError};
use crate::alarm::Alarm;
use crate::answer::Answer;
use crate::body::{full, Body, BoxError};
use crate::config::UpstreamConfig;
use crate::http1::{self, Decoder};
use crate::secret::Secret;

mod h2;

use h2::{H2Conns, H2Sender, Taken};

/// Bodies up to this size go out in the same write as the head.
const INLINE_BODY: usize = 16 * 1024;

pub(super) struct Client {
    connector: Connector,
    pool: Arc<Pool>,
    /// `Host`: the configured authority, without the scheme's default port.
    host: HeaderValue,
    /// Scheme and authority, for HTTP/2 request targets.
    base: http::uri::Parts,
    h2: H2Conns,
    /// Bounds the wait for a response head, and any wait for body bytes.
    request_timeout: std::time::Duration,
    forward: crate::config::ForwardHeaders,
}

enum Opened {
    H1(Conn),
    H2(H2Sender),
}

/// One request on its way out: the caller's head and body, the team key and the request id,
/// as every step of sending it (over either protocol, and once more) needs them.
struct Outgoing<'a> {
    parts: &'a http::request::Parts,
    body: Bytes,
    key: &'a Secret,
    request_id: &'a HeaderValue,
}

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
    pub(super) fn new(
        scheme: &http::uri::Scheme,
        authority: &http::uri::Authority,
        config: &UpstreamConfig,
    ) -> Result<Client, UpstreamSetupError> {
        let tls = super::tls::client_config(config.ca_file.as_deref())?;
        let connector = Connector::new(scheme, authority, tls, config.http2, config.connect_timeout)?;
        let default_port = if *scheme == http::uri::Scheme::HTTPS { 443 } else { 80 };
        let host = match authority.port_u16() {
            Some(port) if port != default_port => authority.as_str().to_owned(),
            _ => authority.host().to_owned(),
        };
        let mut base = http::uri::Parts::default();
        base.scheme = Some(scheme.clone());
        base.authority = Some(authority.clone());
        Ok(Client {
            connector,
            pool: Pool::new(config.pool_max_idle_per_host, config.pool_idle_timeout),
            host: HeaderValue::from_str(&host).map_err(|_| UpstreamSetupError::Host)?,
            base,
            h2: H2Conns::new(
                config.h2_connections,
                *scheme != http::uri::Scheme::HTTPS || !config.http2,
            ),
            request_timeout: config.request_timeout,
            forward: config.forward_headers.clone(),
        })
    }

    /// Sends the request and returns once the response head is in, within `request_timeout`.
    pub(super) async fn send(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        key: &Secret,
        request_id: &HeaderValue,
    ) -> Result<Answer, UpstreamError> {
        let out = Outgoing {
            parts,
            body,
            key,
            request_id,
        };
        let now = Instant::now();
        let deadline = now + self.request_timeout;
        let mut opened = None;
        if self.h2.may_speak_h2() {
            let slot = self.h2.pick();
            // Connecting (rare) is boxed, so its state is not carried by every request.
            let taken = match self.h2.current(slot) {
                Some(shared) => Taken::H2(shared),
                None => Box::pin(self.take_h2(slot, deadline)).await?,
            };
            match taken {
                Taken::H2(shared) => {
                    return self.send_h2_until(shared, out, deadline).await;
                }
                Taken::H1(conn) => opened = Some(conn),
                Taken::SpeaksH1 => {}
            }
        }
        self.send_h1(opened, now, out).await
    }

    /// The HTTP/1.1 exchange begun at `now`, on `opened` or a pooled (or new) connection.
    async fn send_h1(&self, opened: Option<Conn>, now: Instant, out: Outgoing<'_>) -> Result<Answer, UpstreamError> {
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

    /// A connection opened for HTTP/1.1 turned out h2 (the upstream changed): it fills an
    /// empty HTTP/2 slot (or serves this request alone), and the request goes out on it.
    async fn send_adopted(
        &self,
        sender: H2Sender,
        out: Outgoing<'_>,
        deadline: Instant,
    ) -> Result<Answer, UpstreamError> {
        let shared = self.h2.adopt(sender);
        self.send_h2_until(shared, out, deadline).await
    }

    /// `open`, by `deadline`. Its future (the TLS handshake's state) is large and rarely
    /// needed, so it is boxed rather than carried in every request's state.
    async fn open_until(&self, deadline: Instant) -> Result<Opened, UpstreamError> {
        tokio::time::timeout_at(deadline, Box::pin(self.open()))
            .await
            .map_err(|_| UpstreamError::Timeout(self.request_timeout))?
    }

    /// A new connection, HTTP/2 (handshaken, not yet shared) if ALPN chose h2.
    async fn open(&self) -> Result<Opened, UpstreamError> {
        let stream = self
            .connector
            .connect()
            .await
            .map_err(|e| UpstreamError::Unavailable(ConnectFailed(e).into()))?;
        if !stream.is_h2() {
            return Ok(Opened::H1(Conn::new(stream)));
        }
        Ok(Opened::H2(self.handshake_h2(stream).await?))
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

/// Methods that may be sent twice without a different outcome (RFC 9110 §9.2.2).
fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}
