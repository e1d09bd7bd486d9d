//! The secrets a config names, tried the way the running state will read them. The state
//! resolves them only from a config that is otherwise valid; `check` uses this to name an
//! unreadable key in the same report as every other problem, so that one pass fixes all.

use super::{Config, Problem};

/// Every team key (`api_key`, `api_key_fallback`) that cannot be read now, under its key path.
/// A key whose own entry is wrong (named in `known`) is left out: its problem is already told.
pub fn unresolvable_secrets(config: &Config, known: &[Problem]) -> Vec<Problem> {
    let mut found = Vec::new();
    for team in &config.teams {
        let sep = if team.origin.ends_with(':') { "" } else { "." };
        let keys = [
            Some(("api_key", &team.api_key)),
            team.api_key_fallback.as_ref().map(|s| ("api_key_fallback", s)),
        ];
        for (name, source) in keys.into_iter().flatten() {
            let path = format!("{}{sep}{name}", team.origin);
            if known.iter().any(|p| p.path == path) {
                continue;
            }
            if let Err(e) = source.resolve() {
                found.push(Problem {
                    path,
                    message: e.to_string(),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_unreadable_key_once_and_never_its_value() {
        let config = super::super::from_str(
            r#"
[[teams]]
id = "a"
api_key = { env = "ALLO_GATEWAY_TEST_SURELY_UNSET" }
api_key_fallback = { value = "ak_fine" }
[[teams]]
id = "b"
api_key = { value = "bad\u0001key" }
"#,
            std::path::Path::new("."),
        )
        .unwrap();
        let found = unresolvable_secrets(&config, &[]);
        let paths: Vec<_> = found.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["teams[0].api_key", "teams[1].api_key"]);
        assert!(found[0].message.contains("ALLO_GATEWAY_TEST_SURELY_UNSET"));
        assert!(!found[1].message.contains("bad"), "{}", found[1].message);

        let known = [Problem {
            path: "teams[0].api_key".into(),
            message: "give exactly one of env, file or value".into(),
        }];
        assert_eq!(unresolvable_secrets(&config, &known).len(), 1);
    }
}
