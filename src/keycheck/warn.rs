//! What a key's description says about the config and the route table, as warnings: a caller
//! given a scope its team's key lacks (Allo will refuse those of its requests, whatever the
//! gateway allows), and an endpoint Allo lists for a key that the gateway's route table does
//! not know (drift: Allo's API moved ahead of the table, and callers get 404 for it). Each is
//! found once per round of checks; the round logs it once.

use std::collections::{BTreeMap, BTreeSet};

use http::Method;

use super::me::MeEndpoint;
use crate::config::Config;
use crate::routes::{Match, RouteTable};

/// Longest piece of an Allo-supplied path that is logged.
const MAX_LOGGED_PATH: usize = 200;

/// Logs each scope a caller of `team` is configured with that the team's key lacks.
pub(super) fn missing_scopes(config: &Config, team: &str, key_scopes: &[String]) {
    let key_scopes: BTreeSet<&str> = key_scopes.iter().map(String::as_str).collect();
    for caller in config.callers.iter().filter(|c| c.team == team) {
        let configured: BTreeSet<&str> = caller.scopes.iter().flatten().map(String::as_str).collect();
        for scope in configured.difference(&key_scopes) {
            tracing::warn!(
                caller = %caller.id,
                team,
                scope,
                "a caller is configured with a scope its team's Allo key lacks; Allo will refuse its requests that need it"
            );
        }
    }
}

/// Endpoints Allo listed for a key that the route table does not know, with the teams whose
/// keys listed them: gathered over a round, logged once each at its end.
#[derive(Debug, Default)]
pub(super) struct Drift {
    unknown: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Drift {
    /// Notes every endpoint of `team`'s key that `routes` does not find.
    pub(super) fn note(&mut self, routes: &RouteTable, team: &str, endpoints: &[MeEndpoint]) {
        for endpoint in endpoints {
            if !known(routes, endpoint) {
                let path = bounded(&endpoint.path);
                let key = (bounded(&endpoint.method), path);
                self.unknown.entry(key).or_default().insert(team.to_owned());
            }
        }
    }

    pub(super) fn log(self) {
        for ((method, path), teams) in self.unknown {
            let teams = teams.into_iter().collect::<Vec<_>>().join(",");
            tracing::warn!(
                method,
                path,
                teams,
                "drift: Allo lists an endpoint for the team's key that the gateway's route table does not know"
            );
        }
    }

    #[cfg(test)]
    fn items(&self) -> Vec<(&str, &str)> {
        self.unknown.keys().map(|(m, p)| (m.as_str(), p.as_str())).collect()
    }
}

/// Whether the table has `endpoint`. Its path is a template (`/v2/api/users/{id}`), which the
/// table matches like a request path: `{id}` is a non-empty segment.
fn known(routes: &RouteTable, endpoint: &MeEndpoint) -> bool {
    let Ok(method) = Method::from_bytes(endpoint.method.to_ascii_uppercase().as_bytes()) else {
        return false;
    };
    matches!(routes.find(&method, &endpoint.path), Match::Found(_))
}

/// `text` cut to what is worth logging, on a character boundary.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_LOGGED_PATH) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UnknownFields;

    fn endpoint(method: &str, path: &str) -> MeEndpoint {
        MeEndpoint {
            method: method.into(),
            path: path.into(),
            scope: None,
        }
    }

    #[test]
    fn templates_are_known_and_the_rest_is_drift_noted_once() {
        let routes = RouteTable::builtin(UnknownFields::Reject).unwrap();
        let mut drift = Drift::default();
        let listed = [
            endpoint("GET", "/v2/api/users"),
            endpoint("get", "/v2/api/users/{id}"),
            endpoint("GET", "/v2/api/holograms"),
            endpoint("DELETE", "/v2/api/users"),
            endpoint("GET", "/v2/api/holograms"),
        ];
        drift.note(&routes, "sales", &listed);
        drift.note(&routes, "support", &listed[2..3]);
        assert_eq!(
            drift.items(),
            [("DELETE", "/v2/api/users"), ("GET", "/v2/api/holograms")]
        );
        assert_eq!(bounded(&"é".repeat(300)).chars().count(), MAX_LOGGED_PATH + 3);
    }
}
