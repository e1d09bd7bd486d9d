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

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use http::Method;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::RateClass;

/// The description carried in the binary: Allo's v2 surface as of late 2026.
pub const BUILTIN_SPEC: &str = include_str!("openapi-late-2026.json");
/// Larger documents are refused before they are parsed (Allo's is about 170 KB).
pub const MAX_SPEC_BYTES: u64 = 8 << 20;
/// More operations than this is not an API description a sidecar should compile.
pub const MAX_OPERATIONS: usize = 2_000;
/// Schema nodes produced by resolving `$ref`s, over the whole document: a bound against
/// documents whose references nest exponentially.
const MAX_EXPANDED_NODES: usize = 250_000;
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

fn problem(pointer: impl Into<String>, message: impl Into<String>) -> SpecProblem {
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

/// A JSON pointer as a chain of borrowed segments, written out only for a problem.
#[derive(Clone, Copy)]
enum At<'p> {
    Root(&'p str),
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl At<'_> {
    fn render(&self) -> String {
        match self {
            At::Root(root) => root.to_string(),
            At::Key(parent, key) => format!("{}/{}", parent.render(), escape(key)),
            At::Index(parent, i) => format!("{}/{i}", parent.render()),
        }
    }
}

struct Resolver<'a> {
    root: &'a Value,
    v30: bool,
    nodes: usize,
    problems: &'a mut Vec<SpecProblem>,
}

impl<'a> Resolver<'a> {
    /// The object a `$ref` (or a chain of them) names; the node itself when it is no `$ref`.
    fn follow(&mut self, node: &'a Value, at: &str) -> Option<&'a Value> {
        let mut node = node;
        let mut seen = Vec::new();
        while let Some(target) = node.get("$ref").and_then(Value::as_str) {
            if seen.iter().any(|s| s == target) {
                self.problems
                    .push(problem(at, format!("$ref {target:?} leads back to itself")));
                return None;
            }
            seen.push(target.to_string());
            node = self.target(target, at)?;
        }
        Some(node)
    }

    fn target(&mut self, target: &str, at: &str) -> Option<&'a Value> {
        let Some(pointer) = target.strip_prefix('#') else {
            self.problems
                .push(problem(at, format!("{target:?} is not a local $ref")));
            return None;
        };
        let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
        match self.root.pointer(&decoded) {
            Some(found) => Some(found),
            None => {
                self.problems
                    .push(problem(at, format!("$ref {target:?} points to nothing")));
                None
            }
        }
    }

    fn operation(
        &mut self,
        method: &str,
        path: &str,
        op: &'a Value,
        shared: Option<&'a Value>,
        at: &str,
        path_at: &str,
    ) -> Option<Operation> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).ok()?;
        let op = self.follow(op, at)?;
        if !op.is_object() {
            self.problems.push(problem(at, "an operation must be an object"));
            return None;
        }
        let scope = match op.get("x-scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => {
                self.problems
                    .push(problem(format!("{at}/x-scope"), "must be a scope name or null"));
                None
            }
        };
        let class = match op.get("x-rate-limit-class").and_then(Value::as_str) {
            None => None,
            Some("read") => Some(RateClass::Read),
            Some("write") => Some(RateClass::Write),
            Some(_) => {
                self.problems.push(problem(
                    format!("{at}/x-rate-limit-class"),
                    "must be \"read\" or \"write\"",
                ));
                None
            }
        };
        let mut operation = Operation {
            method,
            path: path.to_string(),
            operation_id: op.get("operationId").and_then(Value::as_str).map(str::to_string),
            pointer: at.to_string(),
            scope,
            class,
            query: Vec::new(),
            headers: Vec::new(),
            query_open: false,
            body: None,
            error_codes: error_codes(op),
        };
        // Operation-level parameters override path-level ones of the same name and place.
        let mut seen = BTreeSet::new();
        let own = op.get("parameters");
        for (list, list_at) in [
            (own, format!("{at}/parameters")),
            (shared, format!("{path_at}/parameters")),
        ] {
            let Some(list) = list else { continue };
            let Value::Array(items) = list else {
                self.problems.push(problem(&list_at, "parameters must be an array"));
                continue;
            };
            for (i, p) in items.iter().enumerate() {
                self.parameter(p, &format!("{list_at}/{i}"), &mut seen, &mut operation);
            }
        }
        if let Some(body) = op.get("requestBody") {
            operation.body = self.body(body, &format!("{at}/requestBody"));
        }
        Some(operation)
    }

    fn parameter(&mut self, p: &'a Value, at: &str, seen: &mut BTreeSet<(String, String)>, op: &mut Operation) {
        let Some(p) = self.follow(p, at) else { return };
        let (Some(name), Some(location)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            self.problems.push(problem(at, "a parameter needs a name and an in"));
            return;
        };
        let key = if location == "header" {
            (name.to_ascii_lowercase(), location.to_string())
        } else {
            (name.to_string(), location.to_string())
        };
        if !seen.insert(key) {
            return;
        }
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let schema = match (p.get("schema"), p.get("content").and_then(Value::as_object)) {
            (Some(s), _) => self.schema(s, &format!("{at}/schema"), &mut Vec::new()),
            (None, Some(content)) => match content.iter().next() {
                Some((media, m)) => match m.get("schema") {
                    Some(s) => self.schema(s, &format!("{at}/content/{}/schema", escape(media)), &mut Vec::new()),
                    None => Some(Value::Bool(true)),
                },
                None => Some(Value::Bool(true)),
            },
            (None, None) => Some(Value::Bool(true)),
        };
        let Some(schema) = schema else { return };
        let style = p.get("style").and_then(Value::as_str).unwrap_or("form");
        let explode = p.get("explode").and_then(Value::as_bool).unwrap_or(style == "form");
        let param = Parameter {
            name: name.to_string(),
            required,
            schema,
            explode,
        };
        match location {
            "query" if style == "deepObject" => op.query_open = true,
            "query" => op.query.push(param),
            "header" => op.headers.push(param),
            "path" | "cookie" => {}
            other => self.problems.push(problem(
                format!("{at}/in"),
                format!("{other:?} is not a parameter location"),
            )),
        }
    }

    fn body(&mut self, body: &'a Value, at: &str) -> Option<RequestBody> {
        let body = self.follow(body, at)?;
        let required = body.get("required").and_then(Value::as_bool).unwrap_or(false);
        let content = body.get("content").and_then(Value::as_object);
        // The JSON media type's schema; a body of another type is not validated (any JSON).
        let json = content.and_then(|c| {
            c.iter()
                .find(|(media, _)| is_json_media(media))
                .map(|(media, m)| (media.clone(), m.get("schema")))
        });
        let schema = match json {
            Some((media, Some(schema))) => self.schema(
                schema,
                &format!("{at}/content/{}/schema", escape(&media)),
                &mut Vec::new(),
            )?,
            _ => Value::Bool(true),
        };
        Some(RequestBody {
            required,
            alternatives: vec![schema],
        })
    }

    /// A self-contained JSON Schema 2020-12 copy of `node`, `$ref`s inlined. `stack` holds the
    /// references being expanded, to refuse one that contains itself.
    fn schema(&mut self, node: &Value, at: &str, stack: &mut Vec<String>) -> Option<Value> {
        self.subschema(node, At::Root(at), stack)
    }

    /// As `schema`, with the pointer kept as a chain on the stack: most nodes never need it
    /// written out, and writing it at each node of a deep schema would cost more than the rest.
    fn subschema(&mut self, node: &Value, at: At<'_>, stack: &mut Vec<String>) -> Option<Value> {
        self.nodes += 1;
        if self.nodes > MAX_EXPANDED_NODES {
            return None;
        }
        let Value::Object(map) = node else {
            return Some(node.clone());
        };
        if let Some(target) = map.get("$ref") {
            let Some(target) = target.as_str() else {
                self.problems
                    .push(problem(format!("{}/$ref", at.render()), "$ref must be a string"));
                return None;
            };
            if stack.iter().any(|s| s == target) {
                self.problems.push(problem(
                    format!("{}/$ref", at.render()),
                    format!(
                        "recursive $ref: {} -> {target} (a schema that contains itself cannot be inlined)",
                        stack.join(" -> ")
                    ),
                ));
                return None;
            }
            let found = self.target(target, &format!("{}/$ref", at.render()))?;
            stack.push(target.to_string());
            let resolved = self.subschema(found, At::Root(target.trim_start_matches('#')), stack);
            stack.pop();
            let resolved = resolved?;
            // Keywords beside a `$ref` (allowed in 3.1) must also hold.
            let mut siblings = map.clone();
            siblings.remove("$ref");
            strip_annotations(&mut siblings);
            if siblings.is_empty() {
                return Some(resolved);
            }
            let siblings = self.subschema(&Value::Object(siblings), at, stack)?;
            let mut both = Map::new();
            both.insert("allOf".into(), Value::Array(vec![resolved, siblings]));
            return Some(Value::Object(both));
        }
        let mut out = Map::new();
        for (key, value) in map {
            let here = At::Key(&at, key);
            let converted = match key.as_str() {
                // Maps from names to schemas.
                "properties" | "patternProperties" | "dependentSchemas" | "$defs" | "definitions" => {
                    let Value::Object(entries) = value else {
                        out.insert(key.clone(), value.clone());
                        continue;
                    };
                    let mut converted = Map::new();
                    for (name, schema) in entries {
                        let s = self.subschema(schema, At::Key(&here, name), stack)?;
                        converted.insert(name.clone(), s);
                    }
                    Value::Object(converted)
                }
                // Lists of schemas.
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                    let Value::Array(items) = value else {
                        self.problems
                            .push(problem(here.render(), "must be an array of schemas"));
                        return None;
                    };
                    let mut converted = Vec::with_capacity(items.len());
                    for (i, schema) in items.iter().enumerate() {
                        converted.push(self.subschema(schema, At::Index(&here, i), stack)?);
                    }
                    Value::Array(converted)
                }
                // One schema.
                "items"
                | "additionalProperties"
                | "not"
                | "contains"
                | "if"
                | "then"
                | "else"
                | "propertyNames"
                | "unevaluatedProperties"
                | "unevaluatedItems"
                | "additionalItems" => self.subschema(value, here, stack)?,
                _ if is_annotation(key) => continue,
                _ => value.clone(),
            };
            out.insert(key.clone(), converted);
        }
        if self.v30 {
            openapi30(&mut out);
        }
        Some(Value::Object(out))
    }
}

/// OpenAPI 3.0's dialect -> JSON Schema 2020-12: `nullable: true` becomes a `null` type (or an
/// `anyOf` with `null` where the schema names no type), boolean `exclusiveMinimum`/`Maximum`
/// become numbers.
fn openapi30(map: &mut Map<String, Value>) {
    for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match map.get(flag) {
            Some(Value::Bool(true)) => {
                if let Some(limit) = map.remove(bound) {
                    map.insert(flag.into(), limit);
                } else {
                    map.remove(flag);
                }
            }
            Some(Value::Bool(false)) => {
                map.remove(flag);
            }
            _ => {}
        }
    }
    if map.remove("nullable") != Some(Value::Bool(true)) {
        return;
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    match map.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            map.insert("type".into(), Value::Array(vec![Value::String(t), "null".into()]));
        }
        Some(Value::Array(types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push("null".into());
            }
        }
        _ => {
            let rest = std::mem::take(map);
            let mut null = Map::new();
            null.insert("type".into(), "null".into());
            map.insert(
                "anyOf".into(),
                Value::Array(vec![Value::Object(null), Value::Object(rest)]),
            );
        }
    }
}

/// Keywords that only describe (OpenAPI's and the vendor's), dropped from compiled schemas.
fn is_annotation(key: &str) -> bool {
    key.starts_with("x-")
        || matches!(
            key,
            "description"
                | "title"
                | "example"
                | "examples"
                | "externalDocs"
                | "xml"
                | "discriminator"
                | "deprecated"
                | "readOnly"
                | "writeOnly"
                | "$comment"
                | "summary"
        )
}

fn strip_annotations(map: &mut Map<String, Value>) {
    map.retain(|k, _| !is_annotation(k));
}

fn is_json_media(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}

fn error_codes(op: &Value) -> Vec<String> {
    let Some(Value::Array(rows)) = op.get("x-documented-error-codes") else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(Value::as_str)
        .filter_map(|row| row.split_whitespace().nth(1))
        .filter(|code| {
            code.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests;
