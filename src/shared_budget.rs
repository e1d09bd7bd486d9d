//! Cluster-wide team budgets in Redis, for teams whose key is shared by many sidecars. Each
//! decision is one round trip: an atomic GCRA in a Lua script (loaded once, called by its
//! hash) keyed by team and class, using Redis' own clock so instances with skewed clocks
//! agree. Upstream feedback pauses a team in Redis so every instance stops, not only the one
//! that saw Allo's 429. Redis being slow or down never hangs a request: every call is bounded
//! by a short timeout and the caller decides (fail open on the local budget, or closed).

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, Script};

use crate::routes::RateClass;

/// GCRA over Redis TIME, in microseconds. KEYS: tat, pause. ARGV: emission interval,
/// burst tolerance. Returns {allowed (1/0), wait_us, paused (1/0)}; nothing is spent on a
/// refusal.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return {0, paused - now, 1}
end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, allow_at - now, 0}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
return {1, 0, 0}
";

/// Extends a pause (never shortens it). KEYS: pause. ARGV: pause length in microseconds.
const PAUSE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_us = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_us > current then
  redis.call('SET', KEYS[1], string.format('%d', until_us), 'PX', math.floor(tonumber(ARGV[1]) / 1000) + 1000)
end
return 1
";

/// What Redis decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The budget has no slot before `retry_after`.
    Refused {
        retry_after: Duration,
    },
    /// An instance paused the budget (Allo said the key is out of budget) for `retry_after`.
    Paused {
        retry_after: Duration,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SharedBudgetError {
    #[error("the Redis URL is not usable")]
    Url(#[source] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis failed")]
    Redis(#[source] redis::RedisError),
}

/// The shared store. Cheap to clone; the connection is multiplexed and re-established by
/// itself in the background after a failure.
#[derive(Clone)]
pub struct SharedBudgets {
    connection: ConnectionManager,
    acquire: Script,
    pause: Script,
    timeout: Duration,
    prefix: String,
}

impl SharedBudgets {
    /// Prepares the client without connecting: the gateway starts even when Redis is down.
    /// `rediss://` URLs use TLS (rustls, the system's trust store); AUTH comes from the URL's
    /// user info (`redis://:password@host` or `redis://user:password@host`). Must be called
    /// within a Tokio runtime (the connection manager spawns its watcher task).
    pub fn new(url: &str, timeout: Duration, prefix: &str) -> Result<SharedBudgets, SharedBudgetError> {
        let client = Client::open(url).map_err(SharedBudgetError::Url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(SharedBudgetError::Url)?;
        Ok(SharedBudgets {
            connection,
            acquire: Script::new(ACQUIRE),
            pause: Script::new(PAUSE),
            timeout,
            prefix: prefix.to_string(),
        })
    }

    /// Connects and loads both scripts, so that the first decision does not pay the
    /// connection (a TLS handshake to a remote Redis can take longer than the decision
    /// timeout) or the script upload. Bounded by `bound`; meant to run in the background.
    pub async fn warm_up(&self, bound: Duration) -> Result<(), SharedBudgetError> {
        let mut connection = self.connection.clone();
        let load = async move {
            self.acquire.load_async(&mut connection).await?;
            self.pause.load_async(&mut connection).await
        };
        tokio::time::timeout(bound, load)
            .await
            .map_err(|_| SharedBudgetError::Timeout(bound))?
            .map_err(SharedBudgetError::Redis)?;
        Ok(())
    }

    fn keys(&self, team: &str, class: RateClass) -> (String, String) {
        // The hash tag keeps one team's keys in one slot on a Redis Cluster.
        let base = format!("{}{{{team}}}:{}", self.prefix, class.as_str());
        (format!("{base}:tat"), format!("{base}:pause"))
    }

    /// One decision for `team`'s `class` budget of `per_second` with `burst`.
    pub async fn acquire(
        &self,
        team: &str,
        class: RateClass,
        per_second: u32,
        burst: u32,
    ) -> Result<Decision, SharedBudgetError> {
        let interval_us = 1_000_000u64 / u64::from(per_second.max(1));
        let tolerance_us = interval_us * u64::from(burst.max(1) - 1);
        let (tat, pause) = self.keys(team, class);
        let mut connection = self.connection.clone();
        let call = async move {
            self.acquire
                .key(tat)
                .key(pause)
                .arg(interval_us)
                .arg(tolerance_us)
                .invoke_async::<(i64, i64, i64)>(&mut connection)
                .await
        };
        let (allowed, wait_us, paused) = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| SharedBudgetError::Timeout(self.timeout))?
            .map_err(SharedBudgetError::Redis)?;
        let retry_after = Duration::from_micros(u64::try_from(wait_us).unwrap_or(0));
        Ok(match (allowed, paused) {
            (1, _) => Decision::Allowed,
            (_, 1) => Decision::Paused { retry_after },
            _ => Decision::Refused { retry_after },
        })
    }

    /// Holds `team`'s `class` budget for `length` on every instance.
    pub async fn pause(&self, team: &str, class: RateClass, length: Duration) -> Result<(), SharedBudgetError> {
        let (_, pause) = self.keys(team, class);
        let mut connection = self.connection.clone();
        let micros = u64::try_from(length.as_micros()).unwrap_or(u64::MAX);
        let call = async move {
            self.pause
                .key(pause)
                .arg(micros)
                .invoke_async::<i64>(&mut connection)
                .await
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| SharedBudgetError::Timeout(self.timeout))?
            .map_err(SharedBudgetError::Redis)?;
        Ok(())
    }
}
