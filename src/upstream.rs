//! Forwarding: the pooled hyper-util client over rustls (system roots plus `ca_file`, HTTP/1.1
//! and HTTP/2 by ALPN), the request rewrite that decides exactly what the upstream receives
//! (INTERFACE §4), and the response cleanup. The upstream authority comes only from config.

mod rewrite;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

pub use rewrite::{rewrite_request, strip_hop_by_hop, REQUEST_ID};

use crate::body::{full, Body, BoxError};
use crate::config::{UpstreamConfig, UpstreamTarget};
use crate::sandbox::Sandbox;
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream is unreachable or answered badly")]
    Unavailable(#[source] BoxError),
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    #[error("cannot read ca_file {path}")]
    CaFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ca_file {0} holds no usable PEM certificate")]
    CaFileEmpty(std::path::PathBuf),
    #[error("upstream \"sandbox\" needs the emulator built from the teams' keys")]
    NoSandbox,
    #[error("TLS setup failed")]
    Tls(#[source] rustls::Error),
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

// One value per loaded config, never moved on the request path: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Target {
    Network {
        client: HttpsClient,
        base: http::uri::Parts,
    },
    Sandbox(Arc<Sandbox>),
}

/// Where requests go, and how.
pub struct Upstream {
    target: Target,
    request_timeout: Duration,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig, sandbox: Option<Arc<Sandbox>>) -> Result<Upstream, UpstreamSetupError> {
        let target = match (&config.target, sandbox) {
            (UpstreamTarget::Sandbox, Some(sandbox)) => Target::Sandbox(sandbox),
            (UpstreamTarget::Sandbox, None) => return Err(UpstreamSetupError::NoSandbox),
            (UpstreamTarget::Url { scheme, authority }, _) => {
                let mut base = http::uri::Parts::default();
                base.scheme = Some(scheme.clone());
                base.authority = Some(authority.clone());
                Target::Network {
                    client: client(config)?,
                    base,
                }
            }
        };
        Ok(Upstream {
            target,
            request_timeout: config.request_timeout,
        })
    }

    /// Sends the rewritten request; the response body streams back.
    pub async fn send(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        key: &Secret,
        request_id: &HeaderValue,
    ) -> Result<Response<Body>, UpstreamError> {
        match &self.target {
            Target::Network { client, base } => {
                let request = rewrite_request(parts, base, key, request_id, body.len())
                    .map_err(|e| UpstreamError::Unavailable(e.into()))?
                    .map(|()| Full::new(body));
                let response = tokio::time::timeout(self.request_timeout, client.request(request))
                    .await
                    .map_err(|_| UpstreamError::Timeout(self.request_timeout))?
                    .map_err(|e| UpstreamError::Unavailable(e.into()))?;
                let (mut head, incoming) = response.into_parts();
                strip_hop_by_hop(&mut head.headers);
                Ok(Response::from_parts(head, incoming.map_err(BoxError::from).boxed()))
            }
            Target::Sandbox(sandbox) => {
                let base = http::uri::Parts::default();
                let request = rewrite_request(parts, &base, key, request_id, body.len())
                    .map_err(|e| UpstreamError::Unavailable(e.into()))?
                    .map(|()| body);
                Ok(sandbox.handle(request).map(full))
            }
        }
    }
}

fn client(config: &UpstreamConfig) -> Result<HttpsClient, UpstreamSetupError> {
    let tls = tls::client_config(config.ca_file.as_deref())?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(config.connect_timeout));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(config.pool_idle_timeout)
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .build(connector))
}
