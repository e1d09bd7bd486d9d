//! The command line: `check` lists every problem with its key path and exits 78, `run` exits
//! 78 before binding, `token` prints a line that authenticates when pasted into a config.

mod support;

use support::process::run_to_end;
use support::{send, Capture, GatewayProcess, TestConfig};

#[test]
fn check_lists_every_problem_and_exits_78() {
    let cfg = TestConfig::new(
        r#"
[server]
listen = "127.0.0.1:0"
header_read_timeout = "ten seconds"
[upstream]
url = "sandbox"
[[teams]]
id = "sales"
api_key = { value = "ak_test" }
colour = "blue"
[[callers]]
id = "crm"
team = "marketing"
token_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#,
    );
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
    let cfg = TestConfig::new(
        r#"
[upstream]
url = "sandbox"
[[teams]]
id = "a"
api_key = { env = "ALLO_TEST_UNSET_VAR_FOR_CHECK" }
[[teams]]
id = "b"
api_key = { file = "missing.key" }
"#,
    );
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

    let up = Capture::start().await;
    let cfg = TestConfig::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[upstream]\nurl = \"{}\"\n[[teams]]\nid = \"t\"\napi_key = {{ value = \"ak_t\" }}\n[[callers]]\nid = \"svc\"\nteam = \"t\"\n{config_line}\n",
        up.url()
    ));
    let gw = GatewayProcess::start(cfg, &[]);
    let r = send(
        gw.addr,
        "GET",
        "/v2/api/me",
        &[("authorization", &format!("Bearer {token}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.taken()[0].all("authorization"), vec!["Api-Key ak_t"]);
}

#[tokio::test]
async fn one_worker_serves_and_zero_workers_is_refused() {
    let up = Capture::start().await;
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[upstream]\nurl = \"{}\"\n[[teams]]\nid = \"t\"\napi_key = {{ value = \"ak_t\" }}\n[[callers]]\nid = \"svc\"\nteam = \"t\"\ntoken_sha256 = \"{}\"\n",
        up.url(),
        support::sha256_hex("one-worker-token")
    );

    let cfg = TestConfig::new(&text);
    let (code, _, err) = run_to_end(
        &["--workers", "0", "check", "--config", cfg.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--workers"), "{err}");

    // One worker is a current-thread runtime: anything that needs a second thread would hang
    // or panic here.
    let gw = GatewayProcess::start(TestConfig::new(&text), &[("ALLO_GATEWAY_WORKERS", "1")]);
    for _ in 0..3 {
        let r = send(
            gw.addr,
            "GET",
            "/v2/api/me",
            &[("authorization", "Bearer one-worker-token")],
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(up.taken().len(), 3);
}
