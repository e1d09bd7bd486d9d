//! The rustls client configuration: the system's trust anchors plus the operator's `ca_file`,
//! ALPN for HTTP/2 and HTTP/1.1, the ring provider.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;

use super::UpstreamSetupError;

pub(super) fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, UpstreamSetupError> {
    let mut roots = RootCertStore::empty();
    // A machine without a system store still works with ca_file alone.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| UpstreamSetupError::CaFile {
            path: path.to_owned(),
            source,
        })?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
            .filter_map(Result::ok)
            .collect();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(UpstreamSetupError::CaFileEmpty(path.to_owned()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // ALPN (h2, http/1.1) is set by the connector builder, which refuses a preset list.
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(UpstreamSetupError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
