//! Operations end to end, on the real binary in front of a capture upstream: the admin
//! listener (`/healthz`, `/readyz`, `/metrics`), hot reload by SIGHUP and by file change
//! (including a Kubernetes-style `..data` symlink swap), key rotation to a fallback key on
//! Allo's 401, and per-team files added and broken at runtime. Waits poll with a deadline.

use crate::support;

use std::time::{Duration, Instant};

use support::capture::Captured;
use support::observe::events_with as events;
use support::process::replace;
use support::{eventually, sha256_hex, Caller, Canned, Capture, Config, GatewayProcess, Team};

const CRM_TOKEN: &str = "tok_ops_crm_TOKENMARKER_0123456789";
const BATCH_TOKEN: &str = "tok_ops_batch_TOKENMARKER_0123456789";
const REPORTING_TOKEN: &str = "tok_ops_reporting_TOKENMARKER_0123";
const SUPPORT_TOKEN: &str = "tok_ops_support_TOKENMARKER_012345";
const MARKETING_TOKEN: &str = "tok_ops_marketing_TOKENMARKER_0123";

/// The admin listener and 2 s upstream requests; teams and callers are the test's.
fn server(upstream: &str) -> Config {
    Config::new(upstream).admin().request_timeout("2s")
}

async fn get(gw: &GatewayProcess, token: &str) -> support::client::Answer {
    gw.get("/v2/api/users").bearer(token).send().await
}

async fn admin(gw: &GatewayProcess, method: &str, path: &str) -> support::client::Answer {
    gw.admin_request(method, path).send().await
}

fn last_key(up: &Capture) -> String {
    let taken = up.taken();
    let last = taken.last().expect("the upstream received a request");
    last.all("authorization").join(" | ")
}

#[tokio::test]
async fn admin_endpoints_and_metrics() {
    let up = Capture::start().await;
    let config = server(&up.url())
        .team(Team::new("sales").key_env("OPS_KEY"))
        .caller(Caller::new("crm-sync", "sales").token(CRM_TOKEN))
        .caller(Caller::new("batch", "sales").token(BATCH_TOKEN).rate(1, 1));
    let key = "ak_live_OPSKEY_KEYMARKER";
    let gw = config.start(&[("OPS_KEY", key)]);

    assert_eq!(admin(&gw, "GET", "/healthz").await.status, 200);
    assert_eq!(admin(&gw, "GET", "/readyz").await.status, 200);
    assert_eq!(admin(&gw, "POST", "/metrics").await.status, 405);
    assert_eq!(admin(&gw, "GET", "/nothing").await.status, 404);

    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    let bad_query = gw.get("/v2/api/users?bogus=1").bearer(CRM_TOKEN).send().await;
    assert_eq!(bad_query.status, 400);
    let unknown = gw.get("/v2/api/no-such-thing").bearer(CRM_TOKEN).send().await;
    assert_eq!(unknown.status, 404);
    let anonymous = gw.get("/v2/api/users").bearer("nope").send().await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(get(&gw, BATCH_TOKEN).await.status, 200);
    assert_eq!(get(&gw, BATCH_TOKEN).await.status, 429);

    let answer = admin(&gw, "GET", "/metrics").await;
    assert!(answer
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = answer.text();
    for expected in [
        r#"allo_gateway_requests_total{caller="crm-sync",team="sales",route="users.list",status="200"} 2"#,
        r#"allo_gateway_requests_total{caller="crm-sync",team="sales",route="unknown",status="404"} 1"#,
        r#"allo_gateway_requests_total{caller="-",team="-",route="-",status="401"} 1"#,
        r#"allo_gateway_requests_total{caller="batch",team="sales",route="users.list",status="429"} 1"#,
        r#"allo_gateway_request_duration_seconds_bucket{le="0.001",route="users.list"}"#,
        r#"allo_gateway_upstream_duration_seconds_count{route="users.list"} 3"#,
        r#"allo_gateway_validation_refusals_total{route="users.list",code="INVALID_QUERY_PARAMETER"} 1"#,
        "allo_gateway_in_flight_requests 0\n",
        "allo_gateway_reloads_total{result=\"error\"} 0\n",
        "allo_gateway_config_last_reload_successful 1\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let refusal = r#"allo_gateway_rate_limited_total{budget="caller",caller="batch",team="sales"} 1"#;
    assert!(text.contains(refusal), "missing {refusal:?} in:\n{text}");
    for secret in [key, CRM_TOKEN, BATCH_TOKEN, "KEYMARKER", "TOKENMARKER"] {
        assert!(!text.contains(secret), "{secret} in /metrics");
    }
    assert!(!text.contains(&sha256_hex(CRM_TOKEN)));
}

#[tokio::test]
async fn sighup_applies_a_new_config_and_refuses_a_broken_one() {
    let up = Capture::start().await;
    let v1 = server(&up.url())
        .team(Team::new("sales").key_env("OLD_KEY"))
        .caller(Caller::new("crm-sync", "sales").token(CRM_TOKEN));
    let cfg = v1.folder();
    let path = cfg.path();
    let env = [("OLD_KEY", "ak_live_OLD"), ("NEW_KEY", "ak_live_NEW")];
    let gw = GatewayProcess::start(cfg, &env);
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), "Api-Key ak_live_OLD");
    assert_eq!(get(&gw, REPORTING_TOKEN).await.status, 401);

    let v2 = v1
        .edit_team("sales", |t| t.key_env("NEW_KEY"))
        .caller(Caller::new("reporting", "sales").token(REPORTING_TOKEN));
    replace(&path, &v2.render());
    gw.signal("HUP");
    eventually(&gw, "the new caller", || async {
        get(&gw, REPORTING_TOKEN).await.status == 200
    })
    .await;
    assert_eq!(last_key(&up), "Api-Key ak_live_NEW");
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), "Api-Key ak_live_NEW");
    eventually(&gw, "the SIGHUP reload event", || async {
        events(&gw, "configuration reloaded")
            .iter()
            .any(|e| e["trigger"] == "SIGHUP")
    })
    .await;

    let broken = server(&up.url())
        .upstream("bogus", 1)
        .team(Team::new("sales").key_env("NEW_KEY"))
        .caller(Caller::new("crm-sync", "sales").token(CRM_TOKEN))
        .caller(Caller::new("stranger", "nobody").token(MARKETING_TOKEN));
    replace(&path, &broken.render());
    gw.signal("HUP");
    eventually(&gw, "the refused reload", || async {
        events(
            &gw,
            "configuration reload refused; the previous configuration keeps serving",
        )
        .iter()
        .any(|e| e["trigger"] == "SIGHUP")
    })
    .await;
    let problems = events(&gw, "configuration problem");
    for (path, message) in [("upstream.bogus", "unknown key"), ("callers[1].team", "nobody")] {
        assert!(
            problems
                .iter()
                .any(|p| p["path"] == path && p["problem"].as_str().unwrap().contains(message)),
            "problem at {path} not logged:\n{}",
            gw.log()
        );
    }
    // The previous config keeps serving.
    assert_eq!(get(&gw, REPORTING_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), "Api-Key ak_live_NEW");
    assert_eq!(get(&gw, MARKETING_TOKEN).await.status, 401);
    assert_eq!(admin(&gw, "GET", "/readyz").await.status, 200);
    let text = gw.metrics().await;
    assert!(text.contains(r#"allo_gateway_reloads_total{result="error"}"#), "{text}");
    assert!(text.contains(r#"allo_gateway_reloads_total{result="ok"}"#), "{text}");
    assert!(
        text.contains("allo_gateway_config_last_reload_successful 0\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_replaced_secret_file_is_picked_up_without_a_signal() {
    let up = Capture::start().await;
    let cfg = server(&up.url())
        .team(Team::new("sales").key_file("secrets/sales.key"))
        .team(Team::new("support").key_file("k8s/support.key"))
        .caller(Caller::new("crm-sync", "sales").token(CRM_TOKEN))
        .caller(Caller::new("support-bot", "support").token(SUPPORT_TOKEN))
        .folder();
    let sales_key = cfg.write("secrets/sales.key", "ak_file_V1\n");
    // A Kubernetes secret volume: the file is a symlink through `..data`, which the kubelet
    // re-points at a new timestamped folder in one rename.
    let k8s = cfg.dir.path().join("k8s");
    cfg.write("k8s/..2024_01_01_v1/support.key", "ak_k8s_V1\n");
    std::os::unix::fs::symlink("..2024_01_01_v1", k8s.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/support.key", k8s.join("support.key")).unwrap();
    let gw = GatewayProcess::start(cfg, &[]);

    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), "Api-Key ak_file_V1");
    replace(&sales_key, "ak_file_V2\n");
    eventually(&gw, "the new sales key upstream", || async {
        get(&gw, CRM_TOKEN).await.status == 200 && last_key(&up) == "Api-Key ak_file_V2"
    })
    .await;

    assert_eq!(get(&gw, SUPPORT_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), "Api-Key ak_k8s_V1");
    std::fs::create_dir(k8s.join("..2024_01_02_v2")).unwrap();
    std::fs::write(k8s.join("..2024_01_02_v2/support.key"), "ak_k8s_V2\n").unwrap();
    std::os::unix::fs::symlink("..2024_01_02_v2", k8s.join("..data_tmp")).unwrap();
    std::fs::rename(k8s.join("..data_tmp"), k8s.join("..data")).unwrap();
    eventually(&gw, "the swapped support key upstream", || async {
        get(&gw, SUPPORT_TOKEN).await.status == 200 && last_key(&up) == "Api-Key ak_k8s_V2"
    })
    .await;
    assert!(events(&gw, "configuration reloaded")
        .iter()
        .all(|e| e["trigger"] == "file change"));
    assert!(!gw.log().contains("ak_file_V") && !gw.log().contains("ak_k8s_V"));
}

fn revoked(captured: &Captured, revoked_key: &str) -> Canned {
    if captured.all("authorization") == [format!("Api-Key {revoked_key}")] {
        Canned {
            status: 401,
            body: r#"{"error":{"type":"authentication_error","code":"API_KEY_REVOKED","message":"this API key was revoked","retryable":false,"request_id":"req_000000000000"}}"#.into(),
            ..Canned::default()
        }
    } else {
        Canned::default()
    }
}

#[tokio::test]
async fn a_revoked_key_is_retried_with_the_fallback_which_then_serves() {
    const PRIMARY: &str = "ak_live_PRIMARY_KEYMARKER";
    const FALLBACK: &str = "ak_live_FALLBACK_KEYMARKER";
    let up = Capture::start().await;
    up.respond_with(|c| revoked(c, PRIMARY));
    let config = server(&up.url())
        .team(
            Team::new("sales")
                .key_env("PRIMARY")
                .set("api_key_fallback", support::config::env("FALLBACK"))
                .write(100),
        )
        .caller(Caller::new("crm-sync", "sales").token(CRM_TOKEN));
    let gw = config.start(&[("PRIMARY", PRIMARY), ("FALLBACK", FALLBACK)]);

    let body = r#"{"name":"Monday calls"}"#;
    let first = gw
        .post("/v2/api/dialing-queues/current")
        .bearer(CRM_TOKEN)
        .json(body)
        .send()
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let taken = up.taken();
    assert_eq!(taken.len(), 2, "one try with each key");
    assert_eq!(taken[0].all("authorization"), [format!("Api-Key {PRIMARY}")]);
    assert_eq!(taken[1].all("authorization"), [format!("Api-Key {FALLBACK}")]);
    assert_eq!(
        (&taken[0].body[..], &taken[1].body[..]),
        (body.as_bytes(), body.as_bytes())
    );
    assert_eq!(taken[0].all("x-request-id"), taken[1].all("x-request-id"));

    for _ in 0..3 {
        assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    }
    let taken = up.taken();
    assert_eq!(taken.len(), 5, "later requests go straight to the fallback");
    assert!(taken[2..]
        .iter()
        .all(|c| c.all("authorization") == [format!("Api-Key {FALLBACK}")]));

    eventually(&gw, "the switch warning", async || {
        !events(&gw, "Allo refused the team's key; switched to its other key").is_empty()
    })
    .await;
    let switches = events(&gw, "Allo refused the team's key; switched to its other key");
    assert_eq!(switches.len(), 1, "{}", gw.log());
    let switch = &switches[0];
    assert_eq!(switch["team"], "sales");
    assert_eq!(switch["code"], "API_KEY_REVOKED");
    assert_eq!(switch["from"], "api_key");
    assert_eq!(switch["to"], "api_key_fallback");
    assert_eq!(switch["from_fingerprint"], &sha256_hex(PRIMARY)[..8]);
    assert_eq!(switch["to_fingerprint"], &sha256_hex(FALLBACK)[..8]);
    assert!(!gw.log().contains("KEYMARKER"), "a key in the log:\n{}", gw.log());
    let text = gw.metrics().await;
    assert!(text.contains(r#"allo_gateway_key_switches_total{team="sales",to="api_key_fallback"} 1"#));

    // When the fallback is revoked too and the primary works again, the gateway goes back.
    up.respond_with(|c| revoked(c, FALLBACK));
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), format!("Api-Key {PRIMARY}"));
    assert_eq!(up.count(), 8);

    // Both refused: the caller gets Allo's own 401, unchanged.
    up.respond_with(|c| {
        let mut canned = revoked(c, PRIMARY);
        if canned.status == 200 {
            canned = revoked(c, FALLBACK);
        }
        canned
    });
    let refused = get(&gw, CRM_TOKEN).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["code"], "API_KEY_REVOKED");
    assert_eq!(refused.gateway_error(), None);
    // The warning is written as the answer goes out: give the log reader a moment.
    eventually(&gw, "the warning for two refused keys", async || {
        !events(&gw, "Allo refused both of the team's keys").is_empty()
    })
    .await;
}

/// A team file: team `id` with its key from `key_env` and the callers listed.
fn team_file(id: &str, key_env: &str, callers: &[Caller]) -> String {
    Team::new(id).key_env(key_env).file(callers)
}

fn sales_file(crm: Caller) -> String {
    team_file("sales", "SALES_KEY", &[crm])
}

fn crm() -> Caller {
    Caller::listed("crm-sync").token(CRM_TOKEN)
}

fn teams_dir_gateway(up: &Capture) -> (GatewayProcess, std::path::PathBuf) {
    let cfg = server(&up.url()).top("teams_dir", "teams").folder();
    cfg.write("teams/sales.toml", sales_file(crm()));
    let teams = cfg.dir.path().join("teams");
    let env = [
        ("SALES_KEY", "ak_SALES"),
        ("SUPPORT_KEY", "ak_SUPPORT"),
        ("MARKETING_KEY", "ak_MARKETING"),
    ];
    (GatewayProcess::start(cfg, &env), teams)
}

#[tokio::test]
async fn team_files_are_added_and_a_broken_one_is_refused() {
    let up = Capture::start().await;
    let (gw, teams) = teams_dir_gateway(&up);
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(get(&gw, SUPPORT_TOKEN).await.status, 401);

    std::fs::write(
        teams.join("support.toml"),
        team_file(
            "support",
            "SUPPORT_KEY",
            &[Caller::listed("support-bot").token(SUPPORT_TOKEN)],
        ),
    )
    .unwrap();
    eventually(&gw, "the added team's caller", || async {
        get(&gw, SUPPORT_TOKEN).await.status == 200
    })
    .await;
    assert_eq!(last_key(&up), "Api-Key ak_SUPPORT");

    let broken = sales_file(crm().set("bogus", true));
    replace(&teams.join("sales.toml"), &broken);
    eventually(&gw, "the broken team file in the log", || async {
        gw.log().contains("teams_dir/sales.toml:callers.0.bogus")
    })
    .await;
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), "Api-Key ak_SALES");
    assert_eq!(get(&gw, SUPPORT_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), "Api-Key ak_SUPPORT");
}

// A reload leaves a broken team file out (`config::load_skipping`) and applies the rest.
#[tokio::test]
async fn a_broken_team_file_does_not_hold_back_other_teams() {
    let up = Capture::start().await;
    let (gw, teams) = teams_dir_gateway(&up);
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);

    // In one go: sales breaks (a second caller with a bad hash), marketing arrives.
    let broken = team_file(
        "sales",
        "SALES_KEY",
        &[crm(), Caller::listed("crm-two").set("token_sha256", "not hex")],
    );
    replace(&teams.join("sales.toml"), &broken);
    replace(
        &teams.join("marketing.toml"),
        &team_file(
            "marketing",
            "MARKETING_KEY",
            &[Caller::listed("campaigns").token(MARKETING_TOKEN)],
        ),
    );
    eventually(&gw, "the new team's caller", || async {
        get(&gw, MARKETING_TOKEN).await.status == 200
    })
    .await;
    assert_eq!(last_key(&up), "Api-Key ak_MARKETING");
    // The broken file's previous version keeps serving.
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(last_key(&up), "Api-Key ak_SALES");
    // Logged with the reload, but read from the process's output on a thread of its own: it
    // may arrive after the new team's first answer.
    eventually(&gw, "the refused team file in the log", async || {
        events(&gw, "team file refused; its previous version keeps serving")
            .iter()
            .any(|e| e["file"] == "sales.toml" && e["path"] == "teams_dir/sales.toml:callers[1].token_sha256")
    })
    .await;
    let text = gw.metrics().await;
    assert!(
        text.contains(r#"allo_gateway_reloads_total{result="partial"}"#),
        "{text}"
    );
    assert!(text.contains("allo_gateway_team_files_refused 1\n"), "{text}");

    // Fixed: it applies, and nothing is refused any more.
    replace(&teams.join("sales.toml"), &sales_file(crm()));
    eventually(&gw, "the fixed team file", || async {
        gw.metrics().await.contains("allo_gateway_team_files_refused 0\n")
    })
    .await;
}

#[tokio::test]
async fn rate_limit_state_survives_a_reload() {
    let up = Capture::start().await;
    let gw = server(&up.url())
        .team(Team::new("sales").key_value("ak_VALUE"))
        .caller(Caller::new("batch", "sales").token(BATCH_TOKEN).rate(1, 1))
        .start(&[]);
    // Spend the caller's one-request burst right before a reload: the reload must not refill it.
    let mut refused = false;
    for _ in 0..5 {
        let reloads = events(&gw, "configuration reloaded").len();
        let started = Instant::now();
        assert_eq!(get(&gw, BATCH_TOKEN).await.status, 200);
        gw.signal("HUP");
        eventually(&gw, "the reload", || async {
            events(&gw, "configuration reloaded").len() > reloads
        })
        .await;
        // Only meaningful while the spent slot has not refilled on its own (1 s).
        let status = get(&gw, BATCH_TOKEN).await.status;
        if started.elapsed() < Duration::from_millis(900) {
            assert_eq!(status, 429, "the reload refilled the caller's budget");
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(
        refused,
        "no reload finished within the limiter's refill time:\n{}",
        gw.log()
    );
}

/// A reload that moves the upstream: a worker that serves no request after it still lets go of
/// the old state, and with it its pooled connection to the old upstream, which sees that
/// connection closed without another request being made.
#[tokio::test]
async fn an_idle_worker_closes_its_connection_to_a_replaced_upstream_at_the_reload() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let old = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let old_url = format!("http://{}", old.local_addr().unwrap());
    let (closed, closed_rx) = tokio::sync::oneshot::channel::<usize>();
    tokio::spawn(async move {
        let (mut socket, _) = old.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while support::raw::find(&got, b"\r\n\r\n").is_none() {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a request");
            got.extend_from_slice(&buf[..n]);
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        socket.write_all(answer).await.unwrap();
        // Kept alive: the next read ends only when the gateway closes the connection.
        let _ = closed.send(socket.read(&mut buf).await.unwrap_or(0));
    });
    let new_up = Capture::start().await;
    let config = |url: &str| {
        server(url)
            .team(Team::new("sales").key_value("ak_live_idle"))
            .caller(Caller::new("crm-sync", "sales").token(CRM_TOKEN))
    };
    let cfg = config(&old_url).folder();
    let path = cfg.path();
    let gw = GatewayProcess::start(cfg, &[("ALLO_GATEWAY_WORKERS", "1")]);
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);

    replace(&path, &config(&new_up.url()).render());
    gw.signal("HUP");
    eventually(&gw, "the reload", || async {
        !events(&gw, "configuration reloaded").is_empty()
    })
    .await;
    let read = tokio::time::timeout(Duration::from_secs(10), closed_rx)
        .await
        .expect("the old upstream's connection closed within 10 s of the reload, with no request");
    assert_eq!(read.unwrap(), 0, "the gateway sent more on the old connection");
    assert_eq!(new_up.count(), 0);
    assert_eq!(get(&gw, CRM_TOKEN).await.status, 200);
    assert_eq!(new_up.count(), 1);
}
