//! Inbound TLS: the rustls server configuration for `[server.tls]` (HTTP/2 and HTTP/1.1 by
//! ALPN), optional client-certificate verification (mTLS) against `client_ca_file`, reloading
//! when the certificate, key or CA files change, and the identities (URI and DNS SANs) of a
//! verified client certificate, which `auth` maps to a caller.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::config::TlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{0} holds no PEM private key")]
    NoKey(PathBuf),
    #[error("the certificate and key are not usable together")]
    Rustls(#[from] rustls::Error),
    #[error("the client CA cannot verify certificates")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The identities a verified client certificate carries: its URI SANs (e.g.
/// `spiffe://cluster/ns/app/sa/crm`) and DNS SANs. Attached to each request of the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    pub names: Vec<String>,
}

/// The current server configuration, replaced whole when its files change.
pub struct InboundTls {
    config: TlsConfig,
    current: ArcSwap<rustls::ServerConfig>,
    stamp: std::sync::Mutex<Vec<Option<SystemTime>>>,
}

impl InboundTls {
    pub fn new(config: &TlsConfig) -> Result<InboundTls, TlsSetupError> {
        let server = build(config)?;
        Ok(InboundTls {
            config: config.clone(),
            current: ArcSwap::from_pointee(server),
            stamp: std::sync::Mutex::new(stamps(config)),
        })
    }

    /// An acceptor for the configuration in force now.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }

    pub fn requires_client_certificates(&self) -> bool {
        self.config.client_ca_file.is_some()
    }

    /// Reloads when a file's modification time changed; a broken new file keeps the old
    /// configuration serving. Returns whether a new configuration is in force.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.config);
        let mut stamp = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if *stamp == now {
            return false;
        }
        *stamp = now;
        match build(&self.config) {
            Ok(server) => {
                self.current.store(Arc::new(server));
                tracing::info!("inbound TLS certificates reloaded");
                true
            }
            Err(e) => {
                tracing::error!(error = %crate::telemetry::error_chain(&e), "inbound TLS reload refused; the previous certificates stay in use");
                false
            }
        }
    }

    /// Checks the files every `every` until the process ends.
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.reload_if_changed();
            }
        });
    }
}

fn stamps(config: &TlsConfig) -> Vec<Option<SystemTime>> {
    [
        Some(&config.cert_file),
        Some(&config.key_file),
        config.client_ca_file.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    .collect()
}

fn build(config: &TlsConfig) -> Result<rustls::ServerConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&config.cert_file)?;
    let key = read_key(&config.key_file)?;
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match &config.client_ca_file {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(read_certs(ca)?);
            builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?,
            )
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder.with_single_cert(certs, key)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(server)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsSetupError::NoKey(path.to_owned()))
}

/// The URI and DNS SANs of the verified client certificate of `connection`, if any.
pub fn peer_identity(connection: &rustls::ServerConnection) -> Option<PeerIdentity> {
    let leaf = connection.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let names = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => Some(uri.to_string()),
            x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
            _ => None,
        })
        .collect();
    Some(PeerIdentity { names })
}
