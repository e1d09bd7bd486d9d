//! Allo's API description: an OpenAPI 3.0 or 3.1 document (JSON, or YAML by extension) read
//! into one `Operation` per method and path template, with every local `$ref` the request
//! side uses resolved in place, OpenAPI 3.0's `nullable` and boolean `exclusiveMinimum` turned
//! into JSON Schema 2020-12, and path- and operation-level parameters merged. Schemas are not
//! compiled here (`schema` does that); rules are not applied here (`rules` does that). Every
//! problem is collected with its JSON pointer, so `spec check` can list them all at once.
//!
//! Bounded: a document larger than `MAX_SPEC_BYTES`, with more than `MAX_OPERATIONS`
//! operations, or whose `$ref`s expand past `MAX_EXPANDED_NODES` schema nodes is refused with a
//! size error; a `$ref` that leads back to itself is refused rather than followed forever.

use std::fmt;
use std::path::{Path, PathBuf};

use http::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::RateClass;

mod dialect;
mod resolve;

use resolve::Resolver;

/// The description carried in the binary: Allo's v2 surface as of late 2026.
pub const BUILTIN_SPEC: &str = include_str!("openapi-late-2026.json");
/// Larger documents are refused before they are parsed (Allo's is about 170 KB).
pub const MAX_SPEC_BYTES: u64 = 8 << 20;
/// More operations than this is not an API description a sidecar should compile.
pub const MAX_OPERATIONS: usize = 2_000;
/// Schema nodes produced by resolving `$ref`s, over the whole document: a bound against
/// documents whose references nest exponentially.
pub(crate) const MAX_EXPANDED_NODES: usize = 250_000;
/// Longer paths than this are no Allo endpoint (as `RouteTable` assumes).
pub const MAX_SEGMENTS: usize = 16;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Where the description in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    BuiltIn,
    File { path: PathBuf, sha256: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::BuiltIn => write!(f, "built in (openapi-late-2026.json)"),
            Source::File { path, sha256 } => write!(f, "{} (sha256 {sha256})", path.display()),
        }
    }
}

/// A whole description: its operations in document order.
#[derive(Debug, Clone)]
pub struct Description {
    pub source: Source,
    pub title: String,
    pub version: String,
    pub operations: Vec<Operation>,
}

/// One method on one path template, as the document describes its request side.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub method: Method,
    /// e.g. `/v2/api/users/{id}` (a `#fragment` of the document's key is dropped).
    pub path: String,
    pub operation_id: Option<String>,
    /// The JSON pointer of the operation object in the document.
    pub pointer: String,
    /// `x-scope`; None when the document names none.
    pub scope: Option<String>,
    /// `x-rate-limit-class`, when the document gives one.
    pub class: Option<RateClass>,
    pub query: Vec<Parameter>,
    /// Header parameters (`in: header`); required ones become required headers.
    pub headers: Vec<Parameter>,
    /// A query parameter style the validator cannot read (`deepObject`): unknown keys pass.
    pub query_open: bool,
    pub body: Option<RequestBody>,
    /// Codes from `x-documented-error-codes` (`"400 EMPTY_NOTE_CONTENT"` -> the code).
    pub error_codes: Vec<String>,
}

/// A query or header parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub required: bool,
    /// JSON Schema 2020-12, self-contained.
    pub schema: Value,
    /// `style: form` with `explode: true` (OpenAPI's default): an array is the key repeated;
    /// false: one key, values separated by commas.
    pub explode: bool,
}

/// The JSON body an operation takes.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBody {
    pub required: bool,
    /// One schema per description of the body: the path key's plain form first, then each
    /// `#fragment` alternative (`/v1/api/sms#france`). A body is valid if one of them holds.
    pub alternatives: Vec<Value>,
}

/// One thing wrong with a document, at a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// Every problem a document has.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the API description is not valid ({} problem(s)): {}", .problems.len(), first(.problems))]
pub struct SpecError {
    pub problems: Vec<SpecProblem>,
}

fn first(problems: &[SpecProblem]) -> String {
    problems.first().map(ToString::to_string).unwrap_or_default()
}

pub(crate) fn problem(pointer: impl Into<String>, message: impl Into<String>) -> SpecProblem {
    SpecProblem {
        pointer: pointer.into(),
        message: message.into(),
    }
}

impl Description {
    /// The description carried in the binary.
    pub fn builtin() -> Result<Description, SpecError> {
        Description::parse(BUILTIN_SPEC, false, Source::BuiltIn)
    }

    /// Reads a document from a file: YAML when its name ends in `.yaml` or `.yml`.
    pub fn load(path: &Path) -> Result<Description, SpecError> {
        let too_big = |size: u64| SpecError {
            problems: vec![problem(
                "",
                format!("the document is {size} bytes; at most {MAX_SPEC_BYTES} are read"),
            )],
        };
        let meta = std::fs::metadata(path).map_err(|e| SpecError {
            problems: vec![problem("", format!("cannot read {}: {e}", path.display()))],
        })?;
        if meta.len() > MAX_SPEC_BYTES {
            return Err(too_big(meta.len()));
        }
        let bytes = std::fs::read(path).map_err(|e| SpecError {
            problems: vec![problem("", format!("cannot read {}: {e}", path.display()))],
        })?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(too_big(bytes.len() as u64));
        }
        let text = String::from_utf8(bytes).map_err(|_| SpecError {
            problems: vec![problem("", "the document is not UTF-8")],
        })?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "YAML" | "YML")
        );
        let source = Source::File {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
        };
        Description::parse(&text, yaml, source)
    }

    /// Parses and resolves a document's text.
    pub fn parse(text: &str, yaml: bool, source: Source) -> Result<Description, SpecError> {
        if text.len() as u64 > MAX_SPEC_BYTES {
            return Err(SpecError {
                problems: vec![problem(
                    "",
                    format!(
                        "the document is {} bytes; at most {MAX_SPEC_BYTES} are read",
                        text.len()
                    ),
                )],
            });
        }
        let root = if yaml {
            super::yaml::to_json(text)
        } else {
            serde_json::from_str::<Value>(text).map_err(|e| e.to_string())
        }
        .map_err(|e| SpecError {
            problems: vec![problem("", format!("the document does not parse: {e}"))],
        })?;
        read(&root, source)
    }
}

fn read(root: &Value, source: Source) -> Result<Description, SpecError> {
    let mut problems = Vec::new();
    let version = root.get("openapi").and_then(Value::as_str).unwrap_or("");
    let v30 = version.starts_with("3.0");
    if !(v30 || version.starts_with("3.1")) {
        problems.push(problem("/openapi", "must be an OpenAPI 3.0.x or 3.1.x version string"));
    }
    let Some(paths) = root.get("paths").and_then(Value::as_object) else {
        problems.push(problem("/paths", "the document has no paths object"));
        return Err(SpecError { problems });
    };
    check_refs(root, root, "", &mut problems);
    let mut resolver = Resolver {
        root,
        v30,
        nodes: 0,
        problems: &mut problems,
    };
    let mut operations: Vec<Operation> = Vec::new();
    let mut count = 0usize;
    for (key, item) in paths {
        let at = format!("/paths/{}", escape(key));
        let (path, fragment) = match key.split_once('#') {
            Some((path, fragment)) => (path, Some(fragment)),
            None => (key.as_str(), None),
        };
        if !path.starts_with('/') {
            resolver.problems.push(problem(&at, "a path must start with /"));
            continue;
        }
        if path[1..].split('/').count() > MAX_SEGMENTS {
            resolver
                .problems
                .push(problem(&at, format!("more than {MAX_SEGMENTS} segments")));
            continue;
        }
        let Some(item) = resolver.follow(item, &at) else {
            continue;
        };
        let shared = item.get("parameters");
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            count += 1;
            if count > MAX_OPERATIONS {
                return Err(SpecError {
                    problems: vec![problem(
                        "/paths",
                        format!("the document has more than {MAX_OPERATIONS} operations"),
                    )],
                });
            }
            let op_at = format!("{at}/{method}");
            let Some(parsed) = resolver.operation(method, path, op, shared, &op_at, &at) else {
                continue;
            };
            let same = operations
                .iter_mut()
                .find(|o| o.method == parsed.method && same_template(&o.path, &parsed.path));
            match (same, fragment) {
                (Some(existing), Some(_)) if existing.path == parsed.path => merge(existing, parsed),
                (Some(existing), _) => resolver.problems.push(problem(
                    &op_at,
                    format!(
                        "{} {} is already described at {}",
                        parsed.method, parsed.path, existing.pointer
                    ),
                )),
                (None, _) => operations.push(parsed),
            }
        }
        if resolver.nodes > MAX_EXPANDED_NODES {
            return Err(SpecError {
                problems: vec![problem(
                    &at,
                    format!("resolving $refs produces more than {MAX_EXPANDED_NODES} schema nodes"),
                )],
            });
        }
    }
    // A `$ref` to nowhere is found where it is written and again where it is followed.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert((p.pointer.clone(), p.message.clone())));
    if problems.is_empty() {
        Ok(Description {
            source,
            title: text_at(root, "/info/title"),
            version: text_at(root, "/info/version"),
            operations,
        })
    } else {
        Err(SpecError { problems })
    }
}

fn text_at(root: &Value, pointer: &str) -> String {
    root.pointer(pointer).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Two templates name the same paths when they differ only in parameter names.
fn same_template(a: &str, b: &str) -> bool {
    let param = |s: &str| s.starts_with('{') && s.ends_with('}');
    let (mut a, mut b) = (a.split('/'), b.split('/'));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y || (param(x) && param(y)) => {}
            _ => return false,
        }
    }
}

/// A `#fragment` key's operation adds its body as an alternative and its parameters.
fn merge(existing: &mut Operation, alternative: Operation) {
    if let Some(extra) = alternative.body {
        match &mut existing.body {
            Some(body) => body.alternatives.extend(extra.alternatives),
            None => existing.body = Some(extra),
        }
    }
    for p in alternative.query {
        if !existing.query.iter().any(|q| q.name == p.name) {
            existing.query.push(p);
        }
    }
    existing.scope = existing.scope.take().or(alternative.scope);
}

/// Every `$ref` anywhere in the document must point somewhere (responses included, though
/// only the request side is compiled).
fn check_refs(root: &Value, node: &Value, at: &str, problems: &mut Vec<SpecProblem>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                if let Some(message) = ref_problem(root, target) {
                    problems.push(problem(format!("{at}/$ref"), message));
                }
            }
            for (k, v) in map {
                // Under `properties`, a property may be named `$ref`; it is no reference.
                check_refs(root, v, &format!("{at}/{}", escape(k)), problems);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_refs(root, v, &format!("{at}/{i}"), problems);
            }
        }
        _ => {}
    }
}

fn ref_problem(root: &Value, target: &str) -> Option<String> {
    let Some(pointer) = target.strip_prefix('#') else {
        return Some(format!(
            "{target:?} is not a local $ref (only #/... references are read)"
        ));
    };
    let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
    match root.pointer(&decoded) {
        Some(_) => None,
        None => Some(format!("$ref {target:?} points to nothing")),
    }
}

/// `~` and `/` escaped for a JSON pointer.
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests;
