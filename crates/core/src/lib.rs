//! Domain types and rules of FreeAgentics. No I/O lives here: every other crate depends on these
//! definitions, so they must stay cheap to compile and free of infrastructure concerns.
#![forbid(unsafe_code)]

pub mod account;
pub mod agent;
pub mod agent_status;
pub mod coalition;
pub mod id;
pub mod net;
pub mod prompt;
pub mod role;
pub mod sensitive;
pub mod validation;

pub use account::User;
pub use agent_status::{AgentStatus, AgentTransitionError};
pub use id::new_id;
pub use role::{Permission, Role};
pub use sensitive::Sensitive;
pub use validation::{FieldError, ValidationErrors};
