//! The Dockerfile: locked build, unprivileged runtime, and a build context that holds what
//! the build reads.

use super::*;

#[test]
fn dockerfile_builds_locked_and_runs_unprivileged() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "multi-stage build expected: {stages:#?}");
    let build = &stages[0];
    let runtime = stages.last().unwrap();

    assert!(build.image.starts_with("rust:"), "build stage image: {}", build.image);
    let cargo_build = build
        .all("RUN")
        .find(|r| r.contains("cargo build"))
        .expect("the build stage runs cargo build");
    assert!(cargo_build.contains("--release"), "{cargo_build}");
    assert!(cargo_build.contains("--locked"), "{cargo_build}");

    assert!(
        !runtime.image.starts_with("rust:"),
        "runtime stage must be minimal: {}",
        runtime.image
    );
    let user = runtime.last("USER").expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap();
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER must be numeric so runAsNonRoot can verify it: {user}"));
    assert_ne!(uid, 0, "USER must not be root");
    if let Some(gid) = user.split(':').nth(1) {
        assert!(gid.parse::<u32>().is_ok(), "numeric group expected: {user}");
    }

    let exposed: BTreeSet<&str> = runtime.all("EXPOSE").flat_map(str::split_whitespace).collect();
    for port in ["8080", "9901"] {
        assert!(
            exposed.contains(port) || exposed.contains(format!("{port}/tcp").as_str()),
            "EXPOSE {port}: {exposed:?}"
        );
    }

    // What ends up in the image: the binaries from the build stage and the example config.
    let build_name = build.name.as_deref().expect("the build stage is named");
    let copies = runtime.copies();
    let destinations: BTreeSet<&str> = copies.iter().map(|(_, _, d)| d.as_str()).collect();
    for (flags, sources, _) in &copies {
        if flags.iter().any(|f| f == &format!("--from={build_name}")) {
            assert!(sources.iter().all(|s| s.starts_with("/out/")), "{sources:?}");
        } else {
            assert_eq!(
                sources,
                &["config/example.toml"],
                "the runtime stage copies only the binaries"
            );
        }
    }

    let healthcheck = runtime
        .last("HEALTHCHECK")
        .expect("the runtime stage has a HEALTHCHECK");
    let (options, command) = healthcheck.split_once("CMD").expect("HEALTHCHECK ... CMD [...]");
    assert!(options.contains("--timeout="), "{healthcheck}");
    let command = exec_form(command.trim());
    assert!(
        destinations.contains(command[0].as_str()),
        "the HEALTHCHECK program {} is not copied into the image (no shell or curl there)",
        command[0]
    );
    assert!(command.iter().any(|a| a.contains("/healthz")), "{command:?}");

    let entrypoint = exec_form(runtime.last("ENTRYPOINT").expect("ENTRYPOINT"));
    let cmd = runtime.last("CMD").map(exec_form).unwrap_or_default();
    assert!(destinations.contains(entrypoint[0].as_str()), "{entrypoint:?}");
    let full: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    assert_eq!(
        full,
        ["/usr/local/bin/allo-gateway", "run", "--config", CONFIG_PATH],
        "the container's command"
    );
}

/// Files that Rust sources under `dir` pull in with `include_str!`/`include_bytes!`, as
/// repository-relative paths.
fn included_files(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            included_files(&path, found);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for macro_call in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(macro_call) {
                let literal = &text[at + macro_call.len()..];
                let literal = &literal[..literal.find('"').unwrap()];
                let mut resolved = PathBuf::new();
                for part in path.parent().unwrap().join(literal).components() {
                    match part {
                        std::path::Component::ParentDir => {
                            resolved.pop();
                        }
                        other => resolved.push(other),
                    }
                }
                let relative = resolved
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap_or_else(|_| panic!("{} includes {literal}, outside the repository", path.display()));
                found.push(relative.to_str().unwrap().to_owned());
            }
        }
    }
}

#[test]
fn docker_build_context_holds_what_the_build_needs() {
    // `docker build -f deploy/Dockerfile .` reads deploy/Dockerfile.dockerignore; a
    // deploy/.dockerignore would be silently ignored.
    assert!(
        !repo_path("deploy/.dockerignore").exists(),
        "BuildKit never reads deploy/.dockerignore"
    );
    let ignore = read("deploy/Dockerfile.dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        patterns.first(),
        Some(&"*"),
        "an allow-list starts by excluding everything"
    );
    let admitted: Vec<&str> = patterns.iter().filter_map(|p| p.strip_prefix('!')).collect();
    let under = |path: &str, roots: &[&str]| {
        roots
            .iter()
            .any(|r| path == *r || path.starts_with(&format!("{}/", r.trim_end_matches('/'))))
    };

    // Every file a COPY names exists and is in the context.
    let stages = dockerfile_stages();
    let mut build_copies: Vec<String> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        for (flags, sources, _) in stage.copies() {
            if flags.iter().any(|f| f.starts_with("--from=")) {
                continue;
            }
            for source in sources {
                assert!(repo_path(&source).exists(), "COPY {source}: not in the repository");
                assert!(
                    under(&source, &admitted),
                    "COPY {source}: excluded from the build context"
                );
                if i == 0 {
                    build_copies.push(source);
                }
            }
        }
    }

    // What `cargo build --bin allo-gateway` reads is copied into the build stage: the
    // manifest, the lock file, src/, a build script if one appears, and any file src/ includes.
    let mut needed: Vec<String> = vec!["Cargo.toml".into(), "Cargo.lock".into(), "src/main.rs".into()];
    if repo_path("build.rs").exists() {
        needed.push("build.rs".into());
    }
    included_files(&repo_path("src"), &mut needed);
    let copied: Vec<&str> = build_copies.iter().map(String::as_str).collect();
    for path in &needed {
        assert!(
            under(path, &copied),
            "the build stage needs {path} but does not COPY it"
        );
    }
}
