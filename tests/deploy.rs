//! The deployment files in deploy/: no build compiles them and no Docker engine or cluster runs
//! them here, so each one is parsed and checked for what would break a deployment or weaken
//! it: the Dockerfile's stages, user, ports, build context and HEALTHCHECK (whose probe is
//! compiled and run against the real gateway, as are the Kubernetes probes); the sidecar's
//! probes, mounts, security context and NetworkPolicy; the systemd unit's sandbox and
//! credentials; deny.toml's sections. Every shipped gateway.toml must pass the real
//! `allo-gateway check` once its secret files are replaced by dummy ones.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use yaml_rust2::{Yaml, YamlLoader};

const BIN: &str = env!("CARGO_BIN_EXE_allo-gateway");
const CONFIG_PATH: &str = "/etc/allo-gateway/gateway.toml";
const ADMIN_PORT: i64 = 9901;

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    let path = repo_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------------------------------
// Dockerfile

#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> impl Iterator<Item = &str> {
        let keyword = keyword.to_owned();
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
            .map(|i| i.args.as_str())
    }

    fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last()
    }

    /// (flags, sources, destination) of every COPY.
    fn copies(&self) -> Vec<(Vec<String>, Vec<String>, String)> {
        self.all("COPY")
            .map(|args| {
                let words: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
                let (flags, paths): (Vec<String>, Vec<String>) = words.into_iter().partition(|w| w.starts_with("--"));
                let (dest, sources) = paths.split_last().expect("COPY needs a destination");
                (flags, sources.to_vec(), dest.clone())
            })
            .collect()
    }
}

/// Logical instructions (continuations joined, comments dropped), grouped into stages.
fn dockerfile_stages() -> Vec<Stage> {
    let text = read("deploy/Dockerfile");
    let mut instructions = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && logical.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                logical.push_str(part);
                logical.push(' ');
            }
            None => {
                logical.push_str(trimmed);
                let (keyword, args) = logical.split_once(char::is_whitespace).unwrap_or((&logical, ""));
                instructions.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                });
                logical.clear();
            }
        }
    }
    assert!(logical.is_empty(), "Dockerfile ends inside a continued line");

    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction.args.split_whitespace().collect();
            let image = words
                .iter()
                .find(|w| !w.starts_with("--"))
                .expect("FROM needs an image");
            let name = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("AS"))
                .map(|i| words[i + 1].to_owned());
            stages.push(Stage {
                image: image.to_string(),
                name,
                instructions: Vec::new(),
            });
        } else {
            let stage = stages
                .last_mut()
                .unwrap_or_else(|| panic!("{} before the first FROM", instruction.keyword));
            stage.instructions.push(instruction);
        }
    }
    stages
}

/// An exec-form argument list (`["a", "b"]`), read as YAML, which includes JSON arrays.
fn exec_form(args: &str) -> Vec<String> {
    let docs = YamlLoader::load_from_str(args).unwrap_or_else(|e| panic!("not exec form: {args}: {e}"));
    docs[0]
        .as_vec()
        .unwrap_or_else(|| panic!("not exec form (a JSON array): {args}"))
        .iter()
        .map(|v| v.as_str().expect("exec form holds strings").to_owned())
        .collect()
}

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

// ------------------------------------------------------------------------------------------
// Config files: every `{ file = ... }` secret pointed at a dummy key, then the real `check`.

/// Rewrites `text` so that every team's file secret points at a new file in `dir` holding a
/// dummy key; returns the new text and the original secret paths.
fn with_dummy_secret_files(text: &str, dir: &Path) -> (String, Vec<String>) {
    let mut table: toml::Table = text.parse().unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"));
    let mut originals = Vec::new();
    if let Some(toml::Value::Array(teams)) = table.get_mut("teams") {
        for team in teams.iter_mut() {
            for key in ["api_key", "api_key_fallback"] {
                let Some(toml::Value::Table(secret)) = team.get_mut(key) else {
                    continue;
                };
                let Some(toml::Value::String(path)) = secret.get("file") else {
                    continue;
                };
                originals.push(path.clone());
                let dummy = dir.join(format!("secret-{}", originals.len()));
                // The trailing newline is what `kubectl create secret --from-file` keeps.
                std::fs::write(&dummy, format!("ak_dummy_{}\n", originals.len())).unwrap();
                secret.insert("file".into(), toml::Value::String(dummy.display().to_string()));
            }
        }
    }
    (table.to_string(), originals)
}

/// `allo-gateway check` on a shipped config with dummy secrets: (exit code, output, secrets).
fn check_shipped_config(text: &str) -> (i32, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (rewritten, originals) = with_dummy_secret_files(text, dir.path());
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, rewritten).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config", config.to_str().unwrap()])
        .env_remove("ALLO_GATEWAY_CONFIG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text, originals)
}

/// "20s", "2m", "500ms" -> seconds (systemd's and the gateway's common forms).
fn seconds(duration: &str) -> f64 {
    let d = duration.trim();
    let split = d.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(d.len());
    let (number, unit) = d.split_at(split);
    let number: f64 = number.parse().unwrap_or_else(|_| panic!("duration {duration:?}"));
    number
        * match unit.trim() {
            "ms" => 0.001,
            "" | "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            other => panic!("duration unit {other:?} in {duration:?}"),
        }
}

fn shutdown_grace(config: &toml::Table) -> f64 {
    config
        .get("server")
        .and_then(|s| s.get("shutdown_grace"))
        .and_then(toml::Value::as_str)
        .map(seconds)
        .unwrap_or(20.0)
}

// ------------------------------------------------------------------------------------------
// Kubernetes

fn yaml_docs(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn kubernetes_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_path("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    files.sort();
    files
}

/// Every object of the given kind in deploy/kubernetes.
fn objects(kind: &str) -> Vec<Yaml> {
    kubernetes_files()
        .iter()
        .flat_map(|f| yaml_docs(&format!("deploy/kubernetes/{f}")))
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn one(kind: &str) -> Yaml {
    let mut found = objects(kind);
    assert_eq!(found.len(), 1, "exactly one {kind} expected");
    found.remove(0)
}

fn list(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or(&[])
}

fn str_of<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {y:?}"))
}

fn pod_spec() -> Yaml {
    one("Deployment")["spec"]["template"]["spec"].clone()
}

fn gateway_container(pod: &Yaml) -> Yaml {
    let is_gateway = |c: &Yaml| c["name"].as_str() == Some("allo-gateway");
    assert!(
        !list(&pod["containers"]).iter().any(is_gateway),
        "the gateway is a native sidecar (initContainers), not a regular container"
    );
    list(&pod["initContainers"])
        .iter()
        .find(|c| is_gateway(c))
        .cloned()
        .expect("an init container named allo-gateway")
}

/// The gateway.toml embedded in the ConfigMap.
fn configmap_gateway_toml() -> String {
    let cm = one("ConfigMap");
    str_of(&cm["data"]["gateway.toml"], "ConfigMap data gateway.toml").to_owned()
}

/// A probe's port, resolving a named port against the container's ports.
fn probe_port(container: &Yaml, probe: &Yaml) -> i64 {
    let port = &probe["httpGet"]["port"];
    match port.as_i64() {
        Some(n) => n,
        None => {
            let name = str_of(port, "probe port");
            list(&container["ports"])
                .iter()
                .find(|p| p["name"].as_str() == Some(name))
                .and_then(|p| p["containerPort"].as_i64())
                .unwrap_or_else(|| panic!("probe port {name:?} is not a container port"))
        }
    }
}

/// "32Mi" -> bytes.
fn memory_bytes(q: &str) -> u64 {
    let split = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    let (n, unit) = q.split_at(split);
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("memory quantity {q:?}"));
    n * match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        other => panic!("memory unit {other:?}"),
    }
}

#[test]
fn kubernetes_manifests_parse_and_kustomization_lists_them() {
    let files = kubernetes_files();
    for file in &files {
        let docs = yaml_docs(&format!("deploy/kubernetes/{file}"));
        assert!(!docs.is_empty(), "{file} is empty");
        for doc in &docs {
            assert!(doc["apiVersion"].as_str().is_some(), "{file}: apiVersion missing");
            assert!(doc["kind"].as_str().is_some(), "{file}: kind missing");
        }
    }
    let kustomization = &yaml_docs("deploy/kubernetes/kustomization.yaml")[0];
    let resources: BTreeSet<String> = list(&kustomization["resources"])
        .iter()
        .map(|r| str_of(r, "resource").to_owned())
        .collect();
    // Everything but the kustomization itself and the example Secret, which must not be
    // re-applied over the real keys.
    let expected: BTreeSet<String> = files
        .iter()
        .filter(|f| *f != "kustomization.yaml" && !f.contains(".example."))
        .cloned()
        .collect();
    assert_eq!(resources, expected);

    let image = gateway_container(&pod_spec())["image"].as_str().unwrap().to_owned();
    let image_name = image.split(':').next().unwrap();
    assert!(
        list(&kustomization["images"])
            .iter()
            .any(|i| i["name"].as_str() == Some(image_name)),
        "kustomization images: sets the gateway image {image}"
    );
}

#[test]
fn kubernetes_gateway_is_a_native_sidecar_probed_on_the_admin_port() {
    let deployment = one("Deployment");
    let pod = pod_spec();
    let gateway = gateway_container(&pod);
    assert_eq!(
        gateway["restartPolicy"].as_str(),
        Some("Always"),
        "native sidecar: initContainer with restartPolicy Always"
    );
    let args: Vec<&str> = list(&gateway["args"]).iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args, ["run", "--config", CONFIG_PATH]);

    // The admin port the probes use is the one the config binds, on the pod IP.
    let config: toml::Table = configmap_gateway_toml().parse().unwrap();
    let server = config["server"].as_table().unwrap();
    let admin: std::net::SocketAddr = server["admin_listen"].as_str().unwrap().parse().unwrap();
    assert_eq!(i64::from(admin.port()), ADMIN_PORT);
    assert!(
        admin.ip().is_unspecified(),
        "kubelet probes come from the node: admin_listen must bind the pod IP, not {admin}"
    );
    let listen: std::net::SocketAddr = server["listen"].as_str().unwrap().parse().unwrap();
    assert!(
        listen.ip().is_loopback(),
        "the gateway itself stays inside the pod: {listen}"
    );

    for (probe, path) in [
        ("startupProbe", "/readyz"),
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
    ] {
        let p = &gateway[probe];
        assert!(!p.is_badvalue(), "{probe} missing");
        assert_eq!(p["httpGet"]["path"].as_str(), Some(path), "{probe}");
        assert_eq!(probe_port(&gateway, p), ADMIN_PORT, "{probe} port");
    }

    let resources = &gateway["resources"];
    for (section, key) in [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")] {
        assert!(
            resources[section][key].as_str().is_some(),
            "resources.{section}.{key} missing"
        );
    }
    let request = memory_bytes(resources["requests"]["memory"].as_str().unwrap());
    let limit = memory_bytes(resources["limits"]["memory"].as_str().unwrap());
    assert!(request <= limit, "memory request {request} above limit {limit}");

    // The application calls the gateway on loopback, with its token from its own Secret.
    let app = list(&pod["containers"]).first().expect("an application container");
    let env = list(&app["env"]);
    let url = format!("http://{listen}");
    assert!(
        env.iter().any(|e| e["value"].as_str() == Some(url.as_str())),
        "the app is pointed at {url}"
    );
    assert!(
        env.iter()
            .any(|e| e["valueFrom"]["secretKeyRef"]["name"].as_str().is_some()),
        "the app's caller token comes from a Secret"
    );

    // The pod's grace period covers the gateway's drain (the app drains before it starts).
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap_or(30) as f64;
    assert!(
        grace > shutdown_grace(&config),
        "terminationGracePeriodSeconds {grace} <= shutdown_grace"
    );
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
}

#[test]
fn kubernetes_mounts_config_and_keys_as_whole_folders() {
    let pod = pod_spec();
    let gateway = gateway_container(&pod);
    for container in list(&pod["containers"])
        .iter()
        .chain(list(&pod["initContainers"]).iter())
    {
        for mount in list(&container["volumeMounts"]) {
            assert!(
                mount["subPath"].is_badvalue() && mount["subPathExpr"].is_badvalue(),
                "subPath mounts never receive updates (no hot reload, no key rotation): {mount:?}"
            );
        }
    }
    let volumes = list(&pod["volumes"]);
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("volume {name}"))
            .clone()
    };
    let mounts = list(&gateway["volumeMounts"]);

    // --config is a file of the mounted ConfigMap.
    let config_dir = Path::new(CONFIG_PATH).parent().unwrap().to_str().unwrap();
    let config_mount = mounts
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(config_dir))
        .expect("the config folder is mounted");
    let cm_name = volume(str_of(&config_mount["name"], "mount name"))["configMap"]["name"].clone();
    assert_eq!(cm_name, one("ConfigMap")["metadata"]["name"]);

    // Every key file the config reads is in a mounted Secret, under a key the Secret has.
    let scratch = tempfile::tempdir().unwrap();
    let (_, secret_files) = with_dummy_secret_files(&configmap_gateway_toml(), scratch.path());
    assert!(!secret_files.is_empty(), "the example reads its team keys from files");
    let example_secrets = yaml_docs("deploy/kubernetes/secret.example.yaml");
    for file in &secret_files {
        let file = Path::new(file);
        let mount = mounts
            .iter()
            .find(|m| Some(file.parent().unwrap().to_str().unwrap()) == m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("{} is not in a mounted folder", file.display()));
        assert_eq!(mount["readOnly"].as_bool(), Some(true));
        let secret = volume(str_of(&mount["name"], "mount name"))["secret"].clone();
        let secret_name = str_of(&secret["secretName"], "secretName");
        let example = example_secrets
            .iter()
            .find(|s| s["metadata"]["name"].as_str() == Some(secret_name))
            .unwrap_or_else(|| panic!("secret.example.yaml shows Secret {secret_name}"));
        let key = file.file_name().unwrap().to_str().unwrap();
        assert!(
            !example["stringData"][key].is_badvalue(),
            "Secret {secret_name} has no key {key}"
        );
        // Only the gateway sees team keys.
        for app in list(&pod["containers"]) {
            assert!(
                !list(&app["volumeMounts"]).iter().any(|m| m["name"] == mount["name"]),
                "the application must not mount the team keys"
            );
        }
    }
}

#[test]
fn kubernetes_containers_run_restricted() {
    let pod = pod_spec();
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(false));
    let pod_sc = &pod["securityContext"];
    for c in list(&pod["initContainers"]).iter().chain(list(&pod["containers"])) {
        let name = c["name"].as_str().unwrap();
        let sc = &c["securityContext"];
        let either = |key: &str| {
            if sc[key].is_badvalue() {
                pod_sc[key].clone()
            } else {
                sc[key].clone()
            }
        };
        assert_eq!(either("runAsNonRoot").as_bool(), Some(true), "{name}: runAsNonRoot");
        if let Some(uid) = either("runAsUser").as_i64() {
            assert_ne!(uid, 0, "{name}: runAsUser");
        }
        assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false), "{name}");
        assert!(
            list(&sc["capabilities"]["drop"])
                .iter()
                .any(|d| d.as_str() == Some("ALL")),
            "{name}: capabilities.drop ALL"
        );
        assert_eq!(
            either("seccompProfile")["type"].as_str(),
            Some("RuntimeDefault"),
            "{name}: seccompProfile"
        );
    }
}

#[test]
fn network_policy_keeps_other_pods_off_the_admin_port() {
    let policy = one("NetworkPolicy");
    let spec = &policy["spec"];
    let labels = one("Deployment")["spec"]["template"]["metadata"]["labels"].clone();
    let selector = spec["podSelector"]["matchLabels"]
        .as_hash()
        .expect("podSelector.matchLabels");
    for (k, v) in selector {
        assert_eq!(&labels[k.as_str().unwrap()], v, "the policy selects the sidecar's pods");
    }
    assert!(
        list(&spec["policyTypes"]).iter().any(|t| t.as_str() == Some("Ingress")),
        "policyTypes includes Ingress"
    );
    for rule in list(&spec["ingress"]) {
        let ports = list(&rule["ports"]);
        assert!(
            !ports.is_empty(),
            "a rule without ports admits every port, admin included: {rule:?}"
        );
        for port in ports {
            assert_ne!(port["port"].as_i64(), Some(ADMIN_PORT), "admin port admitted: {rule:?}");
            assert_ne!(port["port"].as_str(), Some("admin"), "admin port admitted: {rule:?}");
        }
    }
}

#[test]
fn kubernetes_config_passes_check() {
    let (code, out, files) = check_shipped_config(&configmap_gateway_toml());
    assert_eq!(code, 0, "{out}");
    assert!(files.iter().all(|f| f.starts_with("/run/secrets/")), "{files:?}");
}

// ------------------------------------------------------------------------------------------
// The HEALTHCHECK program and the Kubernetes probes against the real gateway

struct Gateway {
    child: Child,
    log: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the compiled healthcheck; true when it exits 0.
fn healthy(probe: &Path, url: &str) -> bool {
    let out = Command::new(probe).arg(url).output().unwrap();
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("healthcheck exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

#[test]
fn healthcheck_and_probes_pass_against_the_gateway_running_the_kubernetes_config() {
    let dir = tempfile::tempdir().unwrap();

    // The Dockerfile builds the probe with plain rustc; so does this test.
    let probe = dir.path().join("allo-gateway-healthcheck");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .args(["--edition", "2021", "-C", "opt-level=1", "-o"])
        .arg(&probe)
        .arg(repo_path("deploy/healthcheck.rs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The ConfigMap's config, on ephemeral loopback ports, with dummy key files.
    let (text, _) = with_dummy_secret_files(&configmap_gateway_toml(), dir.path());
    let mut config: toml::Table = text.parse().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = config["server"].as_table_mut().unwrap();
    server.insert("listen".into(), "127.0.0.1:0".into());
    server.insert("admin_listen".into(), format!("127.0.0.1:{port}").into());
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(&config_path, config.to_string()).unwrap();

    let base = format!("http://127.0.0.1:{port}");
    assert!(!healthy(&probe, &format!("{base}/healthz")), "nothing listens yet");

    let log = dir.path().join("gateway.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new(BIN)
        .args(["run", "--config", config_path.to_str().unwrap()])
        .env_remove("ALLO_GATEWAY_CONFIG")
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let mut gateway = Gateway { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthy(&probe, &format!("{base}/readyz")) {
        if let Some(status) = gateway.child.try_wait().unwrap() {
            panic!(
                "gateway exited with {status}:\n{}",
                std::fs::read_to_string(&gateway.log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "gateway never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The Dockerfile's HEALTHCHECK command, on this test's port.
    let runtime = dockerfile_stages().pop().unwrap();
    let (_, command) = runtime.last("HEALTHCHECK").unwrap().split_once("CMD").unwrap();
    let command = exec_form(command.trim());
    let url = command
        .get(1)
        .expect("the HEALTHCHECK passes the URL")
        .replace(&format!(":{ADMIN_PORT}/"), &format!(":{port}/"));
    assert!(healthy(&probe, &url), "HEALTHCHECK {url}");

    // Every probe of the sidecar.
    let gateway_spec = gateway_container(&pod_spec());
    for probe_name in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let path = str_of(&gateway_spec[probe_name]["httpGet"]["path"], probe_name);
        assert!(healthy(&probe, &format!("{base}{path}")), "{probe_name} {path}");
    }

    // A status other than 200 is unhealthy.
    assert!(!healthy(&probe, &format!("{base}/no-such-path")));
    drop(gateway);
}

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

// ------------------------------------------------------------------------------------------
// cargo-deny

#[test]
fn deny_toml_has_the_policy_sections() {
    let deny: toml::Table = read("deploy/deny.toml").parse().expect("deploy/deny.toml is TOML");
    let allow = deny["licenses"]["allow"].as_array().expect("[licenses] allow");
    assert!(!allow.is_empty());
    for license in allow {
        let license = license.as_str().unwrap();
        assert!(!license.contains("GPL"), "copyleft in the allow-list: {license}");
    }
    assert!(deny["bans"].get("multiple-versions").is_some());
    assert_eq!(deny["sources"]["unknown-registry"].as_str(), Some("deny"));
    assert_eq!(deny["sources"]["unknown-git"].as_str(), Some("deny"));
    assert!(deny.contains_key("advisories"));
    let targets: Vec<&str> = deny["graph"]["targets"]
        .as_array()
        .expect("[graph] targets")
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for target in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        assert!(targets.contains(&target), "{targets:?}");
    }
}
