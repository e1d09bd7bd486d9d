//! The file watch behind hot reload: which folders to watch for a config, which events in
//! them may change it, and the `notify` watcher that signals them (coalesced) to the reload
//! loop. Folders, not files, are watched, because files are replaced rather than rewritten
//! (editors, `mv`, Kubernetes' `..data` symlink swap) and a watch on a replaced file's inode
//! goes quiet.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode, EventKind, MetadataKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Config;

/// The folders to watch and which names in each matter.
#[derive(Debug, Default)]
struct WatchList {
    folders: HashMap<PathBuf, Folder>,
}

#[derive(Debug, Default)]
struct Folder {
    names: HashSet<OsString>,
    /// `teams_dir`: every `*.toml` in it matters.
    any_toml: bool,
}

impl WatchList {
    fn new(config_path: &Path, config: &Config) -> WatchList {
        let mut list = WatchList::default();
        list.file(config_path);
        if let Some(dir) = &config.teams_dir {
            list.folders.entry(dir.clone()).or_default().any_toml = true;
        }
        let secrets = config
            .teams
            .iter()
            .flat_map(|t| std::iter::once(&t.api_key).chain(&t.api_key_fallback));
        for file in secrets.filter_map(|s| s.file()) {
            list.file(file);
        }
        if let Some(ca) = &config.upstream.ca_file {
            list.file(ca);
        }
        // Allo's API description and the rules on top are reloaded like the config.
        for file in [&config.api.spec, &config.api.rules].into_iter().flatten() {
            list.file(file);
        }
        list
    }

    fn file(&mut self, path: &Path) {
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            self.folders
                .entry(dir.to_path_buf())
                .or_default()
                .names
                .insert(name.to_owned());
        }
    }

    /// Whether an event on `path` may change the config: a watched name, a `*.toml` in
    /// `teams_dir`, Kubernetes' `..data` swap, or the folder itself.
    fn matters(&self, path: &Path) -> bool {
        if self.folders.contains_key(path) {
            return true;
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let Some(folder) = self.folders.get(dir) else {
            return false;
        };
        folder.names.contains(name)
            || (folder.any_toml && Path::new(name).extension().is_some_and(|x| x == "toml"))
            || name.as_encoded_bytes().starts_with(b"..")
    }
}

/// Whether an event kind can mean new contents. Reads (including the reload's own) cannot.
fn changes_contents(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

/// Watches the folders `config` names; file changes are signalled on `tx` (coalesced).
pub(super) fn watch(config_path: &Path, config: &Config, tx: &mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let list = Arc::new(WatchList::new(config_path, config));
    let (tx, seen) = (tx.clone(), list.clone());
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) if changes_contents(&event.kind) && event.paths.iter().any(|p| seen.matters(p)) => {
            // Full means a reload is already due, which will read this change too.
            let _ = tx.try_send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "file watch error"),
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config files; reload with SIGHUP");
            return None;
        }
    };
    for folder in list.folders.keys() {
        if let Err(e) = watcher.watch(folder, RecursiveMode::NonRecursive) {
            tracing::warn!(folder = %folder.display(), error = %e, "cannot watch this folder; reload with SIGHUP after changing it");
        }
    }
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_list_matches_watched_names_team_files_and_kubernetes_swaps() {
        let mut list = WatchList::default();
        list.file(Path::new("/etc/gw/gateway.toml"));
        list.file(Path::new("/run/secrets/a.key"));
        list.folders.entry(PathBuf::from("/etc/gw/teams")).or_default().any_toml = true;
        assert!(list.matters(Path::new("/etc/gw/gateway.toml")));
        assert!(list.matters(Path::new("/etc/gw/..data")));
        assert!(list.matters(Path::new("/etc/gw/teams/new.toml")));
        assert!(list.matters(Path::new("/etc/gw/teams")));
        assert!(list.matters(Path::new("/run/secrets/a.key")));
        assert!(!list.matters(Path::new("/run/secrets/b.key")));
        assert!(!list.matters(Path::new("/etc/gw/notes.txt")));
        assert!(!list.matters(Path::new("/etc/gw/teams/README.md")));
    }

    #[test]
    fn reads_do_not_count_as_changes() {
        assert!(!changes_contents(&EventKind::Access(AccessKind::Open(
            notify::event::AccessMode::Any
        ))));
        assert!(!changes_contents(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(changes_contents(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(changes_contents(&EventKind::Create(notify::event::CreateKind::File)));
    }
}
