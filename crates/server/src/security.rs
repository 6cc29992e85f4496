//! Builds the authentication and abuse-protection parts of the application from configuration:
//! signing keys, the rate limiter and token denylist (Redis or in-process), limits and throttles.
use crate::config::Config;
use anyhow::Context as _;
use freeagentics_api::agents::InferenceSettings;
use freeagentics_api::auth::{AuthSettings, JwtKeys, ThrottleSettings};
use freeagentics_api::limits::{ClassLimit, RateLimits};
use freeagentics_inference::Limits;
use freeagentics_shared_state::cache::{Cache, CacheBackend, CacheSettings};
use freeagentics_shared_state::{
    Denylist, LocalDenylist, LocalRateLimiter, RateLimiter, RedisDenylist, RedisPool, RedisRateLimiter,
};
use secrecy::ExposeSecret;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Signing keys from configuration; outside production, without `JWT_SECRET`, a secret generated
/// once and kept in `DATA_DIR/jwt-secret` (so tokens survive restarts of a developer's server).
pub fn jwt_keys(config: &Config) -> anyhow::Result<JwtKeys> {
    // one crypto backend, chosen explicitly (feature unification could otherwise make it ambiguous)
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let keys = if config.jwt_algorithm == "EdDSA" {
        let private = config.jwt_private_key.as_ref().context("JWT_PRIVATE_KEY is required for EdDSA")?;
        let public = config.jwt_public_key.as_ref().context("JWT_PUBLIC_KEY is required for EdDSA")?;
        JwtKeys::ed25519(&config.jwt_key_id, private.expose_secret().as_bytes(), public.as_bytes())?
    } else {
        let secret = match &config.jwt_secret {
            Some(secret) => secret.expose_secret().as_bytes().to_vec(),
            None => local_secret(&config.data_dir, "jwt-secret", 64)?,
        };
        JwtKeys::hs256(&config.jwt_key_id, &secret)?
    };
    let keys = match &config.jwt_previous_secret {
        Some(previous) => keys.with_previous_hs256(&config.jwt_previous_key_id, previous.expose_secret().as_bytes())?,
        None => keys,
    };
    Ok(match &config.jwt_previous_public_key {
        Some(previous) => keys.with_previous_ed25519(&config.jwt_previous_key_id, previous.as_bytes())?,
        None => keys,
    })
}

/// A random secret of `bytes` bytes, hex-encoded, generated once into `dir/name` and read back on
/// later starts (development only: production takes its secrets from configuration).
fn local_secret(dir: &Path, name: &str, bytes: usize) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read(&path)
        && existing.len() >= 32
    {
        return Ok(existing);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let encoded: String = (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    write_private(&path, encoded.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a development secret");
    Ok(encoded.into_bytes())
}

/// The key that seals API keys in frontend settings: `SETTINGS_ENCRYPTION_KEY`, else one generated
/// once into `DATA_DIR/settings-key`. A key file that is not a key stops start-up rather than being
/// replaced: a new key would make every stored API key unreadable.
pub fn settings_key(config: &Config) -> anyhow::Result<[u8; 32]> {
    if let Some(key) = &config.settings_encryption_key {
        return crate::config::decode_key(key.expose_secret()).context("SETTINGS_ENCRYPTION_KEY is not a 32-byte key");
    }
    let text = local_secret(&config.data_dir, "settings-key", 32)?;
    let path = config.data_dir.join("settings-key");
    crate::config::decode_key(&String::from_utf8_lossy(&text))
        .with_context(|| format!("{} does not hold a 32-byte hex key", path.display()))
}

#[cfg(unix)]
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(content)
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, content)
}

pub fn auth_settings(config: &Config) -> AuthSettings {
    AuthSettings {
        access_ttl: Duration::from_secs(config.access_token_ttl_seconds),
        refresh_ttl: Duration::from_secs(config.refresh_token_ttl_seconds),
        default_role: config.default_role.parse().unwrap_or(freeagentics_core::Role::Observer),
    }
}

pub fn rate_limits(config: &Config) -> RateLimits {
    let mut limits = RateLimits { enabled: config.rate_limit_enabled, ..RateLimits::default() };
    for (class, spec) in config.rate_limit_specs() {
        let Some(limit) = spec.and_then(|s| ClassLimit::parse(s).ok()) else { continue };
        *limits.get_mut(class) = limit;
    }
    if !limits.enabled {
        tracing::warn!("RATE_LIMIT_ENABLED=false: requests are not rate limited (login throttling still applies)");
    }
    limits
}

pub fn throttle(config: &Config) -> ThrottleSettings {
    ThrottleSettings {
        account_ip_failures: config.login_throttle_account_ip_failures,
        ip_failures: config.login_throttle_ip_failures,
        account_failures: config.login_throttle_account_failures,
        window: Duration::from_secs(config.login_throttle_window_seconds),
    }
}

/// The limiter and the denylist: Redis-backed when Redis is configured (the denylist read through
/// a local cache layer over `cache`), else in-process.
pub fn shared(
    redis: Option<&RedisPool>,
    cache: &Arc<dyn CacheBackend>,
    settings: &CacheSettings,
) -> (Arc<dyn RateLimiter>, Arc<dyn Denylist>) {
    match redis {
        Some(redis) => {
            let answers = Cache::local("denylist", Arc::clone(cache), settings.clone());
            (Arc::new(RedisRateLimiter::new(redis.clone())), Arc::new(RedisDenylist::new(redis.clone(), answers)))
        }
        None => (Arc::new(LocalRateLimiter::default()), Arc::new(LocalDenylist::default())),
    }
}

/// The inference engine's settings. `AGENT_MEMORY_OPTIMIZATION` (the runbook's memory lever)
/// bounds per-agent history to 100 steps and the compiled-model cache to 64 MiB.
pub fn inference_settings(config: &Config) -> InferenceSettings {
    let (history, models) = if config.agent_memory_optimization {
        (config.agent_history_limit.min(100), config.inference_model_cache_bytes.min(64 * 1024 * 1024))
    } else {
        (config.agent_history_limit, config.inference_model_cache_bytes)
    };
    let limits = Limits {
        max_states_per_factor: config.inference_max_states,
        max_policies: config.inference_max_policies,
        max_policy_len: config.inference_max_horizon,
        ..Limits::default()
    };
    InferenceSettings {
        limits,
        threads: match config.inference_threads {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            n => n,
        },
        step_timeout: Duration::from_millis(config.inference_step_timeout_ms),
        run_timeout: Duration::from_millis(config.inference_run_timeout_ms),
        model_cache_bytes: models,
        history_limit: history,
    }
}

pub fn cache_settings(config: &Config) -> CacheSettings {
    CacheSettings {
        enabled: config.cache_enabled,
        local_ttl: Duration::from_secs(config.cache_local_ttl_seconds),
        shared_ttl: Duration::from_secs(config.cache_shared_ttl_seconds),
        local_max_bytes: config.cache_local_max_bytes,
    }
}
