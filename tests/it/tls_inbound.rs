//! Inbound TLS (`[server.tls]`): HTTPS over HTTP/1.1 and HTTP/2 by ALPN, client certificates
//! required and mapped to callers with `client_ca_file`, and certificates reloaded from disk
//! without a restart. All certificates are generated here.

use crate::support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::certs::{client_config, Ca, Leaf};
use support::observe::eventually_within;
use support::process::replace;
use support::{Caller, Capture, Config, GatewayProcess, Team};

const SPIFFE_CRM: &str = "spiffe://cluster.local/ns/sales/sa/crm";

/// Writes the pair as `NAME.key` and `NAME.crt`, the key first; each is written beside, then
/// renamed, so a reader never sees half a file.
fn write_pair(dir: &Path, name: &str, leaf: &Leaf) {
    replace(&dir.join(format!("{name}.key")), &leaf.key_pem);
    replace(&dir.join(format!("{name}.crt")), &leaf.pem);
}

fn start(upstream: &Capture, server: &Leaf, client_ca: Option<&Ca>) -> GatewayProcess {
    let mut config = Config::bare(&upstream.url())
        .tls("cert_file", "server.crt")
        .tls("key_file", "server.key")
        .team(Team::new("sales").key_value("ak_sales_tls"))
        .team(Team::new("ops").key_value("ak_ops_tls"))
        .caller(Caller::new("crm", "sales").set("cert_san", SPIFFE_CRM))
        .caller(Caller::new("tool", "ops").token("tool-token"));
    if client_ca.is_some() {
        config = config.tls("client_ca_file", "clients.pem");
    }
    let cfg = config.folder();
    write_pair(cfg.dir.path(), "server", server);
    if let Some(ca) = client_ca {
        cfg.write("clients.pem", &ca.pem);
    }
    GatewayProcess::start(cfg, &[])
}

/// One request over TLS with the given client config; the negotiated version and status.
async fn call(addr: SocketAddr, tls: rustls::ClientConfig, auth: Option<&str>) -> Result<(http::Version, u16), String> {
    let h2 = tls.alpn_protocols.first().is_some_and(|p| p == b"h2");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let mut req = hyper::Request::builder().uri("https://127.0.0.1/v2/api/me");
    if !h2 {
        // hyper's connection-level client sends no Host of its own; HTTP/1.1 requires one.
        req = req.header("host", "127.0.0.1");
    }
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| e.to_string())?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(|e| e.to_string())?
    };
    let version = resp.version();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    Ok((version, status))
}

#[tokio::test]
async fn https_inbound_over_http1_and_http2() {
    let ca = Ca::new();
    let up = Capture::start().await;
    let gw = start(&up, &ca.server(), None);
    let auth = Some("Bearer tool-token");
    let h1 = call(gw.addr, client_config(&ca.pem, &[b"http/1.1"], None), auth)
        .await
        .unwrap();
    assert_eq!(h1, (http::Version::HTTP_11, 200));
    let h2 = call(gw.addr, client_config(&ca.pem, &[b"h2"], None), auth)
        .await
        .unwrap();
    assert_eq!(h2, (http::Version::HTTP_2, 200));
    assert_eq!(up.count(), 2);
    assert_eq!(up.taken()[1].all("authorization"), vec!["Api-Key ak_ops_tls"]);
    // A client that does not trust the gateway's CA cannot connect.
    let other = Ca::new();
    assert!(call(gw.addr, client_config(&other.pem, &[b"h2"], None), auth)
        .await
        .is_err());
}

#[tokio::test]
async fn client_certificates_identify_callers() {
    let server_ca = Ca::new();
    let client_ca = Ca::new();
    let up = Capture::start().await;
    let gw = start(&up, &server_ca.server(), Some(&client_ca));

    // No certificate: the handshake (or the first read) fails, nothing is forwarded.
    let none = call(
        gw.addr,
        client_config(&server_ca.pem, &[b"http/1.1"], None),
        Some("Bearer tool-token"),
    )
    .await;
    assert!(none.is_err(), "{none:?}");
    // A certificate from another CA: refused the same way.
    let stranger = Ca::new().client_uri(SPIFFE_CRM);
    let wrong_ca = call(
        gw.addr,
        client_config(&server_ca.pem, &[b"http/1.1"], Some(&stranger)),
        None,
    )
    .await;
    assert!(wrong_ca.is_err(), "{wrong_ca:?}");
    assert_eq!(up.count(), 0);

    // The SAN maps to caller `crm` of team sales: its key reaches the upstream.
    let crm = client_ca.client_uri(SPIFFE_CRM);
    for alpn in [&b"http/1.1"[..], &b"h2"[..]] {
        let ok = call(gw.addr, client_config(&server_ca.pem, &[alpn], Some(&crm)), None)
            .await
            .unwrap();
        assert_eq!(ok.1, 200);
    }
    let got = up.taken();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].all("authorization"), vec!["Api-Key ak_sales_tls"]);

    // A valid certificate that maps to no caller: 401.
    let unknown = client_ca.client_uri("spiffe://cluster.local/ns/other/sa/nobody");
    let r = call(
        gw.addr,
        client_config(&server_ca.pem, &[b"http/1.1"], Some(&unknown)),
        Some("Bearer tool-token"),
    )
    .await
    .unwrap();
    assert_eq!(r.1, 401);
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn a_certificate_swapped_on_disk_is_served_without_restart() {
    let old_ca = Ca::new();
    let new_ca = Ca::new();
    let up = Capture::start().await;
    let gw = start(&up, &old_ca.server(), None);
    let auth = Some("Bearer tool-token");
    assert!(call(gw.addr, client_config(&old_ca.pem, &[b"http/1.1"], None), auth)
        .await
        .is_ok());
    // The config folder is the process's; replace the pair there.
    let dir = gw.config_dir().unwrap();
    let leaf = new_ca.server();
    write_pair(&dir, "server", &leaf);
    let within = std::time::Duration::from_secs(10);
    eventually_within(&gw, within, "the new certificate served", async || {
        call(gw.addr, client_config(&new_ca.pem, &[b"http/1.1"], None), auth)
            .await
            .is_ok()
    })
    .await;
    assert!(call(gw.addr, client_config(&old_ca.pem, &[b"http/1.1"], None), auth)
        .await
        .is_err());
}
