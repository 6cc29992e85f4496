//! The caches of hot reads, each a typed two-level cache (`freeagentics_shared_state::cache`) over
//! one backend: Redis (shared copies, cross-replica invalidation) or in-process (embedded profile).
use crate::agents::{AgentView, StepStates};
use crate::auth::Principal;
use crate::coalitions::CoalitionView;
use freeagentics_shared_state::cache::{Cache, CacheBackend, CacheSettings};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Caches {
    pub backend: Arc<dyn CacheBackend>,
    /// Request principals by user id (`auth::principal`).
    pub principals: Cache<Principal>,
    /// Agents by id, as the API renders them (`routes::agents`).
    pub agents: Cache<AgentView>,
    /// Coalitions by id, with members and objectives (`coalitions::view`).
    pub coalitions: Cache<CoalitionView>,
    /// The engine state of agents this replica stepped, companions of `agents` (`agents::step_state`).
    pub step_states: StepStates,
}

impl Caches {
    pub fn new(backend: Arc<dyn CacheBackend>, settings: &CacheSettings) -> Self {
        Caches {
            principals: Cache::shared("principal", Arc::clone(&backend), settings.clone()),
            agents: Cache::shared("agent", Arc::clone(&backend), settings.clone()),
            coalitions: Cache::shared("coalition", Arc::clone(&backend), settings.clone()),
            step_states: StepStates::new(settings),
            backend,
        }
    }

    /// Scrape-time gauges of every local layer.
    pub fn report(&self) {
        self.principals.report();
        self.agents.report();
        self.coalitions.report();
        self.step_states.report();
    }
}
