//! Fan-out to this replica's sockets. Each event is rendered once, as the frame every subscriber
//! gets, and shared; a socket that cannot keep up with the hub itself is closed by its own task.
use freeagentics_shared_state::BusEvent;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// Signals a socket may miss before it is closed for falling behind: bursts far beyond what a
/// socket's own send queue would accept anyway.
const HUB_CAPACITY: usize = 4096;

/// One event, ready to send.
#[derive(Debug)]
pub struct Frame {
    pub id: u64,
    /// The event's topic (`agent:<id>`).
    pub topic: String,
    /// The collection topic that also receives it (`agents` for `agent:<id>`).
    pub collection: Option<String>,
    pub text: axum::extract::ws::Utf8Bytes,
    /// The event's kind, for sockets that render events their own way (the frontend's development
    /// socket reads the payload back from `text`: kept once, not twice, per event).
    pub kind: String,
}

impl Frame {
    pub fn render(event: &BusEvent) -> Self {
        let quote = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
        let text = format!(
            r#"{{"type":"event","id":{},"topic":{},"event":{},"data":{},"ts":{}}}"#,
            event.id,
            quote(&event.topic),
            quote(&event.kind),
            event.data,
            quote(&event.ts)
        );
        Frame {
            id: event.id,
            collection: crate::realtime::topics::collection_of(&event.topic),
            topic: event.topic.clone(),
            text: text.into(),
            kind: event.kind.clone(),
        }
    }

    pub fn is_for(&self, topics: &[String]) -> bool {
        topics.iter().any(|t| *t == self.topic || self.collection.as_deref() == Some(t.as_str()))
    }
}

#[derive(Debug, Clone)]
pub enum Signal {
    Event(Arc<Frame>),
    /// Events may have been missed (the bus became unreachable, or the reader fell behind it).
    Resync,
}

#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Signal>,
    /// The newest id handed out: an event that arrives twice (from the bus after it was delivered
    /// directly while the bus was down) goes out once.
    delivered: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self { sender: broadcast::channel(HUB_CAPACITY).0, delivered: AtomicU64::new(0) }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.sender.subscribe()
    }

    /// Hands the event to every local socket, unless one with this id or later already went out.
    pub fn deliver(&self, event: &BusEvent) -> bool {
        if self.delivered.fetch_max(event.id, Ordering::SeqCst) >= event.id {
            return false;
        }
        // no receivers is not an error: nobody is connected here
        let _ = self.sender.send(Signal::Event(Arc::new(Frame::render(event))));
        true
    }

    pub fn resync_all(&self) {
        let _ = self.sender.send(Signal::Resync);
    }
}
