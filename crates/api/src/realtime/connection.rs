//! One socket: a task that reads the client, follows the hub and keeps time (heartbeat, token
//! checks), and a writer task fed through a bounded queue. Nothing waits on the client's reading
//! except the writer: when the queue is full, the socket is closed (1008) instead of buffering.
use super::frontend::FrontendDialect;
use super::hub::{Frame, Signal};
use super::protocol::{ClientMessage, ServerMessage, close};
use super::topics::Topic;
use super::{Realtime, Slot};
use crate::AppState;
use crate::auth::AuthUser;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use freeagentics_shared_state::Replay;
use futures_util::{SinkExt as _, StreamExt as _};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

/// Topics one socket may follow at once.
pub const MAX_TOPICS: usize = 100;
/// After a `subscribe`, live events wait this long for a `resume` (which the client sends right
/// behind it), so a replay always comes before them: events are never sent out of order.
const RESUME_WINDOW: Duration = Duration::from_millis(500);
/// How long a full send queue may stay full before its client counts as too slow.
const SEND_GRACE: Duration = Duration::from_secs(1);
/// How long a closing socket may take to get its Close frame out before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why the socket ends, when the server ends it.
struct Closing {
    code: u16,
    reason: &'static str,
}

impl Closing {
    fn new(code: u16, reason: &'static str) -> Option<Self> {
        Some(Closing { code, reason })
    }
}

/// Counts the socket in `freeagentics_active_connections` while it lives.
struct Active;

impl Active {
    fn open() -> Self {
        metrics::gauge!("freeagentics_active_connections").increment(1.0);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        metrics::gauge!("freeagentics_active_connections").decrement(1.0);
    }
}

/// What a socket speaks.
#[derive(Debug)]
pub enum Dialect {
    /// The event protocol (docs/REALTIME.md): subscriptions, resume, token re-checks.
    Events,
    /// The web frontend's development socket (`realtime::frontend`).
    Frontend(FrontendDialect),
}

/// Runs an upgraded socket for `user` until either side ends it.
pub async fn serve(socket: WebSocket, state: AppState, user: AuthUser, slot: Slot, dialect: Dialect) {
    let realtime: &Realtime = &state.realtime;
    let _tracked = realtime.sockets.token();
    let _active = Active::open();
    let _slot = slot;
    let (sink, mut stream) = socket.split();
    let (queue, outgoing) = mpsc::channel(realtime.settings.send_queue.max(1));
    let (closer, close_signal) = oneshot::channel();
    let writer = tokio::spawn(write(sink, outgoing, close_signal));
    let mut session = Session {
        state: &state,
        user,
        topics: Vec::new(),
        last_sent: 0,
        hold: None,
        queue,
        budget: Budget::new(realtime.settings.messages_per_minute),
        dialect,
    };
    let closing = session.run(&mut stream).await;
    // the Close frame is handed over before the queue closes: a writer that saw the queue close
    // first would end the socket without saying why
    let Some(Closing { code, reason }) = closing else {
        drop(session);
        drop(closer);
        let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
        return;
    };
    let _ = closer.send(CloseFrame { code, reason: Utf8Bytes::from_static(reason) });
    drop(session);
    // the socket stays open until the client answers the Close (or the grace ends): dropping a
    // connection with unread input resets it, and a reset discards what the client had not yet
    // read — the Close frame itself
    let linger = async {
        let _ = writer.await;
        loop {
            match stream.next().await {
                None | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
                // unreadable input (the oversized message): give the client the grace to read
                Some(Err(_)) => std::future::pending::<()>().await,
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, linger).await;
}

/// Sends what the session queues; on a close request, sends the Close frame (even while a send
/// to a client that stopped reading is pending) and ends.
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Message>,
    mut close_signal: oneshot::Receiver<CloseFrame>,
) {
    let frame = loop {
        tokio::select! {
            biased;
            frame = &mut close_signal => break frame.ok(),
            message = outgoing.recv() => {
                let Some(message) = message else { break None };
                tokio::select! {
                    sent = sink.send(message) => if sent.is_err() { return },
                    frame = &mut close_signal => break frame.ok(),
                }
            }
        }
    };
    let closing = async {
        if let Some(frame) = frame {
            sink.send(Message::Close(Some(frame))).await?;
        }
        // completes a close the client started (the library queued its answer) or ours
        sink.close().await
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, closing).await;
}

/// Messages a client may send: `per_minute`, refilled continuously (a token bucket).
struct Budget {
    per_minute: f64,
    tokens: f64,
    at: Instant,
}

impl Budget {
    fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Budget { per_minute, tokens: per_minute, at: Instant::now() }
    }

    fn spend(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.per_minute / 60.0;
        self.tokens = (self.tokens + refill).min(self.per_minute);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Session<'a> {
    state: &'a AppState,
    user: AuthUser,
    topics: Vec<String>,
    /// The newest event id sent: a replay and the live stream never send one twice.
    last_sent: u64,
    /// Until when live events are held after a subscription (see [`RESUME_WINDOW`]). They wait
    /// in the hub's channel, in order, not in the session.
    hold: Option<Instant>,
    queue: mpsc::Sender<Message>,
    budget: Budget,
    dialect: Dialect,
}

/// What a step of the session decided.
type Step = Result<(), Option<Closing>>;

impl<'a> Session<'a> {
    async fn run(&mut self, stream: &mut futures_util::stream::SplitStream<WebSocket>) -> Option<Closing> {
        // a copy of the reference, so the session's own borrows stay free
        let state: &'a AppState = self.state;
        let realtime = &state.realtime;
        let settings = &realtime.settings;
        let mut hub = realtime.hub.subscribe();
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + settings.heartbeat_interval, settings.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut recheck = tokio::time::interval_at(Instant::now() + settings.auth_recheck, settings.auth_recheck);
        recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // armed when a ping goes out; any frame from the client disarms it
        let pong_deadline = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(pong_deadline);
        let mut awaiting_pong = false;
        let hold_over = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(hold_over);
        if let Dialect::Frontend(frontend) = &self.dialect
            && let Err(closing) = self.push(Message::Text(frontend.greeting().into())).await
        {
            return closing;
        }
        loop {
            if let Some(until) = self.hold
                && hold_over.deadline() != until
            {
                hold_over.as_mut().reset(until);
            }
            let holding = self.hold.is_some();
            let step = tokio::select! {
                () = realtime.shutdown.cancelled() => Err(Closing::new(close::GOING_AWAY, "server shutting down")),
                incoming = stream.next() => {
                    awaiting_pong = false;
                    match incoming {
                        None => Err(None),
                        Some(Err(error)) => Err(self.read_failed(error)),
                        Some(Ok(message)) => self.received(message).await,
                    }
                }
                signal = hub.recv(), if !holding => self.signal(signal).await,
                () = &mut hold_over, if holding => {
                    self.hold = None;
                    Ok(())
                }
                _ = heartbeat.tick() => {
                    if !awaiting_pong {
                        awaiting_pong = true;
                        pong_deadline.as_mut().reset(Instant::now() + settings.pong_timeout);
                    }
                    self.push(Message::Ping(axum::body::Bytes::new())).await
                }
                () = &mut pong_deadline, if awaiting_pong => Err(Closing::new(close::HEARTBEAT_TIMEOUT, "no answer to ping")),
                _ = recheck.tick() => self.recheck().await,
            };
            if let Err(closing) = step {
                return closing;
            }
        }
    }

    fn read_failed(&self, error: axum::Error) -> Option<Closing> {
        let inner = error.into_inner();
        if matches!(inner.downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_))) {
            return Closing::new(close::TOO_BIG, "message too big");
        }
        tracing::debug!(error = %inner, "WebSocket read failed");
        None
    }

    /// Queues a message for the writer; a full queue means the client reads too slowly.
    async fn push(&self, message: Message) -> Step {
        // a burst (a replay, the events held for a resume) may wait for room a moment; a queue
        // that stays full means the client reads too slowly
        match tokio::time::timeout(SEND_GRACE, self.queue.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Err(_) => {
                tracing::info!(user_id = %self.user.user.id, "closing a WebSocket whose client reads too slowly");
                Err(Closing::new(close::POLICY, "send queue full: the client reads too slowly"))
            }
            Ok(Err(_)) => Err(None),
        }
    }

    async fn reply(&self, message: &ServerMessage<'_>) -> Step {
        self.push(Message::Text(message.text().into())).await
    }

    async fn error(&self, code: &str, message: &str, topic: Option<&str>) -> Step {
        self.reply(&ServerMessage::Error { code, message, topic }).await
    }

    async fn signal(&mut self, signal: Result<Signal, broadcast::error::RecvError>) -> Step {
        match signal {
            Ok(Signal::Event(frame)) => self.send_event(&frame).await,
            Ok(Signal::Resync) => self.resync_all().await,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                Err(Closing::new(close::POLICY, "fell behind the event stream"))
            }
            Err(broadcast::error::RecvError::Closed) => Err(Closing::new(close::GOING_AWAY, "server shutting down")),
        }
    }

    async fn send_event(&mut self, frame: &Arc<Frame>) -> Step {
        if let Dialect::Frontend(frontend) = &self.dialect {
            for message in frontend.translate(frame) {
                self.push(Message::Text(message.into())).await?;
            }
            return Ok(());
        }
        if frame.id <= self.last_sent || !frame.is_for(&self.topics) {
            return Ok(());
        }
        self.last_sent = frame.id;
        self.push(Message::Text(frame.text.clone())).await
    }

    async fn resync_all(&self) -> Step {
        for topic in &self.topics {
            self.reply(&ServerMessage::ResyncRequired { topic }).await?;
        }
        Ok(())
    }

    async fn received(&mut self, message: Message) -> Step {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                self.spend()?;
                if let Dialect::Frontend(frontend) = &self.dialect {
                    // not JSON text: its dialect's `error` message
                    let answer = frontend.answer("").unwrap_or_default();
                    return self.push(Message::Text(answer.into())).await;
                }
                return self.error("invalid_message", "messages are JSON text frames", None).await;
            }
            // answered by the protocol layer; they count as signs of life only
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
            Message::Close(_) => return Err(None),
        };
        self.spend()?;
        if let Dialect::Frontend(frontend) = &self.dialect {
            return match frontend.answer(text.as_str()) {
                Some(answer) => self.push(Message::Text(answer.into())).await,
                None => Ok(()),
            };
        }
        let parsed = serde_json::from_str::<ClientMessage>(text.as_str());
        match parsed {
            Err(error) => {
                let message = format!("not a valid message: {error}");
                self.error("invalid_message", &message, None).await
            }
            Ok(ClientMessage::Ping {}) => self.reply(&ServerMessage::Pong).await,
            Ok(ClientMessage::Subscribe { topics }) => self.subscribe(topics).await,
            Ok(ClientMessage::Unsubscribe { topics }) => {
                self.topics.retain(|t| !topics.contains(t));
                self.reply(&ServerMessage::Unsubscribed { topics: &topics }).await
            }
            Ok(ClientMessage::Resume { after }) => self.resume(after).await,
        }
    }

    fn spend(&mut self) -> Step {
        if self.budget.spend() { Ok(()) } else { Err(Closing::new(close::RATE_LIMITED, "message rate limit exceeded")) }
    }

    async fn subscribe(&mut self, topics: Vec<String>) -> Step {
        let mut granted = Vec::new();
        for name in topics {
            if self.topics.contains(&name) || granted.contains(&name) {
                granted.push(name);
                continue;
            }
            let Some(topic) = Topic::parse(&name) else {
                self.error("unknown_topic", "no such topic", Some(&name)).await?;
                continue;
            };
            if let Err(refusal) = topic.authorize(self.state, &self.user).await {
                let message = match refusal.code() {
                    "forbidden" => "you may not read this topic",
                    "unknown_topic" => "no such topic",
                    _ => "the topic cannot be checked now; retry",
                };
                self.error(refusal.code(), message, Some(&name)).await?;
                continue;
            }
            if self.topics.len() >= MAX_TOPICS {
                self.error("too_many_topics", "a connection follows at most 100 topics", Some(&name)).await?;
                continue;
            }
            self.topics.push(name.clone());
            self.hold = Some(Instant::now() + RESUME_WINDOW);
            granted.push(name);
        }
        granted.dedup();
        self.reply(&ServerMessage::Subscribed { topics: &granted }).await
    }

    async fn resume(&mut self, after: u64) -> Step {
        if self.topics.is_empty() {
            return self.error("not_subscribed", "subscribe to topics before resuming them", None).await;
        }
        // live events past `after` already went out: what lay between cannot be put before them
        if after < self.last_sent {
            self.hold = None;
            return self.resync_all().await;
        }
        let state: &'a AppState = self.state;
        let realtime = &state.realtime;
        self.hold = None;
        match realtime.bus.replay(after, realtime.settings.replay_max).await {
            Ok(Replay::Complete(events)) => {
                for event in events {
                    let frame = Arc::new(Frame::render(&event));
                    self.send_event(&frame).await?;
                }
                // nothing newer was missed: later events come live, past `last_sent`
                self.last_sent = self.last_sent.max(after);
                Ok(())
            }
            Ok(Replay::Gone) => self.resync_all().await,
            Err(error) => {
                tracing::warn!(%error, "replay failed: the client must resynchronise");
                self.resync_all().await
            }
        }
    }

    /// Ends the socket when its token would no longer be accepted by a request.
    async fn recheck(&mut self) -> Step {
        // the development socket has no token of its client's to expire or revoke
        if matches!(self.dialect, Dialect::Frontend(_)) {
            return Ok(());
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        if self.user.claims.exp <= now {
            return Err(Closing::new(close::TOKEN_EXPIRED, "access token expired"));
        }
        match AuthUser::from_claims(self.state, self.user.claims.clone()).await {
            Ok(user) => {
                self.user = user;
                Ok(())
            }
            Err(crate::ApiError::Unauthorized(_)) => Err(Closing::new(close::TOKEN_REVOKED, "access token revoked")),
            // the store or cache failing is no reason to drop a client; the next check decides
            Err(_) => Ok(()),
        }
    }
}
