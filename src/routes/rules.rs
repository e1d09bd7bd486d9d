//! The project's rules on top of Allo's description: per operation (keyed
//! `"METHOD /path/template"`), a stable `id`, `scope`, `class`, extra `body`/`query` JSON Schema
//! fragments that must also hold, `rename`, `require_headers`, `blocked`, and `relax` (JSON
//! pointers of body-schema keywords to drop, for a constraint Allo has outgrown faster than its
//! document). The built-in rules
//! (`builtin-rules.toml`, carried in the binary) always apply; an operator's rules file
//! (`[api] rules`) is laid over them, key by key. A rule for an operation the description does
//! not have is an error in the operator's file; in the built-in one it is skipped, so a newer
//! document that drops an operation does not stop the gateway.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::Method;
use serde::Deserialize;
use serde_json::Value;

use super::RateClass;

/// The rules that come with the binary.
pub const BUILTIN_RULES: &str = include_str!("builtin-rules.toml");

/// Larger rules files are refused before they are parsed.
const MAX_RULES_BYTES: u64 = 1 << 20;

/// Where a rule came from (shown by `allo-gateway routes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => write!(f, "built-in rules"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What a caller needs to call an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRule {
    /// Any valid key (`scope = "none"`): e.g. `GET /v2/api/me`.
    None,
    Named(String),
}

/// One operation's rule, parsed; every part optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    pub id: Option<String>,
    pub scope: Option<ScopeRule>,
    pub class: Option<RateClass>,
    pub body: Option<Value>,
    pub query: Option<Value>,
    /// Old spelling -> new spelling.
    pub rename: Vec<(String, String)>,
    pub require_headers: Vec<String>,
    pub blocked: Option<bool>,
    /// JSON pointers into the body schema of keywords to drop (e.g. an enum Allo has outgrown).
    pub relax: Vec<String>,
}

/// A rule with where it came from and what it names.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedRule {
    pub method: Method,
    pub path: String,
    /// `operations."POST /v2/api/..."`, for problems.
    pub key: String,
    pub origin: Origin,
    pub rule: Rule,
}

/// A rules file, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    pub rules: Vec<KeyedRule>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRules {
    #[serde(default)]
    operations: BTreeMap<String, RawRule>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRule {
    id: Option<String>,
    scope: Option<String>,
    class: Option<String>,
    body: Option<toml::Value>,
    query: Option<toml::Value>,
    rename: Option<BTreeMap<String, String>>,
    require_headers: Option<Vec<String>>,
    blocked: Option<bool>,
    relax: Option<Vec<String>>,
}

/// One problem in a rules file: the TOML key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub origin: Origin,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.key, self.message)
    }
}

impl Rules {
    pub fn builtin() -> Result<Rules, Vec<RuleProblem>> {
        Rules::parse(BUILTIN_RULES, Origin::BuiltIn)
    }

    pub fn load(path: &Path) -> Result<Rules, Vec<RuleProblem>> {
        let origin = Origin::File(path.to_path_buf());
        let fail = |message: String| {
            vec![RuleProblem {
                origin: origin.clone(),
                key: String::new(),
                message,
            }]
        };
        match std::fs::metadata(path) {
            Ok(meta) if meta.len() > MAX_RULES_BYTES => {
                return Err(fail(format!(
                    "the file is {} bytes; at most {MAX_RULES_BYTES} are read",
                    meta.len()
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(fail(format!("cannot read it: {e}"))),
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        Rules::parse(&text, origin)
    }

    pub fn parse(text: &str, origin: Origin) -> Result<Rules, Vec<RuleProblem>> {
        let mut problems = Vec::new();
        let mut push = |key: &str, message: String| {
            problems.push(RuleProblem {
                origin: origin.clone(),
                key: key.to_string(),
                message,
            })
        };
        let (raw, unknown): (RawRules, Vec<String>) = match crate::config::raw::parse(text) {
            Ok(parsed) => parsed,
            Err(e) => {
                push("", format!("not valid TOML: {}", e.message()));
                return Err(problems);
            }
        };
        for key in unknown {
            push(&key, "unknown key".into());
        }
        let mut rules = Vec::new();
        for (name, raw) in raw.operations {
            let key = format!("operations.\"{name}\"");
            let Some((method, path)) = name.split_once(' ') else {
                push(&key, "an operation is named \"METHOD /path/template\"".into());
                continue;
            };
            let (Ok(method), true) = (Method::from_bytes(method.as_bytes()), path.starts_with('/')) else {
                push(&key, "an operation is named \"METHOD /path/template\"".into());
                continue;
            };
            let scope = raw.scope.map(|s| match s.as_str() {
                "none" => ScopeRule::None,
                _ => ScopeRule::Named(s),
            });
            let class = match raw.class.as_deref() {
                None => None,
                Some("read") => Some(RateClass::Read),
                Some("write") => Some(RateClass::Write),
                Some(other) => {
                    push(
                        &format!("{key}.class"),
                        format!("{other:?} is not \"read\" or \"write\""),
                    );
                    None
                }
            };
            let mut json = |part: &str, value: Option<toml::Value>| {
                let value = value?;
                match serde_json::to_value(value) {
                    Ok(v @ Value::Object(_)) => Some(v),
                    _ => {
                        push(&format!("{key}.{part}"), "must be a table (a JSON Schema)".into());
                        None
                    }
                }
            };
            let body = json("body", raw.body);
            let query = json("query", raw.query);
            let rename: Vec<(String, String)> = raw.rename.unwrap_or_default().into_iter().collect();
            for (old, new) in &rename {
                if old.is_empty() || new.is_empty() || old == new {
                    push(&format!("{key}.rename"), format!("{old:?} -> {new:?} renames nothing"));
                }
            }
            let require_headers = raw.require_headers.unwrap_or_default();
            for name in &require_headers {
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    push(
                        &format!("{key}.require_headers"),
                        format!("{name:?} is not a header name"),
                    );
                }
            }
            let relax = raw.relax.unwrap_or_default();
            for pointer in &relax {
                if !pointer.starts_with('/') || pointer.len() < 2 {
                    push(
                        &format!("{key}.relax"),
                        format!("{pointer:?} is not a JSON pointer to a keyword"),
                    );
                }
            }
            rules.push(KeyedRule {
                method,
                path: path.to_string(),
                key,
                origin: origin.clone(),
                rule: Rule {
                    id: raw.id,
                    scope,
                    class,
                    body,
                    query,
                    rename,
                    require_headers,
                    blocked: raw.blocked,
                    relax,
                },
            });
        }
        if problems.is_empty() {
            Ok(Rules { rules })
        } else {
            Err(problems)
        }
    }

    /// Every rule for `method` and `path`, built-in ones first.
    pub fn for_operation<'a>(&'a self, method: &'a Method, path: &'a str) -> impl Iterator<Item = &'a KeyedRule> {
        self.rules.iter().filter(move |r| r.method == *method && r.path == path)
    }

    /// The built-in rules followed by `other`'s.
    pub fn then(mut self, other: Rules) -> Rules {
        self.rules.extend(other.rules);
        self
    }
}
