//! The effective endpoint table as text, for `allo-gateway routes`.

use http::HeaderName;

use super::RouteTable;

/// The effective table as text (`allo-gateway routes`): one line per operation with its
/// method, path, id, scope, class and mode, then where each part came from.
pub fn listing(
    table: &RouteTable,
    callers: &[crate::config::CallerConfig],
    validation: crate::config::ValidationMode,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let reporting: Vec<&str> = callers
        .iter()
        .filter(|c| c.validation.is_some_and(|m| m != validation))
        .map(|c| c.id.as_str())
        .collect();
    let mode = match validation {
        crate::config::ValidationMode::Enforce => "enforce",
        crate::config::ValidationMode::Report => "report",
    };
    for route in table.routes() {
        let mode = if route.blocked { "blocked" } else { mode };
        let _ = writeln!(
            out,
            "{:<6} {:<58} {:<34} {:<28} {:<5} {}",
            route.method.as_str(),
            route.template,
            route.id,
            route.scope.to_string(),
            route.class.as_str(),
            mode
        );
        let mut from: Vec<String> = route
            .provenance
            .iter()
            .map(|(part, origin)| format!("{part}: {origin}"))
            .collect();
        if !route.require_headers.is_empty() {
            let names: Vec<&str> = route.require_headers.iter().map(HeaderName::as_str).collect();
            from.push(format!("requires {}", names.join(", ")));
        }
        let _ = writeln!(out, "       ({})", from.join("; "));
    }
    if !reporting.is_empty() {
        let _ = writeln!(
            out,
            "# callers with their own validation mode: {}",
            reporting.join(", ")
        );
    }
    out
}
