//! The systemd unit: its sandbox, start/reload/stop, and every key read from a credential.

use super::*;

// ------------------------------------------------------------------------------------------
// systemd

/// section -> [(key, value)], in file order (repeated keys kept).
fn unit_file(rel: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current = String::new();
    let mut pending = String::new();
    for line in read(rel).lines() {
        let line = line.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            pending.push_str(part);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let logical = std::mem::take(&mut pending);
        if let Some(name) = logical.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_owned();
            continue;
        }
        let (key, value) = logical
            .split_once('=')
            .unwrap_or_else(|| panic!("{rel}: not key=value: {logical}"));
        sections
            .entry(current.clone())
            .or_default()
            .push((key.trim().to_owned(), value.trim().to_owned()));
    }
    sections
}

fn values<'a>(section: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    section
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

const UNIT: &str = "deploy/systemd/allo-gateway.service";

#[test]
fn systemd_unit_is_sandboxed() {
    let unit = unit_file(UNIT);
    let service = &unit["Service"];
    let last = |key: &str| {
        values(service, key)
            .last()
            .copied()
            .unwrap_or_else(|| panic!("{key}= missing"))
    };
    for (key, expected) in [
        ("Type", "exec"),
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("SystemCallArchitectures", "native"),
        ("CapabilityBoundingSet", ""),
        ("UMask", "0077"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(last(key), expected, "{key}=");
    }
    let families: BTreeSet<&str> = last("RestrictAddressFamilies").split_whitespace().collect();
    assert_eq!(families, BTreeSet::from(["AF_INET", "AF_INET6", "AF_UNIX"]));

    let filters = values(service, "SystemCallFilter");
    assert!(
        filters
            .iter()
            .any(|f| f.split_whitespace().any(|g| g == "@system-service")),
        "{filters:?}"
    );
    let denied: BTreeSet<&str> = filters
        .iter()
        .filter_map(|f| f.strip_prefix('~'))
        .flat_map(str::split_whitespace)
        .collect();
    for group in ["@privileged", "@resources", "@mount"] {
        assert!(denied.contains(group), "SystemCallFilter=~{group}: {denied:?}");
    }
    assert!(
        values(service, "Environment")
            .iter()
            .any(|e| e.split_whitespace().any(|v| v == "ALLO_GATEWAY_LOG=info")),
        "Environment=ALLO_GATEWAY_LOG=info"
    );
}

#[test]
fn systemd_unit_starts_reloads_and_stops_the_gateway() {
    let unit = unit_file(UNIT);
    let service = &unit["Service"];
    let config_arg = format!("--config {CONFIG_PATH}");
    assert_eq!(
        values(service, "ExecStart"),
        [format!("/usr/local/bin/allo-gateway run {config_arg}")]
    );
    // Reload checks the config first, then signals: a bad edit fails `systemctl reload`.
    let reload = values(service, "ExecReload");
    assert_eq!(reload.last(), Some(&"/bin/kill -HUP $MAINPID"), "{reload:?}");
    assert!(
        reload
            .iter()
            .any(|r| r.contains("allo-gateway check") && r.contains(&config_arg)),
        "{reload:?}"
    );
    // `run` already exits 78 on a bad config; RestartPreventExitStatus= applies to the main
    // process only, so an ExecStartPre= check failing with 78 would be restarted forever.
    assert!(
        values(service, "ExecStartPre").iter().all(|c| !c.contains(" check")),
        "ExecStartPre= check escapes RestartPreventExitStatus=78"
    );
    assert!(
        values(service, "RestartPreventExitStatus")
            .iter()
            .any(|v| v.split_whitespace().any(|s| s == "78")),
        "config errors (exit 78) must not restart"
    );

    let config: toml::Table = read("deploy/systemd/gateway.toml").parse().unwrap();
    let stop = seconds(values(service, "TimeoutStopSec").last().expect("TimeoutStopSec="));
    assert!(
        stop > shutdown_grace(&config),
        "TimeoutStopSec={stop}s must exceed shutdown_grace"
    );
}

#[test]
fn systemd_config_reads_every_key_from_a_loaded_credential() {
    let unit = unit_file(UNIT);
    let service = &unit["Service"];
    let credentials: BTreeMap<&str, &str> = values(service, "LoadCredential")
        .into_iter()
        .map(|v| v.split_once(':').expect("LoadCredential=ID:PATH"))
        .collect();
    assert!(!credentials.is_empty(), "LoadCredential= missing");
    for path in credentials.values() {
        assert!(path.starts_with('/'), "LoadCredential path {path}");
    }

    let (code, out, files) = check_shipped_config(&read("deploy/systemd/gateway.toml"));
    assert_eq!(code, 0, "{out}");
    let unit_name = Path::new(UNIT).file_name().unwrap().to_str().unwrap();
    let prefix = format!("/run/credentials/{unit_name}/");
    let used: BTreeSet<&str> = files
        .iter()
        .map(|f| {
            f.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{f} is not a credential of {unit_name}"))
        })
        .collect();
    let loaded: BTreeSet<&str> = credentials.keys().copied().collect();
    assert_eq!(
        used, loaded,
        "each key file is a LoadCredential= and each credential is used"
    );
}
