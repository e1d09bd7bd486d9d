//! The Allo endpoint table: every operation of the API description in force (Allo's OpenAPI
//! document, `openapi`, built in or from `[api] spec`) with the project's rules laid over it
//! (`rules`), matched by method and path template (`find`), with its scope, rate-limit class,
//! compiled JSON Schemas (`schema`), renames and required headers. Built at load and at every
//! reload; it knows nothing about callers or teams.

mod build;
pub mod diff;
mod email;
mod find;
mod listing;
pub mod openapi;
mod param;
pub mod rules;
mod schema;
mod yaml;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use http::{HeaderName, Method};

pub use find::Match;
pub use listing::listing;
pub use openapi::{Description, Operation, Source, SpecError, SpecProblem};
pub use rules::{Origin, Rule, RuleProblem, Rules, ScopeRule};
pub use schema::{Part, QueryType, Quick, SchemaError, SchemaSource, Schemas};

use crate::config::UnknownFields;
use openapi::MAX_SEGMENTS;

/// Which of Allo's per-key budgets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateClass {
    Read,
    Write,
}

impl RateClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RateClass::Read => "read",
            RateClass::Write => "write",
        }
    }

    /// Allo's own split: GET and HEAD read, everything else writes.
    pub fn of_method(method: &Method) -> RateClass {
        if method == Method::GET || method == Method::HEAD {
            RateClass::Read
        } else {
            RateClass::Write
        }
    }
}

/// What a caller needs to call a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Any valid key (e.g. `GET /v2/api/me`).
    Any,
    Named(String),
    /// Known nowhere: only callers with no `scopes` limit may call it.
    Unknown,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Any => write!(f, "(any key)"),
            Scope::Named(s) => write!(f, "{s}"),
            Scope::Unknown => write!(f, "(unknown)"),
        }
    }
}

/// One Allo endpoint.
#[derive(Debug)]
pub struct Route {
    /// e.g. `dialingQueues.resetCurrent`; shared by the access log and the metrics labels.
    pub id: Arc<str>,
    pub method: Method,
    /// e.g. `/v2/api/users/{id}`
    pub template: String,
    segments: Vec<Segment>,
    pub scope: Scope,
    pub class: RateClass,
    pub schemas: Schemas,
    /// Field renames (old spelling -> new), applied to the body's top-level keys and the
    /// query's keys before the check and before forwarding.
    pub rename: Box<[(Box<str>, Box<str>)]>,
    pub require_headers: Box<[HeaderName]>,
    /// Refused as if unknown (404).
    pub blocked: bool,
    pub operation_id: Option<String>,
    /// Where each part of the route came from, for `allo-gateway routes`.
    pub provenance: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
    /// Templates without a parameter, by their path: the usual request is one lookup.
    literal: HashMap<Box<str>, Vec<Arc<Route>>, foldhash::fast::RandomState>,
    /// `by_len[n]`: the routes whose template has `n` segments (a path is only ever compared
    /// with templates of its own length).
    by_len: Vec<Vec<Arc<Route>>>,
    scopes: BTreeSet<String>,
    source: Source,
}

/// Why a description and rules do not make a table: every problem, each with where it is.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the endpoint table does not build: {}", .problems.join("; "))]
pub struct RouteTableError {
    pub problems: Vec<String>,
}

impl RouteTable {
    /// The built-in description and rules, schemas compiled under `unknown_fields`.
    pub fn builtin(unknown_fields: UnknownFields) -> Result<RouteTable, RouteTableError> {
        let description = Description::builtin().map_err(|e| RouteTableError {
            problems: e
                .problems
                .iter()
                .map(|p| format!("built-in description: {p}"))
                .collect(),
        })?;
        RouteTable::build(&description, &Rules::default(), unknown_fields)
    }

    /// `description` with the built-in rules and then `rules` laid over it.
    pub fn build(
        description: &Description,
        rules: &Rules,
        unknown_fields: UnknownFields,
    ) -> Result<RouteTable, RouteTableError> {
        let builtin = Rules::builtin().map_err(|problems| RouteTableError {
            problems: problems.iter().map(ToString::to_string).collect(),
        })?;
        let mut problems = Vec::new();
        // A rule of the operator's must name an operation; a built-in one may outlive it.
        for r in &rules.rules {
            if !description
                .operations
                .iter()
                .any(|o| o.method == r.method && o.path == r.path)
            {
                problems.push(format!(
                    "{}: {}: the API description has no such operation",
                    r.origin, r.key
                ));
            }
        }
        let all = builtin.then(rules.clone());
        let mut routes = Vec::with_capacity(description.operations.len());
        let mut ids: HashMap<Arc<str>, String> = HashMap::new();
        for op in &description.operations {
            match build::route(op, &all, unknown_fields) {
                Ok(route) => {
                    let key = format!("{} {}", route.method, route.template);
                    if let Some(other) = ids.insert(route.id.clone(), key.clone()) {
                        problems.push(format!(
                            "{key}: id {:?} is also the id of {other}; ids must be unique",
                            &*route.id
                        ));
                    }
                    routes.push(Arc::new(route));
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        if !problems.is_empty() {
            return Err(RouteTableError { problems });
        }
        Ok(RouteTable::index(routes, description.source.clone()))
    }

    fn index(routes: Vec<Arc<Route>>, source: Source) -> RouteTable {
        let scopes = routes
            .iter()
            .filter_map(|r| match &r.scope {
                Scope::Named(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        let mut by_len = vec![Vec::new(); MAX_SEGMENTS + 1];
        for route in &routes {
            if let Some(bucket) = by_len.get_mut(route.segments.len()) {
                bucket.push(route.clone());
            }
        }
        // Keyed by request paths, but only looked up: the table is built here and never grows,
        // so no input can make a lookup slow.
        let mut literal: HashMap<Box<str>, Vec<Arc<Route>>, _> = HashMap::default();
        for route in routes.iter().filter(|r| !r.segments.contains(&Segment::Param)) {
            literal
                .entry(route.template.as_str().into())
                .or_default()
                .push(route.clone());
        }
        RouteTable {
            routes,
            literal,
            by_len,
            scopes,
            source,
        }
    }

    /// A table with no endpoint.
    pub fn empty() -> RouteTable {
        RouteTable::index(Vec::new(), Source::BuiltIn)
    }

    /// Where the description in force came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
    }

    /// Every scope some endpoint requires.
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.scopes
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// A route allow-list entry: an endpoint id, or `group.*` for a whole group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePattern {
    Exact(String),
    Group(String),
}

impl RoutePattern {
    pub fn parse(text: &str) -> RoutePattern {
        match text.strip_suffix(".*") {
            Some(group) => RoutePattern::Group(format!("{group}.")),
            None => RoutePattern::Exact(text.to_string()),
        }
    }

    pub fn matches(&self, id: &str) -> bool {
        match self {
            RoutePattern::Exact(exact) => exact == id,
            RoutePattern::Group(prefix) => id.starts_with(prefix.as_str()),
        }
    }
}

#[cfg(test)]
mod tests;
