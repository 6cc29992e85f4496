//! Discrete active-inference engine, numerically equal to pymdp 0.0.7.1's `Agent` with its
//! defaults, plus the model builders (templates) and the GMN parser.
//!
//! Pure: no I/O, no async, no clock beyond an optional deadline the caller passes in.
//!
//! ```
//! use freeagentics_inference::{templates, AgentState, CompiledModel, Limits, step};
//! let built = templates::build("basic-explorer", &serde_json::json!({"width": 5, "height": 5}), &Limits::default()).unwrap();
//! let compiled = CompiledModel::new(&built.model, &built.settings, &Limits::default()).unwrap();
//! let mut agent = AgentState::new(0);
//! let out = step(&compiled, &mut agent, &[4], None).unwrap();
//! assert_eq!(out.q_pi.len(), compiled.num_policies());
//! ```

mod agent;
mod compiled;
mod efe;
mod error;
pub mod gmn;
mod infer;
mod limits;
mod model;
mod model_json;
mod policy;
mod rng;
mod run;
mod settings;
mod sparse;
pub mod templates;
mod tensor;
mod validate;
mod workspace;

pub use agent::{AgentState, StepOutput, action_marginals, step, step_with};
pub use compiled::{CompileError, CompiledModel, HARD_MAX_FACTORS};
pub use error::{FieldError, MAX_REPORTED_ERRORS, ModelError, ModelErrors, Rule, RunError, StepError};
pub use limits::Limits;
pub use model::{Model, ModelParts, Transition};
pub use rng::RngState;
pub use run::{RunRequest, RunResult, parse_observations, run};
pub use settings::{ActionSelection, Settings};
pub use sparse::Csr;
pub use validate::NORMALISATION_TOLERANCE;
pub use workspace::Workspace;
