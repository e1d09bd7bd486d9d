//! The command line: `check` lists every problem with its key path and exits 78, `run` exits
//! 78 before binding, `token` prints a line that authenticates when pasted into a config;
//! `spec diff` exits as diff(1) does (0 equal, 1 different) and 78 when a side cannot be read,
//! `spec check` names every problem of an API description with its JSON pointer.

use crate::support;

use support::process::run_to_end;
use support::{Caller, Capture, Config, Team};

#[test]
fn check_lists_every_problem_and_exits_78() {
    let cfg = Config::empty()
        .server("listen", "127.0.0.1:0")
        .server("header_read_timeout", "ten seconds")
        .upstream("url", "sandbox")
        .team(Team::new("sales").key_value("ak_test").set("colour", "blue"))
        .caller(Caller::new("crm", "marketing").set("token_sha256", "0".repeat(64)))
        .folder();
    let (code, out, err) = run_to_end(&["check", "--config", cfg.path().to_str().unwrap()], &[]);
    assert_eq!(code, 78, "{out}{err}");
    let text = format!("{out}{err}");
    assert!(text.contains("server.header_read_timeout"), "{text}");
    assert!(
        text.contains("teams.0.colour") || text.contains("teams[0].colour"),
        "{text}"
    );
    assert!(text.contains("callers[0].team"), "{text}");
    assert!(text.contains("unknown key"), "{text}");
    assert!(text.contains("no team with id \"marketing\""), "{text}");

    // `run` refuses the same config before binding anything.
    let (code, _, err) = run_to_end(&["run", "--config", cfg.path().to_str().unwrap()], &[]);
    assert_eq!(code, 78, "{err}");
}

#[test]
fn check_reports_unresolvable_secrets_without_printing_them() {
    let cfg = Config::empty()
        .upstream("url", "sandbox")
        .team(Team::new("a").key_env("ALLO_TEST_UNSET_VAR_FOR_CHECK"))
        .team(Team::new("b").key_file("missing.key"))
        .folder();
    let (code, out, err) = run_to_end(&["check", "--config", cfg.path().to_str().unwrap()], &[]);
    assert_eq!(code, 78);
    let text = format!("{out}{err}");
    assert!(
        text.contains("teams[0].api_key") && text.contains("ALLO_TEST_UNSET_VAR_FOR_CHECK"),
        "{text}"
    );
    assert!(
        text.contains("teams[1].api_key") && text.contains("missing.key"),
        "{text}"
    );
}

#[test]
fn check_accepts_the_shipped_configs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (code, out, err) = run_to_end(&["check", "--config", &format!("{root}/config/sandbox.toml")], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("teams:"), "{out}");
    let (code, out, err) = run_to_end(
        &["check", "--config", &format!("{root}/config/example.toml")],
        &[("ALLO_KEY_SALES", "ak_live_x"), ("ALLO_KEY_SUPPORT", "ak_live_y")],
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn missing_config_is_a_config_error() {
    let (code, _, err) = run_to_end(&["check"], &[]);
    assert_eq!(code, 78);
    assert!(err.contains("--config"), "{err}");
    let (code, out, _) = run_to_end(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn a_printed_token_line_authenticates() {
    let (code, out, _) = run_to_end(&["token"], &[]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    let token = lines[1].trim();
    assert!(token.len() >= 43, "32 bytes of entropy, base64url: {token}");
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let config_line = lines.iter().find(|l| l.starts_with("token_sha256 = ")).unwrap();
    // The line is a TOML key and a quoted hash, pasted as is into a caller.
    let hash = config_line.split('"').nth(1).unwrap();
    assert_eq!(*config_line, format!("token_sha256 = \"{hash}\""));

    let up = Capture::start().await;
    let gw = Config::new(&up.url())
        .team(Team::new("t").key_value("ak_t"))
        .caller(Caller::new("svc", "t").set("token_sha256", hash))
        .start(&[]);
    let r = gw.get("/v2/api/me").bearer(token).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.taken()[0].all("authorization"), vec!["Api-Key ak_t"]);
}

#[tokio::test]
async fn one_worker_serves_and_zero_workers_is_refused() {
    let up = Capture::start().await;
    let config = Config::new(&up.url())
        .team(Team::new("t").key_value("ak_t"))
        .caller(Caller::new("svc", "t").token("one-worker-token"));

    let cfg = config.folder();
    let (code, _, err) = run_to_end(
        &["--workers", "0", "check", "--config", cfg.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--workers"), "{err}");

    // One worker is a current-thread runtime: anything that needs a second thread would hang
    // or panic here.
    let gw = config.start(&[("ALLO_GATEWAY_WORKERS", "1")]);
    for _ in 0..3 {
        let r = gw.get("/v2/api/me").bearer("one-worker-token").send().await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(up.taken().len(), 3);
}

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn temp(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

#[test]
fn diff_exit_codes_follow_diff_1() {
    let old = data("openapi-2026-08.json");
    let (code, out, err) = run_to_end(&["spec", "diff", &old, &old], &[]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let (code, out, err) = run_to_end(&["spec", "diff", "built-in", "built-in"], &[]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");

    let (code, out, err) = run_to_end(&["spec", "diff", &old, "built-in"], &[]);
    assert_eq!(code, 1, "{err}");
    for line in [
        "~ PUT /v2/api/conversations/{contact_number}/action: scope CONVERSATIONS_READ -> CONVERSATIONS_WRITE",
        "+ POST /v2/api/conversations/{contact_number}/notes (createConversationNote, scope NOTES_WRITE",
        "+ POST /v2/api/threads/{id}/resolve (resolveThread, scope THREADS_WRITE",
        "+ PUT /v2/api/conversations/{contact_number}/pin (pinConversation, scope CONVERSATIONS_WRITE",
        "~ GET /v2/api/conversations: query parameter pinned added (loosened)",
        "~ POST /v2/api/dialing-queues/current: body property user_pid removed (tightened)",
        "- POST /v2/api/crm/deals\n",
        "- PATCH /v2/api/crm/deals/{id}\n",
        "+ POST /v2/api/partner/esims/{id}/topups (buyPartnerEsimTopup, scope PARTNER, requires header Idempotency-Key)",
        "NOTE_CONTENT_TOO_LONG",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    // The other way round, what was added is removed.
    let (code, back, _) = run_to_end(&["spec", "diff", "built-in", &old], &[]);
    assert_eq!(code, 1);
    assert!(
        back.contains("- PUT /v2/api/conversations/{contact_number}/pin\n"),
        "{back}"
    );
    assert!(
        back.contains("+ POST /v2/api/crm/deals (crm.createDeal, scope CRM_WRITE)"),
        "{back}"
    );
}

#[test]
fn diff_with_an_unreadable_or_invalid_side_exits_78() {
    let (code, out, err) = run_to_end(&["spec", "diff", "/nonexistent/openapi.json", "built-in"], &[]);
    assert_eq!((code, out.as_str()), (78, ""), "{err}");
    assert!(
        err.contains("/nonexistent/openapi.json") && err.contains("cannot read"),
        "{err}"
    );

    let (_dir, broken) = temp("broken.json", "{\"openapi\": \"3.1.0\", \"paths\": {");
    let (code, _, err) = run_to_end(&["spec", "diff", "built-in", &broken], &[]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("does not parse"), "{err}");

    // Both sides' problems, in one run.
    let (_dir2, other) = temp("other.json", "[1, 2]");
    let (code, _, err) = run_to_end(&["spec", "diff", &other, &broken], &[]);
    assert_eq!(code, 78);
    assert!(err.contains("other.json") && err.contains("broken.json"), "{err}");
}

#[test]
fn check_prints_ok_or_every_problem_with_its_pointer() {
    let old = data("openapi-2026-08.json");
    let (code, out, err) = run_to_end(&["spec", "check", &old], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("{old}: OK, 57 operations (sha256 ")), "{out}");

    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&old).unwrap()).unwrap();
    doc["paths"]["/v2/api/webhooks"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
        ["url"] = serde_json::json!({"$ref": "#/components/schemas/Nowhere"});
    doc["paths"]["/v2/api/tags"]["get"]["x-rate-limit-class"] = "fast".into();
    let (_dir, bad) = temp("bad.json", &doc.to_string());
    let (code, out, err) = run_to_end(&["spec", "check", &bad], &[]);
    assert_eq!((code, out.as_str()), (78, ""), "{err}");
    assert!(
        err.contains(
            "/paths/~1v2~1api~1webhooks/post/requestBody/content/application~1json/schema/properties/url/$ref: \
             $ref \"#/components/schemas/Nowhere\" points to nothing"
        ),
        "{err}"
    );
    assert!(err.contains("/paths/~1v2~1api~1tags/get/x-rate-limit-class"), "{err}");
    assert!(err.contains("(2 problem(s))"), "{err}");

    // A schema that parses but does not compile is named too.
    doc["paths"]["/v2/api/webhooks"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
        ["url"] = serde_json::json!({"type": "string", "pattern": "(unclosed"});
    doc["paths"]["/v2/api/tags"]["get"]["x-rate-limit-class"] = "read".into();
    let (_dir, bad) = temp("bad.json", &doc.to_string());
    let (code, _, err) = run_to_end(&["spec", "check", &bad], &[]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("/paths/~1v2~1api~1webhooks/post/requestBody"), "{err}");
}

/// `routes` prints the table in force: one line per operation with its id, scope, class and
/// mode, and where each part came from (the document, the built-in rules, the operator's file).
#[test]
fn routes_prints_the_effective_table_and_its_sources() {
    let cfg = Config::empty()
        .upstream("url", "sandbox")
        .api("rules", "rules.toml")
        .api("validation", "report")
        .team(Team::new("t").key_env("ROUTES_TEST_KEY"))
        .caller(Caller::new("c", "t").token("tok").set("validation", "enforce"))
        .folder();
    cfg.write("rules.toml", "[operations.\"GET /v2/api/tags\"]\nblocked = true\n");
    let path = cfg.path();
    let (code, out, err) = run_to_end(
        &["routes", "--config", path.to_str().unwrap()],
        &[("ROUTES_TEST_KEY", "ak_routes_marker_secret")],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("# API description: built in"), "{out}");
    let line = |template: &str, method: &str| {
        out.lines()
            .find(|l| l.starts_with(method) && l.split_whitespace().nth(1) == Some(template))
            .unwrap_or_else(|| panic!("no {method} {template} in\n{out}"))
            .to_string()
    };
    let action = line("/v2/api/conversations/{contact_number}/action", "PUT");
    assert!(
        action.contains("CONVERSATIONS_WRITE") && action.contains("write") && action.contains("report"),
        "{action}"
    );
    assert!(line("/v2/api/tags", "GET").ends_with("blocked"), "{out}");
    assert!(line("/v2/api/me", "GET").contains("(any key)"), "{out}");
    assert!(out.contains("rename: user_pid -> user_id: built-in rules"), "{out}");
    assert!(out.contains("blocked: ") && out.contains("rules.toml"), "{out}");
    assert!(out.contains("requires idempotency-key"), "{out}");
    assert!(out.contains("callers with their own validation mode: c"), "{out}");
    assert!(
        out.lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
            .count()
            == 90,
        "{out}"
    );
    assert!(!out.contains("ak_routes_marker_secret") && !err.contains("ak_routes_marker_secret"));
}
