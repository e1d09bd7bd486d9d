//! Teams and callers: each read where it is declared (the main file, or a team file of
//! `teams_dir`), then checked against each other (every caller's team exists, ids and token
//! hashes are not used twice).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::validation_mode;
use crate::config::fields::*;
use crate::config::raw::{self, RawCaller, RawTeam};
use crate::config::typed::*;
use crate::config::{defaults, toml_error_path, Problems};
use crate::secret::{Secret, SecretSource};

/// Loads `*.toml` from `dir`, each one team with its own callers. Problems are reported
/// under the file's name so the owner of that file knows it is theirs. Files named in `skip`
/// are left out.
pub(super) fn load_team_files(
    p: &mut Problems,
    dir: &Path,
    skip: &BTreeSet<String>,
    teams: &mut Vec<TeamConfig>,
    callers: &mut Vec<CallerConfig>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return p.push("teams_dir", format!("cannot read folder {}: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if skip.contains(&name) {
            continue;
        }
        let prefix = format!("teams_dir/{name}");
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                p.push(prefix, format!("cannot read: {e}"));
                continue;
            }
        };
        let (team, unknown) = match raw::parse::<RawTeam>(&text) {
            Ok(parsed) => parsed,
            Err(e) => {
                p.push(
                    format!("{prefix}:{}", toml_error_path(&e, &text)),
                    e.message().to_string(),
                );
                continue;
            }
        };
        for key in unknown {
            p.push(format!("{prefix}:{key}"), "unknown key");
        }
        let mut team = team;
        let team_callers = std::mem::take(&mut team.callers);
        let team_id = team.id.clone();
        let team_dir = file.parent().unwrap_or(dir).to_path_buf();
        teams.push(team_config(p, &format!("{prefix}:"), team, &team_dir));
        for (i, caller) in team_callers.into_iter().enumerate() {
            callers.push(caller_config(
                p,
                &format!("{prefix}:callers[{i}]"),
                caller,
                team_id.as_deref(),
            ));
        }
    }
}

pub(super) fn team_config(p: &mut Problems, path: &str, t: RawTeam, base_dir: &Path) -> TeamConfig {
    let sep = if path.ends_with(':') { "" } else { "." };
    let key = |k: &str| format!("{path}{sep}{k}");
    let id = identifier(p, &key("id"), t.id);
    let api_key = match t.api_key {
        Some(source) => secret_source(p, &key("api_key"), source, base_dir),
        None => {
            p.push(
                key("api_key"),
                "missing (the team's Allo key: { env = ... }, { file = ... } or { value = ... })",
            );
            SecretSource::Value(Secret::new(""))
        }
    };
    TeamConfig {
        origin: path.to_string(),
        id,
        api_key,
        api_key_fallback: t
            .api_key_fallback
            .map(|s| secret_source(p, &key("api_key_fallback"), s, base_dir)),
        read_per_second: per_second(
            p,
            &key("read_per_second"),
            t.read_per_second,
            defaults::TEAM_READ_PER_SECOND,
        ),
        write_per_second: per_second(
            p,
            &key("write_per_second"),
            t.write_per_second,
            defaults::TEAM_WRITE_PER_SECOND,
        ),
    }
}

pub(super) fn caller_config(p: &mut Problems, path: &str, c: RawCaller, file_team: Option<&str>) -> CallerConfig {
    let id = identifier(p, &format!("{path}.id"), c.id);
    let team = match (c.team, file_team) {
        (Some(team), None) => team,
        (Some(team), Some(owner)) if team == owner => team,
        (Some(_), Some(owner)) => {
            p.push(
                format!("{path}.team"),
                format!("a caller in a team file belongs to that file's team ({owner})"),
            );
            owner.to_string()
        }
        (None, Some(owner)) => owner.to_string(),
        (None, None) => {
            p.push(format!("{path}.team"), "missing");
            String::new()
        }
    };
    let token_sha256 = c.token_sha256.map(|hex_digest| {
        let mut digest = [0u8; 32];
        if hex::decode_to_slice(hex_digest.trim(), &mut digest).is_err() {
            p.push(
                format!("{path}.token_sha256"),
                "must be 64 hexadecimal characters (the SHA-256 of the token; `allo-gateway token` prints one)",
            );
        }
        digest
    });
    if token_sha256.is_none() && c.cert_san.is_none() {
        p.push(
            format!("{path}.token_sha256"),
            "missing (or give cert_san for a caller identified by its client certificate)",
        );
    }
    CallerConfig {
        origin: path.to_string(),
        id,
        team,
        token_sha256,
        cert_san: c.cert_san,
        scopes: c.scopes,
        rate: c.rate.map(|r| rate(p, &format!("{path}.rate"), r)),
        routes: c.routes,
        validation: c
            .validation
            .map(|v| validation_mode(p, &format!("{path}.validation"), Some(v))),
    }
}

pub(super) fn check_references(p: &mut Problems, teams: &[TeamConfig], callers: &[CallerConfig]) {
    let mut seen = std::collections::HashSet::new();
    for team in teams {
        if !team.id.is_empty() && !seen.insert(team.id.as_str()) {
            let sep = if team.origin.ends_with(':') { "" } else { "." };
            p.push(
                format!("{}{sep}id", team.origin),
                format!("team id {:?} is used more than once", team.id),
            );
        }
    }
    let mut caller_ids = std::collections::HashSet::new();
    let mut tokens = std::collections::HashSet::new();
    for caller in callers {
        let at = &caller.origin;
        if !caller.id.is_empty() && !caller_ids.insert(caller.id.as_str()) {
            p.push(
                format!("{at}.id"),
                format!("caller id {:?} is used more than once", caller.id),
            );
        }
        if !caller.team.is_empty() && !seen.contains(caller.team.as_str()) {
            p.push(format!("{at}.team"), format!("no team with id {:?}", caller.team));
        }
        if let Some(digest) = caller.token_sha256 {
            if !tokens.insert(digest) {
                p.push(
                    format!("{at}.token_sha256"),
                    "the same token hash is given to two callers",
                );
            }
        }
    }
}
