//! Sending one request over a shared HTTP/2 connection, and once more on the protocol's word
//! that the upstream did not process it (see the parent module for when).

use std::future::Future;
use std::pin::Pin;

use http::{Method, Response, StatusCode};
use tokio::time::Instant;

use super::{H2Failed, H2Sender, Shared, Taken};
use crate::answer::Answer;
use crate::body::{Body, H2Body};
use crate::upstream::client::{idempotent, Client, Outgoing};
use crate::upstream::failure::{connection_lost, unprocessed, unsent, Unprocessed};
use crate::upstream::{rewrite_request, strip_hop_by_hop, UpstreamError};

impl Client {
    /// Sends the request over `shared`, and once more if the upstream cannot have processed
    /// it (on a fresh connection unless its stream was refused); all by `deadline`. Boxed: its
    /// state (hyper's request future and a timer) would otherwise be carried in every HTTP/1.1
    /// request's state too.
    pub(in crate::upstream::client) fn send_h2_until<'a>(
        &'a self,
        shared: Shared,
        out: Outgoing<'a>,
        deadline: Instant,
    ) -> Pin<Box<dyn Future<Output = Result<Answer, UpstreamError>> + Send + 'a>> {
        Box::pin(async move {
            let timed_out = || UpstreamError::Timeout(self.request_timeout);
            let Shared { sender, id, slot } = shared;
            let first = self.send_h2(sender, &out);
            let error = match tokio::time::timeout_at(deadline, first)
                .await
                .map_err(|_| timed_out())?
            {
                Ok(answer) => return Ok(answer),
                Err(H2Failed::Final(error)) => return Err(error),
                Err(H2Failed::Again { error, gone }) => {
                    if gone {
                        self.h2.evict(slot, id);
                    }
                    error
                }
            };
            tracing::debug!(
                error = %crate::telemetry::error_chain(error.as_ref()),
                "the upstream did not process the request over HTTP/2; sending it again"
            );
            let fresh = match self.take_h2(slot, deadline).await? {
                Taken::H2(fresh) => fresh,
                // The upstream now speaks HTTP/1.1: the request fails as it failed.
                Taken::H1(_) | Taken::SpeaksH1 => return Err(UpstreamError::Unavailable(error)),
            };
            let again = self.send_h2(fresh.sender, &out);
            match tokio::time::timeout_at(deadline, again)
                .await
                .map_err(|_| timed_out())?
            {
                Ok(answer) => Ok(answer),
                Err(H2Failed::Final(error)) => Err(error),
                Err(H2Failed::Again { error, .. }) => {
                    tracing::debug!(
                        error = %crate::telemetry::error_chain(error.as_ref()),
                        same_connection = fresh.id == id,
                        "sent again over HTTP/2, and again not processed"
                    );
                    Err(UpstreamError::Unavailable(error))
                }
            }
        })
    }

    async fn send_h2(&self, sender: H2Sender, out: &Outgoing<'_>) -> Result<Answer, H2Failed> {
        let Outgoing {
            parts,
            ref body,
            key,
            request_id,
        } = *out;
        let request = rewrite_request(parts, &self.base, key, request_id, body.len(), &self.forward)
            .map_err(|e| H2Failed::Final(UpstreamError::Unavailable(e.into())))?;
        // Refused before its stream opened: the request never left the gateway.
        let not_sent = |e: h2::Error| {
            if unsent(&e) {
                H2Failed::Again {
                    error: e.into(),
                    gone: true,
                }
            } else {
                H2Failed::Final(UpstreamError::Unavailable(e.into()))
            }
        };
        let mut send = sender.send.ready().await.map_err(not_sent)?;
        let end = body.is_empty();
        let (response, mut stream) = send.send_request(request, end).map_err(not_sent)?;
        let sent = |e: h2::Error| match unprocessed(&e) {
            Some(Unprocessed::Refused) => H2Failed::Again {
                error: e.into(),
                gone: false,
            },
            Some(Unprocessed::Gone) => H2Failed::Again {
                error: e.into(),
                gone: true,
            },
            None if idempotent(&parts.method) && connection_lost(&e) => H2Failed::Again {
                error: e.into(),
                gone: true,
            },
            None => H2Failed::Final(UpstreamError::Unavailable(e.into())),
        };
        if !end {
            // Whole, in memory and bounded: h2 holds what the window does not yet let out.
            stream.send_data(body.clone(), true).map_err(sent)?;
        }
        let (mut head, recv) = response.await.map_err(sent)?.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let length = body_length(&parts.method, head.status, &head.headers);
        Ok(Response::from_parts(head, Body::streamed(H2Body::new(recv, None, length))).into())
    }
}

/// The length an answer's body declares, if it has one (not for HEAD, 204 or 304).
fn body_length(method: &Method, status: StatusCode, headers: &http::HeaderMap) -> Option<u64> {
    if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return None;
    }
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}
