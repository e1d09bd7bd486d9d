//! The gateway as a real process: a config written to a temporary folder, the built binary
//! started on it, every stdout/stderr line kept (for log assertions), and the bound address
//! read from the `listening` log event. Stopped with SIGTERM on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_allo-gateway");

/// A config folder with `gateway.toml` (and any other files the test writes there).
pub(crate) struct TestConfig {
    pub dir: tempfile::TempDir,
}

impl TestConfig {
    pub(crate) fn new(toml: &str) -> TestConfig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gateway.toml"), toml).unwrap();
        TestConfig { dir }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("gateway.toml")
    }

    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }
}

pub(crate) struct GatewayProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub lines: Arc<Mutex<Vec<String>>>,
    _config: Option<TestConfig>,
}

impl GatewayProcess {
    /// Starts `allo-gateway run --config <cfg>` and waits until it listens.
    pub(crate) fn start(config: TestConfig, env: &[(&str, &str)]) -> GatewayProcess {
        let mut p = GatewayProcess::spawn(&["run", "--config", config.path().to_str().unwrap()], env);
        p._config = Some(config);
        p
    }

    pub(crate) fn spawn(args: &[&str], env: &[(&str, &str)]) -> GatewayProcess {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("ALLO_GATEWAY_CONFIG");
        if !env.iter().any(|(k, _)| *k == "ALLO_GATEWAY_LOG") {
            cmd.env("ALLO_GATEWAY_LOG", "info");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut p = GatewayProcess {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            admin: None,
            lines,
            _config: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(addr) = p.listening("gateway").or_else(|| p.listening("sandbox")) {
                p.addr = addr;
                p.admin = p.listening("admin");
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("gateway exited early with {status}:\n{}", p.log());
            }
            assert!(Instant::now() < deadline, "gateway did not start:\n{}", p.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn listening(&self, name: &str) -> Option<SocketAddr> {
        let lines = self.lines.lock().unwrap();
        lines.iter().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["message"] == "listening" && v["listener"] == name).then(|| v["addr"].as_str()?.parse().ok())?
        })
    }

    /// The folder of the config this process was started with.
    pub(crate) fn config_dir(&self) -> Option<PathBuf> {
        self._config.as_ref().map(|c| c.dir.path().to_path_buf())
    }

    /// Everything the process printed so far.
    pub(crate) fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Access-log events (JSON objects with target "access").
    pub(crate) fn access_logs(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "access")
            .collect()
    }

    pub(crate) fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and waits for the exit status.
    pub(crate) fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(30))
    }

    /// Waits for the process to exit, failing the test after `within`.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "gateway did not exit:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary to completion; returns (exit code, stdout, stderr).
pub(crate) fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("ALLO_GATEWAY_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `contents` to `path` as Kubernetes and careful tools do: a new file renamed over
/// the old one, so a watcher never sees it half written.
pub(crate) fn replace(path: &Path, contents: &str) {
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
