//! The Allo endpoint table: every endpoint of `endpoints.json` (carried in the binary), matched
//! by method and path template, with its scope, rate-limit class and the JSON Schemas for its
//! body and query string compiled once at load. Matching an endpoint allocates nothing (only a
//! 405 lists the methods); it knows nothing about callers or teams.

mod email;
mod schema;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use http::Method;
use serde::Deserialize;

pub use schema::{QueryType, SchemaError, Schemas};

use crate::config::UnknownFields;

/// Longer paths than this are no Allo endpoint.
const MAX_SEGMENTS: usize = 16;

/// The endpoint list, as shipped with this build.
pub const ENDPOINTS_JSON: &str = include_str!("endpoints.json");

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
    /// None: no particular scope (e.g. `GET /v2/api/me`).
    pub scope: Option<String>,
    pub class: RateClass,
    pub schemas: Schemas,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

/// What a method + path resolves to.
#[derive(Debug)]
pub enum Match<'a> {
    Found(&'a Arc<Route>),
    /// The path is an Allo endpoint, but not with this method.
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
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
}

#[derive(Debug, thiserror::Error)]
pub enum RouteTableError {
    #[error("endpoints.json is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("endpoint {id}: {reason}")]
    Endpoint { id: String, reason: String },
    #[error("endpoint {id}: schema does not compile")]
    Schema {
        id: String,
        #[source]
        source: SchemaError,
    },
}

#[derive(Deserialize)]
struct EndpointsFile {
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    id: String,
    method: String,
    path: String,
    scope: Option<String>,
    rate_limit_class: String,
    query_schema: Option<serde_json::Value>,
    request_body_schema: Option<serde_json::Value>,
    #[serde(default)]
    request_body_required: bool,
    teammate_targeting: Option<serde_json::Value>,
}

impl RouteTable {
    /// The table shipped with the binary, schemas compiled under `unknown_fields`.
    pub fn builtin(unknown_fields: UnknownFields) -> Result<RouteTable, RouteTableError> {
        RouteTable::from_json(ENDPOINTS_JSON, unknown_fields)
    }

    pub fn from_json(json: &str, unknown_fields: UnknownFields) -> Result<RouteTable, RouteTableError> {
        let file: EndpointsFile = serde_json::from_str(json)?;
        let mut routes = Vec::with_capacity(file.endpoints.len());
        let mut scopes = BTreeSet::new();
        for e in file.endpoints {
            let bad = |reason: &str| RouteTableError::Endpoint {
                id: e.id.clone(),
                reason: reason.to_string(),
            };
            let method = Method::from_bytes(e.method.as_bytes()).map_err(|_| bad("bad method"))?;
            let class = match e.rate_limit_class.as_str() {
                "read" => RateClass::Read,
                "write" => RateClass::Write,
                _ => return Err(bad("rate_limit_class must be read or write")),
            };
            if !e.path.starts_with('/') {
                return Err(bad("path must start with /"));
            }
            let segments = e.path[1..]
                .split('/')
                .map(|s| {
                    if s.starts_with('{') && s.ends_with('}') {
                        Segment::Param
                    } else {
                        Segment::Literal(s.to_string())
                    }
                })
                .collect();
            // Endpoints that target a teammate accept both spellings of the teammate id.
            let teammate_alias = e.teammate_targeting.is_some();
            let schemas = Schemas::compile(
                e.request_body_schema,
                e.request_body_required,
                e.query_schema,
                unknown_fields,
                teammate_alias,
            )
            .map_err(|source| RouteTableError::Schema {
                id: e.id.clone(),
                source,
            })?;
            if let Some(scope) = &e.scope {
                scopes.insert(scope.clone());
            }
            routes.push(Arc::new(Route {
                id: e.id.into(),
                method,
                template: e.path,
                segments,
                scope: e.scope,
                class,
                schemas,
            }));
        }
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
        Ok(RouteTable {
            routes,
            literal,
            by_len,
            scopes,
        })
    }

    /// Resolves a request path (without query). Literal segments win over parameters, so
    /// `/v2/api/webhooks/event_types` is not taken for `/v2/api/webhooks/{webhook_id}`.
    pub fn find(&self, method: &Method, path: &str) -> Match<'_> {
        // A template without parameters outranks any other that fits the same path.
        let mut literal = self.literal.get(path).into_iter().flatten();
        if let Some(route) = literal.find(|r| r.method == *method) {
            return Match::Found(route);
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Match::NotFound;
        };
        // Allo paths have a handful of segments: split onto the stack, no allocation. Split as
        // bytes: a byte loop the compiler inlines, where `str::split` calls a searcher per
        // segment; `/` never occurs inside a multi-byte UTF-8 character, so the parts agree.
        let mut buf: [&[u8]; MAX_SEGMENTS] = [b""; MAX_SEGMENTS];
        let mut count = 0;
        for part in rest.as_bytes().split(|b| *b == b'/') {
            if count == MAX_SEGMENTS {
                return Match::NotFound;
            }
            buf[count] = part;
            count += 1;
        }
        let parts = &buf[..count];
        let candidates = self.by_len.get(count).map_or(&[][..], Vec::as_slice);
        // The method first: it is cheaper to compare than the segments, and it rules out most
        // templates of the right length.
        let mut best: Option<(&Arc<Route>, u64)> = None;
        for route in candidates.iter().filter(|r| r.method == *method) {
            let Some(rank) = route.rank(parts) else { continue };
            if best.is_none_or(|(_, r)| rank > r) {
                best = Some((route, rank));
            }
        }
        if let Some((route, _)) = best {
            return Match::Found(route);
        }
        // Only a miss pays for telling a wrong method (405) from an unknown path (404).
        let mut allowed: Vec<Method> = candidates
            .iter()
            .filter(|r| r.rank(parts).is_some())
            .map(|r| r.method.clone())
            .collect();
        if allowed.is_empty() {
            return Match::NotFound;
        }
        allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        allowed.dedup();
        Match::MethodNotAllowed { allowed }
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

impl Route {
    /// None when the path does not fit this template; otherwise a rank where a literal
    /// segment early in the path outweighs any parameter after it.
    fn rank(&self, parts: &[&[u8]]) -> Option<u64> {
        if parts.len() != self.segments.len() {
            return None;
        }
        // Last segment first: templates share their leading `v2/api`, so a path that does
        // not fit is usually told apart by its first comparison.
        let mut rank = 0u64;
        for (i, (segment, part)) in self.segments.iter().zip(parts).enumerate().rev() {
            match segment {
                Segment::Literal(lit) if lit.as_bytes() == *part => rank |= 1 << (parts.len() - 1 - i),
                Segment::Literal(_) => return None,
                Segment::Param if part.is_empty() => return None,
                Segment::Param => {}
            }
        }
        Some(rank)
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
