//! The HTTP/2 side of the client: when the upstream's TLS picks h2 by ALPN, the connection
//! becomes the one every request shares (hyper's `http2` connection, multiplexed) until it
//! closes.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::time::Instant;

use super::Client;
use crate::answer::Answer;
use crate::body::{Body, BoxError};
use crate::secret::Secret;
use crate::upstream::connect::Stream;
use crate::upstream::{rewrite_request, strip_hop_by_hop, UpstreamError};

pub(super) type H2Sender = http2::SendRequest<Full<Bytes>>;

impl Client {
    /// Makes `stream` (h2 by ALPN) the shared HTTP/2 connection.
    pub(super) async fn share_h2(&self, stream: Stream) -> Result<H2Sender, UpstreamError> {
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| UpstreamError::Unavailable(e.into()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %crate::telemetry::error_chain(&e), "upstream HTTP/2 connection ended");
            }
        });
        *self.h2.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sender.clone());
        Ok(sender)
    }

    /// `send_h2`, by `deadline`. Boxed: its state (hyper's request future and a timer) would
    /// otherwise be carried in every HTTP/1.1 request's state too.
    pub(super) fn send_h2_until<'a>(
        &'a self,
        sender: H2Sender,
        parts: &'a http::request::Parts,
        body: Bytes,
        key: &'a Secret,
        request_id: &'a HeaderValue,
        deadline: Instant,
    ) -> Pin<Box<dyn Future<Output = Result<Answer, UpstreamError>> + Send + 'a>> {
        Box::pin(async move {
            let sent = self.send_h2(sender, parts, body, key, request_id);
            tokio::time::timeout_at(deadline, sent)
                .await
                .map_err(|_| UpstreamError::Timeout(self.request_timeout))?
        })
    }

    async fn send_h2(
        &self,
        mut sender: H2Sender,
        parts: &http::request::Parts,
        body: Bytes,
        key: &Secret,
        request_id: &HeaderValue,
    ) -> Result<Answer, UpstreamError> {
        let request = rewrite_request(parts, &self.base, key, request_id, body.len(), &self.forward)
            .map_err(|e| UpstreamError::Unavailable(e.into()))?
            .map(|()| Full::new(body));
        sender.ready().await.map_err(|e| UpstreamError::Unavailable(e.into()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| UpstreamError::Unavailable(e.into()))?;
        let (mut head, incoming) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        Ok(Response::from_parts(head, Body::streamed(incoming.map_err(BoxError::from))).into())
    }
}
