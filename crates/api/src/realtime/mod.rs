//! Real-time events over WebSockets (docs/REALTIME.md): the per-replica state every socket shares
//! — the local fan-out ([`Hub`]), the bus, tickets, the per-user connection count and the shutdown
//! signal. The handlers are in `routes/ws.rs`; the relay and the bus reader run in the server.
mod connection;
pub mod frontend;
mod hub;
mod protocol;
mod topics;

pub use connection::{Dialect, serve};
pub use hub::{Frame, Hub};
pub use topics::{TOPIC_KINDS, Topic, topic_kind};

use freeagentics_shared_state::{EventBus, TicketStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// Limits and timings of the sockets (`WS_*` settings).
#[derive(Debug, Clone)]
pub struct RealtimeSettings {
    pub max_connections_per_user: usize,
    pub heartbeat_interval: Duration,
    /// A ping not answered (by any frame) within this closes the socket.
    pub pong_timeout: Duration,
    /// Messages waiting for a slow client; one more closes the socket.
    pub send_queue: usize,
    pub max_message_bytes: usize,
    pub messages_per_minute: u32,
    pub ticket_ttl: Duration,
    /// How often each socket re-checks its token (expiry, revocation, account changes).
    pub auth_recheck: Duration,
    /// The most events one `resume` replays; more is answered with `resync_required`.
    pub replay_max: usize,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        Self {
            max_connections_per_user: 5,
            heartbeat_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(10),
            send_queue: 256,
            max_message_bytes: 64 * 1024,
            messages_per_minute: 120,
            ticket_ttl: Duration::from_secs(30),
            auth_recheck: Duration::from_secs(1),
            replay_max: 1000,
        }
    }
}

pub struct Realtime {
    pub settings: RealtimeSettings,
    pub hub: Hub,
    pub bus: Arc<dyn EventBus>,
    pub tickets: Arc<dyn TicketStore>,
    /// Cancelled when the server begins to shut down: every socket closes with 1001.
    pub shutdown: CancellationToken,
    /// Every open socket, so shutdown can wait for them.
    pub sockets: TaskTracker,
    per_user: Arc<Mutex<HashMap<Uuid, usize>>>,
    dev_sockets: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl std::fmt::Debug for Realtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Realtime").field("bus", &self.bus).field("sockets", &self.sockets.len()).finish_non_exhaustive()
    }
}

impl Realtime {
    pub fn new(settings: RealtimeSettings, bus: Arc<dyn EventBus>, tickets: Arc<dyn TicketStore>) -> Self {
        Self {
            settings,
            hub: Hub::new(),
            bus,
            tickets,
            shutdown: CancellationToken::new(),
            sockets: TaskTracker::new(),
            per_user: Arc::default(),
            dev_sockets: Arc::default(),
        }
    }

    /// Holds one of the user's connections, or `None` at the cap.
    pub fn reserve(&self, user: Uuid) -> Option<Slot> {
        Slot::take(&self.per_user, user, self.settings.max_connections_per_user)
    }

    /// Holds one of this replica's development sockets (counted apart from every user's own), or
    /// `None` when `cap` are open.
    pub fn reserve_dev(&self, cap: usize) -> Option<Slot> {
        Slot::take(&self.dev_sockets, Uuid::nil(), cap)
    }
}

/// One of a user's connections, counted until dropped.
#[derive(Debug)]
pub struct Slot {
    user: Uuid,
    counts: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl Slot {
    fn take(counts: &Arc<Mutex<HashMap<Uuid, usize>>>, user: Uuid, cap: usize) -> Option<Slot> {
        let mut locked = counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = locked.entry(user).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Slot { user, counts: Arc::clone(counts) })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}
