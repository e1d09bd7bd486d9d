//! Configuration: TOML text -> raw serde structs (`raw`) -> a validated, typed `Config`.
//! Validation collects EVERY problem, each with its TOML key path, before returning, so an
//! operator fixes a config in one pass. Secrets are only described here (`SecretSource`);
//! they are resolved when the config is turned into a running state (`state.rs`).

pub mod defaults;
#[cfg(test)]
mod example_keys;
mod fields;
mod forward;
pub(crate) mod raw;
mod secrets;
mod typed;
mod walk;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

pub use forward::{stripped_by_default, ForwardHeaders};
pub use secrets::unresolvable_secrets;
pub use typed::*;

/// One thing wrong with a config, located by its TOML key path (e.g. `callers[1].team`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a config. Never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the configuration", self.problems.len())?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// Collects problems while walking a raw config.
#[derive(Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Fails with what was collected; used when no value can be built at all.
    pub(crate) fn into_result_err<T>(mut self) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            self.push("(config)", "could not be loaded");
        }
        Err(ConfigError { problems: self.0 })
    }

    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

/// Reads and validates the config file at `path` (and its `teams_dir`, if any).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_skipping(path, &BTreeSet::new())
}

/// Like `load`, but leaves out the files of `teams_dir` named in `skip` (file names, e.g.
/// `sales.toml`): a reload refuses a broken team file this way without refusing the others.
pub fn load_skipping(path: &Path, skip: &BTreeSet<String>) -> Result<Config, ConfigError> {
    let (config, problems) = walk_file(path, skip);
    match config {
        Some(config) => problems.into_result(config),
        None => problems.into_result_err(),
    }
}

/// The config at `path` as far as it goes, for `check`: the typed config with a default in
/// place of each bad value (None when the text is not TOML of the right shape) and every
/// problem found on the way. Nothing built from it is fit to serve unless the list is empty.
pub fn load_as_far_as_it_goes(path: &Path) -> (Option<Config>, Vec<Problem>) {
    let (config, problems) = walk_file(path, &BTreeSet::new());
    (config, problems.0)
}

fn walk_file(path: &Path, skip: &BTreeSet<String>) -> (Option<Config>, Problems) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            let mut problems = Problems::default();
            problems.push(path.display().to_string(), format!("cannot read the config file: {e}"));
            return (None, problems);
        }
    };
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    walk_text(&text, &base_dir, skip)
}

/// Validates config text; relative paths are taken from `base_dir`.
pub fn from_str(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
    let (config, problems) = walk_text(text, base_dir, &BTreeSet::new());
    match config {
        Some(config) => problems.into_result(config),
        None => problems.into_result_err(),
    }
}

fn walk_text(text: &str, base_dir: &Path, skip: &BTreeSet<String>) -> (Option<Config>, Problems) {
    let mut problems = Problems::default();
    let (raw, unknown) = match raw::parse::<raw::RawConfig>(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            problems.push(toml_error_path(&e, text), e.message().to_string());
            return (None, problems);
        }
    };
    for key in unknown {
        problems.push(key, "unknown key");
    }
    let config = walk::validate(raw, base_dir, skip, &mut problems);
    (Some(config), problems)
}

/// A toml syntax/type error has no key path, only a span: report it as `line N`.
fn toml_error_path(error: &toml::de::Error, text: &str) -> String {
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        }
        None => "(file)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM: &str = "[[teams]]\nid = \"sales\"\napi_key = { env = \"K\" }\n";

    fn upstream(keys: &str) -> Result<Config, ConfigError> {
        from_str(
            &format!("[upstream]\nurl = \"sandbox\"\n{keys}\n{TEAM}"),
            Path::new("."),
        )
    }

    #[test]
    fn key_checks_are_off_by_default_and_their_interval_is_never_zero() {
        let default = upstream("").unwrap().verify;
        assert_eq!(
            default,
            VerifyKeys {
                enabled: false,
                interval: std::time::Duration::from_secs(600)
            }
        );
        let set = upstream("verify_keys = true\nverify_interval = \"250ms\"")
            .unwrap()
            .verify;
        assert_eq!(
            set,
            VerifyKeys {
                enabled: true,
                interval: std::time::Duration::from_millis(250)
            }
        );
        for bad in ["verify_interval = \"0s\"", "verify_interval = \"often\""] {
            let problems = upstream(bad).unwrap_err().problems;
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].path, "upstream.verify_interval");
        }
        assert!(upstream("verify_keys = \"yes\"").is_err());
    }

    #[test]
    fn http2_is_offered_unless_turned_off() {
        assert!(upstream("").unwrap().upstream.http2);
        assert!(!upstream("http2 = false").unwrap().upstream.http2);
        assert!(upstream("http2 = \"no\"").is_err());
    }

    #[test]
    fn h2_connections_is_one_by_default_and_bounded() {
        assert_eq!(upstream("").unwrap().upstream.h2_connections, 1);
        assert_eq!(upstream("h2_connections = 64").unwrap().upstream.h2_connections, 64);
        for bad in ["h2_connections = 0", "h2_connections = 65", "h2_connections = -1"] {
            let problems = upstream(bad).unwrap_err().problems;
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].path.contains("h2_connections") || problems[0].path.starts_with("line"),
                "{problems:?}"
            );
        }
        let problems = upstream("h2_connections = 65").unwrap_err().problems;
        assert_eq!(problems[0].path, "upstream.h2_connections");
        assert_eq!(problems[0].message, "must be between 1 and 64");
    }
}
