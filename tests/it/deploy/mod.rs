//! The deployment files in deploy/: no build compiles them and no Docker engine or cluster runs
//! them here, so each one is parsed and checked for what would break a deployment or weaken
//! it: the Dockerfile's stages, user, ports, build context and HEALTHCHECK (whose probe is
//! compiled and run against the real gateway, as are the Kubernetes probes); the sidecar's
//! probes, mounts, security context and NetworkPolicy; the systemd unit's sandbox and
//! credentials; deny.toml's sections. Every shipped gateway.toml must pass the real
//! `allo-gateway check` once its secret files are replaced by dummy ones. Here: the
//! Dockerfile's parser, the shipped configs and deny.toml; the rest in `docker`, `kubernetes`
//! and `systemd`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::process::run_to_end;

mod docker;
mod kubernetes;
mod systemd;

const CONFIG_PATH: &str = "/etc/allo-gateway/gateway.toml";
const ADMIN_PORT: i64 = 9901;

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    let path = repo_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------------------------------
// Dockerfile

#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> impl Iterator<Item = &str> {
        let keyword = keyword.to_owned();
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
            .map(|i| i.args.as_str())
    }

    fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last()
    }

    /// (flags, sources, destination) of every COPY.
    fn copies(&self) -> Vec<(Vec<String>, Vec<String>, String)> {
        self.all("COPY")
            .map(|args| {
                let words: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
                let (flags, paths): (Vec<String>, Vec<String>) = words.into_iter().partition(|w| w.starts_with("--"));
                let (dest, sources) = paths.split_last().expect("COPY needs a destination");
                (flags, sources.to_vec(), dest.clone())
            })
            .collect()
    }
}

/// Logical instructions (continuations joined, comments dropped), grouped into stages.
fn dockerfile_stages() -> Vec<Stage> {
    let text = read("deploy/Dockerfile");
    let mut instructions = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && logical.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                logical.push_str(part);
                logical.push(' ');
            }
            None => {
                logical.push_str(trimmed);
                let (keyword, args) = logical.split_once(char::is_whitespace).unwrap_or((&logical, ""));
                instructions.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                });
                logical.clear();
            }
        }
    }
    assert!(logical.is_empty(), "Dockerfile ends inside a continued line");

    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction.args.split_whitespace().collect();
            let image = words
                .iter()
                .find(|w| !w.starts_with("--"))
                .expect("FROM needs an image");
            let name = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("AS"))
                .map(|i| words[i + 1].to_owned());
            stages.push(Stage {
                image: image.to_string(),
                name,
                instructions: Vec::new(),
            });
        } else {
            let stage = stages
                .last_mut()
                .unwrap_or_else(|| panic!("{} before the first FROM", instruction.keyword));
            stage.instructions.push(instruction);
        }
    }
    stages
}

/// An exec-form argument list (`["a", "b"]`), read as YAML, which includes JSON arrays.
fn exec_form(args: &str) -> Vec<String> {
    let docs = YamlLoader::load_from_str(args).unwrap_or_else(|e| panic!("not exec form: {args}: {e}"));
    docs[0]
        .as_vec()
        .unwrap_or_else(|| panic!("not exec form (a JSON array): {args}"))
        .iter()
        .map(|v| v.as_str().expect("exec form holds strings").to_owned())
        .collect()
}

// ------------------------------------------------------------------------------------------
// Config files: every `{ file = ... }` secret pointed at a dummy key, then the real `check`.

/// Rewrites `text` so that every team's file secret points at a new file in `dir` holding a
/// dummy key; returns the new text and the original secret paths.
fn with_dummy_secret_files(text: &str, dir: &Path) -> (String, Vec<String>) {
    let mut table: toml::Table = text.parse().unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"));
    let mut originals = Vec::new();
    if let Some(toml::Value::Array(teams)) = table.get_mut("teams") {
        for team in teams.iter_mut() {
            for key in ["api_key", "api_key_fallback"] {
                let Some(toml::Value::Table(secret)) = team.get_mut(key) else {
                    continue;
                };
                let Some(toml::Value::String(path)) = secret.get("file") else {
                    continue;
                };
                originals.push(path.clone());
                let dummy = dir.join(format!("secret-{}", originals.len()));
                // The trailing newline is what `kubectl create secret --from-file` keeps.
                std::fs::write(&dummy, format!("ak_dummy_{}\n", originals.len())).unwrap();
                secret.insert("file".into(), toml::Value::String(dummy.display().to_string()));
            }
        }
    }
    (table.to_string(), originals)
}

/// `allo-gateway check` on a shipped config with dummy secrets: (exit code, output, secrets).
fn check_shipped_config(text: &str) -> (i32, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (rewritten, originals) = with_dummy_secret_files(text, dir.path());
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, rewritten).unwrap();
    let (code, out, err) = run_to_end(&["check", "--config", config.to_str().unwrap()], &[]);
    (code, format!("{out}{err}"), originals)
}

/// "20s", "2m", "500ms" -> seconds (systemd's and the gateway's common forms).
fn seconds(duration: &str) -> f64 {
    let d = duration.trim();
    let split = d.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(d.len());
    let (number, unit) = d.split_at(split);
    let number: f64 = number.parse().unwrap_or_else(|_| panic!("duration {duration:?}"));
    number
        * match unit.trim() {
            "ms" => 0.001,
            "" | "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            other => panic!("duration unit {other:?} in {duration:?}"),
        }
}

fn shutdown_grace(config: &toml::Table) -> f64 {
    config
        .get("server")
        .and_then(|s| s.get("shutdown_grace"))
        .and_then(toml::Value::as_str)
        .map(seconds)
        .unwrap_or(20.0)
}

// ------------------------------------------------------------------------------------------
// cargo-deny

#[test]
fn deny_toml_has_the_policy_sections() {
    let deny: toml::Table = read("deploy/deny.toml").parse().expect("deploy/deny.toml is TOML");
    let allow = deny["licenses"]["allow"].as_array().expect("[licenses] allow");
    assert!(!allow.is_empty());
    for license in allow {
        let license = license.as_str().unwrap();
        assert!(!license.contains("GPL"), "copyleft in the allow-list: {license}");
    }
    assert!(deny["bans"].get("multiple-versions").is_some());
    assert_eq!(deny["sources"]["unknown-registry"].as_str(), Some("deny"));
    assert_eq!(deny["sources"]["unknown-git"].as_str(), Some("deny"));
    assert!(deny.contains_key("advisories"));
    let targets: Vec<&str> = deny["graph"]["targets"]
        .as_array()
        .expect("[graph] targets")
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for target in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        assert!(targets.contains(&target), "{targets:?}");
    }
}
