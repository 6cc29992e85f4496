//! The Redis connection pool every Redis-backed component shares: one Redis at `REDIS_URL`, or
//! the primary that Redis Sentinel names (`REDIS_SENTINELS`), found again after a failover.
use crate::redis_manager::{Recent, Tracked};
use deadpool::managed::{Object, Pool};
use deadpool_redis::redis::aio::ConnectionLike;
use deadpool_redis::redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, ScriptInvocation, Value};
use deadpool_redis::sentinel::{SentinelNodeConnectionInfo, SentinelServerType};
use deadpool_redis::{ConnectionAddr, ConnectionInfo, PoolConfig, Runtime, Timeouts};
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

/// Where the primary is: `host:port` of each sentinel and the name they monitor it under.
#[derive(Debug, Clone)]
pub struct SentinelOptions {
    pub sentinels: Vec<(String, u16)>,
    pub master: String,
}

type DirectManager = Recent<deadpool_redis::Manager>;
type SentinelManager = Recent<deadpool_redis::sentinel::Manager>;

#[derive(Clone)]
enum Inner {
    Direct(Pool<DirectManager>),
    Sentinel(Pool<SentinelManager>),
}

/// Where a dedicated (unpooled) connection comes from: pub/sub needs one of its own.
#[derive(Clone)]
enum Dedicated {
    Direct(deadpool_redis::redis::Client),
    Sentinel { sentinels: Vec<ConnectionInfo>, master: String, node: deadpool_redis::redis::RedisConnectionInfo },
}

/// Cheap to clone; all clones share the pool.
#[derive(Clone)]
pub struct RedisPool {
    pool: Inner,
    dedicated: Dedicated,
    prefix: String,
    timeout: Duration,
}

/// A pooled connection to the one Redis, or to the primary Sentinel named when it was opened.
pub enum RedisConnection {
    Direct(Object<DirectManager>),
    Sentinel(Object<SentinelManager>),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Direct(_) => "RedisConnection::Direct",
            Self::Sentinel(_) => "RedisConnection::Sentinel",
        })
    }
}

impl RedisConnection {
    /// Takes the connection out of the pool for good, e.g. when it reached a primary that was
    /// demoted to replica during a failover: pings still succeed there, so recycling would keep it.
    fn discard(self) {
        match self {
            Self::Direct(conn) => drop(Object::take(conn)),
            Self::Sentinel(conn) => drop(Object::take(conn)),
        }
    }

    fn tracked(&mut self) -> &mut Tracked {
        match self {
            Self::Direct(conn) => conn,
            Self::Sentinel(conn) => conn,
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.tracked().conn.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.tracked().conn.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Direct(conn) => conn.conn.get_db(),
            Self::Sentinel(conn) => conn.conn.get_db(),
        }
    }
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
        let invalid = || RedisError::Unavailable("invalid REDIS_URL".to_owned());
        let manager = deadpool_redis::Manager::new(url).map_err(|_| invalid())?;
        let pool = pooled(manager, options).map_err(|_| invalid())?;
        let client = deadpool_redis::redis::Client::open(url).map_err(|_| invalid())?;
        Ok(Self {
            pool: Inner::Direct(pool),
            dedicated: Dedicated::Direct(client),
            prefix: options.key_prefix.clone(),
            timeout: options.timeout,
        })
    }

    /// A pool whose connections go to the primary the sentinels name. `url` gives the
    /// credentials and database (its host is not used); the sentinels take the same credentials.
    /// Without connecting: every new connection asks a sentinel for the current primary, so
    /// after a failover the next connection reaches the new one.
    pub fn with_sentinels(url: &str, sentinel: &SentinelOptions, options: &RedisOptions) -> Result<Self, RedisError> {
        let invalid = || RedisError::Unavailable("invalid REDIS_URL".to_owned());
        let info: ConnectionInfo = url.into_connection_info().map_err(|_| invalid())?.into();
        let credentials = deadpool_redis::RedisConnectionInfo { db: 0, ..info.redis.clone() };
        let connections: Vec<ConnectionInfo> = sentinel
            .sentinels
            .iter()
            .map(|(host, port)| ConnectionInfo {
                addr: ConnectionAddr::Tcp(host.clone(), *port),
                redis: credentials.clone(),
            })
            .collect();
        let dedicated = Dedicated::Sentinel {
            sentinels: connections.clone(),
            master: sentinel.master.clone(),
            node: info.redis.clone().into(),
        };
        let invalid_sentinels =
            |e: &dyn std::fmt::Display| RedisError::Unavailable(format!("invalid sentinel configuration: {e}"));
        let manager = deadpool_redis::sentinel::Manager::new(
            connections,
            sentinel.master.clone(),
            Some(SentinelNodeConnectionInfo { tls_mode: None, redis_connection_info: Some(info.redis) }),
            SentinelServerType::Master,
        )
        .map_err(|e| invalid_sentinels(&e))?;
        let pool = pooled(manager, options).map_err(|e| invalid_sentinels(&e))?;
        Ok(Self {
            pool: Inner::Sentinel(pool),
            dedicated,
            prefix: options.key_prefix.clone(),
            timeout: options.timeout,
        })
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// A pooled connection. Errors here mean Redis is unreachable: callers degrade, never fail.
    pub async fn connection(&self) -> Result<RedisConnection, RedisError> {
        let mut conn = self.checkout().await?;
        conn.tracked().unproven();
        Ok(conn)
    }

    async fn checkout(&self) -> Result<RedisConnection, RedisError> {
        let unavailable = |e: &dyn std::fmt::Display| RedisError::Unavailable(e.to_string());
        match &self.pool {
            Inner::Direct(pool) => pool.get().await.map(RedisConnection::Direct).map_err(|e| unavailable(&e)),
            // asking a sentinel for the primary is a large future: `Recent::create` boxes it
            Inner::Sentinel(pool) => pool.get().await.map(RedisConnection::Sentinel).map_err(|e| unavailable(&e)),
        }
    }

    /// Runs one command with the pool timeout applied end to end (checkout + round trip).
    pub async fn query<T: deadpool_redis::redis::FromRedisValue>(
        &self,
        cmd: &deadpool_redis::redis::Cmd,
    ) -> Result<T, RedisError> {
        let run = async {
            let mut conn = self.connection().await?;
            let result = cmd.query_async::<T>(&mut conn).await;
            settle(conn, result)
        };
        tokio::time::timeout(self.timeout, run).await.map_err(|_| RedisError::Unavailable("timed out".to_owned()))?
    }

    /// Runs a Lua script (EVALSHA, loading it on NOSCRIPT) under the same rules as `query`.
    pub async fn invoke<T: deadpool_redis::redis::FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, RedisError> {
        let run = async {
            let mut conn = self.connection().await?;
            let result = invocation.invoke_async::<T>(&mut conn).await;
            settle(conn, result)
        };
        tokio::time::timeout(self.timeout, run).await.map_err(|_| RedisError::Unavailable("timed out".to_owned()))?
    }

    /// A pub/sub connection of its own (pooled connections cannot subscribe), to the primary.
    pub async fn subscriber(&self) -> Result<deadpool_redis::redis::aio::PubSub, RedisError> {
        let connect = async { self.client().await?.get_async_pubsub().await.map_err(classify) };
        tokio::time::timeout(self.timeout.max(Duration::from_secs(1)), connect)
            .await
            .map_err(|_| RedisError::Unavailable("timed out".to_owned()))?
    }

    /// A connection of its own to the primary, for commands that block the connection (`XREAD
    /// BLOCK`): on a pooled one they would stall every command queued behind them. `response`
    /// bounds each reply, so it must exceed the longest block asked for.
    pub async fn dedicated(
        &self,
        response: Duration,
    ) -> Result<deadpool_redis::redis::aio::MultiplexedConnection, RedisError> {
        let config = deadpool_redis::redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout.max(Duration::from_secs(1))))
            .set_response_timeout(Some(response));
        let connect = async {
            self.client().await?.get_multiplexed_async_connection_with_config(&config).await.map_err(classify)
        };
        tokio::time::timeout(self.timeout.max(Duration::from_secs(1)), connect)
            .await
            .map_err(|_| RedisError::Unavailable("timed out".to_owned()))?
    }

    /// A client for the one Redis, or for the primary a sentinel names now.
    async fn client(&self) -> Result<deadpool_redis::redis::Client, RedisError> {
        match &self.dedicated {
            Dedicated::Direct(client) => Ok(client.clone()),
            Dedicated::Sentinel { sentinels, master, node } => {
                let mut sentinel =
                    deadpool_redis::redis::sentinel::Sentinel::build(sentinels.clone()).map_err(classify)?;
                let node = deadpool_redis::redis::sentinel::SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(node.clone());
                sentinel.async_master_for(master, Some(&node)).await.map_err(classify)
            }
        }
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

fn pooled<M>(manager: M, options: &RedisOptions) -> Result<Pool<Recent<M>>, deadpool::managed::BuildError>
where
    Recent<M>: deadpool::managed::Manager,
{
    let timeouts =
        Timeouts { wait: Some(options.timeout), create: Some(options.timeout), recycle: Some(options.timeout) };
    let config = PoolConfig { max_size: options.pool_size.max(1), timeouts, ..PoolConfig::default() };
    Pool::builder(Recent(manager)).config(config).runtime(Runtime::Tokio1).build()
}

/// A command's result, after dropping a connection that answered READONLY: it points at a primary
/// demoted during a failover, and the next connection asks Sentinel for the new one.
fn settle<T>(mut conn: RedisConnection, result: deadpool_redis::redis::RedisResult<T>) -> Result<T, RedisError> {
    match result {
        Ok(value) => {
            conn.tracked().answered();
            Ok(value)
        }
        Err(error) if error.code() == Some("READONLY") => {
            conn.discard();
            Err(RedisError::Unavailable(error.to_string()))
        }
        Err(error) => Err(classify(error)),
    }
}

pub(crate) fn classify(error: deadpool_redis::redis::RedisError) -> RedisError {
    if error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() || error.is_timeout() {
        RedisError::Unavailable(error.to_string())
    } else {
        RedisError::Command(error.to_string())
    }
}
