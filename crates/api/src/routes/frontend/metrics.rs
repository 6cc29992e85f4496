//! `GET /api/v1/metrics`: the figures of the frontend's footer (polled every 5 s), from the same
//! sources as our Prometheus metrics — the process's /proc readings and the agents in the store —
//! so they agree with the dashboards. Not `/metrics`: that is Prometheus text for scrapers.
use super::frontend;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use freeagentics_core::AgentStatus;
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Serialize)]
pub struct FooterMetrics {
    /// Percent of all CPUs this process used since the previous poll.
    pub cpu_usage: f64,
    /// Resident memory as a percent of the machine's.
    pub memory_usage: f64,
    pub memory_bytes: u64,
    pub active_agents: i64,
    pub total_agents: i64,
    /// Steps taken by the agents that exist.
    pub total_inferences: i64,
    /// Mean last free energy of the agents that have stepped; 0 before any has.
    pub avg_free_energy: f64,
    /// Seconds since this replica started.
    pub uptime: u64,
    pub version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
}

pub async fn get_footer_metrics(State(state): State<AppState>) -> Result<Json<FooterMetrics>, ApiError> {
    let usage = frontend(&state)?.usage(state.started);
    let (by_status, totals) = tokio::try_join!(state.store.count_agents_by_status(), state.store.agent_totals())?;
    let count = |wanted: Option<AgentStatus>| {
        by_status.iter().filter(|(status, _)| wanted.is_none_or(|w| w == *status)).map(|(_, n)| n).sum::<i64>()
    };
    Ok(Json(FooterMetrics {
        cpu_usage: usage.cpu_percent,
        memory_usage: usage.memory_percent,
        memory_bytes: usage.memory_bytes,
        active_agents: count(Some(AgentStatus::Active)),
        total_agents: count(None),
        total_inferences: totals.steps,
        avg_free_energy: totals.mean_last_free_energy.unwrap_or(0.0),
        uptime: state.started.elapsed().as_secs(),
        version: state.config.version.clone(),
        timestamp: OffsetDateTime::now_utc(),
    }))
}
