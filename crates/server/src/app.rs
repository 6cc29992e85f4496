//! Start-up and shutdown. `Application::build` binds the listeners first (so tests can use port 0
//! and read the addresses back), connects the stores and starts background tasks;
//! `run_until_stopped` serves (`crate::serve`) until the shutdown future resolves, then drains.
use crate::config::{Config, Database};
use crate::serve::{CapSource, HttpSettings, ServeControl};
use anyhow::Context as _;
use freeagentics_api::agents::Engine;
use freeagentics_api::auth::PasswordHasher;
use freeagentics_api::caches::Caches;
use freeagentics_api::observability::registry;
use freeagentics_api::{ApiConfig, App, AppState, Lifecycle};
use freeagentics_shared_state::cache::{CacheBackend, LocalCacheBackend, RedisCacheBackend};
use freeagentics_shared_state::{RedisOptions, RedisPool, SentinelOptions};
use freeagentics_store::{PostgresOptions, SqliteOptions, Store, connect_postgres, connect_sqlite};
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Background tasks get this long after the server stops before they are abandoned.
const BACKGROUND_GRACE: Duration = Duration::from_secs(2);
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
const REDIS_PROBE_INTERVAL: Duration = Duration::from_secs(5);
const AGENT_COUNT_INTERVAL: Duration = Duration::from_secs(15);

pub struct Application {
    listener: TcpListener,
    /// `/metrics` alone, when `METRICS_BIND_ADDR` is set.
    metrics_listener: Option<TcpListener>,
    http: HttpSettings,
    metrics_http: HttpSettings,
    state: AppState,
    drain: Duration,
    shutdown_timeout: Duration,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("addr", &self.listener.local_addr().ok()).finish_non_exhaustive()
    }
}

/// Opens the configured store (without migrating).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config.database() {
        Database::Postgres(url) => {
            let options = PostgresOptions {
                pool_size: config.database_pool_size,
                max_overflow: config.database_max_overflow,
                acquire_timeout: Duration::from_millis(config.database_acquire_timeout_ms),
                statement_timeout: Duration::from_millis(config.database_statement_timeout_ms),
                max_lifetime: Duration::from_secs(config.database_max_lifetime_seconds),
                idle_timeout: Duration::from_secs(config.database_idle_timeout_seconds),
                application_name: config.otel_service_name.clone(),
            };
            Arc::new(connect_postgres(url.expose_secret(), &options)?)
        }
        Database::Sqlite(path) => {
            let options = SqliteOptions {
                path: path.clone(),
                read_connections: 4,
                acquire_timeout: Duration::from_millis(config.database_acquire_timeout_ms),
                busy_timeout: Duration::from_secs(5),
            };
            Arc::new(connect_sqlite(&options).await.with_context(|| format!("cannot open {}", path.display()))?)
        }
    })
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind_addr())
            .await
            .with_context(|| format!("cannot listen on {}", config.bind_addr()))?;
        let metrics_listener = match config.metrics_bind_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (METRICS_BIND_ADDR)"))?,
            ),
            None => None,
        };
        let (http, cap_source) = config.http_settings();
        log_connection_limits(&http, cap_source);
        let store = open_store(config).await?;
        if config.migrate_on_start() {
            let applied = store.migrate_run().await.context("applying migrations at start-up")?;
            if !applied.is_empty() {
                tracing::info!(?applied, backend = store.backend().as_str(), "migrations applied");
            }
        }
        let redis_options = RedisOptions {
            pool_size: config.redis_pool_size,
            timeout: Duration::from_millis(config.redis_timeout_ms),
            key_prefix: config.redis_key_prefix.clone(),
        };
        let sentinels = config.redis_sentinels();
        let redis = match &config.redis_url {
            Some(url) if !sentinels.is_empty() => {
                let sentinel = SentinelOptions { sentinels, master: config.redis_sentinel_master.clone() };
                Some(RedisPool::with_sentinels(url.expose_secret(), &sentinel, &redis_options)?)
            }
            Some(url) => Some(RedisPool::new(url.expose_secret(), &redis_options)?),
            None => None,
        };
        let keys = Arc::new(crate::security::jwt_keys(config)?);
        let tasks = TaskTracker::new();
        let cancel = CancellationToken::new();
        let cache_settings = crate::security::cache_settings(config);
        let cache_backend: Arc<dyn CacheBackend> = match &redis {
            Some(redis) => {
                let backend = RedisCacheBackend::new(redis.clone());
                tasks.spawn(Arc::clone(&backend).run(cancel.clone()));
                backend
            }
            None => Arc::new(LocalCacheBackend::default()),
        };
        let (limiter, denylist) = crate::security::shared(redis.as_ref(), &cache_backend, &cache_settings);
        let caches = Caches::new(cache_backend, &cache_settings);
        let metrics = registry::install();
        registry::register_baseline(env!("CARGO_PKG_VERSION"), option_env!("GIT_SHA").unwrap_or("unknown"));

        let api = ApiConfig {
            service_name: config.otel_service_name.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            request_timeout: config.request_timeout(),
            max_body_bytes: config.max_body_bytes,
            inference_max_body_bytes: config.inference_max_body_bytes,
            cors_origins: config.cors_origins(),
            health_check_timeout: Duration::from_millis(config.health_check_timeout_ms),
            retry_after: Duration::from_secs(5),
            trusted_proxies: config.trusted_proxies(),
            metrics_on_own_listener: metrics_listener.is_some(),
            coalition_max_per_agent: config.coalition_max_per_agent,
        };
        let realtime = crate::realtime::build(config, redis.as_ref());
        let frontend = match config.dev_endpoints {
            true => {
                let key = crate::security::settings_key(config)?;
                tracing::warn!(
                    "DEV_ENDPOINTS is on: the web frontend's development routes are served (docs/FRONTEND.md)"
                );
                Some(freeagentics_api::frontend::Frontend::new(&key, config.ws_dev_max_connections))
            }
            false => None,
        };
        let lifecycle = Arc::new(Lifecycle::default());
        let liveness = freeagentics_api::routes::health::liveness_body(&api);
        let state = AppState(Arc::new(App {
            liveness,
            config: api,
            store,
            redis,
            metrics,
            lifecycle: lifecycle.clone(),
            started: Instant::now(),
            keys,
            auth: crate::security::auth_settings(config),
            hasher: PasswordHasher::new(config.password_hash_threads()),
            limiter,
            denylist,
            rate_limits: crate::security::rate_limits(config),
            login_throttle: crate::security::throttle(config),
            caches,
            engine: Engine::new(crate::security::inference_settings(config)),
            contract: Arc::default(),
            realtime,
            frontend,
        }));

        if let Some(path) = &config.maintenance_file {
            let path = path.clone();
            // read once before serving, so a pod started during maintenance never serves a request
            lifecycle.set_maintenance(freeagentics_api::middleware::maintenance::read_flag(&path).await);
            let interval = Duration::from_millis(config.maintenance_poll_ms);
            tasks.spawn(freeagentics_api::middleware::maintenance::watch(path, interval, lifecycle, cancel.clone()));
        }
        if let (Some(username), Some(email), Some(password)) =
            (&config.admin_username, &config.admin_email, &config.admin_password)
        {
            let store = state.store.clone();
            tasks.spawn(crate::admin::bootstrap(
                store,
                username.clone(),
                email.clone(),
                password.clone(),
                cancel.clone(),
            ));
        }
        tasks.spawn(metrics_upkeep(state.clone(), cancel.clone()));
        tasks.spawn(prune_expired(state.clone(), Duration::from_secs(config.events_retention_seconds), cancel.clone()));
        tasks.spawn(count_agents(state.clone(), cancel.clone()));
        let relay_poll = Duration::from_millis(config.events_relay_poll_ms);
        tasks.spawn(crate::realtime::relay(state.clone(), relay_poll, cancel.clone()));
        tasks.spawn(crate::realtime::read_bus(state.clone(), cancel.clone()));
        if let Some(redis) = state.redis.clone() {
            tasks.spawn(probe_redis(redis, cancel.clone()));
        }
        Ok(Self {
            listener,
            metrics_listener,
            http,
            metrics_http: config.metrics_http_settings(),
            state,
            drain: config.shutdown_drain(),
            shutdown_timeout: config.shutdown_timeout(),
            tasks,
            cancel,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The metrics listener's address, when `METRICS_BIND_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then: readiness turns 503 at once, requests are still
    /// served for the drain period (load balancers need time to notice), the listener closes and
    /// in-flight requests get `shutdown_timeout` to finish, background tasks are cancelled.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let metrics_addr = self.metrics_addr();
        let Application {
            listener,
            metrics_listener,
            http,
            metrics_http,
            state,
            drain,
            shutdown_timeout,
            tasks,
            cancel,
        } = self;
        let addr = listener.local_addr().map_or_else(|e| format!("unknown ({e})"), |addr| addr.to_string());
        let control = ServeControl::new();
        let main = crate::serve::serve(
            listener,
            "main",
            freeagentics_api::router::into_service(state.clone()),
            http,
            control.clone(),
        );
        let metrics = metrics_listener.map(|listener| {
            crate::serve::serve(
                listener,
                "metrics",
                freeagentics_api::router::metrics_service(state.clone()),
                metrics_http,
                control.clone(),
            )
        });
        let connections = control.clone();
        let mut server = tokio::spawn(async move {
            match metrics {
                Some(metrics) => tokio::join!(main, metrics).0,
                None => main.await,
            }
            connections.connections_closed().await;
        });
        if let Some(metrics_addr) = metrics_addr {
            tracing::info!(addr = %metrics_addr, "serving metrics");
        }
        tracing::info!(
            %addr,
            backend = state.store.backend().as_str(),
            redis = state.redis.is_some(),
            transparent_huge_pages = ?crate::memory::transparent_huge_pages_enabled(),
            "serving"
        );

        tokio::select! {
            result = &mut server => {
                cancel.cancel();
                return result.context("server task failed");
            }
            () = shutdown => {}
        }
        state.lifecycle.start_draining();
        // sockets are told at once (Close 1001), so their clients reconnect elsewhere while this
        // replica drains; they are waited for with the in-flight requests below
        state.realtime.shutdown.cancel();
        state.realtime.sockets.close();
        metrics::gauge!("freeagentics_ready").set(0.0);
        tracing::info!(drain_seconds = drain.as_secs_f64(), "draining: readiness is now 503");
        tokio::time::sleep(drain).await;
        control.stop_accepting();
        let finished = async {
            let _ = (&mut server).await;
            state.realtime.sockets.wait().await;
        };
        let outcome = tokio::time::timeout(shutdown_timeout, finished).await;
        match outcome {
            Ok(()) => tracing::info!("in-flight requests and WebSockets finished"),
            Err(_) => {
                tracing::warn!(timeout_seconds = shutdown_timeout.as_secs_f64(), "in-flight requests cut off");
                control.abort();
                if tokio::time::timeout(BACKGROUND_GRACE, &mut server).await.is_err() {
                    server.abort();
                }
            }
        }
        cancel.cancel();
        tasks.close();
        if tokio::time::timeout(BACKGROUND_GRACE, tasks.wait()).await.is_err() {
            tracing::warn!("background tasks did not stop in time");
        }
        state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The limits operators most need to know when connections are refused or cut.
fn log_connection_limits(http: &HttpSettings, source: CapSource) {
    let from = match source {
        CapSource::Configured => "HTTP_MAX_CONNECTIONS".to_owned(),
        CapSource::DescriptorLimit(limit) => format!("file-descriptor limit {limit}"),
        CapSource::AssumedDescriptorLimit => "file-descriptor limit unreadable; assumed 1024".to_owned(),
    };
    tracing::info!(
        max_connections = http.max_connections,
        max_connections_from = %from,
        header_read_timeout_seconds = http.header_read_timeout.as_secs_f64(),
        keepalive_timeout_seconds = http.keepalive_timeout.as_secs_f64(),
        max_header_bytes = http.max_header_bytes,
        "connection limits"
    );
    if let (CapSource::Configured, Some(limit)) = (source, crate::serve::settings::descriptor_limit())
        && u64::try_from(http.max_connections).unwrap_or(u64::MAX) >= limit
    {
        tracing::warn!(
            max_connections = http.max_connections,
            descriptor_limit = limit,
            "HTTP_MAX_CONNECTIONS is not below the file-descriptor limit: accept will fail before the cap applies"
        );
    }
}

/// Histogram upkeep keeps exporter memory flat even when nobody scrapes (crate-notes §13).
async fn metrics_upkeep(state: AppState, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(METRICS_UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => state.metrics.run_upkeep(),
        }
    }
}

/// Expired refresh tokens, idempotency records and outbox rows past their retention are dead
/// weight; delete them hourly (any replica may do it).
async fn prune_expired(state: AppState, events_retention: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {
                let now = time::OffsetDateTime::now_utc();
                for (what, result) in [
                    ("refresh tokens", state.store.delete_expired_refresh_tokens(now).await),
                    ("idempotency keys", state.store.delete_expired_idempotency_keys(now).await),
                    ("events", state.store.delete_events_before(now - events_retention).await),
                ] {
                    match result {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, what, "pruned expired records"),
                        Err(e) => tracing::warn!(error = %e, what, "pruning expired records failed"),
                    }
                }
            }
        }
    }
}

/// `freeagentics_agents{status}` and `freeagentics_coalitions{status}`: every replica reports the
/// same totals (query with `max`, not `sum`).
async fn count_agents(state: AppState, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(AGENT_COUNT_INTERVAL);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match state.store.count_agents_by_status().await {
            Ok(counts) => {
                for status in freeagentics_core::AgentStatus::ALL {
                    let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
                    metrics::gauge!("freeagentics_agents", "status" => status.as_str()).set(n as f64);
                }
            }
            Err(e) => tracing::debug!(error = %e, "counting agents failed"),
        }
        match state.store.count_coalitions_by_status().await {
            Ok(counts) => {
                for status in freeagentics_core::coalition::CoalitionStatus::ALL {
                    let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
                    metrics::gauge!("freeagentics_coalitions", "status" => status.as_str()).set(n as f64);
                }
            }
            Err(e) => tracing::debug!(error = %e, "counting coalitions failed"),
        }
    }
}

/// Keeps `freeagentics_redis_up` current between scrapes of readiness.
async fn probe_redis(redis: RedisPool, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(REDIS_PROBE_INTERVAL);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {
                let up = redis.ping().await.is_ok();
                metrics::gauge!("freeagentics_redis_up").set(if up { 1.0 } else { 0.0 });
            }
        }
    }
}
