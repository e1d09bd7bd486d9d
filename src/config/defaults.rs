//! Every default and bound of the config, named in one place: what a key is when the file
//! leaves it out, and the range a whole number must fall in. The walk reads them from here;
//! `config/example.toml` shows the same defaults (a test ties its keys to the raw structs).

use std::time::Duration;

/// A whole-number key: its default, and the range (both ends included) a value must fall in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

impl Bounds {
    const fn new(default: u64, min: u64, max: u64) -> Bounds {
        Bounds { default, min, max }
    }
}

// [server]

/// `server.listen`: loopback, since callers are the pod's other containers.
pub const LISTEN: &str = "127.0.0.1:8080";
/// `server.max_body_bytes`: 1 MiB, far above any Allo request body; at most 64 MiB, since a
/// body is read whole before it is checked.
pub const MAX_BODY_BYTES: Bounds = Bounds::new(1 << 20, 1, 64 << 20);
/// `server.max_header_bytes`: 64 KiB; no less than 8 KiB, which common clients already send.
pub const MAX_HEADER_BYTES: Bounds = Bounds::new(64 << 10, 8192, 1 << 20);
/// `server.max_headers`: header fields in one request head.
pub const MAX_HEADERS: Bounds = Bounds::new(100, 8, 1000);
/// `server.header_read_timeout`: a head slower than this is a slowloris, not a client.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// `server.body_read_timeout`: the whole body, answered 408 past it.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// `server.idle_timeout`: a keep-alive connection with no request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `server.shutdown_grace`: in-flight requests' time to finish after SIGTERM; under the
/// usual 30 s a Kubernetes pod is given.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// `server.max_connections`: connections served at once; the rest wait in the accept queue.
pub const MAX_CONNECTIONS: Bounds = Bounds::new(1024, 1, 1 << 20);
/// `server.max_in_flight_per_team`: one team's requests upstream at once.
pub const MAX_IN_FLIGHT_PER_TEAM: Bounds = Bounds::new(256, 1, 1 << 20);

// [upstream]

/// `upstream.url`: Allo's API.
pub const UPSTREAM_URL: &str = "https://api.withallo.com";
/// `upstream.connect_timeout`: TCP and TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// `upstream.request_timeout`: until Allo's response head arrives (then 504).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `upstream.pool_idle_timeout`: an idle pooled connection is closed after this.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// `upstream.pool_max_idle_per_host`: idle connections kept (0: none kept).
pub const POOL_MAX_IDLE_PER_HOST: Bounds = Bounds::new(256, 0, 1 << 16);
/// `upstream.verify_interval`: how often each team's key is described by Allo again.
pub const VERIFY_INTERVAL: Duration = Duration::from_secs(10 * 60);

// [ratelimit]

/// `ratelimit.max_wait`: the longest a request waits for its team's budget in wait mode.
pub const MAX_WAIT: Duration = Duration::from_secs(2);
/// `ratelimit.max_waiters`: requests waiting on one team budget at once.
pub const MAX_WAITERS: Bounds = Bounds::new(64, 0, 1 << 16);
/// `ratelimit.redis.timeout`: one Redis round trip; short, since every request waits on it.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(50);
/// `ratelimit.redis.key_prefix`: where this gateway's budgets live in a shared Redis.
pub const REDIS_KEY_PREFIX: &str = "allo-gateway:";

// [[teams]] and [[callers]]

/// `teams[].read_per_second`: Allo's own limit for reads with one key.
pub const TEAM_READ_PER_SECOND: u32 = 20;
/// `teams[].write_per_second`: Allo's own limit for writes with one key.
pub const TEAM_WRITE_PER_SECOND: u32 = 5;
/// The largest rate any `*_per_second` or `burst` may name.
pub const MAX_PER_SECOND: u32 = 1_000_000;
