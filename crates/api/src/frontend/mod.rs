//! The web frontend's development mode (docs/FRONTEND.md): what the existing Next.js frontend
//! calls outside the `/api/v1` contract, mapped onto our domain — its agents are our agents, its
//! socket is our event stream, its sign-in is an ordinary access token. Everything here exists only
//! with `DEV_ENDPOINTS=true` (refused in production); the handlers are in `routes/frontend/`.
pub mod agent;
pub mod dev_user;
pub mod graph;
pub mod sealer;
pub mod settings;
pub mod system;

pub use agent::FrontendAgent;
pub use sealer::Sealer;

use std::sync::Mutex;
use uuid::Uuid;

/// The per-replica state of the development mode.
#[derive(Debug)]
pub struct Frontend {
    /// Seals the API keys kept in settings.
    pub sealer: Sealer,
    /// Development sockets one replica holds (`WS_DEV_MAX_CONNECTIONS`).
    pub max_sockets: usize,
    /// The development account, once found or created.
    dev_user: tokio::sync::OnceCell<Uuid>,
    /// The previous CPU reading, for the metrics footer's usage since its last poll.
    cpu: Mutex<Option<system::CpuReading>>,
}

impl Frontend {
    pub fn new(settings_key: &[u8; 32], max_sockets: usize) -> Self {
        Frontend {
            sealer: Sealer::new(settings_key),
            max_sockets,
            dev_user: tokio::sync::OnceCell::new(),
            cpu: Mutex::new(None),
        }
    }
}
