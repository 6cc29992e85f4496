//! The messages of the protocol (docs/REALTIME.md). Every message is a JSON object with `type`.
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    Subscribe { topics: Vec<String> },
    Unsubscribe { topics: Vec<String> },
    Ping {},
    Resume { after: u64 },
}

/// Every server message except `event`, which the hub renders once for all its subscribers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    Subscribed {
        topics: &'a [String],
    },
    Unsubscribed {
        topics: &'a [String],
    },
    Pong,
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<&'a str>,
    },
    ResyncRequired {
        topic: &'a str,
    },
}

impl ServerMessage<'_> {
    pub fn text(&self) -> String {
        // serialising these types cannot fail (no maps with non-string keys, no foreign types)
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Close codes (RFC 6455 §7.4; 4000–4999 are ours).
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The token ended: revoked (logout), the account deactivated or its sessions ended.
    pub const TOKEN_REVOKED: u16 = 4001;
    pub const TOKEN_EXPIRED: u16 = 4002;
    /// No answer to the server's ping.
    pub const HEARTBEAT_TIMEOUT: u16 = 4008;
    /// More messages than `WS_MAX_MESSAGES_PER_MINUTE`.
    pub const RATE_LIMITED: u16 = 4029;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_strictly() {
        let parse = |s: &str| serde_json::from_str::<ClientMessage>(s).ok();
        assert_eq!(
            parse(r#"{"type":"subscribe","topics":["agents"]}"#),
            Some(ClientMessage::Subscribe { topics: vec!["agents".to_owned()] })
        );
        assert_eq!(parse(r#"{"type":"ping"}"#), Some(ClientMessage::Ping {}));
        assert_eq!(parse(r#"{"type":"resume","after":7}"#), Some(ClientMessage::Resume { after: 7 }));
        assert_eq!(parse(r#"{"type":"resume","after":-1}"#), None);
        assert_eq!(parse(r#"{"type":"ping","extra":1}"#), None);
        assert_eq!(parse(r#"{"type":"subscribe"}"#), None);
        assert_eq!(parse(r#"{"topics":[]}"#), None);
        assert_eq!(parse("not json"), None);
    }

    #[test]
    fn server_messages_carry_their_type() {
        assert_eq!(ServerMessage::Pong.text(), r#"{"type":"pong"}"#);
        assert_eq!(
            ServerMessage::ResyncRequired { topic: "agents" }.text(),
            r#"{"type":"resync_required","topic":"agents"}"#
        );
        let error = ServerMessage::Error { code: "invalid_message", message: "m", topic: None }.text();
        assert_eq!(error, r#"{"type":"error","code":"invalid_message","message":"m"}"#);
    }
}
