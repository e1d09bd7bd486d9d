//! The Kubernetes manifests: the native sidecar probed on the admin port, config and keys
//! mounted as folders, restricted containers, the NetworkPolicy, and the HEALTHCHECK program
//! and probes run against the real gateway on the ConfigMap's config.

use super::*;

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{GatewayProcess, TestConfig};

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

    // Nothing listens on a port that was just free.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert!(
        !healthy(&probe, &format!("http://127.0.0.1:{free}/healthz")),
        "nothing listens yet"
    );

    // The ConfigMap's config, on ephemeral loopback ports, with dummy key files.
    let (text, _) = with_dummy_secret_files(&configmap_gateway_toml(), dir.path());
    let mut config: toml::Table = text.parse().unwrap();
    let server = config["server"].as_table_mut().unwrap();
    server.insert("listen".into(), "127.0.0.1:0".into());
    server.insert("admin_listen".into(), "127.0.0.1:0".into());
    let gateway = GatewayProcess::start(TestConfig::new(&config.to_string()), &[]);
    let port = gateway.admin.expect("the admin listener").port();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthy(&probe, &format!("{base}/readyz")) {
        assert!(
            Instant::now() < deadline,
            "gateway never became ready:\n{}",
            gateway.log()
        );
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
