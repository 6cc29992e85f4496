//! Real-time events, the server's part: which bus this replica uses, the relay that moves committed
//! outbox rows onto it, and the reader that hands what is on it to this replica's sockets
//! (docs/REALTIME.md).
//!
//! Every replica runs both. The relay is safe to run everywhere: numbering is serialised in the
//! database and the bus refuses an id it already holds, so two relays publish each event once, in
//! order. The reader follows the bus from where this replica joined it.
use crate::config::Config;
use freeagentics_api::AppState;
use freeagentics_api::realtime::{Realtime, RealtimeSettings, topic_kind};
use freeagentics_shared_state::{
    BusEvent, EventBus, LocalEventBus, LocalTicketStore, RedisEventBus, RedisPool, RedisTicketStore, TicketStore,
};
use freeagentics_store::events::Event;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events numbered and published per relay round.
const RELAY_BATCH: u32 = 500;
/// Events per read from the bus.
const READ_BATCH: usize = 500;
/// How long one blocking read waits for an event.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// Waits after a failure, doubling up to the maximum.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

pub fn settings(config: &Config) -> RealtimeSettings {
    RealtimeSettings {
        max_connections_per_user: config.ws_max_connections_per_user,
        heartbeat_interval: Duration::from_secs_f64(config.ws_heartbeat_interval_seconds),
        pong_timeout: Duration::from_secs_f64(config.ws_pong_timeout_seconds),
        send_queue: config.ws_send_queue,
        max_message_bytes: config.ws_max_message_bytes,
        messages_per_minute: config.ws_max_messages_per_minute,
        ticket_ttl: Duration::from_secs(config.ws_ticket_ttl_seconds),
        auth_recheck: Duration::from_secs_f64(config.ws_auth_recheck_seconds),
        replay_max: config.ws_replay_max,
    }
}

/// A Redis stream and Redis tickets when Redis is configured, else the in-process ones.
pub fn build(config: &Config, redis: Option<&RedisPool>) -> Realtime {
    let (bus, tickets): (Arc<dyn EventBus>, Arc<dyn TicketStore>) = match redis {
        Some(redis) => (
            Arc::new(RedisEventBus::new(redis.clone(), config.events_stream_max_len)),
            Arc::new(RedisTicketStore::new(redis.clone())),
        ),
        None => (Arc::new(LocalEventBus::new(config.events_stream_max_len)), Arc::new(LocalTicketStore::default())),
    };
    Realtime::new(settings(config), bus, tickets)
}

fn bus_event(event: &Event) -> Option<BusEvent> {
    Some(BusEvent {
        id: u64::try_from(event.seq?).ok()?,
        topic: event.topic.clone(),
        kind: event.kind.clone(),
        data: event.payload.to_string(),
        ts: event.created_at.format(&time::format_description::well_known::Rfc3339).ok()?,
    })
}

/// Sleeps `delay` unless cancelled first; `false` when cancelled.
async fn pause(delay: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = cancel.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

/// Moves committed outbox rows onto the bus, in `seq` order, and marks them published. When the
/// bus cannot be reached, this replica's own sockets still get the events (the hub ignores the
/// copy the bus brings later); the rows stay unpublished until the bus takes them.
pub async fn relay(state: AppState, poll: Duration, cancel: CancellationToken) {
    let bus = Arc::clone(&state.realtime.bus);
    // the bus's newest id keeps new numbers above it (a restored database must not reuse them)
    let mut floor = 0_u64;
    let mut floor_known = false;
    let mut retry = RETRY_MIN;
    let mut delay = poll;
    loop {
        if !pause(delay, &cancel).await {
            return;
        }
        delay = poll;
        if !floor_known {
            match bus.last_id().await {
                Ok(last) => {
                    floor = floor.max(last);
                    floor_known = true;
                }
                Err(error) => tracing::debug!(%error, "event relay: the bus's position is unknown"),
            }
        }
        let events = match state.store.sequence_events(i64::try_from(floor).unwrap_or(i64::MAX), RELAY_BATCH).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "event relay: reading the outbox failed");
                delay = retry;
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        let published: Vec<BusEvent> = events
            .iter()
            .filter_map(|event| {
                let published = bus_event(event);
                if published.is_none() {
                    tracing::error!(id = %event.id, "event relay: an outbox row without a number; skipped");
                }
                published
            })
            .collect();
        // bus ids are the outbox's numbers: everything up to the last one is on the bus
        let mut through = None;
        let failed = match bus.publish(&published).await {
            Ok(added) => {
                for (published, added) in published.iter().zip(added) {
                    if added {
                        metrics::counter!("freeagentics_events_published_total", "topic_kind" => topic_kind(&published.topic))
                            .increment(1);
                    }
                    floor = floor.max(published.id);
                }
                through = published.last().and_then(|last| i64::try_from(last.id).ok());
                false
            }
            Err(error) => {
                tracing::warn!(%error, "event relay: the bus is unreachable; delivering to local sockets only");
                floor_known = false;
                for published in &published {
                    state.realtime.hub.deliver(published);
                }
                true
            }
        };
        if let Some(through) = through
            && let Err(error) = state.store.mark_published(through).await
        {
            // published but not marked: the next round publishes them again, and the bus refuses
            tracing::warn!(%error, "event relay: marking events published failed");
        }
        if failed {
            delay = retry;
            retry = (retry * 2).min(RETRY_MAX);
        } else {
            retry = RETRY_MIN;
            // a full batch means more are waiting: no pause
            if events.len() >= RELAY_BATCH as usize {
                delay = Duration::ZERO;
            }
        }
    }
}

/// Follows the bus and hands each event to this replica's sockets. When the bus becomes
/// unreachable (or trimmed past this reader), every subscriber is told to resynchronise; the reader
/// reconnects by itself and goes on from where it was.
pub async fn read_bus(state: AppState, cancel: CancellationToken) {
    let realtime = &state.realtime;
    let mut position = None;
    let mut healthy = true;
    let mut retry = RETRY_MIN;
    loop {
        let after = match position {
            Some(after) => Ok(after),
            None => realtime.bus.last_id().await,
        };
        let read = match after {
            Ok(after) => {
                position = Some(after);
                tokio::select! {
                    () = cancel.cancelled() => return,
                    read = realtime.bus.read_after(after, READ_BATCH, READ_BLOCK) => read,
                }
            }
            Err(error) => Err(error),
        };
        match read {
            Ok(batch) => {
                if !healthy {
                    tracing::info!("event bus reachable again");
                    healthy = true;
                }
                retry = RETRY_MIN;
                if batch.gap {
                    tracing::warn!("event bus trimmed events this replica had not read: subscribers must resync");
                    realtime.hub.resync_all();
                }
                for event in &batch.events {
                    position = Some(event.id);
                    realtime.hub.deliver(event);
                }
            }
            Err(error) => {
                if healthy {
                    tracing::warn!(%error, "event bus unreachable: subscribers must resync; reconnecting");
                    healthy = false;
                    realtime.hub.resync_all();
                }
                if !pause(retry, &cancel).await {
                    return;
                }
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
        if cancel.is_cancelled() {
            return;
        }
    }
}
