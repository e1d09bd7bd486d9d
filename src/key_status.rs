//! What Allo last said about each team's key (asked by `keycheck`), kept by the `Gateway` for
//! the process's life (a reload replaces the `Runtime`, not this), with the `team_key_valid`
//! gauge kept in step. A room apart from the checks so that the state can hold it while the
//! checks read the state.
//! A check that cannot tell (Allo unreachable, a 5xx) makes the key "unknown" but keeps Allo's
//! last answer beside the error, so an operator sees both what was known and why it is stale.
//! `/readyz?verbose` reads it through `report`.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::metrics::Metrics;

/// A key as `/readyz?verbose` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Valid,
    Invalid,
    Unknown,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Valid => "valid",
            KeyState::Invalid => "invalid",
            KeyState::Unknown => "unknown",
        }
    }
}

/// Allo's last answer about a key.
#[derive(Debug, Clone)]
pub struct Known {
    pub valid: bool,
    /// The key's scopes (empty for a refused key).
    pub scopes: Vec<String>,
    pub checked_at: SystemTime,
}

/// The last check that could not tell.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: String,
    pub at: SystemTime,
}

#[derive(Debug, Clone, Default)]
pub struct TeamKey {
    pub known: Option<Known>,
    /// Set by a check that could not tell; cleared when Allo answers again.
    pub failure: Option<Failure>,
}

impl TeamKey {
    pub fn state(&self) -> KeyState {
        match (&self.known, &self.failure) {
            (Some(known), None) if known.valid => KeyState::Valid,
            (Some(_), None) => KeyState::Invalid,
            _ => KeyState::Unknown,
        }
    }

    fn report(&self) -> Value {
        let state = self.state();
        let mut entry = json!({
            "key": state.as_str(),
            "scopes": self.known.as_ref().map_or(&[][..], |k| &k.scopes[..]),
            "checked_at": self.known.as_ref().map(|k| rfc3339(k.checked_at)),
        });
        if let (KeyState::Unknown, Some(known)) = (state, &self.known) {
            entry["last_known"] = json!(if known.valid { "valid" } else { "invalid" });
        }
        if let Some(failure) = &self.failure {
            entry["error"] = json!(failure.error);
            entry["failed_at"] = json!(rfc3339(failure.at));
        }
        entry
    }
}

/// Each team's key, by team id.
#[derive(Debug, Default)]
pub struct KeyChecks {
    teams: Mutex<BTreeMap<String, TeamKey>>,
}

impl KeyChecks {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, TeamKey>) -> R) -> R {
        f(&mut self.teams.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Allo answered: the key is `valid` (with `scopes`) or refused.
    pub fn answered(&self, team: &str, valid: bool, scopes: Vec<String>, metrics: &Metrics) {
        self.with(|teams| {
            let entry = teams.entry(team.to_owned()).or_default();
            entry.known = Some(Known {
                valid,
                scopes,
                checked_at: SystemTime::now(),
            });
            entry.failure = None;
        });
        metrics.team_key(team, Some(valid));
    }

    /// The check could not tell; Allo's last answer, if any, is kept.
    pub fn failed(&self, team: &str, error: String, metrics: &Metrics) {
        self.with(|teams| {
            teams.entry(team.to_owned()).or_default().failure = Some(Failure {
                error,
                at: SystemTime::now(),
            });
        });
        metrics.team_key(team, None);
    }

    /// Forgets the teams for which `keep` is false (no longer configured, or checks turned
    /// off), with their gauges.
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool, metrics: &Metrics) {
        self.with(|teams| {
            teams.retain(|team, _| {
                let kept = keep(team);
                if !kept {
                    metrics.forget_team_key(team);
                }
                kept
            });
        });
    }

    /// A team's key as last checked (unknown if never).
    pub fn get(&self, team: &str) -> TeamKey {
        self.with(|teams| teams.get(team).cloned().unwrap_or_default())
    }

    /// `{"<team>": {"key": ..., "scopes": [...], "checked_at": ...}}` for each of `teams`.
    pub fn report<'a>(&self, teams: impl Iterator<Item = &'a str>) -> Value {
        self.with(|known| {
            let report: serde_json::Map<String, Value> = teams
                .map(|team| {
                    let entry = known
                        .get(team)
                        .map_or_else(|| TeamKey::default().report(), TeamKey::report);
                    (team.to_owned(), entry)
                })
                .collect();
            Value::Object(report)
        })
    }
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_allo_keeps_the_last_answer_beside_the_error() {
        let (checks, metrics) = (KeyChecks::default(), Metrics::new());
        assert_eq!(checks.get("sales").state(), KeyState::Unknown);
        checks.answered("sales", true, vec!["USERS_READ".into()], &metrics);
        assert_eq!(checks.get("sales").state(), KeyState::Valid);
        checks.failed("sales", "Allo answered 503".into(), &metrics);
        let report = checks.report(["sales", "support"].into_iter());
        assert_eq!(report["sales"]["key"], "unknown");
        assert_eq!(report["sales"]["last_known"], "valid");
        assert_eq!(report["sales"]["scopes"], json!(["USERS_READ"]));
        assert_eq!(report["sales"]["error"], "Allo answered 503");
        assert_eq!(
            report["support"],
            json!({"key": "unknown", "scopes": [], "checked_at": null})
        );
        assert!(metrics
            .render()
            .contains(r#"allo_gateway_team_key_valid{team="sales"} -1"#));

        checks.answered("sales", false, Vec::new(), &metrics);
        assert_eq!(checks.get("sales").state(), KeyState::Invalid);
        assert!(metrics
            .render()
            .contains(r#"allo_gateway_team_key_valid{team="sales"} 0"#));
        checks.retain(|team| team != "sales", &metrics);
        assert_eq!(checks.get("sales").state(), KeyState::Unknown);
        assert!(!metrics.render().contains("team_key_valid{"));
    }
}
