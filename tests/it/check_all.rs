//! `check` names every problem of a config in one report, including the team keys that cannot
//! be read: the running state resolves secrets only from a config that is otherwise valid, so
//! without this an operator would fix the file, run `check` again, and only then learn of the
//! unset variable.

use crate::support;

use support::process::run_to_end;
use support::{sha256_hex, TestConfig};

const UNSET: &str = "ALLO_GATEWAY_CHECK_ALL_SURELY_UNSET";

fn check(config: &TestConfig) -> (i32, String) {
    let path = config.path();
    let (code, out, err) = run_to_end(&["check", "--config", path.to_str().unwrap()], &[]);
    (code, format!("{out}{err}"))
}

/// The problem lines of the report (`  - path: message`).
fn problems(report: &str) -> Vec<&str> {
    report
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- "))
        .collect()
}

#[test]
fn a_bad_duration_a_bad_hash_and_an_unset_key_are_reported_together() {
    let config = TestConfig::new(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
idle_timeout = "a while"
[upstream]
url = "sandbox"
[[teams]]
id = "sales"
api_key = {{ env = "{UNSET}" }}
[[callers]]
id = "crm"
team = "sales"
token_sha256 = "not-hex"
"#
    ));
    let (code, report) = check(&config);
    assert_eq!(code, 78, "{report}");
    let problems = problems(&report);
    assert_eq!(problems.len(), 3, "{report}");
    assert!(problems[0].starts_with("server.idle_timeout: "), "{report}");
    assert!(problems[1].starts_with("callers[0].token_sha256: "), "{report}");
    assert!(
        problems[2].starts_with("teams[0].api_key: ") && problems[2].contains(UNSET),
        "{report}"
    );
}

#[test]
fn a_key_whose_entry_is_wrong_is_reported_once() {
    // Both env and file: the entry itself is the problem; it is not also "unreadable".
    let config = TestConfig::new(&format!(
        r#"
[upstream]
url = "sandbox"
idle = 1
[[teams]]
id = "sales"
api_key = {{ env = "{UNSET}", file = "missing.key" }}
[[teams]]
id = "support"
api_key = {{ file = "missing.key" }}
[[callers]]
id = "crm"
team = "sales"
token_sha256 = "{}"
"#,
        sha256_hex("tok")
    ));
    let (code, report) = check(&config);
    assert_eq!(code, 78, "{report}");
    let problems = problems(&report);
    assert_eq!(problems.len(), 3, "{report}");
    assert!(problems.contains(&"upstream.idle: unknown key"), "{report}");
    assert_eq!(
        problems.iter().filter(|p| p.starts_with("teams[0].api_key: ")).count(),
        1,
        "{report}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("teams[1].api_key: ") && p.contains("missing.key")),
        "{report}"
    );
}

#[test]
fn a_config_that_is_valid_but_for_its_keys_is_reported_as_before() {
    let config = TestConfig::new(&format!(
        r#"
[upstream]
url = "sandbox"
[[teams]]
id = "sales"
api_key = {{ env = "{UNSET}" }}
api_key_fallback = {{ file = "missing.key" }}
[[callers]]
id = "crm"
team = "sales"
token_sha256 = "{}"
"#,
        sha256_hex("tok")
    ));
    let (code, report) = check(&config);
    assert_eq!(code, 78, "{report}");
    let problems = problems(&report);
    assert_eq!(problems.len(), 2, "{report}");
    assert!(problems[0].starts_with("teams[0].api_key: "), "{report}");
    assert!(problems[1].starts_with("teams[0].api_key_fallback: "), "{report}");
}
