//! The live event bus behind `GET /v1/events`: scans, order status, device state and sync state
//! for screens on the floor. A bounded broadcast: a slow screen misses events (and is told so)
//! rather than slowing the node.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};

/// One event: its type and a JSON object that also carries `"type"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: String,
    pub data: Map<String, Value>,
}

impl Event {
    /// The tenant an event belongs to, when it belongs to one.
    pub fn tenant(&self) -> Option<&str> {
        self.data.get("tenant_id").and_then(Value::as_str)
    }
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    /// Set at shutdown: open streams end, so graceful shutdown is not held up by screens.
    closed: Arc<watch::Sender<bool>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(1)).0,
            closed: Arc::new(watch::channel(false).0),
        }
    }

    /// Publish an event; `data` should be a JSON object (anything else is wrapped as `value`).
    pub fn publish(&self, kind: &str, data: Value) {
        let mut map = match data {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other);
                m
            }
        };
        map.insert("type".into(), Value::String(kind.to_string()));
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(Arc::new(Event {
            kind: kind.to_string(),
            data: map,
        }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Ends every open event stream (the node is stopping).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Resolves once [`EventBus::close`] has been called.
    pub async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_the_type_inside_the_data() {
        let bus = EventBus::new(4);
        let mut rx = bus.subscribe();
        bus.publish("scan", serde_json::json!({"device_id": "s1"}));
        let ev = rx.recv().await.expect("event");
        assert_eq!(ev.kind, "scan");
        assert_eq!(ev.data["type"], "scan");
        assert_eq!(ev.data["device_id"], "s1");
    }
}
