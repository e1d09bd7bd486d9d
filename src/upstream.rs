//! Forwarding: where requests go and how. Over the network that is the gateway's own
//! HTTP/1.1 client (`client.rs`: a pool of keep-alive connections, the request written and
//! the response read in the request's own task, no per-request task or channel), or HTTP/2
//! through hyper when the upstream's TLS offers h2 by ALPN; either way over rustls (system
//! roots plus `ca_file`) for https. `rewrite.rs` and `http1::encode_request` decide exactly
//! what the upstream receives (INTERFACE §4). The upstream authority comes only from config.
//! Each worker thread has a client of its own (`Target::Network`).

mod client;
mod connect;
mod failure;
#[cfg(fuzzing)]
pub mod fuzz_logic;
mod pool;
mod rewrite;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;

pub use failure::FailureKind;
pub use rewrite::{rewrite_request, strip_hop_by_hop};

use crate::answer::Answer;
use crate::body::{full, BoxError};
use crate::config::{ForwardHeaders, UpstreamConfig, UpstreamTarget};
use crate::sandbox::Sandbox;
use crate::secret::Secret;
use crate::worker::PerWorker;

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
    #[error("the upstream host {0:?} is not a valid TLS server name")]
    ServerName(String),
    #[error("the upstream authority cannot be a Host header")]
    Host,
    #[error("TLS setup failed")]
    Tls(#[source] rustls::Error),
}

enum Target {
    /// One client per worker (`server::workers`): each worker keeps its own pooled HTTP/1.1
    /// connections and its own HTTP/2 connection, driven by its own runtime, so no lock or
    /// socket is shared between worker threads, nor a cache line.
    Network(PerWorker<client::Client>),
    Sandbox(Arc<Sandbox>),
}

/// Where requests go, and how.
pub struct Upstream {
    target: Target,
    /// For the sandbox; the network client keeps its own copy.
    forward: ForwardHeaders,
    /// Scheme and authority (or `sandbox`), for log lines; never a path or credential.
    name: String,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig, sandbox: Option<Arc<Sandbox>>) -> Result<Upstream, UpstreamSetupError> {
        let target = match (&config.target, sandbox) {
            (UpstreamTarget::Sandbox, Some(sandbox)) => Target::Sandbox(sandbox),
            (UpstreamTarget::Sandbox, None) => return Err(UpstreamSetupError::NoSandbox),
            (UpstreamTarget::Url { scheme, authority }, _) => {
                Target::Network(PerWorker::try_new(|| client::Client::new(scheme, authority, config))?)
            }
        };
        let name = match &config.target {
            UpstreamTarget::Sandbox => "sandbox".to_owned(),
            UpstreamTarget::Url { scheme, authority } => format!("{scheme}://{authority}"),
        };
        Ok(Upstream {
            target,
            forward: config.forward_headers.clone(),
            name,
        })
    }

    /// Where requests go, as `https://host:port` (or `sandbox`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends the rewritten request; the response body streams back.
    pub async fn send(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        key: &Secret,
        request_id: &HeaderValue,
    ) -> Result<Answer, UpstreamError> {
        match &self.target {
            // A thread that is not a worker's (a key check, a test) uses the first.
            Target::Network(clients) => clients.current().send(parts, body, key, request_id).await,
            Target::Sandbox(sandbox) => {
                let base = http::uri::Parts::default();
                let request = rewrite_request(parts, &base, key, request_id, body.len(), &self.forward)
                    .map_err(|e| UpstreamError::Unavailable(e.into()))?
                    .map(|()| body);
                Ok(sandbox.handle(request).map(full).into())
            }
        }
    }
}
