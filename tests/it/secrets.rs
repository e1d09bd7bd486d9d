//! Secrets never leak: a full run at trace level with a marker key and a marker caller token,
//! covering success, refusals, upstream errors and shutdown; neither marker may appear in any
//! log line or in any response the caller receives. Over HTTP/1.1 to a plain upstream, and over
//! HTTP/2 to an HTTPS one (where the `h2` crate's own trace lines are in the log too).

use crate::support;

use support::{certs, Caller, Canned, Capture, Config, GatewayProcess, Team};

const KEY_MARKER: &str = "ak_live_KEYMARKER7f3a9c";
const TOKEN_MARKER: &str = "tok_TOKENMARKER5e1b2d";

#[tokio::test]
async fn markers_never_appear_in_logs_or_responses() {
    let up = Capture::start().await;
    let cfg = Config::new(&up.url())
        .request_timeout("300ms")
        .unset("upstream", "connect_timeout")
        .team(Team::new("t").key_env("MARKER_KEY").write(1000))
        .caller(Caller::new("svc", "t").token(TOKEN_MARKER))
        .folder();
    let mut gw = GatewayProcess::start(cfg, &[("MARKER_KEY", KEY_MARKER), ("ALLO_GATEWAY_LOG", "trace")]);
    let reset = "/v2/api/dialing-queues/current";
    let leaky = format!(r#"{{"name":"{TOKEN_MARKER}","email":"{KEY_MARKER}"}}"#);
    let answers = vec![
        gw.post(reset)
            .bearer(TOKEN_MARKER)
            .json(r#"{"name":"ok"}"#)
            .send()
            .await,
        gw.post(reset).bearer(TOKEN_MARKER).json(&leaky).send().await,
        gw.get("/v2/api/users")
            .header("authorization", &format!("Api-Key {TOKEN_MARKER}x"))
            .send()
            .await,
        gw.get("/v2/api/users")
            .header("authorization", &format!("Api-Key {TOKEN_MARKER}"))
            .send()
            .await,
        {
            up.set(Canned {
                delay: std::time::Duration::from_secs(1),
                ..Canned::default()
            });
            gw.get("/v2/api/me").bearer(TOKEN_MARKER).send().await
        },
    ];
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        vec![200, 400, 401, 200, 504]
    );
    // The upstream did get the key, so the marker is live on the wire.
    assert_eq!(
        up.taken()[0].all("authorization"),
        vec![format!("Api-Key {KEY_MARKER}")]
    );
    assert!(gw.stop().success());
    let log = gw.log();
    assert!(
        log.lines().count() > 20,
        "trace logging produced too little to be a real check:\n{log}"
    );
    for marker in [KEY_MARKER, TOKEN_MARKER] {
        assert!(!log.contains(marker), "marker {marker} leaked into the logs");
        for a in &answers {
            assert!(
                !a.text().contains(marker),
                "marker {marker} leaked into a response: {}",
                a.text()
            );
            assert!(!format!("{:?}", a.headers).contains(marker));
        }
    }
    // A long bad value is echoed only as a short prefix.
    assert!(answers[1].text().contains("must be a valid email"));
}

#[tokio::test]
async fn markers_never_appear_in_logs_over_an_h2_upstream() {
    let pki = certs::pki();
    let up = Capture::start_tls(certs::server_config(&pki)).await;
    let cfg = Config::new(&format!("https://127.0.0.1:{}", up.addr.port()))
        .ca_file("ca.pem")
        .team(Team::new("t").key_env("MARKER_KEY").write(1000))
        .caller(Caller::new("svc", "t").token(TOKEN_MARKER))
        .folder();
    cfg.write("ca.pem", &pki.ca_pem);
    let mut gw = GatewayProcess::start(cfg, &[("MARKER_KEY", KEY_MARKER), ("ALLO_GATEWAY_LOG", "trace")]);
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            gw.post("/v2/api/dialing-queues/current")
                .bearer(TOKEN_MARKER)
                .json(r#"{"name":"ok"}"#)
                .send()
                .await,
        );
    }
    answers.push(
        gw.get("/v2/api/users")
            .header("authorization", &format!("Api-Key {TOKEN_MARKER}x"))
            .send()
            .await,
    );
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        vec![200, 200, 200, 401]
    );
    let taken = up.taken();
    assert_eq!(taken[0].version, http::Version::HTTP_2);
    assert_eq!(taken[0].all("authorization"), vec![format!("Api-Key {KEY_MARKER}")]);
    assert!(gw.stop().success());
    let log = gw.log();
    assert!(
        log.lines().any(|l| l.contains("h2::")),
        "the h2 crate's trace lines are not in the log, so they were not checked:\n{log}"
    );
    for marker in [KEY_MARKER, TOKEN_MARKER] {
        assert!(!log.contains(marker), "marker {marker} leaked into the logs");
        for a in &answers {
            assert!(!a.text().contains(marker), "marker {marker} leaked into a response");
            assert!(!format!("{:?}", a.headers).contains(marker));
        }
    }
}
