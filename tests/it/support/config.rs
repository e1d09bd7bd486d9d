//! The gateway's config built in code and rendered as TOML: `Config::new(upstream)` gives a
//! listener on an ephemeral loopback port and the upstream, and each test adds the sections,
//! teams and callers it is about. Values are typed (`Value`), so quoting is never the test's
//! business. `one_caller` is the config most tests start from.

use super::process::{GatewayProcess, TestConfig};
use super::sha256_hex;

/// A TOML value as the config writes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Value>),
    /// An inline table, `{ key = value, ... }`.
    Table(Vec<(String, Value)>),
}

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Str(s) => quote(s),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => format!("{f:?}"),
            Value::Bool(b) => b.to_string(),
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(Value::render).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Table(pairs) => {
                let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k} = {}", v.render())).collect();
                format!("{{ {} }}", pairs.join(", "))
            }
        }
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Str(s.clone())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Int(i64::try_from(n).unwrap())
            }
        }
    )*};
}
from_int!(i32, i64, u16, u32, u64, usize);

impl<T: Into<Value> + Clone> From<&[T]> for Value {
    fn from(items: &[T]) -> Value {
        Value::List(items.iter().cloned().map(Into::into).collect())
    }
}

impl<T: Into<Value>, const N: usize> From<[T; N]> for Value {
    fn from(items: [T; N]) -> Value {
        Value::List(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::List(items.into_iter().map(Into::into).collect())
    }
}

/// An inline table: `table([("per_second", 1.into()), ("burst", 1.into())])`.
pub(crate) fn table<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// `{ env = "NAME" }`: a secret read from the environment.
pub(crate) fn env(name: &str) -> Value {
    table([("env", name.into())])
}

/// `{ file = "PATH" }`: a secret read from a file (relative to the config's folder).
pub(crate) fn file(path: &str) -> Value {
    table([("file", path.into())])
}

/// Keys of one table in the order they were set (setting a key again replaces its value).
#[derive(Debug, Clone, Default)]
struct Keys(Vec<(String, Value)>);

impl Keys {
    fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    fn render(&self, out: &mut String) {
        for (k, v) in &self.0 {
            out.push_str(&format!("{k} = {}\n", v.render()));
        }
    }
}

/// The whole gateway config.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    /// `[server]`, `[upstream]`, `[routes]`, `[api]`, `[ratelimit]`, `[ratelimit.redis]`,
    /// `[server.tls]`, `[log]`... in the order first named; `""` holds the top-level keys.
    sections: Vec<(String, Keys)>,
    teams: Vec<Team>,
    callers: Vec<Caller>,
}

impl Config {
    /// A listener on 127.0.0.1:0 and `upstream` with a 10 s request and 1 s connect timeout.
    pub(crate) fn new(upstream: &str) -> Config {
        Config::bare(upstream)
            .upstream("request_timeout", "10s")
            .upstream("connect_timeout", "1s")
    }

    /// A listener on 127.0.0.1:0 and `upstream`, with the gateway's default timeouts.
    pub(crate) fn bare(upstream: &str) -> Config {
        Config::empty()
            .server("listen", "127.0.0.1:0")
            .upstream("url", upstream)
    }

    /// No section at all (for configs a test writes every key of).
    pub(crate) fn empty() -> Config {
        Config::default()
    }

    /// `key = value` in `[section]` (a dotted name such as `ratelimit.redis` for a sub-table).
    pub(crate) fn set(mut self, section: &str, key: &str, value: impl Into<Value>) -> Config {
        let value = value.into();
        match self.sections.iter_mut().find(|(name, _)| name == section) {
            Some((_, keys)) => keys.set(key, value),
            None => {
                let mut keys = Keys::default();
                keys.set(key, value);
                self.sections.push((section.to_string(), keys));
            }
        }
        self
    }

    /// Drops `key` from `[section]`.
    pub(crate) fn unset(mut self, section: &str, key: &str) -> Config {
        if let Some((_, keys)) = self.sections.iter_mut().find(|(name, _)| name == section) {
            keys.remove(key);
        }
        self
    }

    /// A top-level key (before any section), such as `teams_dir`.
    pub(crate) fn top(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("", key, value)
    }

    pub(crate) fn server(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("server", key, value)
    }

    /// The admin listener on an ephemeral loopback port.
    pub(crate) fn admin(self) -> Config {
        self.server("admin_listen", "127.0.0.1:0")
    }

    /// `[server.tls]`: the listener's certificate and client authentication.
    pub(crate) fn tls(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("server.tls", key, value)
    }

    pub(crate) fn upstream(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("upstream", key, value)
    }

    /// `[upstream] request_timeout`.
    pub(crate) fn request_timeout(self, value: &str) -> Config {
        self.upstream("request_timeout", value)
    }

    /// `[upstream] ca_file`: the CA that signs the upstream's certificate (a path relative to
    /// the config's folder; write the file with `TestConfig::write`).
    pub(crate) fn ca_file(self, path: &str) -> Config {
        self.upstream("ca_file", path)
    }

    /// `[upstream] h2_connections`: HTTP/2 connections each worker keeps to the upstream.
    pub(crate) fn h2_connections(self, connections: u32) -> Config {
        self.upstream("h2_connections", connections)
    }

    pub(crate) fn routes(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("routes", key, value)
    }

    /// Paths outside Allo's table are forwarded rather than refused.
    pub(crate) fn forward_unknown(self) -> Config {
        self.routes("unknown", "forward")
    }

    pub(crate) fn api(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("api", key, value)
    }

    pub(crate) fn ratelimit(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("ratelimit", key, value)
    }

    /// `[ratelimit.redis]`: team budgets shared through Redis.
    pub(crate) fn redis(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("ratelimit.redis", key, value)
    }

    pub(crate) fn log(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("log", key, value)
    }

    pub(crate) fn team(mut self, team: Team) -> Config {
        self.teams.push(team);
        self
    }

    pub(crate) fn caller(mut self, caller: Caller) -> Config {
        self.callers.push(caller);
        self
    }

    /// Changes the team `id` already added.
    pub(crate) fn edit_team(mut self, id: &str, edit: impl FnOnce(Team) -> Team) -> Config {
        let i = self.teams.iter().position(|t| t.id == id).expect("no such team");
        let team = self.teams.remove(i);
        self.teams.insert(i, edit(team));
        self
    }

    /// Changes the caller `id` already added.
    pub(crate) fn edit_caller(mut self, id: &str, edit: impl FnOnce(Caller) -> Caller) -> Config {
        let i = self.callers.iter().position(|c| c.id == id).expect("no such caller");
        let caller = self.callers.remove(i);
        self.callers.insert(i, edit(caller));
        self
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let top = self.sections.iter().filter(|(name, _)| name.is_empty());
        for (name, keys) in top.chain(self.sections.iter().filter(|(name, _)| !name.is_empty())) {
            if !name.is_empty() {
                out.push_str(&format!("[{name}]\n"));
            }
            keys.render(&mut out);
        }
        for team in &self.teams {
            out.push_str(&team.render());
        }
        for caller in &self.callers {
            out.push_str(&caller.render());
        }
        out
    }

    /// A config folder holding this config as `gateway.toml`.
    pub(crate) fn folder(&self) -> TestConfig {
        TestConfig::new(&self.render())
    }

    /// Starts the gateway on this config with `env` in its environment.
    pub(crate) fn start(&self, env: &[(&str, &str)]) -> GatewayProcess {
        GatewayProcess::start(self.folder(), env)
    }
}

/// One `[[teams]]` entry (or the body of a per-team file).
#[derive(Debug, Clone)]
pub(crate) struct Team {
    pub id: String,
    keys: Keys,
}

impl Team {
    pub(crate) fn new(id: &str) -> Team {
        let mut keys = Keys::default();
        keys.set("id", id.into());
        Team {
            id: id.to_string(),
            keys,
        }
    }

    pub(crate) fn set(mut self, key: &str, value: impl Into<Value>) -> Team {
        self.keys.set(key, value.into());
        self
    }

    /// The team's Allo key from the environment variable `name`.
    pub(crate) fn key_env(self, name: &str) -> Team {
        self.set("api_key", env(name))
    }

    /// The team's Allo key from a file (relative to the config's folder).
    pub(crate) fn key_file(self, path: &str) -> Team {
        self.set("api_key", file(path))
    }

    /// The team's Allo key written in the config itself.
    pub(crate) fn key_value(self, key: &str) -> Team {
        self.set("api_key", table([("value", key.into())]))
    }

    pub(crate) fn read(self, per_second: u32) -> Team {
        self.set("read_per_second", per_second)
    }

    pub(crate) fn write(self, per_second: u32) -> Team {
        self.set("write_per_second", per_second)
    }

    /// `[[teams]]` and the team's keys.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from("[[teams]]\n");
        self.keys.render(&mut out);
        out
    }

    /// A file of the teams folder: the team's keys at the top, then its `callers` (made with
    /// `Caller::listed`).
    pub(crate) fn file(&self, callers: &[Caller]) -> String {
        let mut out = String::new();
        self.keys.render(&mut out);
        for caller in callers {
            out.push_str(&caller.render());
        }
        out
    }
}

/// One `[[callers]]` entry.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub id: String,
    keys: Keys,
}

impl Caller {
    pub(crate) fn new(id: &str, team: &str) -> Caller {
        let mut keys = Keys::default();
        keys.set("id", id.into());
        keys.set("team", team.into());
        Caller {
            id: id.to_string(),
            keys,
        }
    }

    /// A caller listed in its team's file (which names the team).
    pub(crate) fn listed(id: &str) -> Caller {
        let mut keys = Keys::default();
        keys.set("id", id.into());
        Caller {
            id: id.to_string(),
            keys,
        }
    }

    pub(crate) fn set(mut self, key: &str, value: impl Into<Value>) -> Caller {
        self.keys.set(key, value.into());
        self
    }

    /// The caller authenticates with this bearer token (its SHA-256 goes in the config).
    pub(crate) fn token(self, token: &str) -> Caller {
        self.set("token_sha256", sha256_hex(token))
    }

    pub(crate) fn scopes(self, scopes: &[&str]) -> Caller {
        self.set("scopes", scopes)
    }

    /// The caller's own request rate.
    pub(crate) fn rate(self, per_second: u32, burst: u32) -> Caller {
        self.set(
            "rate",
            table([("per_second", per_second.into()), ("burst", burst.into())]),
        )
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::from("[[callers]]\n");
        self.keys.render(&mut out);
        out
    }
}

/// The config most tests run on: team `sales` with a generous budget and its key from the
/// environment variable `key_env`, and one unrestricted caller `crm-sync` holding `token`.
pub(crate) fn one_caller(upstream: &str, key_env: &str, token: &str) -> Config {
    Config::new(upstream)
        .team(Team::new("sales").key_env(key_env).read(1000).write(1000))
        .caller(Caller::new("crm-sync", "sales").token(token))
}
