//! The engine state each agent this replica stepped was left in, kept for its next step, which
//! then reads nothing before it writes. The state (beliefs, several KiB for a larger model, new on
//! every step) stays in this process: it is never shared through Redis.
//!
//! A kept state is a companion of the agent's cached view ([`Cache::stamp`]): every change to the
//! agent, on any replica, drops it within the view cache's bound. A step's write is versioned
//! besides, so a state kept past a change costs that step a retry, never a lost update.
use crate::agents::AgentView;
use crate::{ApiError, AppState};
use freeagentics_inference::AgentState;
use freeagentics_shared_state::cache::{Cache, CacheSettings, Outcome, Stamp};
use freeagentics_store::Agent;
use moka::ops::compute::Op;
use std::sync::Arc;
use uuid::Uuid;

/// The metric label of the kept states in `freeagentics_cache_requests_total`.
pub const CACHE_NAME: &str = "agent_state";

/// An agent as its next step starts from.
#[derive(Debug, Clone)]
pub struct StepState {
    pub agent: Agent,
    pub state: AgentState,
}

#[derive(Clone)]
struct Kept {
    value: Arc<StepState>,
    stamp: Stamp,
}

#[derive(Clone)]
pub struct StepStates {
    kept: moka::future::Cache<Uuid, Kept>,
}

impl std::fmt::Debug for StepStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepStates").field("entries", &self.kept.entry_count()).finish()
    }
}

impl StepStates {
    /// Bounded like a cache's local layer: `local_max_bytes` of beliefs, `local_ttl` each.
    pub fn new(settings: &CacheSettings) -> Self {
        let kept = moka::future::Cache::builder()
            .max_capacity(settings.local_max_bytes)
            .weigher(|_: &Uuid, kept: &Kept| weight(&kept.value))
            .time_to_live(settings.local_ttl)
            .build();
        StepStates { kept }
    }

    /// The agent and engine state its next step starts from: the kept one while it is current,
    /// else read from the store (and kept).
    pub async fn current(&self, state: &AppState, id: Uuid) -> Result<Arc<StepState>, ApiError> {
        let views = &state.caches.agents;
        let key = id.to_string();
        // taken before the read: a change during it leaves what was read stale
        let stamp = views.stamp(&key);
        if let Some(stamp) = stamp
            && let Some(kept) = self.kept.get(&id).await
            && kept.stamp == stamp
        {
            count(Outcome::HitLocal);
            return Ok(kept.value);
        }
        let stored = state.store.agent_with_state(id).await?;
        let engine_state: AgentState =
            serde_json::from_str(&stored.state).map_err(|e| ApiError::internal("reading an agent's state", e))?;
        let value = Arc::new(StepState { agent: stored.agent, state: engine_state });
        match stamp {
            Some(stamp) => {
                count(Outcome::Miss);
                self.kept.insert(id, Kept { value: Arc::clone(&value), stamp }).await;
            }
            None => count(Outcome::Bypass),
        }
        Ok(value)
    }

    /// After this replica's step was written and the agent's view invalidated: the state the
    /// step left, for the next one. A step that finishes late never replaces a later one's copy.
    pub async fn keep(&self, views: &Cache<AgentView>, value: StepState) {
        let id = value.agent.id;
        let Some(stamp) = views.stamp(&id.to_string()) else {
            self.kept.invalidate(&id).await;
            return;
        };
        let version = value.agent.version;
        let kept = Kept { value: Arc::new(value), stamp };
        self.kept
            .entry(id)
            .and_compute_with(|existing| {
                let newer = existing.is_some_and(|e| e.value().value.agent.version > version);
                std::future::ready(if newer { Op::Nop } else { Op::Put(kept) })
            })
            .await;
    }

    /// A write found the agent changed since its state was kept.
    pub async fn forget(&self, id: Uuid) {
        self.kept.invalidate(&id).await;
    }

    /// Entries and weight, for the scrape-time gauges of the caches.
    pub fn report(&self) {
        metrics::gauge!("freeagentics_cache_local_entries", "cache" => CACHE_NAME).set(self.kept.entry_count() as f64);
        metrics::gauge!("freeagentics_cache_local_weight_bytes", "cache" => CACHE_NAME)
            .set(self.kept.weighted_size() as f64);
    }
}

fn count(outcome: Outcome) {
    metrics::counter!("freeagentics_cache_requests_total", "cache" => CACHE_NAME, "result" => outcome.as_str())
        .increment(1);
}

/// Approximate bytes held: the beliefs and the agent's strings, plus a fixed overhead.
fn weight(value: &StepState) -> u32 {
    let beliefs: usize = value.state.qs.iter().map(|q| q.len() * 8).sum();
    let agent = &value.agent;
    let strings = agent.name.len()
        + agent.template.len()
        + agent.model_key.len()
        + agent.gmn_spec.as_ref().map_or(0, String::len)
        + agent.capabilities.iter().map(String::len).sum::<usize>();
    u32::try_from(512 + beliefs + strings).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use freeagentics_shared_state::cache::LocalCacheBackend;

    fn at_version(id: Uuid, version: i64) -> StepState {
        let now = time::OffsetDateTime::now_utc();
        let agent = Agent {
            id,
            owner_id: Uuid::nil(),
            name: "kept".to_owned(),
            template: "basic-explorer".to_owned(),
            status: freeagentics_core::AgentStatus::Active,
            capabilities: Vec::new(),
            parameters: serde_json::Value::Null,
            gmn_spec: None,
            model_key: "k".to_owned(),
            step_count: version,
            total_step_micros: 0,
            last_free_energy: None,
            last_active_at: None,
            version,
            created_at: now,
            updated_at: now,
        };
        StepState { agent, state: AgentState::new(1) }
    }

    #[tokio::test]
    async fn a_late_step_never_replaces_a_later_ones_copy() {
        let settings = CacheSettings::default();
        let views: Cache<AgentView> = Cache::shared("agent", Arc::new(LocalCacheBackend::default()), settings.clone());
        let states = StepStates::new(&settings);
        let id = Uuid::now_v7();
        let version = |states: &StepStates| {
            let states = states.clone();
            async move { states.kept.get(&id).await.map(|k| k.value.agent.version) }
        };
        states.keep(&views, at_version(id, 5)).await;
        assert_eq!(version(&states).await, Some(5));
        states.keep(&views, at_version(id, 4)).await;
        assert_eq!(version(&states).await, Some(5), "the older step's copy was dropped");
        states.keep(&views, at_version(id, 6)).await;
        assert_eq!(version(&states).await, Some(6));
        views.invalidate(&id.to_string()).await;
        let stale = states.kept.get(&id).await.unwrap();
        assert!(!views.is_current(&id.to_string(), stale.stamp), "a change to the agent makes the copy stale");
        states.forget(id).await;
        assert_eq!(version(&states).await, None);
    }
}
