//! The network client. For HTTP/1.1 the request's own task does the whole exchange on a
//! pooled connection: one write of the head (and a small body), reads until the response head
//! is complete, and a body that reads on as the caller does and gives the connection back at
//! its end (`client/h1.rs`). No task per connection and no channel in between, which is where
//! a general purpose client spends most of its time per request.
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

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method};
use tokio::time::Instant;

use super::connect::Connector;
use super::failure::ConnectFailed;
use super::pool::{Conn, Pool};
use super::{UpstreamError, UpstreamSetupError};
use crate::answer::Answer;
use crate::config::UpstreamConfig;
use crate::secret::Secret;

mod h1;
mod h2;

use h2::{H2Conns, H2Sender, Taken};

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
        let now = crate::wake_time::tokio_now();
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
}

/// Methods that may be sent twice without a different outcome (RFC 9110 §9.2.2).
fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}
