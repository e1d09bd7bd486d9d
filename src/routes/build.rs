//! One operation of the API description made a `Route`: every rule for it laid over, built-in
//! rules first, its schemas compiled, and where each part came from written down for
//! `allo-gateway routes`.

use http::HeaderName;

use super::openapi::Operation;
use super::schema::{self, Part, Schemas};
use super::{RateClass, Route, Rules, Scope, ScopeRule, Segment};
use crate::config::UnknownFields;

/// One operation with every rule for it laid over, built-in rules first. Values (`id`,
/// `scope`, `class`, `blocked`) are overridden by later rules; fragments, renames and
/// required headers add up, so an operator's file cannot drop a built-in constraint.
pub(super) fn route(op: &Operation, rules: &Rules, unknown_fields: UnknownFields) -> Result<Route, Vec<String>> {
    let key = format!("{} {}", op.method, op.path);
    let mut provenance: Vec<(&'static str, String)> = Vec::new();
    // The origin of each part's value in force (later rules override earlier ones).
    let set = |provenance: &mut Vec<(&'static str, String)>, part: &'static str, origin: String| match provenance
        .iter_mut()
        .find(|(p, _)| *p == part)
    {
        Some(entry) => entry.1 = origin,
        None => provenance.push((part, origin)),
    };
    let mut id = op.operation_id.clone().unwrap_or_else(|| key.clone());
    provenance.push((
        "id",
        if op.operation_id.is_some() {
            "operationId"
        } else {
            "method and path"
        }
        .to_string(),
    ));
    let mut scope = match &op.scope {
        Some(s) => Scope::Named(s.clone()),
        None => Scope::Unknown,
    };
    provenance.push((
        "scope",
        if op.scope.is_some() { "x-scope" } else { "known nowhere" }.to_string(),
    ));
    let mut class = op.class.unwrap_or_else(|| RateClass::of_method(&op.method));
    let mut blocked = false;
    let (mut body_extra, mut query_extra) = (Vec::new(), Vec::new());
    let mut rename: Vec<(Box<str>, Box<str>)> = Vec::new();
    let mut require_headers: Vec<HeaderName> = Vec::new();
    let mut relax: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for header in op.headers.iter().filter(|h| h.required) {
        match HeaderName::from_bytes(header.name.as_bytes()) {
            Ok(name) if !require_headers.contains(&name) => require_headers.push(name),
            Ok(_) => {}
            Err(_) => problems.push(format!(
                "{}: header parameter {:?} is not a header name",
                op.pointer, header.name
            )),
        }
    }
    for keyed in rules.for_operation(&op.method, &op.path) {
        let r = &keyed.rule;
        let from = keyed.origin.to_string();
        if let Some(v) = &r.id {
            id = v.clone();
            set(&mut provenance, "id", from.clone());
        }
        if let Some(v) = &r.scope {
            scope = match v {
                ScopeRule::None => Scope::Any,
                ScopeRule::Named(s) => Scope::Named(s.clone()),
            };
            set(&mut provenance, "scope", from.clone());
        }
        if let Some(v) = r.class {
            class = v;
            set(&mut provenance, "class", from.clone());
        }
        if let Some(v) = r.blocked {
            blocked = v;
            set(&mut provenance, "blocked", from.clone());
        }
        if let Some(v) = &r.body {
            body_extra.push(v.clone());
            provenance.push(("body", from.clone()));
        }
        if let Some(v) = &r.query {
            query_extra.push(v.clone());
            provenance.push(("query", from.clone()));
        }
        for (old, new) in &r.rename {
            if !rename.iter().any(|(o, _)| **o == **old) {
                rename.push((old.as_str().into(), new.as_str().into()));
                provenance.push(("rename", format!("{old} -> {new}: {from}")));
            }
        }
        for pointer in &r.relax {
            relax.push(pointer.clone());
            provenance.push(("relax", format!("{pointer}: {from}")));
        }
        for name in &r.require_headers {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                if !require_headers.contains(&name) {
                    require_headers.push(name);
                    provenance.push(("require_headers", from.clone()));
                }
            }
        }
    }
    // The old spelling is read as the new one: the schemas see (and the upstream receives)
    // only the new one, so a rename needs no schema of its own.
    // Keywords a rule relaxes are dropped from every description of the body; a pointer that
    // names nothing is left alone (the document may already be looser).
    let relaxed = op.body.as_ref().map(|body| {
        let mut body = body.clone();
        for schema in &mut body.alternatives {
            for pointer in &relax {
                if let Some((parent, keyword)) = pointer.rsplit_once('/') {
                    if let Some(serde_json::Value::Object(map)) = schema.pointer_mut(parent) {
                        map.remove(&keyword.replace("~1", "/").replace("~0", "~"));
                    }
                }
            }
        }
        body
    });
    let source = schema::SchemaSource {
        body: relaxed.as_ref(),
        body_extra,
        query: &op.query,
        query_open: op.query_open,
        query_extra,
    };
    let schemas = match Schemas::compile(source, unknown_fields) {
        Ok(schemas) => Some(schemas),
        Err((part, e)) => {
            let at = match part {
                Part::Body(i) => format!("{}/requestBody (description {})", op.pointer, i + 1),
                Part::BodyRule => format!("rules: operations.\"{key}\".body"),
                Part::Query => format!("{}/parameters", op.pointer),
                Part::QueryRule => format!("rules: operations.\"{key}\".query"),
            };
            problems.push(format!("{at}: the schema does not compile: {e}"));
            None
        }
    };
    let segments: Vec<Segment> = op.path[1..]
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Segment::Param
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect();
    match schemas {
        Some(schemas) if problems.is_empty() => Ok(Route {
            id: id.into(),
            method: op.method.clone(),
            template: op.path.clone(),
            segments,
            scope,
            class,
            schemas,
            rename: rename.into(),
            require_headers: require_headers.into(),
            blocked,
            operation_id: op.operation_id.clone(),
            provenance,
        }),
        _ => Err(problems),
    }
}
