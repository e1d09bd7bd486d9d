//! `[upstream] verify_keys` end to end, on the real binary in front of a scripted upstream:
//! the gateway asks `GET /v2/api/me` with each team's key at start, on its interval and after
//! a reload; `/readyz?verbose` and `allo_gateway_team_key_valid` show what Allo answered
//! (valid with scopes, invalid on 401, unknown when Allo fails or cannot be reached, which
//! never makes the gateway unready); a caller scope the key lacks and an endpoint the route
//! table does not know are warned about; the key never reaches the log. Waits poll with a
//! deadline.

use crate::support;

use support::capture::Captured;
use support::observe::events as all_events;
use support::{eventually, Caller, Canned, Capture, Config, GatewayProcess, Team};

const KEY: &str = "ak_live_VERIFY_KEYMARKER_0123456789";
const CRM_TOKEN: &str = "tok_verify_crm_TOKENMARKER_0123456789";

/// One team (`sales`, key from `VERIFY_KEY`) and one caller limited to two scopes; the key is
/// not checked.
fn config(url: &str) -> Config {
    Config::new(url)
        .admin()
        .request_timeout("2s")
        .team(Team::new("sales").key_env("VERIFY_KEY"))
        .caller(
            Caller::new("crm-sync", "sales")
                .token(CRM_TOKEN)
                .scopes(&["USERS_READ", "DIALING_QUEUE_READ_WRITE"]),
        )
}

/// `config` with the key checked every `interval`.
fn verifying(url: &str, interval: &str) -> Config {
    config(url)
        .upstream("verify_keys", true)
        .upstream("verify_interval", interval)
}

fn start(config: &Config) -> GatewayProcess {
    config.start(&[("VERIFY_KEY", KEY)])
}

/// Allo's description of a key with one scope, one endpoint the table knows (as a template)
/// and one it does not, in the `{"data": ...}` wrapper.
fn described() -> Canned {
    Canned {
        body: r#"{"data":{"api_key_id":"key_123","scopes":["USERS_READ"],
            "endpoints":[{"method":"GET","path":"/v2/api/users/{id}","scope":"USERS_READ"},
                         {"method":"GET","path":"/v2/api/holograms","scope":"USERS_READ"}],
            "team":{"id":"team_1","name":"Sales"},
            "rate_limits":{"read_per_second":20,"write_per_second":5}}}"#
            .into(),
        ..Canned::default()
    }
}

fn refused() -> Canned {
    Canned {
        status: 401,
        body: r#"{"error":{"type":"authentication_error","code":"API_KEY_INVALID","message":"invalid key"}}"#.into(),
        ..Canned::default()
    }
}

fn failing() -> Canned {
    Canned {
        status: 503,
        body: r#"{"error":{"type":"server_error","code":"SERVICE_UNAVAILABLE"}}"#.into(),
        ..Canned::default()
    }
}

fn me_requests(up: &Capture) -> Vec<Captured> {
    up.taken().into_iter().filter(|c| c.target == "/v2/api/me").collect()
}

async fn admin(gw: &GatewayProcess, path: &str) -> support::client::Answer {
    gw.admin_request("GET", path).send().await
}

async fn detail(gw: &GatewayProcess) -> serde_json::Value {
    let answer = admin(gw, "/readyz?verbose").await;
    assert_eq!(answer.header("content-type").as_deref(), Some("application/json"));
    answer.json()
}

/// JSON log events whose message starts with `message`.
fn events(gw: &GatewayProcess, message: &str) -> Vec<serde_json::Value> {
    all_events(gw)
        .into_iter()
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with(message)))
        .collect()
}

/// A gateway checking its key every 200 ms, once Allo has described the key as valid.
async fn described_as_valid(up: &Capture) -> GatewayProcess {
    up.set(described());
    let gw = start(&verifying(&up.url(), "200ms"));
    eventually(&gw, "the key reported valid", || async {
        detail(&gw).await["teams"]["sales"]["key"] == "valid"
    })
    .await;
    gw
}

fn assert_no_secret(gw: &GatewayProcess) {
    let log = gw.log();
    for secret in [KEY, "KEYMARKER", CRM_TOKEN, "TOKENMARKER"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[tokio::test]
async fn a_valid_key_is_described_on_every_interval_and_its_gaps_are_warned() {
    let up = Capture::start().await;
    let gw = described_as_valid(&up).await;
    let asked = me_requests(&up);
    let first = &asked[0];
    assert_eq!(first.method, "GET");
    assert_eq!(first.all("authorization"), [format!("Api-Key {KEY}")]);
    assert_eq!(first.all("host"), [up.addr.to_string()]);
    let request_id = first.all("x-request-id");
    assert!(
        request_id.len() == 1 && request_id[0].starts_with("req_"),
        "{request_id:?}"
    );

    let report = detail(&gw).await;
    assert_eq!(report["ready"], true);
    assert_eq!(report["verify_keys"], true);
    assert_eq!(report["teams"]["sales"]["scopes"], serde_json::json!(["USERS_READ"]));
    assert!(report["teams"]["sales"]["checked_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    // Probes keep their one-word answer.
    let plain = admin(&gw, "/readyz").await;
    assert_eq!((plain.status, plain.text().as_str()), (200, "ready\n"));
    let text = gw.metrics().await;
    assert!(
        text.contains("allo_gateway_team_key_valid{team=\"sales\"} 1\n"),
        "{text}"
    );

    eventually(&gw, "the interval's checks", || async { me_requests(&up).len() >= 3 }).await;
    let lacking = events(&gw, "a caller is configured with a scope its team's Allo key lacks");
    assert!(!lacking.is_empty(), "no scope warning:\n{}", gw.log());
    for warning in &lacking {
        assert_eq!(warning["level"], "WARN");
        assert_eq!(
            (&warning["caller"], &warning["team"], &warning["scope"]),
            (
                &serde_json::json!("crm-sync"),
                &serde_json::json!("sales"),
                &serde_json::json!("DIALING_QUEUE_READ_WRITE")
            )
        );
    }
    let drift = events(&gw, "drift:");
    assert!(!drift.is_empty(), "no drift warning:\n{}", gw.log());
    assert!(drift
        .iter()
        .all(|d| d["path"] == "/v2/api/holograms" && d["method"] == "GET" && d["teams"] == "sales"));
    // One warning of each per round, not per check or per endpoint.
    let rounds = me_requests(&up).len();
    assert!(
        lacking.len() <= rounds && drift.len() <= rounds,
        "{lacking:?} {drift:?}"
    );

    // Serving goes on, on the same budget.
    assert_eq!(gw.get("/v2/api/users").bearer(CRM_TOKEN).send().await.status, 200);
    assert_no_secret(&gw);
}

#[tokio::test]
async fn a_refused_key_is_invalid_and_a_failing_allo_leaves_it_unknown() {
    let up = Capture::start().await;
    let gw = described_as_valid(&up).await;

    // Allo fails: the state is unknown, Allo's last answer is kept beside the error.
    up.set(failing());
    eventually(&gw, "the key reported unknown", || async {
        detail(&gw).await["teams"]["sales"]["key"] == "unknown"
    })
    .await;
    let team = &detail(&gw).await["teams"]["sales"];
    assert_eq!(team["last_known"], "valid");
    assert_eq!(team["scopes"], serde_json::json!(["USERS_READ"]));
    assert!(team["error"].as_str().is_some_and(|e| e.contains("503")), "{team}");
    assert!(gw
        .metrics()
        .await
        .contains("allo_gateway_team_key_valid{team=\"sales\"} -1\n"));
    assert_eq!(admin(&gw, "/readyz").await.status, 200);

    up.set(refused());
    eventually(&gw, "the key reported invalid", || async {
        detail(&gw).await["teams"]["sales"]["key"] == "invalid"
    })
    .await;
    let text = gw.metrics().await;
    assert!(
        text.contains("allo_gateway_team_key_valid{team=\"sales\"} 0\n"),
        "{text}"
    );
    let refusals = events(&gw, "Allo refuses the team's key");
    assert!(
        refusals
            .iter()
            .any(|e| e["code"] == "API_KEY_INVALID" && e["status"] == 401),
        "{}",
        gw.log()
    );
    assert_eq!(admin(&gw, "/readyz").await.text(), "ready\n");
    assert_no_secret(&gw);
}

#[tokio::test]
async fn an_unreachable_allo_leaves_the_gateway_serving() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = start(&verifying(&format!("http://{closed}"), "200ms"));
    eventually(&gw, "the failed check", || async {
        !events(&gw, "cannot check the team's key with Allo").is_empty()
    })
    .await;
    let plain = admin(&gw, "/readyz").await;
    assert_eq!((plain.status, plain.text().as_str()), (200, "ready\n"));
    let report = detail(&gw).await;
    assert_eq!(report["ready"], true);
    assert_eq!(report["teams"]["sales"]["key"], "unknown");
    assert_eq!(report["teams"]["sales"]["checked_at"], serde_json::Value::Null);
    assert!(report["teams"]["sales"]["error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    assert!(gw
        .metrics()
        .await
        .contains("allo_gateway_team_key_valid{team=\"sales\"} -1\n"));
    let warning = &events(&gw, "cannot check the team's key with Allo")[0];
    assert_eq!((&warning["level"], &warning["team"]), (&"WARN".into(), &"sales".into()));
    assert_no_secret(&gw);
}

#[tokio::test]
async fn the_key_is_asked_about_again_after_each_reload() {
    let up = Capture::start().await;
    up.set(described());
    let cfg = config(&up.url()).folder();
    let path = cfg.path();
    let gw = GatewayProcess::start(cfg, &[("VERIFY_KEY", KEY)]);

    // Off by default: nothing is asked, and the detail says so.
    let report = detail(&gw).await;
    assert_eq!(report["verify_keys"], false);
    assert_eq!(report["teams"]["sales"]["key"], "unknown");
    assert!(!gw.metrics().await.contains("team_key_valid{"));

    // On, with an interval too long to matter here: each reload asks once more.
    std::fs::write(&path, verifying(&up.url(), "1h").render()).unwrap();
    gw.signal("HUP");
    eventually(&gw, "the check after the first reload", || async {
        detail(&gw).await["teams"]["sales"]["key"] == "valid"
    })
    .await;
    let before = me_requests(&up).len();
    let reloads = events(&gw, "configuration reloaded").len();
    gw.signal("HUP");
    eventually(&gw, "the second reload", || async {
        events(&gw, "configuration reloaded").len() > reloads
    })
    .await;
    eventually(&gw, "the check after the second reload", || async {
        me_requests(&up).len() > before
    })
    .await;
    assert!(me_requests(&up)
        .iter()
        .all(|c| c.all("authorization") == [format!("Api-Key {KEY}")]));
    assert_no_secret(&gw);
}

#[tokio::test]
async fn a_team_without_read_budget_is_skipped_not_waited_for() {
    let up = Capture::start().await;
    // Allo's 429 holds the team's read budget for half a minute (`ratelimit`).
    up.set(Canned {
        status: 429,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("retry-after".into(), "30".into()),
        ],
        body: r#"{"error":{"type":"rate_limit_error","code":"RATE_LIMIT_EXCEEDED"}}"#.into(),
        ..Canned::default()
    });
    let cfg = config(&up.url()).folder();
    let path = cfg.path();
    let env = [
        ("VERIFY_KEY", KEY),
        ("ALLO_GATEWAY_LOG", "info,allo_gateway::keycheck=debug"),
    ];
    let gw = GatewayProcess::start(cfg, &env);
    assert_eq!(gw.get("/v2/api/users").bearer(CRM_TOKEN).send().await.status, 429);

    up.set(described());
    std::fs::write(&path, verifying(&up.url(), "1h").render()).unwrap();
    gw.signal("HUP");
    eventually(&gw, "the skipped check", || async {
        events(&gw, "no budget or slot to spare")
            .iter()
            .any(|e| e["team"] == "sales")
    })
    .await;
    assert!(me_requests(&up).is_empty(), "{:?}", me_requests(&up));
    let report = detail(&gw).await;
    assert_eq!((&report["ready"], &report["verify_keys"]), (&true.into(), &true.into()));
    assert_eq!(report["teams"]["sales"]["key"], "unknown");
    assert!(!gw.metrics().await.contains("team_key_valid{"));
    assert_no_secret(&gw);
}
