//! The walk from the raw structs to the typed `Config`: each section and each team or caller
//! is checked where it is read, its problems pushed with their key path, and a usable default
//! kept so the walk goes on to find the next problem. Leaf values are read by `fields`; teams
//! and callers, and the team files, by `teams.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::defaults;
use super::fields::*;
use super::raw::RawConfig;
use super::typed::*;
use super::Problems;

mod teams;
use crate::secret::{Secret, SecretSource};
use teams::{caller_config, check_references, load_team_files, team_config};

pub(super) fn validate(raw: RawConfig, base_dir: &Path, skip: &BTreeSet<String>, p: &mut Problems) -> Config {
    let s = raw.server;
    let server = ServerConfig {
        listen: addr(p, "server.listen", s.listen.as_deref().unwrap_or(defaults::LISTEN)),
        admin_listen: s.admin_listen.as_deref().map(|a| addr(p, "server.admin_listen", a)),
        max_body_bytes: within(p, "server.max_body_bytes", s.max_body_bytes, defaults::MAX_BODY_BYTES),
        max_header_bytes: within(
            p,
            "server.max_header_bytes",
            s.max_header_bytes,
            defaults::MAX_HEADER_BYTES,
        ),
        max_headers: within(p, "server.max_headers", s.max_headers, defaults::MAX_HEADERS),
        header_read_timeout: duration(
            p,
            "server.header_read_timeout",
            s.header_read_timeout,
            defaults::HEADER_READ_TIMEOUT,
        ),
        body_read_timeout: duration(
            p,
            "server.body_read_timeout",
            s.body_read_timeout,
            defaults::BODY_READ_TIMEOUT,
        ),
        idle_timeout: duration(p, "server.idle_timeout", s.idle_timeout, defaults::IDLE_TIMEOUT),
        shutdown_grace: duration(p, "server.shutdown_grace", s.shutdown_grace, defaults::SHUTDOWN_GRACE),
        max_connections: within(
            p,
            "server.max_connections",
            s.max_connections,
            defaults::MAX_CONNECTIONS,
        ),
        tls: s.tls.map(|t| tls_config(p, t, base_dir)),
        max_in_flight_per_team: within(
            p,
            "server.max_in_flight_per_team",
            s.max_in_flight_per_team,
            defaults::MAX_IN_FLIGHT_PER_TEAM,
        ),
    };

    let u = raw.upstream;
    let upstream = UpstreamConfig {
        target: upstream_target(p, u.url.as_deref().unwrap_or(defaults::UPSTREAM_URL)),
        connect_timeout: duration(
            p,
            "upstream.connect_timeout",
            u.connect_timeout,
            defaults::CONNECT_TIMEOUT,
        ),
        request_timeout: duration(
            p,
            "upstream.request_timeout",
            u.request_timeout,
            defaults::REQUEST_TIMEOUT,
        ),
        ca_file: u.ca_file.map(|f| existing_file(p, "upstream.ca_file", base_dir, &f)),
        pool_idle_timeout: duration(
            p,
            "upstream.pool_idle_timeout",
            u.pool_idle_timeout,
            defaults::POOL_IDLE_TIMEOUT,
        ),
        pool_max_idle_per_host: within(
            p,
            "upstream.pool_max_idle_per_host",
            u.pool_max_idle_per_host,
            defaults::POOL_MAX_IDLE_PER_HOST,
        ),
        // One, as RFC 9113 §9.1 asks of clients; more spread the load over more of an
        // upstream's connections (and its cores) where it handles each on one.
        h2_connections: bounded(p, "upstream.h2_connections", u.h2_connections, 1, 1, 64),
        http2: u.http2.unwrap_or(true),
        forward_headers: super::forward::forward_headers(p, u.forward_headers),
    };

    let verify = VerifyKeys {
        enabled: u.verify_keys.unwrap_or(false),
        interval: duration(
            p,
            "upstream.verify_interval",
            u.verify_interval,
            defaults::VERIFY_INTERVAL,
        ),
    };

    let routes = RoutesPolicy {
        unknown: choice(
            p,
            "routes.unknown",
            raw.routes.unknown,
            &[("reject", UnknownRoutes::Reject), ("forward", UnknownRoutes::Forward)],
        ),
        unknown_fields: choice(
            p,
            "routes.unknown_fields",
            raw.routes.unknown_fields,
            &[("reject", UnknownFields::Reject), ("allow", UnknownFields::Allow)],
        ),
    };
    let api = ApiConfig {
        spec: raw.api.spec.map(|f| existing_file(p, "api.spec", base_dir, &f)),
        rules: raw.api.rules.map(|f| existing_file(p, "api.rules", base_dir, &f)),
        validation: validation_mode(p, "api.validation", raw.api.validation),
    };
    let log = LogConfig {
        format: raw.log.format.map(|f| {
            choice(
                p,
                "log.format",
                Some(f),
                &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)],
            )
        }),
    };
    let r = raw.ratelimit;
    let ratelimit = RateLimitConfig {
        on_limit: choice(
            p,
            "ratelimit.on_limit",
            r.on_limit,
            &[("reject", OnLimit::Reject), ("wait", OnLimit::Wait)],
        ),
        max_wait: duration(p, "ratelimit.max_wait", r.max_wait, defaults::MAX_WAIT),
        max_waiters: within(p, "ratelimit.max_waiters", r.max_waiters, defaults::MAX_WAITERS),
        redis: r.redis.map(|redis| redis_config(p, redis, base_dir)),
    };

    let mut teams = Vec::new();
    let mut callers = Vec::new();
    for (i, team) in raw.teams.into_iter().enumerate() {
        let path = format!("teams[{i}]");
        if !team.callers.is_empty() {
            p.push(
                format!("{path}.callers"),
                "callers belong in [[callers]] with a `team` key (nested callers are only for files in teams_dir)",
            );
        }
        teams.push(team_config(p, &path, team, base_dir));
    }
    for (i, caller) in raw.callers.into_iter().enumerate() {
        callers.push(caller_config(p, &format!("callers[{i}]"), caller, None));
    }
    let teams_dir = raw.teams_dir.map(|d| base_dir.join(d));
    if let Some(dir) = &teams_dir {
        load_team_files(p, dir, skip, &mut teams, &mut callers);
    }
    check_references(p, &teams, &callers);

    Config {
        server,
        upstream,
        verify,
        routes,
        api,
        log,
        ratelimit,
        teams,
        callers,
        base_dir: base_dir.to_path_buf(),
        teams_dir,
    }
}

fn redis_config(p: &mut Problems, r: super::raw::RawRedis, base_dir: &Path) -> RedisConfig {
    use super::raw::RawSecretOrString;
    let url = match r.url {
        Some(RawSecretOrString::Plain(url)) => SecretSource::Value(Secret::new(url)),
        Some(RawSecretOrString::Secret(source)) => secret_source(p, "ratelimit.redis.url", source, base_dir),
        None => {
            p.push(
                "ratelimit.redis.url",
                "missing (redis://host:port or rediss://... for TLS)",
            );
            SecretSource::Value(Secret::new(""))
        }
    };
    if let SecretSource::Value(plain) = &url {
        let text = plain.expose();
        if !text.is_empty() && !text.starts_with("redis://") && !text.starts_with("rediss://") {
            p.push("ratelimit.redis.url", "must start with redis:// or rediss://");
        }
    }
    RedisConfig {
        url,
        failure_mode: choice(
            p,
            "ratelimit.redis.failure_mode",
            r.failure_mode,
            &[("open", FailureMode::Open), ("closed", FailureMode::Closed)],
        ),
        timeout: duration(p, "ratelimit.redis.timeout", r.timeout, defaults::REDIS_TIMEOUT),
        key_prefix: r.key_prefix.unwrap_or_else(|| defaults::REDIS_KEY_PREFIX.to_string()),
    }
}

fn tls_config(p: &mut Problems, t: super::raw::RawTls, base_dir: &Path) -> TlsConfig {
    let mut file = |key: &str, value: Option<String>| match value {
        Some(v) => existing_file(p, &format!("server.tls.{key}"), base_dir, &v),
        None => {
            p.push(format!("server.tls.{key}"), "missing");
            PathBuf::new()
        }
    };
    let cert_file = file("cert_file", t.cert_file);
    let key_file = file("key_file", t.key_file);
    let client_ca_file = t
        .client_ca_file
        .map(|f| existing_file(p, "server.tls.client_ca_file", base_dir, &f));
    TlsConfig {
        cert_file,
        key_file,
        client_ca_file,
    }
}

fn validation_mode(p: &mut Problems, path: &str, value: Option<String>) -> ValidationMode {
    choice(
        p,
        path,
        value,
        &[("enforce", ValidationMode::Enforce), ("report", ValidationMode::Report)],
    )
}
