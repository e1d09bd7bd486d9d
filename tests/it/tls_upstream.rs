//! Forwarding over TLS: an HTTPS upstream whose certificate was generated here is trusted
//! through `ca_file` (and spoken to over HTTP/2 when it offers h2, unless `[upstream] http2 =
//! false`); without `ca_file` the handshake fails, the caller gets 502 and nothing is sent.

use crate::support;

use support::certs;
use support::{send, Caller, Capture, Config, GatewayProcess, Team};

/// Team "t" with caller "svc"; the gateway's default upstream timeouts.
fn config(upstream: &str) -> Config {
    Config::bare(upstream)
        .team(Team::new("t").key_value("ak_tls"))
        .caller(Caller::new("svc", "t").token("tls-token"))
}

/// Three POSTs through a gateway in front of a TLS upstream that offers h2 and http/1.1; the
/// upstream's record of them.
async fn three_posts(http2: Option<bool>) -> Vec<support::capture::Captured> {
    let pki = certs::pki();
    let up = Capture::start_tls(certs::server_config(&pki)).await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let mut cfg = config(&url).ca_file("ca.pem");
    if let Some(http2) = http2 {
        cfg = cfg.upstream("http2", http2);
    }
    let cfg = cfg.folder();
    cfg.write("ca.pem", &pki.ca_pem);
    let gw = GatewayProcess::start(cfg, &[]);
    for _ in 0..3 {
        let r = send(
            gw.addr,
            "POST",
            "/v2/api/dialing-queues/current",
            &[
                ("authorization", "Bearer tls-token"),
                ("content-type", "application/json"),
            ],
            r#"{"name":"tls"}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    up.taken()
}

#[tokio::test]
async fn https_upstream_trusted_through_ca_file() {
    let got = three_posts(None).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].version, http::Version::HTTP_2, "h2 negotiated by ALPN");
    assert_eq!(got[0].body.as_ref(), br#"{"name":"tls"}"#);
    assert_eq!(got[0].all("authorization"), vec!["Api-Key ak_tls"]);
}

#[tokio::test]
async fn http2_false_speaks_http11_to_an_upstream_that_offers_h2() {
    let got = three_posts(Some(false)).await;
    assert_eq!(got.len(), 3);
    for taken in &got {
        assert_eq!(taken.version, http::Version::HTTP_11, "only http/1.1 offered by ALPN");
        assert_eq!(taken.body.as_ref(), br#"{"name":"tls"}"#);
        assert_eq!(taken.all("authorization"), vec!["Api-Key ak_tls"]);
    }
}

#[tokio::test]
async fn https_upstream_without_ca_file_is_502_and_nothing_is_sent() {
    let pki = certs::pki();
    let up = Capture::start_tls(certs::server_config(&pki)).await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let gw = config(&url).start(&[]);
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/me",
        &[("authorization", "Bearer tls-token")],
        "",
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.header("x-allo-gateway-error").as_deref(),
        Some("UPSTREAM_UNAVAILABLE")
    );
    assert_eq!(up.count(), 0);
}
