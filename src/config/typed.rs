//! The typed config: what the rest of the gateway reads, parsed once (durations, addresses,
//! URIs, non-zero rates, enums). Built from the raw structs by `walk`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use http::uri::{Authority, Scheme};

use crate::secret::SecretSource;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    /// `[upstream] verify_keys` and `verify_interval`: kept apart from `UpstreamConfig`, whose
    /// equality decides whether a reload keeps the connection pool, which these do not touch.
    pub verify: VerifyKeys,
    pub routes: RoutesPolicy,
    pub api: ApiConfig,
    pub log: LogConfig,
    pub ratelimit: RateLimitConfig,
    pub teams: Vec<TeamConfig>,
    pub callers: Vec<CallerConfig>,
    /// The folder relative paths were resolved from.
    pub base_dir: PathBuf,
    /// Per-team files, if configured (watched for hot reload).
    pub teams_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: Option<SocketAddr>,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_connections: usize,
    pub max_in_flight_per_team: usize,
    /// Inbound TLS; None: plain HTTP/1.1 and h2c.
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Client certificates are required and verified against this CA when set.
    pub client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTarget {
    /// The built-in Allo emulator, in process.
    Sandbox,
    Url {
        scheme: Scheme,
        authority: Authority,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub target: UpstreamTarget,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// HTTP/2 connections kept to an upstream that speaks h2 (1..=64).
    pub h2_connections: usize,
    /// Whether TLS offers h2 by ALPN (the upstream then chooses); false: HTTP/1.1 only.
    pub http2: bool,
    /// The caller's credentials and internal routing fields that may still reach Allo (in
    /// the upstream's settings: a change builds a new upstream, pool included, at reload).
    pub forward_headers: super::ForwardHeaders,
}

/// Whether and how often each team's key is described by Allo (`GET /v2/api/me`, see
/// `keycheck`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyKeys {
    pub enabled: bool,
    /// Between two rounds of checks; never zero.
    pub interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownRoutes {
    Reject,
    Forward,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownFields {
    Reject,
    Allow,
}

#[derive(Debug, Clone, Copy)]
pub struct RoutesPolicy {
    pub unknown: UnknownRoutes,
    pub unknown_fields: UnknownFields,
}

/// Whether a request that fails validation is refused or forwarded with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidationMode {
    #[default]
    Enforce,
    Report,
}

/// `[api]`: Allo's API description and the project's rules on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// None: the description built into the binary.
    pub spec: Option<PathBuf>,
    /// Rules laid over the built-in ones.
    pub rules: Option<PathBuf>,
    pub validation: ValidationMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    /// None: json when stdout is not a terminal, pretty otherwise.
    pub format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimit {
    Reject,
    Wait,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub on_limit: OnLimit,
    pub max_wait: Duration,
    pub max_waiters: usize,
    /// Team budgets shared through Redis; None: per instance.
    pub redis: Option<RedisConfig>,
}

/// What a shared budget does when Redis cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Redis unavailable: admit on the local budget.
    Open,
    /// Redis unavailable: refuse with 503.
    Closed,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` (TLS) URL, possibly with a password: kept as a secret.
    pub url: SecretSource,
    pub failure_mode: FailureMode,
    pub timeout: Duration,
    pub key_prefix: String,
}

#[derive(Debug, Clone)]
pub struct TeamConfig {
    /// Where this team is written (`teams[0]`, `teams_dir/sales.toml:`), for messages.
    pub origin: String,
    pub id: String,
    pub api_key: SecretSource,
    pub api_key_fallback: Option<SecretSource>,
    pub read_per_second: NonZeroU32,
    pub write_per_second: NonZeroU32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

#[derive(Debug, Clone)]
pub struct CallerConfig {
    /// Where this caller is written (`callers[2]`, `teams_dir/sales.toml:callers[0]`).
    pub origin: String,
    pub id: String,
    pub team: String,
    /// SHA-256 of the caller's token; the token itself is never stored.
    pub token_sha256: Option<[u8; 32]>,
    /// An mTLS identity (URI or DNS SAN) that authenticates this caller.
    pub cert_san: Option<String>,
    /// None: every scope.
    pub scopes: Option<Vec<String>>,
    pub rate: Option<Rate>,
    /// None: every route the scopes allow.
    pub routes: Option<Vec<String>>,
    /// None: `[api] validation`.
    pub validation: Option<ValidationMode>,
}
