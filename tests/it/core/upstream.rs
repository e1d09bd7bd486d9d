//! The upstream side: a down upstream is 502 and a slow one 504, its answers pass through
//! unmarked, one access-log event per request, h2c on the listener, pooled connections.

use super::*;

use crate::support::client::h2c;
use crate::support::observe::eventually_within;

#[tokio::test]
async fn upstream_down_is_502_and_slow_is_504() {
    // A port that was just free: nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = start(&format!("http://{free}"));
    let r = gw.get("/v2/api/users").bearer(SALES_TOKEN).send().await;
    assert_eq!(r.refusal(), (502, Some("UPSTREAM_UNAVAILABLE".into())));
    assert_eq!(r.json()["error"]["type"], "server_error");

    let up = Capture::start().await;
    up.set(Canned {
        delay: std::time::Duration::from_secs(3),
        ..Canned::default()
    });
    let gw = start(&up.url());
    let r = gw.get("/v2/api/users").bearer(SALES_TOKEN).send().await;
    assert_eq!(r.refusal(), (504, Some("UPSTREAM_TIMEOUT".into())));
}

#[tokio::test]
async fn upstream_answers_pass_through_unmarked() {
    let up = Capture::start().await;
    up.set(Canned {
        status: 404,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ratelimit-limit".into(), "20".into()),
            ("x-ratelimit-remaining".into(), "19".into()),
            ("x-ratelimit-reset".into(), "1700000000".into()),
            ("connection".into(), "x-hop".into()),
            ("x-hop".into(), "1".into()),
            ("x-request-id".into(), "the-upstream-s-own".into()),
        ],
        body: r#"{"error":{"code":"USER_NOT_FOUND"}}"#.into(),
        ..Canned::default()
    });
    let gw = start(&up.url());
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/users/usr-x",
        &[("authorization", &bearer(SALES_TOKEN)), ("x-request-id", "my-trace-1")],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), r#"{"error":{"code":"USER_NOT_FOUND"}}"#);
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("19"));
    assert_eq!(r.header("x-ratelimit-reset").as_deref(), Some("1700000000"));
    assert!(r.gateway_error().is_none());
    assert!(r.header("x-hop").is_none());
    // One request id back, the gateway's, whatever the upstream put in its answer.
    let ids: Vec<_> = r.headers.get_all("x-request-id").iter().collect();
    assert_eq!(ids, ["my-trace-1"]);
    assert_eq!(up.taken()[0].all("x-request-id"), vec!["my-trace-1"]);
}

#[tokio::test]
async fn access_log_has_one_event_per_request() {
    let up = Capture::start().await;
    let gw = start(&up.url());
    gw.post(RESET).bearer(SALES_TOKEN).send().await;
    send(
        gw.addr,
        "GET",
        "/v2/api/users",
        &[("authorization", "Bearer wrong")],
        "",
    )
    .await;
    let within = std::time::Duration::from_secs(5);
    eventually_within(&gw, within, "two access-log events", async || {
        gw.access_logs().len() >= 2
    })
    .await;
    let logs = gw.access_logs();
    assert_eq!(logs.len(), 2, "{}", gw.log());
    assert_eq!(logs[0]["caller"], "crm-sync");
    assert_eq!(logs[0]["team"], "sales");
    assert_eq!(logs[0]["route"], "dialingQueues.resetCurrent");
    assert_eq!(logs[0]["status"], 200);
    assert_eq!(logs[0]["upstream_status"], 200);
    assert!(logs[0]["request_id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(logs[1]["status"], 401);
    assert_eq!(logs[1]["error"], "GATEWAY_UNAUTHENTICATED");
}

#[tokio::test]
async fn the_listener_speaks_h2c_with_prior_knowledge() {
    use http_body_util::{BodyExt, Full};
    let up = Capture::start().await;
    up.set(Canned {
        headers: vec![
            ("x-ratelimit-remaining".into(), "7".into()),
            ("connection".into(), "x-hop".into()),
            ("x-hop".into(), "1".into()),
            ("x-request-id".into(), "the-upstream-s-own".into()),
        ],
        body: "{}".into(),
        ..Canned::default()
    });
    let gw = start(&up.url());
    let mut sender = h2c(gw.addr).await;
    let mut ids_back = Vec::new();
    for name in ["first", "second"] {
        let req = hyper::Request::builder()
            .method("POST")
            .uri(format!("http://gateway.local{RESET}"))
            .header("authorization", bearer(SALES_TOKEN))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(format!(r#"{{"name":"{name}"}}"#))))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        // The upstream's HTTP/1.1 answer head, as a map for HTTP/2: its end-to-end fields,
        // not the hop-by-hop ones, and the gateway's request id only.
        let headers = resp.headers();
        assert_eq!(headers["x-ratelimit-remaining"], "7");
        assert!(headers.get("x-hop").is_none());
        let ids: Vec<_> = headers.get_all("x-request-id").iter().collect();
        assert_eq!(ids.len(), 1, "{headers:?}");
        ids_back.push(ids[0].to_str().unwrap().to_owned());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{}");
    }
    let got = up.taken();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body.as_ref(), br#"{"name":"second"}"#);
    // The id the caller got back is the one that went upstream.
    assert_eq!(got[0].all("x-request-id"), vec![ids_back[0].clone()]);
    assert_eq!(got[1].all("x-request-id"), vec![ids_back[1].clone()]);
    // The :authority the caller used never reaches the upstream.
    assert_eq!(got[0].all("host"), vec![up.addr.to_string()]);
}

#[tokio::test]
async fn upstream_connections_are_reused() {
    let up = Capture::start().await;
    // One worker: each worker keeps its own pool (tests/it/workers.rs covers several).
    let cfg = config(&up.url()).folder();
    cfg.write("support.key", format!("{SUPPORT_KEY}\n"));
    let gw = GatewayProcess::start(cfg, &[("TEST_SALES_KEY", SALES_KEY), ("ALLO_GATEWAY_WORKERS", "1")]);
    for _ in 0..20 {
        let r = gw.get("/v2/api/users").bearer(SALES_TOKEN).send().await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(up.count(), 20);
    // Sequential requests from new caller connections share one pooled upstream connection.
    assert_eq!(up.connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}
