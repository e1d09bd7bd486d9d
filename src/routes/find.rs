//! Matching a request's method and path to an endpoint: one hash lookup for a template
//! without parameters (the usual request), otherwise the templates of the path's length,
//! literal segments outranking parameters. Allocates nothing, except a 405's list of methods.

use std::sync::Arc;

use http::Method;

use super::openapi::MAX_SEGMENTS;
use super::{param, Route, RouteTable, Segment};

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

impl RouteTable {
    /// Resolves a request path (without query). Literal segments win over parameters, so
    /// `/v2/api/webhooks/event_types` is not taken for `/v2/api/webhooks/{webhook_id}`.
    ///
    /// HEAD on a path with no HEAD template of its own is the GET route (RFC 9110 §9.3.2: a
    /// server that answers GET answers HEAD), with its scope and read class; the request
    /// itself stays a HEAD, so the upstream sends the head without the body.
    pub fn find(&self, method: &Method, path: &str) -> Match<'_> {
        let found = self.find_exact(method, path);
        if *method != Method::HEAD || !matches!(found, Match::MethodNotAllowed { .. }) {
            return found;
        }
        match self.find_exact(&Method::GET, path) {
            Match::Found(route) => Match::Found(route),
            _ => found,
        }
    }

    /// `find` for exactly this method.
    fn find_exact(&self, method: &Method, path: &str) -> Match<'_> {
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
        // What `find` answers HEAD with, an Allow field names too.
        if allowed.contains(&Method::GET) && !allowed.contains(&Method::HEAD) {
            allowed.push(Method::HEAD);
        }
        allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        allowed.dedup();
        Match::MethodNotAllowed { allowed }
    }
}

impl Route {
    /// None when the path does not fit this template (a parameter's value included: never a
    /// dot-segment or an encoded separator); otherwise a rank where a literal segment early in
    /// the path outweighs any parameter after it.
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
                // A value a later hop could read as a path step is no value (see `param`).
                Segment::Param if !param::acceptable(part) => return None,
                Segment::Param => {}
            }
        }
        Some(rank)
    }
}
