use crate::ApiConfig;
use crate::auth::{AuthSettings, JwtKeys, PasswordHasher, ThrottleSettings};
use crate::limits::RateLimits;
use crate::policy::ContractLog;
use freeagentics_shared_state::{Denylist, RateLimiter, RedisPool};
use freeagentics_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Process-wide switches flipped by signals and watchers, read on every request.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
    maintenance: AtomicBool,
}

impl Lifecycle {
    /// After SIGTERM: readiness answers 503 so the load balancer stops sending new traffic while
    /// in-flight and straggling requests are still served.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn set_maintenance(&self, on: bool) {
        self.maintenance.store(on, Ordering::SeqCst);
    }

    pub fn in_maintenance(&self) -> bool {
        self.maintenance.load(Ordering::SeqCst)
    }
}

/// Everything a handler may use. Built once at start-up; cheap to clone (`Arc`).
pub struct App {
    pub config: ApiConfig,
    pub store: Arc<dyn Store>,
    /// `None` in the embedded profile: shared concerns use their in-process implementations.
    pub redis: Option<RedisPool>,
    pub metrics: PrometheusHandle,
    /// The body of every liveness answer (`routes::health::liveness_body`).
    pub liveness: axum::body::Bytes,
    pub lifecycle: Arc<Lifecycle>,
    pub started: Instant,
    pub keys: Arc<JwtKeys>,
    pub auth: AuthSettings,
    pub hasher: PasswordHasher,
    pub limiter: Arc<dyn RateLimiter>,
    pub denylist: Arc<dyn Denylist>,
    pub rate_limits: RateLimits,
    pub login_throttle: ThrottleSettings,
    pub caches: crate::caches::Caches,
    /// Compiled models and the inference threads.
    pub engine: crate::agents::Engine,
    /// Answers whose status their operation does not document (see `policy`).
    pub contract: Arc<ContractLog>,
    /// WebSockets: the local fan-out, the event bus, tickets, and the sockets' shutdown signal.
    pub realtime: crate::realtime::Realtime,
    /// The web frontend's development mode (`DEV_ENDPOINTS`); `None` in every other deployment, and
    /// then its routes do not exist.
    pub frontend: Option<crate::frontend::Frontend>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("store", &self.store).field("redis", &self.redis).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
