//! What a reload loads: the config as at startup, except that a team file with problems is
//! left out (its previous version kept, if it had one) rather than failing the whole load.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::config::{self, Config, ConfigError, Problem};
use crate::state::Runtime;

/// What a successful reload produced.
pub struct Loaded {
    pub runtime: Runtime,
    /// Team files left out, by file name in `teams_dir`.
    pub refused: Vec<RefusedTeamFile>,
}

pub struct RefusedTeamFile {
    pub name: String,
    pub problems: Vec<Problem>,
    /// Whether the file's previous version keeps serving (else its team is not served).
    pub kept_previous: bool,
}

/// Loads the config at `path` as at startup, except that a team file with problems is left
/// out (keeping its version from `previous`, if any) instead of failing the whole load.
/// Fails if any problem is not a team file's.
pub fn load(path: &Path, previous: &Config) -> Result<Loaded, ConfigError> {
    let mut skip = BTreeSet::new();
    let mut without_previous = BTreeSet::new();
    let mut refused: BTreeMap<String, Vec<Problem>> = BTreeMap::new();
    loop {
        let config = config::load_skipping(path, &skip);
        let attempt = config.and_then(|mut config| {
            keep_previous(&mut config, previous, &skip, &without_previous);
            Runtime::build(config)
        });
        let error = match attempt {
            Ok(runtime) => {
                let refused = refused
                    .into_iter()
                    .map(|(name, problems)| RefusedTeamFile {
                        kept_previous: !without_previous.contains(&name) && from_file(previous, &name).next().is_some(),
                        name,
                        problems,
                    })
                    .collect();
                return Ok(Loaded { runtime, refused });
            }
            Err(error) => error,
        };
        // Each pass leaves out at least one more file (or its previous version), so this ends.
        let mut progress = false;
        let mut global = Vec::new();
        for problem in error.problems {
            match team_file(&problem.path).map(str::to_owned) {
                Some(name) if skip.insert(name.clone()) => {
                    refused.entry(name).or_default().push(problem);
                    progress = true;
                }
                // The previous version, kept, no longer loads (e.g. its secret file is gone).
                Some(name) if without_previous.insert(name.clone()) => {
                    refused.entry(name).or_default().push(problem);
                    progress = true;
                }
                _ => global.push(problem),
            }
        }
        if !global.is_empty() || !progress {
            return Err(all_problems(global, refused));
        }
    }
}

/// Every problem of a load that failed: those outside team files, then each refused file's.
fn all_problems(mut global: Vec<Problem>, refused: BTreeMap<String, Vec<Problem>>) -> ConfigError {
    global.extend(refused.into_values().flatten());
    if global.is_empty() {
        global.push(Problem {
            path: "(config)".into(),
            message: "could not be loaded".into(),
        });
    }
    ConfigError { problems: global }
}

/// The team file a problem is located in (`teams_dir/sales.toml:callers[0].id` ->
/// `sales.toml`), as `config` and `state` write problem paths.
fn team_file(problem_path: &str) -> Option<&str> {
    let rest = problem_path.strip_prefix("teams_dir/")?;
    rest.split(':').next().filter(|name| !name.is_empty())
}

/// What team file `name` contributed to `config` (the origin of its team and callers).
fn from_file<'a>(config: &'a Config, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    let prefix = format!("teams_dir/{name}:");
    config
        .teams
        .iter()
        .map(|t| t.origin.as_str())
        .chain(config.callers.iter().map(|c| c.origin.as_str()))
        .filter(move |origin| origin.starts_with(&prefix))
}

/// Puts back the previous version of each left-out team file into `config`.
fn keep_previous(config: &mut Config, previous: &Config, skip: &BTreeSet<String>, without: &BTreeSet<String>) {
    if config.teams_dir != previous.teams_dir {
        return;
    }
    for name in skip.difference(without) {
        let prefix = format!("teams_dir/{name}:");
        let ours = |origin: &str| origin.starts_with(&prefix);
        config
            .teams
            .extend(previous.teams.iter().filter(|t| ours(&t.origin)).cloned());
        config
            .callers
            .extend(previous.callers.iter().filter(|c| ours(&c.origin)).cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_attributed_to_team_files() {
        assert_eq!(team_file("teams_dir/sales.toml:callers[0].id"), Some("sales.toml"));
        assert_eq!(team_file("teams_dir/sales.toml:line 3"), Some("sales.toml"));
        assert_eq!(team_file("teams_dir/sales.toml"), Some("sales.toml"));
        assert_eq!(team_file("teams_dir"), None);
        assert_eq!(team_file("callers[0].id"), None);
    }
}
