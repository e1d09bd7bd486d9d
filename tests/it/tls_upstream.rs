//! Forwarding over TLS: an HTTPS upstream whose certificate was generated here is trusted
//! through `ca_file` (and spoken to over HTTP/2 when it offers h2); without `ca_file` the
//! handshake fails, the caller gets 502 and nothing is sent.

use crate::support;

use support::certs;
use support::{send, Caller, Capture, Config, GatewayProcess, Team};

/// Team "t" with caller "svc"; the gateway's default upstream timeouts.
fn config(upstream: &str) -> Config {
    Config::bare(upstream)
        .team(Team::new("t").key_value("ak_tls"))
        .caller(Caller::new("svc", "t").token("tls-token"))
}

#[tokio::test]
async fn https_upstream_trusted_through_ca_file() {
    let pki = certs::pki();
    let up = Capture::start_tls(certs::server_config(&pki)).await;
    let url = format!("https://127.0.0.1:{}", up.addr.port());
    let cfg = config(&url).upstream("ca_file", "ca.pem").folder();
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
    let got = up.taken();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].version, http::Version::HTTP_2, "h2 negotiated by ALPN");
    assert_eq!(got[0].body.as_ref(), br#"{"name":"tls"}"#);
    assert_eq!(got[0].all("authorization"), vec!["Api-Key ak_tls"]);
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
