//! A reader of `GET /v1/events` (server-sent events) for tests.

use serde_json::Value;

/// How long a test waits for one event.
const EVENT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// An open event stream.
pub struct Events {
    resp: reqwest::Response,
    buf: String,
}

/// Subscribes to `/v1/events?types=<types>` with `key`; the subscription exists once this
/// returns.
pub async fn subscribe(http: &reqwest::Client, base: &str, key: &str, types: &str) -> Events {
    let resp = http
        .get(format!("{base}/v1/events?types={types}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("events");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    Events {
        resp,
        buf: String::new(),
    }
}

impl Events {
    /// The next event as `(event line, data)`, within the deadline.
    pub async fn next(&mut self) -> (String, Value) {
        let end = tokio::time::Instant::now() + EVENT_DEADLINE;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                let mut kind = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if kind.is_empty() {
                    continue; // keep-alive comment
                }
                return (kind, serde_json::from_str(&data).expect("event json"));
            }
            let chunk = tokio::time::timeout_at(end, self.resp.chunk())
                .await
                .expect("timed out waiting for an event")
                .expect("event stream")
                .expect("stream ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event of type `kind` whose data satisfies `pred`, skipping others.
    pub async fn next_where(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (k, v) = self.next().await;
            if k == kind && pred(&v) {
                return v;
            }
        }
    }
}
