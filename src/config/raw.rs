//! The config file as written: serde structs that mirror the TOML one to one, with loose leaf
//! types (durations and addresses as strings) so that every problem can be reported together by
//! `config::validate`, each with its TOML key path. Unknown keys are caught by `serde_ignored`
//! in `config::load`, which lists all of them instead of stopping at the first.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub upstream: RawUpstream,
    #[serde(default)]
    pub routes: RawRoutes,
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub ratelimit: RawRateLimit,
    pub teams_dir: Option<String>,
    #[serde(default)]
    pub teams: Vec<RawTeam>,
    #[serde(default)]
    pub callers: Vec<RawCaller>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawServer {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub max_headers: Option<u64>,
    pub header_read_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub shutdown_grace: Option<String>,
    pub max_connections: Option<u64>,
    pub max_in_flight_per_team: Option<u64>,
    pub tls: Option<RawTls>,
}

/// `[server.tls]`: inbound HTTPS, optionally with client certificates (mTLS).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawTls {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub client_ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawUpstream {
    pub url: Option<String>,
    pub connect_timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub ca_file: Option<String>,
    pub pool_idle_timeout: Option<String>,
    pub pool_max_idle_per_host: Option<u64>,
    pub h2_connections: Option<u64>,
    pub http2: Option<bool>,
    pub verify_keys: Option<bool>,
    pub verify_interval: Option<String>,
    pub forward_headers: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawRoutes {
    pub unknown: Option<String>,
    pub unknown_fields: Option<String>,
}

/// `[api]`: the API description in force, the rules on top, and the validation mode.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawApi {
    pub spec: Option<String>,
    pub rules: Option<String>,
    pub validation: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawLog {
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawRateLimit {
    pub on_limit: Option<String>,
    pub max_wait: Option<String>,
    pub max_waiters: Option<u64>,
    pub redis: Option<RawRedis>,
}

/// `[ratelimit.redis]`: team budgets shared by every instance through one Redis.
#[derive(Default, Deserialize)]
pub(crate) struct RawRedis {
    pub url: Option<RawSecretOrString>,
    pub failure_mode: Option<String>,
    pub timeout: Option<String>,
    pub key_prefix: Option<String>,
}

/// A Redis URL may carry a password, so it may come from a secret source like a key.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSecretOrString {
    Plain(String),
    Secret(RawSecret),
}

impl std::fmt::Debug for RawRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRedis")
            .field("failure_mode", &self.failure_mode)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `{ env = "NAME" }`, `{ file = "path" }` or `{ value = "..." }`: exactly one key.
#[derive(Default, Deserialize)]
pub(crate) struct RawSecret {
    pub env: Option<String>,
    pub file: Option<String>,
    pub value: Option<String>,
}

impl std::fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSecret")
            .field("env", &self.env)
            .field("file", &self.file)
            .field("value", &self.value.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawTeam {
    pub id: Option<String>,
    pub api_key: Option<RawSecret>,
    pub api_key_fallback: Option<RawSecret>,
    pub read_per_second: Option<u64>,
    pub write_per_second: Option<u64>,
    /// Only in a per-team file (`teams_dir`): the team's own callers.
    #[serde(default)]
    pub callers: Vec<RawCaller>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawCaller {
    pub id: Option<String>,
    pub team: Option<String>,
    pub token_sha256: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub rate: Option<RawRate>,
    pub routes: Option<Vec<String>>,
    pub cert_san: Option<String>,
    pub validation: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawRate {
    pub per_second: Option<u64>,
    pub burst: Option<u64>,
}

/// Parses TOML text, returning the raw config and the path of every key serde did not use.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Result<(T, Vec<String>), toml::de::Error> {
    let deserializer = toml::Deserializer::parse(text)?;
    let mut unknown = Vec::new();
    let raw = serde_ignored::deserialize(deserializer, |path| unknown.push(path.to_string()))?;
    Ok((raw, unknown))
}
