//! Certificates generated in the test: CAs, server leaves for 127.0.0.1 / localhost, and
//! client certificates carrying a URI or DNS SAN (for mTLS caller identity).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

pub(crate) struct Leaf {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key_der: Vec<u8>,
    pub key_pem: String,
}

impl Leaf {
    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

impl Ca {
    pub(crate) fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub(crate) fn server(&self) -> Leaf {
        self.sign(CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap())
    }

    /// A client certificate whose only SAN is the URI `uri` (e.g. a SPIFFE id).
    pub(crate) fn client_uri(&self, uri: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }
}

pub(crate) struct TestPki {
    pub ca_pem: String,
    pub leaf_der: CertificateDer<'static>,
    pub leaf_pem: String,
    pub leaf_key_der: Vec<u8>,
    pub leaf_key_pem: String,
}

pub(crate) fn pki() -> TestPki {
    let ca = Ca::new();
    let leaf = ca.server();
    TestPki {
        ca_pem: ca.pem,
        leaf_der: leaf.der,
        leaf_pem: leaf.pem,
        leaf_key_der: leaf.key_der,
        leaf_key_pem: leaf.key_pem,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config for the leaf, offering h2 and http/1.1.
pub(crate) fn server_config(pki: &TestPki) -> rustls::ServerConfig {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.leaf_key_der.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf_der.clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// A client config trusting `ca_pem`, offering `alpn`, presenting `client` if given.
pub(crate) fn client_config(ca_pem: &str, alpn: &[&[u8]], client: Option<&Leaf>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(leaf) => builder
            .with_client_auth_cert(vec![leaf.der.clone()], leaf.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}
