//! Agents: the compiled-model cache and the inference engine behind the agents API, the views
//! clients (and the event stream) see, and the outbox events of each change. Handlers are in
//! `routes/agents.rs` and `routes/agent_steps.rs`; the status machine is in `freeagentics_core`.
pub(crate) mod beliefs;
pub mod engine;
pub mod events;
pub mod models;
pub mod preload;
pub mod step_state;
pub mod view;

pub use engine::{Engine, EngineError, InferenceSettings};
pub use models::{ModelDefinition, model_key};
pub use preload::PreloadedAgent;
pub use step_state::{StepState, StepStates};
pub use view::AgentView;
