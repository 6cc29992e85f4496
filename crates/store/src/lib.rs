//! Storage: the traits the API talks to, one error type, and the PostgreSQL (production) and
//! SQLite (embedded) implementations. Both run the same conformance suite (`tests/conformance`).
//!
//! Queries are runtime-checked `sqlx::query_as` strings rather than `query!` macros: the macros bind
//! to one database per crate, and we serve two. The conformance suite is what keeps the two SQL
//! dialects honest, and it runs against both backends in CI.
#![forbid(unsafe_code)]

mod agent_queries;
pub mod agents;
mod coalition_queries;
pub mod coalitions;
mod connect;
mod error;
pub mod events;
pub mod idempotency;
mod migrations;
mod model;
mod pg_pool;
mod postgres;
mod queries;
mod relay_queries;
mod rows;
pub mod settings;
mod settings_queries;
mod sqlite;
mod timing;
mod traits;
mod write_batch;

pub use agents::{Agent, AgentChange, AgentQuery, AgentStep, AgentWithState, NewAgent, StepPage, StepWrite};
pub use coalitions::{
    Coalition, CoalitionChange, CoalitionDetail, CoalitionMember, CoalitionObjective, CoalitionQuery, CoalitionRefusal,
    CoalitionStatusCounts, FormationCandidate, FormationWrite, FormedCoalitionWrite, JoinRequest, MemberChange,
    NewCoalition, NewObjective, ObjectiveChange,
};
pub use connect::{PostgresOptions, SqliteOptions, connect_postgres, connect_sqlite};
pub use error::StoreError;
pub use events::{CoalitionEventFor, CoalitionEventKind, Event, EventFor, NewEvent};
pub use idempotency::{IdempotencyClaim, IdempotencyRecord};
pub use migrations::{MigrationState, MigrationStatus};
pub use model::{
    AuditEvent, Cursor, NewAuditEvent, NewRefreshToken, NewUser, Page, PoolStats, RefreshToken, UserChange, UserQuery,
};
pub use postgres::PgStore;
pub use settings::{AgentTotals, UserSettings};
pub use sqlite::SqliteStore;
pub use traits::{
    AgentStore, AuditStore, Backend, CoalitionStore, EventRelayStore, EventStore, IdempotencyStore, SettingsStore,
    Store, TokenStore, UserStore,
};
