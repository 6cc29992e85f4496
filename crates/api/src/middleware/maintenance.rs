//! Maintenance mode: operators write `true` into the file named by `MAINTENANCE_FILE` (in
//! Kubernetes, the `maintenance` key of the `nginx-config` ConfigMap mounted as a volume) and every
//! route but health and metrics answers 503 until it says anything else. No restart needed.
use crate::{ApiError, AppState, Lifecycle};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The 503 to answer while maintenance is on. Probes and scrapes are never refused (their routes
/// are declared as probes in `router.rs`): Kubernetes would restart pods mid-maintenance.
pub fn refusal(state: &AppState) -> Option<Response> {
    state.lifecycle.in_maintenance().then(|| {
        ApiError::Unavailable {
            detail: "the service is under maintenance; retry later".to_owned(),
            retry_after: state.config.retry_after,
        }
        .into_response()
    })
}

/// `true` (any case, surrounding whitespace ignored) turns maintenance on; anything else, or no
/// file, turns it off.
pub async fn read_flag(path: &Path) -> bool {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => text.trim().eq_ignore_ascii_case("true"),
        Err(_) => false,
    }
}

/// Re-reads the file every `interval` until cancelled. Polling, not inotify: ConfigMap volumes
/// swap a symlink, which file watchers routinely miss.
pub async fn watch(path: PathBuf, interval: Duration, lifecycle: Arc<Lifecycle>, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {
                let on = read_flag(&path).await;
                if on != lifecycle.in_maintenance() {
                    tracing::warn!(maintenance = on, file = %path.display(), "maintenance mode changed");
                    lifecycle.set_maintenance(on);
                }
                metrics::gauge!("freeagentics_maintenance_mode").set(if on { 1.0 } else { 0.0 });
            }
        }
    }
}
