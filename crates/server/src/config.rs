//! Configuration: defaults < optional TOML file (`FREEAGENTICS_CONFIG`) < environment variables,
//! typed and validated once at start-up. Every problem is reported as one line naming the variable.
//! Secrets are `SecretString`: `Debug` prints `[REDACTED]`, and nothing else ever prints them.
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use freeagentics_api::limits::{ClassLimit, LimitClass};
use freeagentics_core::net::TrustedProxy;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Field names are the environment variables, lowercased (figment maps `DATABASE_URL` →
/// `database_url`). The README's configuration table documents each one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub app_env: Environment,
    pub bind_addr: Option<SocketAddr>,
    /// `/metrics` on its own listener (the main one then answers 404 there).
    pub metrics_bind_addr: Option<SocketAddr>,
    pub http_header_read_timeout_seconds: f64,
    pub http_keepalive_timeout_seconds: f64,
    pub http2_keepalive_interval_seconds: f64,
    pub http_max_header_bytes: usize,
    /// Unset: sized from the file-descriptor limit (`serve::settings`).
    pub http_max_connections: Option<usize>,
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    pub database_pool_size: u32,
    pub database_max_overflow: u32,
    pub database_acquire_timeout_ms: u64,
    pub database_statement_timeout_ms: u64,
    pub database_max_lifetime_seconds: u64,
    pub database_idle_timeout_seconds: u64,
    pub sqlite_path: PathBuf,
    pub data_dir: PathBuf,
    /// Apply pending migrations during `serve`. Default: on in development, off in production
    /// (where the `migrate run` Job does it once per release).
    pub migrate_on_start: Option<bool>,
    #[serde(skip_serializing)]
    pub redis_url: Option<SecretString>,
    pub redis_pool_size: usize,
    pub redis_timeout_ms: u64,
    pub redis_key_prefix: String,
    pub cache_enabled: bool,
    pub cache_local_ttl_seconds: u64,
    pub cache_shared_ttl_seconds: u64,
    pub cache_local_max_bytes: u64,
    /// Redis Sentinel addresses, `host:port,host:port`: connections then go to the primary the
    /// sentinels name for `redis_sentinel_master`, and REDIS_URL gives only credentials and database.
    pub redis_sentinels: Option<String>,
    pub redis_sentinel_master: String,
    pub log_level: String,
    pub rust_log: Option<String>,
    pub log_format: Option<LogFormat>,
    pub cors_origins: String,
    pub trusted_proxies: String,
    pub otel_exporter_otlp_endpoint: Option<String>,
    pub otel_service_name: String,
    pub maintenance_file: Option<PathBuf>,
    pub maintenance_poll_ms: u64,
    pub shutdown_drain_seconds: f64,
    pub shutdown_timeout_seconds: f64,
    pub request_timeout_seconds: f64,
    pub max_body_bytes: usize,
    pub health_check_timeout_ms: u64,
    /// Development endpoints for the web frontend (docs/FRONTEND.md); refused in production.
    pub dev_endpoints: bool,
    /// Seals the API keys stored in frontend settings (32 bytes, hex or base64). Unset: generated
    /// into `DATA_DIR/settings-key` when `DEV_ENDPOINTS` is on.
    #[serde(skip_serializing)]
    pub settings_encryption_key: Option<SecretString>,
    /// Open development sockets (`/api/v1/ws/dev`) per replica: one frontend tab holds ~10.
    pub ws_dev_max_connections: usize,
    pub agent_memory_optimization: bool,
    pub agent_history_limit: u32,
    pub coalition_max_per_agent: usize,
    pub events_retention_seconds: u64,
    /// Events the bus retains for `resume` (Redis stream length, or the in-process ring).
    pub events_stream_max_len: usize,
    /// How often each replica's relay looks for committed, unpublished events.
    pub events_relay_poll_ms: u64,
    pub ws_max_connections_per_user: usize,
    pub ws_heartbeat_interval_seconds: f64,
    pub ws_pong_timeout_seconds: f64,
    pub ws_send_queue: usize,
    pub ws_max_message_bytes: usize,
    pub ws_max_messages_per_minute: u32,
    pub ws_ticket_ttl_seconds: u64,
    pub ws_auth_recheck_seconds: f64,
    pub ws_replay_max: usize,
    pub inference_threads: usize,
    pub inference_step_timeout_ms: u64,
    pub inference_run_timeout_ms: u64,
    pub inference_max_body_bytes: usize,
    pub inference_model_cache_bytes: u64,
    pub inference_max_states: usize,
    pub inference_max_policies: usize,
    pub inference_max_horizon: usize,
    pub jwt_algorithm: String,
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    pub jwt_key_id: String,
    #[serde(skip_serializing)]
    pub jwt_previous_secret: Option<SecretString>,
    pub jwt_previous_key_id: String,
    /// PEM Ed25519 public key of the retired key (EdDSA rotation).
    pub jwt_previous_public_key: Option<String>,
    #[serde(skip_serializing)]
    pub jwt_private_key: Option<SecretString>,
    pub jwt_public_key: Option<String>,
    pub access_token_ttl_seconds: u64,
    pub refresh_token_ttl_seconds: u64,
    pub default_role: String,
    pub password_hash_concurrency: usize,
    pub rate_limit_enabled: bool,
    pub rate_limit_login: Option<String>,
    pub rate_limit_register: Option<String>,
    pub rate_limit_refresh: Option<String>,
    pub rate_limit_writes: Option<String>,
    pub rate_limit_reads: Option<String>,
    pub rate_limit_ws_connect: Option<String>,
    pub login_throttle_account_ip_failures: u32,
    pub login_throttle_ip_failures: u32,
    pub login_throttle_account_failures: u32,
    pub login_throttle_window_seconds: u64,
    pub admin_username: Option<String>,
    pub admin_email: Option<String>,
    #[serde(skip_serializing)]
    pub admin_password: Option<SecretString>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            app_env: Environment::Development,
            bind_addr: None,
            metrics_bind_addr: None,
            http_header_read_timeout_seconds: 10.0,
            // longer than the usual load-balancer idle timeouts (60 s), so the balancer closes first
            http_keepalive_timeout_seconds: 75.0,
            http2_keepalive_interval_seconds: 20.0,
            http_max_header_bytes: 16 * 1024,
            http_max_connections: None,
            database_url: None,
            database_pool_size: 20,
            database_max_overflow: 10,
            database_acquire_timeout_ms: 2000,
            database_statement_timeout_ms: 10_000,
            database_max_lifetime_seconds: 1800,
            database_idle_timeout_seconds: 600,
            sqlite_path: PathBuf::from("./data/freeagentics.db"),
            data_dir: PathBuf::from("./data"),
            migrate_on_start: None,
            redis_url: None,
            redis_pool_size: 16,
            redis_timeout_ms: 500,
            redis_key_prefix: "fa:".to_owned(),
            cache_enabled: true,
            cache_local_ttl_seconds: 60,
            cache_shared_ttl_seconds: 300,
            cache_local_max_bytes: 32 * 1024 * 1024,
            redis_sentinels: None,
            redis_sentinel_master: "mymaster".to_owned(),
            log_level: "info".to_owned(),
            rust_log: None,
            log_format: None,
            cors_origins: "http://localhost:3000".to_owned(),
            trusted_proxies: String::new(),
            otel_exporter_otlp_endpoint: None,
            otel_service_name: "freeagentics".to_owned(),
            maintenance_file: None,
            maintenance_poll_ms: 1000,
            shutdown_drain_seconds: 5.0,
            shutdown_timeout_seconds: 20.0,
            request_timeout_seconds: 30.0,
            max_body_bytes: 1024 * 1024,
            health_check_timeout_ms: 2000,
            dev_endpoints: false,
            settings_encryption_key: None,
            ws_dev_max_connections: 32,
            agent_memory_optimization: false,
            agent_history_limit: 1000,
            coalition_max_per_agent: 3,
            events_retention_seconds: 7 * 24 * 3600,
            events_stream_max_len: 10_000,
            events_relay_poll_ms: 20,
            ws_max_connections_per_user: 5,
            ws_heartbeat_interval_seconds: 25.0,
            ws_pong_timeout_seconds: 10.0,
            ws_send_queue: 256,
            ws_max_message_bytes: 64 * 1024,
            ws_max_messages_per_minute: 120,
            ws_ticket_ttl_seconds: 30,
            ws_auth_recheck_seconds: 1.0,
            ws_replay_max: 1000,
            inference_threads: 0,
            inference_step_timeout_ms: 2000,
            inference_run_timeout_ms: 10_000,
            inference_max_body_bytes: 8 * 1024 * 1024,
            inference_model_cache_bytes: 256 * 1024 * 1024,
            inference_max_states: 4096,
            inference_max_policies: 4096,
            inference_max_horizon: 8,
            jwt_algorithm: "HS256".to_owned(),
            jwt_secret: None,
            jwt_key_id: "primary".to_owned(),
            jwt_previous_secret: None,
            jwt_previous_key_id: "previous".to_owned(),
            jwt_previous_public_key: None,
            jwt_private_key: None,
            jwt_public_key: None,
            access_token_ttl_seconds: 900,
            refresh_token_ttl_seconds: 7 * 24 * 3600,
            default_role: "observer".to_owned(),
            password_hash_concurrency: 0,
            rate_limit_enabled: true,
            rate_limit_login: None,
            rate_limit_register: None,
            rate_limit_refresh: None,
            rate_limit_writes: None,
            rate_limit_reads: None,
            rate_limit_ws_connect: None,
            login_throttle_account_ip_failures: 5,
            login_throttle_ip_failures: 20,
            login_throttle_account_failures: 100,
            login_throttle_window_seconds: 900,
            admin_username: None,
            admin_email: None,
            admin_password: None,
        }
    }
}

/// Every problem found, one per line, so an operator fixes them all in one go.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

/// Where the store lives, decided from `DATABASE_URL`.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(SecretString),
    Sqlite(PathBuf),
}

impl Config {
    /// Reads the environment (and the TOML file named by `FREEAGENTICS_CONFIG`, if any).
    pub fn load() -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Ok(path) = std::env::var("FREEAGENTICS_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let keys = Self::env_keys();
        let env = std::env::vars().filter(|(k, _)| keys.contains(&k.to_ascii_lowercase()));
        Self::from_figment(merge_strings(figment, env))
    }

    /// Builds from explicit `(VARIABLE, value)` pairs on top of the defaults (tests, tools).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Result<Self, ConfigError> {
        let figment = Figment::from(Serialized::defaults(Config::default()));
        Self::from_figment(merge_strings(figment, pairs.into_iter().map(|(k, v)| (k.to_owned(), v))))
    }

    fn env_keys() -> Vec<String> {
        let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
        let mut keys: Vec<String> = defaults.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        keys.extend(
            [
                "database_url",
                "redis_url",
                "jwt_secret",
                "jwt_previous_secret",
                "jwt_private_key",
                "admin_password",
                "settings_encryption_key",
            ]
            .map(str::to_owned),
        );
        keys
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract_lossy().map_err(|error| {
            ConfigError(
                error
                    .into_iter()
                    .map(|e| {
                        let name = e.path.last().map_or_else(|| "configuration".to_owned(), |k| k.to_ascii_uppercase());
                        format!("{name}: {}", e.kind)
                    })
                    .collect(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn is_production(&self) -> bool {
        self.app_env == Environment::Production
    }

    pub fn database(&self) -> Database {
        match &self.database_url {
            Some(url) => match url
                .expose_secret()
                .strip_prefix("sqlite://")
                .or_else(|| url.expose_secret().strip_prefix("sqlite:"))
            {
                Some(path) => Database::Sqlite(PathBuf::from(path)),
                None => Database::Postgres(url.clone()),
            },
            None => Database::Sqlite(self.sqlite_path.clone()),
        }
    }

    pub fn bind_addr(&self) -> SocketAddr {
        self.bind_addr.unwrap_or_else(|| {
            let host: IpAddr = if self.is_production() { [0, 0, 0, 0].into() } else { [127, 0, 0, 1].into() };
            SocketAddr::new(host, 8000)
        })
    }

    pub fn migrate_on_start(&self) -> bool {
        self.migrate_on_start.unwrap_or(!self.is_production())
    }

    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(if self.is_production() { LogFormat::Json } else { LogFormat::Pretty })
    }

    pub fn cors_origins(&self) -> Vec<String> {
        split_list(&self.cors_origins)
    }

    /// `(host, port)` of each sentinel in REDIS_SENTINELS (empty when unset); entries that do not
    /// parse are reported by `validate`.
    pub fn redis_sentinels(&self) -> Vec<(String, u16)> {
        self.redis_sentinels
            .as_deref()
            .map(split_list)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| host_port(s))
            .collect()
    }

    pub fn trusted_proxies(&self) -> Vec<TrustedProxy> {
        split_list(&self.trusted_proxies).iter().filter_map(|p| TrustedProxy::parse(p).ok()).collect()
    }

    /// Hashing threads: as configured, or one per CPU (more only queue for the same cores).
    pub fn password_hash_threads(&self) -> usize {
        match self.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            n => n,
        }
    }

    /// `(class, RATE_LIMIT_<CLASS> value)` for each rate-limit class.
    pub fn rate_limit_specs(&self) -> [(LimitClass, Option<&str>); 6] {
        [
            (LimitClass::Login, self.rate_limit_login.as_deref()),
            (LimitClass::Register, self.rate_limit_register.as_deref()),
            (LimitClass::Refresh, self.rate_limit_refresh.as_deref()),
            (LimitClass::Writes, self.rate_limit_writes.as_deref()),
            (LimitClass::Reads, self.rate_limit_reads.as_deref()),
            (LimitClass::WsConnect, self.rate_limit_ws_connect.as_deref()),
        ]
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout_seconds)
    }

    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_secs_f64(self.shutdown_drain_seconds)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.shutdown_timeout_seconds)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        check(&mut errors, self.database_pool_size >= 1, "DATABASE_POOL_SIZE: must be at least 1");
        check(
            &mut errors,
            u64::from(self.database_pool_size) + u64::from(self.database_max_overflow) <= 1000,
            "DATABASE_MAX_OVERFLOW: pool size plus overflow must be at most 1000",
        );
        check(
            &mut errors,
            (100..=3000).contains(&self.database_acquire_timeout_ms),
            "DATABASE_ACQUIRE_TIMEOUT_MS: must be 100 to 3000 so a saturated pool answers 503 fast",
        );
        check(
            &mut errors,
            self.database_statement_timeout_ms >= 100,
            "DATABASE_STATEMENT_TIMEOUT_MS: must be at least 100",
        );
        check(&mut errors, self.redis_pool_size >= 1, "REDIS_POOL_SIZE: must be at least 1");
        check(
            &mut errors,
            (1..=3600).contains(&self.cache_local_ttl_seconds),
            "CACHE_LOCAL_TTL_SECONDS: must be 1 to 3600",
        );
        check(
            &mut errors,
            (1..=86_400).contains(&self.cache_shared_ttl_seconds),
            "CACHE_SHARED_TTL_SECONDS: must be 1 to 86400",
        );
        check(
            &mut errors,
            (1024 * 1024..=4 * 1024 * 1024 * 1024).contains(&self.cache_local_max_bytes),
            "CACHE_LOCAL_MAX_BYTES: must be 1 MiB to 4 GiB",
        );
        check(&mut errors, (10..=10_000).contains(&self.redis_timeout_ms), "REDIS_TIMEOUT_MS: must be 10 to 10000");
        check(
            &mut errors,
            in_range(self.shutdown_drain_seconds, 0.0, 300.0),
            "SHUTDOWN_DRAIN_SECONDS: must be a number from 0 to 300",
        );
        check(
            &mut errors,
            in_range(self.shutdown_timeout_seconds, 0.1, 600.0),
            "SHUTDOWN_TIMEOUT_SECONDS: must be a number from 0.1 to 600",
        );
        check(
            &mut errors,
            in_range(self.request_timeout_seconds, 0.1, 600.0),
            "REQUEST_TIMEOUT_SECONDS: must be a number from 0.1 to 600",
        );
        check(
            &mut errors,
            (1024..=64 * 1024 * 1024).contains(&self.max_body_bytes),
            "MAX_BODY_BYTES: must be 1 KiB to 64 MiB",
        );
        check(
            &mut errors,
            (1..=100_000).contains(&self.agent_history_limit),
            "AGENT_HISTORY_LIMIT: must be 1 to 100000",
        );
        check(
            &mut errors,
            (1..=100).contains(&self.coalition_max_per_agent),
            "COALITION_MAX_PER_AGENT: must be 1 to 100",
        );
        check(
            &mut errors,
            (60..=90 * 24 * 3600).contains(&self.events_retention_seconds),
            "EVENTS_RETENTION_SECONDS: must be 60 to 7776000 (90 days)",
        );
        check(
            &mut errors,
            (100..=1_000_000).contains(&self.events_stream_max_len),
            "EVENTS_STREAM_MAX_LEN: must be 100 to 1000000",
        );
        check(
            &mut errors,
            (5..=10_000).contains(&self.events_relay_poll_ms),
            "EVENTS_RELAY_POLL_MS: must be 5 to 10000",
        );
        check(
            &mut errors,
            (1..=1000).contains(&self.ws_max_connections_per_user),
            "WS_MAX_CONNECTIONS_PER_USER: must be 1 to 1000",
        );
        check(
            &mut errors,
            (1..=1000).contains(&self.ws_dev_max_connections),
            "WS_DEV_MAX_CONNECTIONS: must be 1 to 1000",
        );
        if let Some(key) = &self.settings_encryption_key {
            check(
                &mut errors,
                decode_key(key.expose_secret()).is_some(),
                "SETTINGS_ENCRYPTION_KEY: must be 32 bytes as 64 hex digits or base64 (`openssl rand -hex 32`)",
            );
        }
        check(
            &mut errors,
            in_range(self.ws_heartbeat_interval_seconds, 0.05, 300.0),
            "WS_HEARTBEAT_INTERVAL_SECONDS: must be a number from 0.05 to 300 (proxies close idle sockets at 60 s)",
        );
        check(
            &mut errors,
            in_range(self.ws_pong_timeout_seconds, 0.05, 300.0),
            "WS_PONG_TIMEOUT_SECONDS: must be a number from 0.05 to 300",
        );
        check(&mut errors, (1..=65_536).contains(&self.ws_send_queue), "WS_SEND_QUEUE: must be 1 to 65536");
        check(
            &mut errors,
            (1024..=16 * 1024 * 1024).contains(&self.ws_max_message_bytes),
            "WS_MAX_MESSAGE_BYTES: must be 1 KiB to 16 MiB",
        );
        check(
            &mut errors,
            (1..=100_000).contains(&self.ws_max_messages_per_minute),
            "WS_MAX_MESSAGES_PER_MINUTE: must be 1 to 100000",
        );
        check(&mut errors, (1..=300).contains(&self.ws_ticket_ttl_seconds), "WS_TICKET_TTL_SECONDS: must be 1 to 300");
        check(
            &mut errors,
            in_range(self.ws_auth_recheck_seconds, 0.05, 60.0),
            "WS_AUTH_RECHECK_SECONDS: must be a number from 0.05 to 60",
        );
        check(&mut errors, (1..=100_000).contains(&self.ws_replay_max), "WS_REPLAY_MAX: must be 1 to 100000");
        check(&mut errors, self.inference_threads <= 256, "INFERENCE_THREADS: must be 0 (one per CPU) to 256");
        check(
            &mut errors,
            (10..=600_000).contains(&self.inference_step_timeout_ms),
            "INFERENCE_STEP_TIMEOUT_MS: must be 10 to 600000",
        );
        check(
            &mut errors,
            (10..=600_000).contains(&self.inference_run_timeout_ms),
            "INFERENCE_RUN_TIMEOUT_MS: must be 10 to 600000",
        );
        check(
            &mut errors,
            (1024..=256 * 1024 * 1024).contains(&self.inference_max_body_bytes),
            "INFERENCE_MAX_BODY_BYTES: must be 1 KiB to 256 MiB",
        );
        check(
            &mut errors,
            (1024 * 1024..=64 * 1024 * 1024 * 1024).contains(&self.inference_model_cache_bytes),
            "INFERENCE_MODEL_CACHE_BYTES: must be 1 MiB to 64 GiB",
        );
        check(
            &mut errors,
            (2..=1_000_000).contains(&self.inference_max_states),
            "INFERENCE_MAX_STATES: must be 2 to 1000000",
        );
        check(
            &mut errors,
            (1..=1_000_000).contains(&self.inference_max_policies),
            "INFERENCE_MAX_POLICIES: must be 1 to 1000000",
        );
        check(&mut errors, (1..=16).contains(&self.inference_max_horizon), "INFERENCE_MAX_HORIZON: must be 1 to 16");
        check(
            &mut errors,
            (10..=60_000).contains(&self.maintenance_poll_ms),
            "MAINTENANCE_POLL_MS: must be 10 to 60000",
        );
        check(
            &mut errors,
            (10..=5_000).contains(&self.health_check_timeout_ms),
            // a readiness answer slower than the kubelet's probe timeout (a few seconds) is never seen
            "HEALTH_CHECK_TIMEOUT_MS: must be 10 to 5000",
        );
        check(
            &mut errors,
            self.log_level.parse::<tracing_subscriber::filter::LevelFilter>().is_ok(),
            "LOG_LEVEL: must be one of trace, debug, info, warn, error, off",
        );
        self.validate_http(&mut errors);
        if let Some(Database::Postgres(url)) = Some(self.database()).filter(|d| matches!(d, Database::Postgres(_))) {
            let url = url.expose_secret();
            check(
                &mut errors,
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "DATABASE_URL: must start with postgres://, postgresql:// or sqlite:",
            );
        }
        if let Database::Sqlite(path) = self.database() {
            let path = path.to_string_lossy();
            check(
                &mut errors,
                !path.contains(":memory:") && !path.contains('?') && !path.is_empty(),
                "DATABASE_URL: sqlite needs a file path (no :memory:, no query options)",
            );
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            check(
                &mut errors,
                url.starts_with("redis://") || url.starts_with("rediss://"),
                "REDIS_URL: must start with redis:// or rediss://",
            );
        }
        if let Some(sentinels) = self.redis_sentinels.as_deref() {
            let entries = split_list(sentinels);
            check(&mut errors, !entries.is_empty(), "REDIS_SENTINELS: list at least one sentinel as host:port");
            for entry in entries.iter().filter(|e| host_port(e).is_none()) {
                errors.push(format!("REDIS_SENTINELS: `{entry}` is not host:port"));
            }
            check(
                &mut errors,
                !self.redis_sentinel_master.trim().is_empty(),
                "REDIS_SENTINEL_MASTER: the name the sentinels monitor the primary under must not be empty",
            );
            check(
                &mut errors,
                self.redis_url.is_some(),
                "REDIS_SENTINELS: needs REDIS_URL for the password and database (its host is not used)",
            );
        }
        for origin in self.cors_origins() {
            if let Err(message) = check_origin(&origin) {
                errors.push(format!("CORS_ORIGINS: {message}"));
            }
        }
        for proxy in split_list(&self.trusted_proxies) {
            if let Err(message) = TrustedProxy::parse(&proxy) {
                errors.push(format!("TRUSTED_PROXIES: {message}"));
            }
        }
        if let Some(endpoint) = &self.otel_exporter_otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            errors.push("OTEL_EXPORTER_OTLP_ENDPOINT: must be an http(s) URL (OTLP over HTTP)".to_owned());
        }
        check(
            &mut errors,
            matches!(self.jwt_algorithm.as_str(), "HS256" | "EdDSA"),
            "JWT_ALGORITHM: must be HS256 or EdDSA",
        );
        if let Some(secret) = &self.jwt_secret {
            check(
                &mut errors,
                secret.expose_secret().len() >= 32,
                "JWT_SECRET: must be at least 32 bytes (use `openssl rand -base64 48`)",
            );
        }
        if let Some(secret) = &self.jwt_previous_secret {
            check(&mut errors, secret.expose_secret().len() >= 32, "JWT_PREVIOUS_SECRET: must be at least 32 bytes");
        }
        // a previous key of the other algorithm would be silently ignored: refuse it
        check(
            &mut errors,
            self.jwt_previous_secret.is_none() || self.jwt_algorithm == "HS256",
            "JWT_PREVIOUS_SECRET: rotates HS256 keys; with EdDSA give the retired key's JWT_PREVIOUS_PUBLIC_KEY",
        );
        check(
            &mut errors,
            self.jwt_previous_public_key.is_none() || self.jwt_algorithm == "EdDSA",
            "JWT_PREVIOUS_PUBLIC_KEY: rotates EdDSA keys; with HS256 give JWT_PREVIOUS_SECRET",
        );
        if self.jwt_algorithm == "EdDSA" {
            check(
                &mut errors,
                self.jwt_private_key.is_some() && self.jwt_public_key.is_some(),
                "JWT_PRIVATE_KEY: EdDSA needs JWT_PRIVATE_KEY and JWT_PUBLIC_KEY (PEM)",
            );
        }
        check(
            &mut errors,
            (60..=3600).contains(&self.access_token_ttl_seconds),
            "ACCESS_TOKEN_TTL_SECONDS: must be 60 to 3600",
        );
        check(
            &mut errors,
            (3600..=90 * 24 * 3600).contains(&self.refresh_token_ttl_seconds),
            "REFRESH_TOKEN_TTL_SECONDS: must be 3600 to 7776000",
        );
        match self.default_role.parse::<freeagentics_core::Role>() {
            Ok(freeagentics_core::Role::Admin) => {
                errors.push("DEFAULT_ROLE: registration can never grant admin".to_owned())
            }
            Ok(_) => {}
            Err(message) => errors.push(format!("DEFAULT_ROLE: {message}")),
        }
        check(
            &mut errors,
            self.password_hash_concurrency <= 64,
            "PASSWORD_HASH_CONCURRENCY: must be 0 (one thread per CPU) to 64",
        );
        for (class, spec) in self.rate_limit_specs() {
            if let Some(spec) = spec
                && let Err(message) = ClassLimit::parse(spec)
            {
                errors.push(format!("RATE_LIMIT_{}: {message}", class.as_str().to_ascii_uppercase()));
            }
        }
        check(
            &mut errors,
            self.login_throttle_account_ip_failures >= 1,
            "LOGIN_THROTTLE_ACCOUNT_IP_FAILURES: must be at least 1",
        );
        check(&mut errors, self.login_throttle_ip_failures >= 1, "LOGIN_THROTTLE_IP_FAILURES: must be at least 1");
        check(
            &mut errors,
            self.login_throttle_account_failures >= 1,
            "LOGIN_THROTTLE_ACCOUNT_FAILURES: must be at least 1",
        );
        check(
            &mut errors,
            self.login_throttle_window_seconds >= 1,
            "LOGIN_THROTTLE_WINDOW_SECONDS: must be at least 1",
        );
        if self.admin_username.is_some() || self.admin_email.is_some() || self.admin_password.is_some() {
            check(
                &mut errors,
                self.admin_username.is_some() && self.admin_email.is_some() && self.admin_password.is_some(),
                "ADMIN_USERNAME: bootstrapping an admin needs ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD",
            );
        }
        if self.is_production() {
            let has_key = match self.jwt_algorithm.as_str() {
                "EdDSA" => self.jwt_private_key.is_some(),
                _ => self.jwt_secret.is_some(),
            };
            if !has_key {
                errors.push(
                    "JWT_SECRET: production needs a signing key from configuration (JWT_SECRET, or EdDSA keys)"
                        .to_owned(),
                );
            }
            if !matches!(self.database(), Database::Postgres(_)) {
                errors.push(
                    "DATABASE_URL: production needs PostgreSQL; the embedded SQLite store is for development"
                        .to_owned(),
                );
            }
            if self.redis_url.is_none() {
                errors.push(
                    "REDIS_URL: production needs Redis (shared rate limits, token denylist, events across replicas)"
                        .to_owned(),
                );
            }
            if self.dev_endpoints {
                errors.push("DEV_ENDPOINTS: development endpoints cannot be enabled in production".to_owned());
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigError(errors)) }
    }
}

/// A 32-byte key written as 64 hex digits or as base64 (standard or URL-safe, padded or not).
pub fn decode_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?
    } else {
        let unpadded = text.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
            .ok()?
    };
    bytes.try_into().ok()
}

/// `host:port` with a non-zero port; IPv6 hosts in brackets (`[::1]:26379`).
fn host_port(entry: &str) -> Option<(String, u16)> {
    let (host, port) = entry.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    (!host.is_empty() && !host.contains(char::is_whitespace)).then(|| (host.to_owned(), port))
}

/// A CORS origin must be written exactly as browsers send `Origin`: scheme, host and a non-default
/// port, nothing else (RFC 6454). `https://app.example.com/` would otherwise pass and then match no
/// request at all.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Err("`*` is not allowed: credentials are allowed, so origins must be listed".to_owned());
    }
    let url = url::Url::parse(origin).map_err(|e| format!("`{origin}` is not an origin ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{origin}` must be an http or https origin"));
    }
    let bare = url.origin().ascii_serialization();
    if bare != origin {
        return Err(format!("`{origin}` is not a bare origin (scheme, host, optional port): write `{bare}`"));
    }
    Ok(())
}

/// Records `message` when `ok` is false.
pub(crate) fn check(errors: &mut Vec<String>, ok: bool, message: &str) {
    if !ok {
        errors.push(message.to_owned());
    }
}

pub(crate) fn in_range(value: f64, low: f64, high: f64) -> bool {
    value.is_finite() && (low..=high).contains(&value)
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Environment values are merged as the strings they are, and `extract_lossy` converts them where a
/// field wants a number or a boolean. (figment's `Env` provider would instead guess types up front,
/// so `JWT_KEY_ID=2` or an all-digit password would be refused by a string field.)
fn merge_strings(figment: Figment, pairs: impl Iterator<Item = (String, String)>) -> Figment {
    pairs.fold(figment, |figment, (key, value)| figment.merge(Serialized::default(&key.to_ascii_lowercase(), value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_profile() {
        let config = Config::from_pairs([]).unwrap();
        assert!(matches!(config.database(), Database::Sqlite(_)));
        assert_eq!(config.bind_addr().to_string(), "127.0.0.1:8000");
        assert_eq!(config.database_pool_size, 20);
        assert_eq!(config.database_max_overflow, 10);
        assert!(config.migrate_on_start());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let error = Config::from_pairs([("DATABASE_POOL_SIZE", "lots".to_owned())]).unwrap_err();
        assert!(error.to_string().contains("DATABASE_POOL_SIZE"), "{error}");
        let error = Config::from_pairs([("DATABASE_ACQUIRE_TIMEOUT_MS", "30000".to_owned())]).unwrap_err();
        assert!(error.to_string().contains("DATABASE_ACQUIRE_TIMEOUT_MS"), "{error}");
        let error = Config::from_pairs([("TRUSTED_PROXIES", "10.0.0.0/40".to_owned())]).unwrap_err();
        assert!(error.to_string().contains("TRUSTED_PROXIES"), "{error}");
        let error = Config::from_pairs([("CORS_ORIGINS", "*".to_owned())]).unwrap_err();
        assert!(error.to_string().contains("CORS_ORIGINS"), "{error}");
    }

    #[test]
    fn websocket_limits_are_checked_at_their_edges() {
        for (name, lowest, below, highest, above) in [
            ("WS_MAX_CONNECTIONS_PER_USER", "1", "0", "1000", "1001"),
            ("WS_DEV_MAX_CONNECTIONS", "1", "0", "1000", "1001"),
            ("WS_SEND_QUEUE", "1", "0", "65536", "65537"),
            ("WS_MAX_MESSAGE_BYTES", "1024", "1023", "16777216", "16777217"),
            ("WS_MAX_MESSAGES_PER_MINUTE", "1", "0", "100000", "100001"),
            ("WS_TICKET_TTL_SECONDS", "1", "0", "300", "301"),
            ("WS_HEARTBEAT_INTERVAL_SECONDS", "0.05", "0.04", "300", "301"),
            ("WS_PONG_TIMEOUT_SECONDS", "0.05", "0.04", "300", "301"),
            ("WS_AUTH_RECHECK_SECONDS", "0.05", "0.04", "60", "61"),
            ("WS_REPLAY_MAX", "1", "0", "100000", "100001"),
            ("EVENTS_STREAM_MAX_LEN", "100", "99", "1000000", "1000001"),
            ("EVENTS_RELAY_POLL_MS", "5", "4", "10000", "10001"),
        ] {
            for ok in [lowest, highest] {
                assert!(Config::from_pairs([(name, ok.to_owned())]).is_ok(), "{name}={ok}");
            }
            for bad in [below, above] {
                let error = Config::from_pairs([(name, bad.to_owned())]).unwrap_err().to_string();
                assert!(error.contains(name), "{name}={bad}: {error}");
            }
        }
        let error = Config::from_pairs([("RATE_LIMIT_WS_CONNECT", "lots".to_owned())]).unwrap_err().to_string();
        assert!(error.contains("RATE_LIMIT_WS_CONNECT"), "{error}");
    }

    #[test]
    fn cors_origins_are_bare_origins() {
        for ok in ["https://app.example.com", "http://localhost:3000", "https://app.example.com:8443"] {
            assert!(Config::from_pairs([("CORS_ORIGINS", ok.to_owned())]).is_ok(), "{ok}");
        }
        for (bad, hint) in [
            ("https://app.example.com/", "write `https://app.example.com`"),
            ("https://app.example.com/app", "write `https://app.example.com`"),
            ("https://App.Example.com", "write `https://app.example.com`"),
            ("https://app.example.com:443", "write `https://app.example.com`"),
            ("ftp://files.example.com", "http or https"),
            ("app.example.com", "is not an origin"),
        ] {
            let error = Config::from_pairs([("CORS_ORIGINS", bad.to_owned())]).unwrap_err().to_string();
            assert!(error.contains("CORS_ORIGINS: ") && error.contains(hint), "{bad}: {error}");
        }
    }

    #[test]
    fn settings_keys_are_exactly_32_bytes_in_hex_or_base64() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        assert_eq!(decode_key(hex).map(|k| (k[1], k[31])), Some((0x11, 0xff)));
        let base64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
        assert_eq!(decode_key(base64), decode_key(hex));
        assert_eq!(decode_key(base64.trim_end_matches('=')), decode_key(hex), "unpadded");
        assert_eq!(decode_key(&base64.replace('/', "_")), decode_key(hex), "URL-safe alphabet");
        assert_eq!(decode_key(&hex[..62]), None, "31 bytes");
        assert_eq!(decode_key("ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8A"), None, "33 bytes");
        assert_eq!(decode_key("not a key"), None);
        let error = Config::from_pairs([("SETTINGS_ENCRYPTION_KEY", "short".to_owned())]).unwrap_err().to_string();
        assert!(error.contains("SETTINGS_ENCRYPTION_KEY") && !error.contains("short"), "named, never echoed: {error}");
        assert!(Config::from_pairs([("SETTINGS_ENCRYPTION_KEY", hex.to_owned())]).is_ok());
    }

    #[test]
    fn production_refuses_unsafe_settings() {
        let error = Config::from_pairs([("APP_ENV", "production".to_owned()), ("DEV_ENDPOINTS", "true".to_owned())])
            .unwrap_err()
            .to_string();
        assert!(error.contains("DATABASE_URL"), "{error}");
        assert!(error.contains("REDIS_URL"), "{error}");
        assert!(error.contains("DEV_ENDPOINTS"), "{error}");
        assert!(error.contains("JWT_SECRET"), "{error}");
        let weak = Config::from_pairs([("JWT_SECRET", "short".to_owned())]).unwrap_err().to_string();
        assert!(weak.contains("JWT_SECRET"), "{weak}");
        let admin_default = Config::from_pairs([("DEFAULT_ROLE", "admin".to_owned())]).unwrap_err().to_string();
        assert!(admin_default.contains("DEFAULT_ROLE"), "{admin_default}");
        let ok = production(&[("DATABASE_URL", "postgres://u:p@db/fa"), ("REDIS_URL", "redis://cache:6379")]).unwrap();
        assert_eq!(ok.bind_addr().to_string(), "0.0.0.0:8000");
        assert!(!ok.migrate_on_start());
    }

    #[test]
    fn numeric_looking_strings_stay_strings() {
        let config = Config::from_pairs([
            ("JWT_KEY_ID", "2".to_owned()),
            ("REDIS_KEY_PREFIX", "123".to_owned()),
            ("DATABASE_POOL_SIZE", "7".to_owned()),
            ("RATE_LIMIT_ENABLED", "false".to_owned()),
        ])
        .unwrap();
        assert_eq!(config.jwt_key_id, "2");
        assert_eq!(config.redis_key_prefix, "123");
        assert_eq!(config.database_pool_size, 7);
        assert!(!config.rate_limit_enabled);
    }

    /// `APP_ENV=production` with a signing key, plus `pairs`.
    #[test]
    fn sentinels_are_host_port_pairs_beside_redis_url() {
        let config = Config::from_pairs([
            ("REDIS_URL", "redis://:secret@unused:6379/0".to_owned()),
            ("REDIS_SENTINELS", "10.0.0.7:26379, redis-sentinel:26380,[::1]:26381".to_owned()),
            ("REDIS_SENTINEL_MASTER", "freeagentics".to_owned()),
        ])
        .unwrap();
        assert_eq!(
            config.redis_sentinels(),
            vec![("10.0.0.7".to_owned(), 26379), ("redis-sentinel".to_owned(), 26380), ("::1".to_owned(), 26381)]
        );
        assert_eq!(config.redis_sentinel_master, "freeagentics");
        assert!(Config::from_pairs([]).unwrap().redis_sentinels().is_empty());
        let error = Config::from_pairs([
            ("REDIS_SENTINELS", "sentinel-a, sentinel-b:0".to_owned()),
            ("REDIS_SENTINEL_MASTER", " ".to_owned()),
        ])
        .unwrap_err()
        .to_string();
        for part in [
            "`sentinel-a` is not host:port",
            "`sentinel-b:0` is not host:port",
            "REDIS_SENTINEL_MASTER",
            "needs REDIS_URL",
        ] {
            assert!(error.contains(part), "{part}: {error}");
        }
    }

    fn production(pairs: &[(&'static str, &str)]) -> Result<Config, String> {
        let mut all =
            vec![("APP_ENV", "production".to_owned()), ("JWT_SECRET", "0123456789abcdef0123456789abcdef".to_owned())];
        all.extend(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Config::from_pairs(all).map_err(|e| e.to_string())
    }

    #[test]
    fn production_names_each_missing_backend_on_its_own() {
        let no_redis = production(&[("DATABASE_URL", "postgres://u:p@db/fa")]).unwrap_err();
        assert!(no_redis.contains("REDIS_URL") && !no_redis.contains("DATABASE_URL"), "{no_redis}");
        let on_sqlite = production(&[("REDIS_URL", "redis://cache:6379")]).unwrap_err();
        assert!(on_sqlite.contains("DATABASE_URL") && !on_sqlite.contains("REDIS_URL"), "{on_sqlite}");
        let sqlite_url = production(&[("DATABASE_URL", "sqlite:///data/fa.db"), ("REDIS_URL", "redis://cache")]);
        assert!(sqlite_url.unwrap_err().contains("DATABASE_URL"), "an explicit SQLite URL is refused too");
    }

    #[test]
    fn logs_are_json_in_production_and_human_in_development() {
        let production =
            production(&[("DATABASE_URL", "postgres://u:p@db/fa"), ("REDIS_URL", "redis://cache")]).unwrap();
        assert_eq!(production.log_format(), LogFormat::Json);
        assert_eq!(Config::from_pairs([]).unwrap().log_format(), LogFormat::Pretty);
        let chosen = Config::from_pairs([("LOG_FORMAT", "json".to_owned())]).unwrap();
        assert_eq!(chosen.log_format(), LogFormat::Json);
    }

    #[test]
    fn previous_keys_must_match_the_algorithm() {
        let secret = "0123456789abcdef0123456789abcdef".to_owned();
        let error = Config::from_pairs([
            ("JWT_ALGORITHM", "EdDSA".to_owned()),
            ("JWT_PRIVATE_KEY", "pem".to_owned()),
            ("JWT_PUBLIC_KEY", "pem".to_owned()),
            ("JWT_PREVIOUS_SECRET", secret.clone()),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("JWT_PREVIOUS_SECRET: rotates HS256 keys"), "{error}");
        let error = Config::from_pairs([("JWT_PREVIOUS_PUBLIC_KEY", "pem".to_owned())]).unwrap_err().to_string();
        assert!(error.contains("JWT_PREVIOUS_PUBLIC_KEY: rotates EdDSA keys"), "{error}");
        assert!(Config::from_pairs([("JWT_PREVIOUS_SECRET", secret)]).is_ok());
    }

    #[test]
    fn the_readiness_budget_stays_short() {
        assert!(Config::from_pairs([("HEALTH_CHECK_TIMEOUT_MS", "5000".to_owned())]).is_ok());
        let error = Config::from_pairs([("HEALTH_CHECK_TIMEOUT_MS", "5001".to_owned())]).unwrap_err();
        assert!(error.to_string().contains("HEALTH_CHECK_TIMEOUT_MS"), "{error}");
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::from_pairs([
            ("DATABASE_URL", "postgres://u:hunter2@db/fa".to_owned()),
            ("REDIS_URL", "redis://:redispass@cache:6379".to_owned()),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-jwt".to_owned()),
        ])
        .unwrap();
        for shown in [format!("{config:?}"), serde_json::to_string(&config).unwrap()] {
            for secret in ["hunter2", "redispass", "abcdef-jwt"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
    }
}
