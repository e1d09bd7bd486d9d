//! What changed between two API descriptions, operation by operation, for `spec diff`: an
//! operation added or removed, or for one both describe (matched by method and path template,
//! parameter names ignored) its scope, rate-limit class, query parameters, required headers,
//! body constraints (`walk` compares the JSON Schemas) and documented error codes. A change
//! that refuses more requests than before is labelled tightened, one that lets more through
//! loosened; a change whose effect cannot be told from the schemas alone is not labelled.
//!
//! Objects are read as the gateway compiles them by default (`unknown_fields = "reject"`): one
//! that names its properties and says nothing about others is closed. So a document that spells
//! `additionalProperties: false` out and one that leaves it implicit do not differ here.
//! Only the request side is compared; rules are not applied (the diff is of documents).

mod all_of;
mod walk;

use std::fmt;

use http::Method;

use super::openapi::{Description, Operation, Parameter, RequestBody};
use super::RateClass;

/// Whether a change refuses more requests (tightened) or fewer (loosened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Tightened,
    Loosened,
}

/// What happened to one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// New in the second description; `summary` names its id, scope and what it requires.
    Added {
        summary: String,
    },
    Removed,
    /// One difference in an operation both describe.
    Changed {
        what: String,
        effect: Option<Effect>,
    },
}

/// One line of `spec diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub method: Method,
    pub path: String,
    pub kind: Kind,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (method, path) = (&self.method, &self.path);
        match &self.kind {
            Kind::Added { summary } => write!(f, "+ {method} {path} ({summary})"),
            Kind::Removed => write!(f, "- {method} {path}"),
            Kind::Changed { what, effect } => {
                write!(f, "~ {method} {path}: {what}")?;
                match effect {
                    Some(Effect::Tightened) => write!(f, " (tightened)"),
                    Some(Effect::Loosened) => write!(f, " (loosened)"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Every difference from `old` to `new`, sorted by path, then method; an operation's own
/// changes in a fixed order (scope, class, query, headers, body, error codes).
pub fn diff(old: &Description, new: &Description) -> Vec<Change> {
    let mut changes = Vec::new();
    for n in &new.operations {
        let change = |kind| Change {
            method: n.method.clone(),
            path: n.path.clone(),
            kind,
        };
        match old.operations.iter().find(|o| same_operation(o, n)) {
            Some(o) => changes.extend(
                compare(o, n)
                    .into_iter()
                    .map(|(what, effect)| change(Kind::Changed { what, effect })),
            ),
            None => changes.push(change(Kind::Added { summary: summary(n) })),
        }
    }
    for o in old
        .operations
        .iter()
        .filter(|o| !new.operations.iter().any(|n| same_operation(o, n)))
    {
        changes.push(Change {
            method: o.method.clone(),
            path: o.path.clone(),
            kind: Kind::Removed,
        });
    }
    // Stable: an operation's changes keep the order `compare` found them in.
    changes.sort_by(|a, b| (a.path.as_str(), a.method.as_str()).cmp(&(b.path.as_str(), b.method.as_str())));
    changes
}

fn same_operation(a: &Operation, b: &Operation) -> bool {
    let param = |s: &str| s.starts_with('{') && s.ends_with('}');
    a.method == b.method
        && a.path.split('/').count() == b.path.split('/').count()
        && a.path
            .split('/')
            .zip(b.path.split('/'))
            .all(|(x, y)| x == y || (param(x) && param(y)))
}

fn scope_text(scope: Option<&str>) -> &str {
    scope.unwrap_or("(none)")
}

fn class(op: &Operation) -> RateClass {
    op.class.unwrap_or_else(|| RateClass::of_method(&op.method))
}

fn required_headers(op: &Operation) -> Vec<&str> {
    op.headers
        .iter()
        .filter(|h| h.required)
        .map(|h| h.name.as_str())
        .collect()
}

/// An added operation in one parenthesis: id, scope, and what a request to it must carry.
fn summary(op: &Operation) -> String {
    let mut parts = Vec::new();
    if let Some(id) = &op.operation_id {
        parts.push(id.clone());
    }
    parts.push(format!("scope {}", scope_text(op.scope.as_deref())));
    if class(op) != RateClass::of_method(&op.method) {
        parts.push(format!("class {}", class(op).as_str()));
    }
    for header in required_headers(op) {
        parts.push(format!("requires header {header}"));
    }
    if !op.error_codes.is_empty() {
        parts.push(format!("errors {}", unique(&op.error_codes).join(", ")));
    }
    parts.join(", ")
}

fn unique(codes: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for code in codes {
        if !seen.contains(&code.as_str()) {
            seen.push(code);
        }
    }
    seen
}

type Found = Vec<(String, Option<Effect>)>;

fn compare(old: &Operation, new: &Operation) -> Found {
    let mut out = Found::new();
    if old.scope != new.scope {
        let (o, n) = (scope_text(old.scope.as_deref()), scope_text(new.scope.as_deref()));
        out.push((format!("scope {o} -> {n}"), None));
    }
    if class(old) != class(new) {
        out.push((
            format!("class {} -> {}", class(old).as_str(), class(new).as_str()),
            None,
        ));
    }
    query(old, new, &mut out);
    headers(old, new, &mut out);
    body(old.body.as_ref(), new.body.as_ref(), &mut out);
    let (old_codes, new_codes) = (unique(&old.error_codes), unique(&new.error_codes));
    let added: Vec<&str> = new_codes.iter().copied().filter(|c| !old_codes.contains(c)).collect();
    // Only additions: a document that stops listing a code has not made Allo stop sending it.
    if !added.is_empty() {
        out.push((format!("error codes added: {}", added.join(", ")), None));
    }
    out
}

/// Under the default policy the query string is closed: a parameter removed is refused, one
/// added now passes (unless the operation's query is open, `deepObject`).
fn query(old: &Operation, new: &Operation, out: &mut Found) {
    let find = |list: &'_ [Parameter], name: &str| list.iter().position(|p| p.name == name);
    for n in &new.query {
        let label = format!("query parameter {}", n.name);
        match find(&old.query, &n.name) {
            None if n.required => out.push((format!("{label} added, required"), Some(Effect::Tightened))),
            None if old.query_open => out.push((format!("{label} added"), Some(Effect::Tightened))),
            None => out.push((format!("{label} added"), Some(Effect::Loosened))),
            Some(i) => {
                let o = &old.query[i];
                match (o.required, n.required) {
                    (false, true) => out.push((format!("{label} now required"), Some(Effect::Tightened))),
                    (true, false) => out.push((format!("{label} no longer required"), Some(Effect::Loosened))),
                    _ => {}
                }
                if o.explode != n.explode {
                    let style = if n.explode {
                        "the key repeated"
                    } else {
                        "comma-separated"
                    };
                    out.push((format!("{label} array style now {style}"), None));
                }
                walk_into(&label, &o.schema, &n.schema, false, out);
            }
        }
    }
    for o in old.query.iter().filter(|o| find(&new.query, &o.name).is_none()) {
        let effect = if new.query_open {
            Effect::Loosened
        } else {
            Effect::Tightened
        };
        out.push((format!("query parameter {} removed", o.name), Some(effect)));
    }
    match (old.query_open, new.query_open) {
        (false, true) => out.push(("query opened (deepObject)".into(), Some(Effect::Loosened))),
        (true, false) => out.push(("query closed".into(), Some(Effect::Tightened))),
        _ => {}
    }
}

fn headers(old: &Operation, new: &Operation, out: &mut Found) {
    let (o, n) = (required_headers(old), required_headers(new));
    let has = |list: &[&str], name: &str| list.iter().any(|h| h.eq_ignore_ascii_case(name));
    for h in n.iter().filter(|h| !has(&o, h)) {
        out.push((format!("header {h} required"), Some(Effect::Tightened)));
    }
    for h in o.iter().filter(|h| !has(&n, h)) {
        out.push((format!("header {h} no longer required"), Some(Effect::Loosened)));
    }
}

fn body(old: Option<&RequestBody>, new: Option<&RequestBody>, out: &mut Found) {
    let (o, n) = match (old, new) {
        (None, None) => return,
        (None, Some(n)) => {
            let required = if n.required { ", required" } else { "" };
            out.push((format!("body described{required}"), None));
            return;
        }
        (Some(_), None) => {
            out.push(("body no longer described".into(), None));
            return;
        }
        (Some(o), Some(n)) => (o, n),
    };
    match (o.required, n.required) {
        (false, true) => out.push(("body now required".into(), Some(Effect::Tightened))),
        (true, false) => out.push(("body no longer required".into(), Some(Effect::Loosened))),
        _ => {}
    }
    let (oa, na) = (alternatives(o), alternatives(n));
    let (on, nn) = (oa.len(), na.len());
    if on != nn {
        out.push((format!("body alternatives {on} -> {nn}"), None));
    }
    let several = on.max(nn) > 1;
    for (i, (os, ns)) in oa.iter().zip(&na).enumerate() {
        let label = if several {
            format!("body alternative {}", i + 1)
        } else {
            "body".to_string()
        };
        walk_into(&label, os, ns, false, out);
    }
}

/// A body's descriptions: one whose only assertion is a `oneOf`/`anyOf` is read as that many
/// alternatives, so a document that writes the choice as `#fragment` keys and one that writes
/// it as `oneOf` compare alternative by alternative.
fn alternatives(body: &RequestBody) -> Vec<&serde_json::Value> {
    if let [serde_json::Value::Object(only)] = body.alternatives.as_slice() {
        for key in ["oneOf", "anyOf"] {
            if let (1, Some(serde_json::Value::Array(branches))) = (only.len(), only.get(key)) {
                return branches.iter().collect();
            }
        }
    }
    body.alternatives.iter().collect()
}

/// The schema walk's findings, each after `label` and its pointer.
fn walk_into(label: &str, old: &serde_json::Value, new: &serde_json::Value, branch: bool, out: &mut Found) {
    let mut findings = Vec::new();
    walk::schemas(old, new, "", branch, &mut findings);
    for f in findings {
        let at = if f.pointer.is_empty() {
            String::new()
        } else {
            format!(" {}", f.pointer)
        };
        out.push((format!("{label}{at} {}", f.what), f.effect));
    }
}

#[cfg(test)]
mod tests;
