//! The Redis connection pool every Redis-backed component shares.
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RedisError {
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    #[error("redis command failed: {0}")]
    Command(String),
}

#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub pool_size: usize,
    /// Bounds every pool operation: deadpool's timeouts default to "wait forever".
    pub timeout: Duration,
    /// Every key starts with it, so environments (and tests) can share one Redis.
    pub key_prefix: String,
}

/// Cheap to clone; all clones share the pool.
#[derive(Clone)]
pub struct RedisPool {
    pool: Pool,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the URL may carry a password: never print it
        f.debug_struct("RedisPool").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisPool {
    /// Builds the pool without connecting, so start-up does not depend on Redis being up.
    pub fn new(url: &str, options: &RedisOptions) -> Result<Self, RedisError> {
        let mut config = Config::from_url(url);
        let timeouts =
            Timeouts { wait: Some(options.timeout), create: Some(options.timeout), recycle: Some(options.timeout) };
        config.pool = Some(PoolConfig { max_size: options.pool_size.max(1), timeouts, ..PoolConfig::default() });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|_| RedisError::Unavailable("invalid REDIS_URL".to_owned()))?;
        Ok(Self { pool, prefix: options.key_prefix.clone(), timeout: options.timeout })
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// A pooled connection. Errors here mean Redis is unreachable: callers degrade, never fail.
    pub async fn connection(&self) -> Result<deadpool_redis::Connection, RedisError> {
        self.pool.get().await.map_err(|e| RedisError::Unavailable(e.to_string()))
    }

    /// Runs one command with the pool timeout applied end to end (checkout + round trip).
    pub async fn query<T: deadpool_redis::redis::FromRedisValue>(
        &self,
        cmd: &deadpool_redis::redis::Cmd,
    ) -> Result<T, RedisError> {
        let run = async {
            let mut conn = self.connection().await?;
            cmd.query_async::<T>(&mut conn).await.map_err(classify)
        };
        tokio::time::timeout(self.timeout, run).await.map_err(|_| RedisError::Unavailable("timed out".to_owned()))?
    }

    /// PING round trip, for readiness.
    pub async fn ping(&self) -> Result<Duration, RedisError> {
        let started = Instant::now();
        let pong: String = self.query(&deadpool_redis::redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(started.elapsed())
        } else {
            Err(RedisError::Command(format!("unexpected reply {pong}")))
        }
    }
}

pub(crate) fn classify(error: deadpool_redis::redis::RedisError) -> RedisError {
    if error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() || error.is_timeout() {
        RedisError::Unavailable(error.to_string())
    } else {
        RedisError::Command(error.to_string())
    }
}
