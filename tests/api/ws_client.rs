//! A WebSocket client for the tests: the real protocol over a real socket (tokio-tungstenite),
//! with JSON helpers. Pings are answered by the library while the client reads.
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for any one message.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// A refused handshake: its status and body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

/// `ws://` for the server at `base` (`http://host:port`), with an optional query.
pub fn ws_url(base: &str, query: &str) -> String {
    format!("{}/api/v1/ws{query}", base.replacen("http://", "ws://", 1))
}

impl WsClient {
    /// Connects with a bearer token; panics unless the upgrade succeeds.
    pub async fn connect(base: &str, token: &str) -> WsClient {
        Self::open(&ws_url(base, ""), &[("authorization", format!("Bearer {token}"))]).await.unwrap()
    }

    /// Tries the handshake with these extra headers.
    pub async fn open(url: &str, headers: &[(&str, String)]) -> Result<WsClient, Refused> {
        let mut request = url.into_client_request().unwrap();
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, response)) => {
                assert_eq!(response.status().as_u16(), 101);
                Ok(WsClient { stream })
            }
            Err(Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response.body().as_ref().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
                Err(Refused { status, body })
            }
            Err(other) => panic!("handshake failed: {other}"),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.stream.send(Message::text(message.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// The next text message as JSON (pings and pongs skipped); panics on close or timeout.
    pub async fn recv(&mut self) -> Value {
        match self.next_within(WAIT).await {
            Some(Message::Text(text)) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next data or close message within `limit` (pings and pongs skipped); `None` on timeout
    /// or when the connection ended without a Close frame.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match next {
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(message) => return Some(message),
                Err(_) => return None,
            }
        }
    }

    /// Nothing but pings within `limit`.
    pub async fn silent_for(&mut self, limit: Duration) -> bool {
        self.next_within(limit).await.is_none()
    }

    /// Reads until the server's Close frame; panics if anything else arrives first.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        self.closed_skipping(false).await
    }

    /// Reads until the server's Close frame, skipping data (a slow reader catching up).
    pub async fn closed_skipping(&mut self, skip_data: bool) -> Option<CloseFrame> {
        loop {
            match self.next_within(WAIT).await {
                Some(Message::Close(frame)) => return frame,
                Some(other) if skip_data => drop(other),
                Some(other) => panic!("expected a close, got {other:?}"),
                None => return None,
            }
        }
    }

    /// Subscribes and returns the `subscribed` answer (errors for refused topics come first, in
    /// the returned list's order).
    pub async fn subscribe(&mut self, topics: &[&str]) -> Vec<Value> {
        self.send(json!({ "type": "subscribe", "topics": topics })).await;
        let mut answers = Vec::new();
        loop {
            let message = self.recv().await;
            let done = message["type"] == "subscribed";
            answers.push(message);
            if done {
                return answers;
            }
        }
    }

    /// The next `event` message; panics if another type comes first.
    pub async fn event(&mut self) -> Value {
        let message = self.recv().await;
        assert_eq!(message["type"], "event", "{message}");
        message
    }
}
