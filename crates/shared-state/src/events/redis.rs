//! The bus every replica shares: one Redis stream whose entry ids are the outbox `seq` (`<seq>-0`),
//! so Redis itself refuses a second copy of an event and any out-of-order append, and a floor key
//! beside it (see the `events` module).
use super::{Batch, BusEvent, EventBus, Replay, decide};
use crate::RedisError;
use crate::RedisPool;
use crate::redis_pool::classify;
use async_trait::async_trait;
use deadpool_redis::redis::{self, Value};
use std::time::Duration;
use tokio::sync::Mutex;

/// Append each event (ARGV: the bound, then id and entry for each event, in order), then trim to
/// the bound, moving the floor up to the last entry trimmed. Answers 1 per event appended and 0 per
/// event the stream already held (that id or a later one). A stream that does not exist (first
/// start, or Redis lost its data) knows nothing before the first event appended to it.
const PUBLISH_SCRIPT: &str = r"
local added = {}
for i = 2, #ARGV, 2 do
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SET', KEYS[2], tonumber(ARGV[i]) - 1)
  end
  local result = redis.pcall('XADD', KEYS[1], ARGV[i] .. '-0', 'e', ARGV[i + 1])
  if type(result) == 'table' and result.err then
    if not string.find(result.err, 'equal or smaller', 1, true) then
      return redis.error_reply(result.err)
    end
    added[#added + 1] = 0
  else
    added[#added + 1] = 1
  end
end
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if excess > 0 then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)
  redis.call('SET', KEYS[2], string.match(gone[#gone][1], '^(%d+)'))
  redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1])
end
return added
";

/// `{floor, last, id, entry, id, entry, …}` for everything after ARGV[1] (at most ARGV[2]), read
/// atomically so a trim cannot fall between the floor and the range.
const REPLAY_SCRIPT: &str = r"
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last = 0
if #newest > 0 then last = tonumber(string.match(newest[1][1], '^(%d+)')) end
local out = {floor, last}
if tonumber(ARGV[1]) < floor or tonumber(ARGV[1]) > last then return out end
local entries = redis.call('XRANGE', KEYS[1], (tonumber(ARGV[1]) + 1) .. '-0', '+', 'COUNT', ARGV[2])
for _, entry in ipairs(entries) do
  table.insert(out, entry[1])
  table.insert(out, entry[2][2])
end
return out
";

/// How much longer than a blocking read its reply may take before the connection is presumed dead.
const REPLY_MARGIN: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct RedisEventBus {
    redis: RedisPool,
    stream: String,
    floor: String,
    max_len: usize,
    publish: redis::Script,
    replay: redis::Script,
    /// The blocking reader's own connection, opened on first use and after a failure.
    reader: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl RedisEventBus {
    /// Retains the newest `max_len` events (at least one) under `events:stream`.
    pub fn new(redis: RedisPool, max_len: usize) -> Self {
        Self {
            stream: redis.key("events:stream"),
            floor: redis.key("events:floor"),
            redis,
            max_len: max_len.max(1),
            publish: redis::Script::new(PUBLISH_SCRIPT),
            replay: redis::Script::new(REPLAY_SCRIPT),
            reader: Mutex::new(None),
        }
    }

    async fn floor(&self) -> Result<u64, RedisError> {
        let floor: Option<u64> = self.redis.query(redis::cmd("GET").arg(&self.floor)).await?;
        Ok(floor.unwrap_or(0))
    }
}

fn failed(error: RedisError) -> RedisError {
    metrics::counter!("freeagentics_redis_errors_total").increment(1);
    error
}

fn malformed(what: &str) -> RedisError {
    RedisError::Command(format!("unexpected reply to {what}"))
}

/// `<seq>-0` → seq.
fn entry_id(value: &Value) -> Option<u64> {
    let text = match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?,
        Value::SimpleString(text) => text.as_str(),
        _ => return None,
    };
    text.split_once('-').and_then(|(seq, _)| seq.parse().ok())
}

fn event(id: &Value, body: &Value) -> Option<BusEvent> {
    let Value::BulkString(bytes) = body else { return None };
    let mut event: BusEvent = serde_json::from_slice(bytes).ok()?;
    event.id = entry_id(id)?;
    Some(event)
}

/// The entries of an `XREAD` reply for one stream (`Nil` when the block timed out).
fn read_reply(reply: Value) -> Option<Vec<BusEvent>> {
    let streams = match reply {
        Value::Nil => return Some(Vec::new()),
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs.into_iter().map(|(k, v)| Value::Array(vec![k, v])).collect(),
        _ => return None,
    };
    let mut events = Vec::new();
    for stream in streams {
        let Value::Array(mut parts) = stream else { return None };
        let Some(Value::Array(entries)) = parts.pop() else { return None };
        for entry in entries {
            let Value::Array(entry) = entry else { return None };
            let [id, Value::Array(fields)] = entry.as_slice() else { return None };
            events.push(event(id, fields.get(1)?)?);
        }
    }
    Some(events)
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn publish(&self, events: &[BusEvent]) -> Result<Vec<bool>, RedisError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.publish.key(&self.stream);
        invocation.key(&self.floor).arg(self.max_len);
        for event in events {
            let body = serde_json::to_string(event).map_err(|e| RedisError::Command(e.to_string()))?;
            invocation.arg(event.id).arg(body);
        }
        let added: Vec<i64> = self.redis.invoke(&invocation).await.map_err(failed)?;
        if added.len() != events.len() {
            return Err(malformed("the publish script"));
        }
        Ok(added.into_iter().map(|added| added == 1).collect())
    }

    async fn read_after(&self, after: u64, limit: usize, wait: Duration) -> Result<Batch, RedisError> {
        let mut reader = self.reader.lock().await;
        let conn = match &mut *reader {
            Some(conn) => conn,
            slot @ None => slot.insert(self.redis.dedicated(wait + REPLY_MARGIN).await.map_err(failed)?),
        };
        let block = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        let reply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(limit.max(1))
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(format!("{after}-0"))
            .query_async::<Value>(conn)
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                // a fresh connection next time: this one may be half-open
                *reader = None;
                return Err(failed(classify(error)));
            }
        };
        drop(reader);
        let events = read_reply(reply).ok_or_else(|| malformed("XREAD"))?;
        // trimmed past the reader's position: what lay between is gone
        let gap = !events.is_empty() && after < self.floor().await.map_err(failed)?;
        Ok(Batch { events, gap })
    }

    async fn replay(&self, after: u64, max: usize) -> Result<Replay, RedisError> {
        let mut invocation = self.replay.key(&self.stream);
        invocation.key(&self.floor).arg(after).arg(max.saturating_add(1));
        let reply: Vec<Value> = self.redis.invoke(&invocation).await.map_err(failed)?;
        let number = |value: Option<&Value>| match value {
            Some(Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None,
        };
        let floor = number(reply.first()).ok_or_else(|| malformed("replay"))?;
        let last = number(reply.get(1)).ok_or_else(|| malformed("replay"))?;
        let events = reply[2..]
            .chunks(2)
            .map(|pair| match pair {
                [id, body] => event(id, body),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("replay"))?;
        Ok(decide(after, floor, last, events, max))
    }

    async fn last_id(&self) -> Result<u64, RedisError> {
        let newest: Value = self
            .redis
            .query(redis::cmd("XREVRANGE").arg(&self.stream).arg("+").arg("-").arg("COUNT").arg(1))
            .await
            .map_err(failed)?;
        match newest {
            Value::Array(entries) => match entries.first() {
                None => Ok(0),
                Some(Value::Array(entry)) => entry.first().and_then(entry_id).ok_or_else(|| malformed("XREVRANGE")),
                Some(_) => Err(malformed("XREVRANGE")),
            },
            _ => Err(malformed("XREVRANGE")),
        }
    }
}
