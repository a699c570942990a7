//! Cutting pending events into batches. Pure: the pump feeds events one by one (in seq order,
//! page by page) and gets back a frozen batch whose body is the stored event texts joined.

use crate::store::PendingEvent;
use bytes::Bytes;
use std::collections::HashSet;

/// Contract limit: events per batch.
pub const MAX_BATCH_EVENTS: usize = 500;
/// Contract limit: body bytes per batch (1 MiB).
pub const MAX_BATCH_BYTES: usize = 1 << 20;

const HEAD: &str = "{\"events\":[";
const TAIL: &str = "]}";

/// Batch limits (the contract's by default; tests shrink them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Maximum events.
    pub max_events: usize,
    /// Maximum body bytes.
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_events: MAX_BATCH_EVENTS,
            max_bytes: MAX_BATCH_BYTES,
        }
    }
}

/// A batch that has been cut. Once sent it is resent byte-identical until a definitive answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenBatch {
    /// `{"events":[…]}` exactly as sent.
    pub body: Bytes,
    /// `(seq, id)` of each event, in body order.
    pub events: Vec<(u64, String)>,
    /// Where the next scan continues after this batch is answered.
    pub resume_after: u64,
}

/// What the builder did with an offered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Added to the batch.
    Taken,
    /// Its aggregate is held back by a dead letter (or an earlier unsendable event).
    Held,
    /// The batch is full; the event was not added (offer it again to the next batch).
    Full,
    /// The event alone exceeds the body limit: it can never be sent. The caller dead-letters it
    /// locally; its aggregate is now held for the rest of this scan.
    TooLarge,
}

/// Accumulates events into one batch.
#[derive(Debug)]
pub struct BatchBuilder {
    limits: BatchLimits,
    held: HashSet<String>,
    body: Vec<u8>,
    events: Vec<(u64, String)>,
    last_seen: u64,
}

impl BatchBuilder {
    /// Starts a batch; `held` are the aggregates whose events must not be sent now; `after` is
    /// the scan position the events will come after.
    pub fn new(limits: BatchLimits, held: HashSet<String>, after: u64) -> Self {
        BatchBuilder {
            limits,
            held,
            body: Vec::new(),
            events: Vec::new(),
            last_seen: after,
        }
    }

    /// Offers the next pending event (ascending seq).
    pub fn offer(&mut self, ev: &PendingEvent) -> Offer {
        if self.held.contains(&ev.aggregate) {
            self.last_seen = ev.seq;
            return Offer::Held;
        }
        if HEAD.len() + ev.body.len() + TAIL.len() > self.limits.max_bytes {
            self.held.insert(ev.aggregate.clone());
            self.last_seen = ev.seq;
            return Offer::TooLarge;
        }
        let sep = usize::from(!self.events.is_empty());
        let projected = HEAD.len() + self.body.len() + sep + ev.body.len() + TAIL.len();
        if self.events.len() >= self.limits.max_events || projected > self.limits.max_bytes {
            return Offer::Full;
        }
        if sep == 1 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(ev.body.as_bytes());
        self.events.push((ev.seq, ev.id.clone()));
        self.last_seen = ev.seq;
        Offer::Taken
    }

    /// Events taken so far.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when nothing was taken.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The last seq consumed by the scan (taken, held or too large).
    pub fn last_seen(&self) -> u64 {
        self.last_seen
    }

    /// Freezes the batch; `None` when empty (empty batches are never sent).
    pub fn finish(self) -> Option<FrozenBatch> {
        if self.events.is_empty() {
            return None;
        }
        let mut body = Vec::with_capacity(HEAD.len() + self.body.len() + TAIL.len());
        body.extend_from_slice(HEAD.as_bytes());
        body.extend_from_slice(&self.body);
        body.extend_from_slice(TAIL.as_bytes());
        Some(FrozenBatch {
            body: Bytes::from(body),
            events: self.events,
            resume_after: self.last_seen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(seq: u64, agg: &str, pad: usize) -> PendingEvent {
        let id = format!("s:{seq:012}");
        PendingEvent {
            seq,
            id: id.clone(),
            aggregate: agg.to_string(),
            body: format!(r#"{{"id":"{id}","seq":{seq},"pad":"{}"}}"#, "x".repeat(pad)),
        }
    }

    /// Drives the builder the way the pump does: scan from `after`, re-offer on `Full`.
    fn cut_all(
        events: &[PendingEvent],
        limits: BatchLimits,
        held: &HashSet<String>,
    ) -> (Vec<FrozenBatch>, Vec<u64>, Vec<u64>) {
        let mut batches = Vec::new();
        let mut too_large = Vec::new();
        let mut held_seen = Vec::new();
        let mut after = 0u64;
        let mut held_now = held.clone();
        loop {
            let mut b = BatchBuilder::new(limits, held_now.clone(), after);
            for e in events.iter().filter(|e| e.seq > after) {
                match b.offer(e) {
                    Offer::Taken => {}
                    Offer::Held => held_seen.push(e.seq),
                    Offer::TooLarge => {
                        too_large.push(e.seq);
                        held_now.insert(e.aggregate.clone());
                    }
                    Offer::Full => break,
                }
            }
            let done = b.last_seen() == after;
            match b.finish() {
                Some(f) => {
                    after = f.resume_after;
                    batches.push(f);
                }
                None if done => break,
                None => break,
            }
        }
        (batches, too_large, held_seen)
    }

    proptest! {
        #[test]
        fn batches_respect_limits_and_order(
            spec in prop::collection::vec((0usize..4, 0usize..300), 1..300),
            max_events in 1usize..40,
            max_bytes in 200usize..3000,
            held_agg in prop::option::of(0usize..4),
        ) {
            let events: Vec<_> = spec.iter().enumerate()
                .map(|(i, (a, pad))| ev(i as u64 + 1, &format!("agg{a}"), *pad)).collect();
            let limits = BatchLimits { max_events, max_bytes };
            let held: HashSet<String> = held_agg.map(|a| format!("agg{a}")).into_iter().collect();
            let (batches, too_large, held_seen) = cut_all(&events, limits, &held);
            let mut sent = Vec::new();
            for b in &batches {
                prop_assert!(!b.events.is_empty());
                prop_assert!(b.events.len() <= max_events);
                prop_assert!(b.body.len() <= max_bytes);
                // The body is valid JSON whose events are exactly the listed ones, in order.
                let v: serde_json::Value = serde_json::from_slice(&b.body).unwrap();
                let seqs: Vec<u64> = v["events"].as_array().unwrap().iter()
                    .map(|e| e["seq"].as_u64().unwrap()).collect();
                prop_assert_eq!(&seqs, &b.events.iter().map(|e| e.0).collect::<Vec<_>>());
                sent.extend(seqs);
            }
            // Globally ascending: per-aggregate order follows.
            prop_assert!(sent.windows(2).all(|w| w[0] < w[1]));
            // Every event is sent, held, or too large — exactly one of them.
            let mut all: Vec<u64> = sent.iter().chain(&too_large).chain(&held_seen).copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (1..=events.len() as u64).collect::<Vec<_>>());
            // Nothing of a held aggregate is sent, and nothing after a too-large event of its aggregate.
            for s in &sent {
                let e = &events[*s as usize - 1];
                prop_assert!(!held.contains(&e.aggregate));
                prop_assert!(!too_large.iter().any(|t| *t < *s && events[*t as usize - 1].aggregate == e.aggregate));
            }
        }

        #[test]
        fn rebuilding_is_byte_identical(spec in prop::collection::vec(0usize..100, 1..50)) {
            let events: Vec<_> = spec.iter().enumerate().map(|(i, p)| ev(i as u64 + 1, "a", *p)).collect();
            let limits = BatchLimits { max_events: 7, max_bytes: 2000 };
            let (a, _, _) = cut_all(&events, limits, &HashSet::new());
            let (b, _, _) = cut_all(&events, limits, &HashSet::new());
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn exact_byte_limit() {
        let e1 = ev(1, "a", 10);
        let e2 = ev(2, "a", 10);
        let exact = HEAD.len() + e1.body.len() + 1 + e2.body.len() + TAIL.len();
        let mut b = BatchBuilder::new(
            BatchLimits {
                max_events: 10,
                max_bytes: exact,
            },
            HashSet::new(),
            0,
        );
        assert_eq!(b.offer(&e1), Offer::Taken);
        assert_eq!(b.offer(&e2), Offer::Taken);
        assert_eq!(b.offer(&ev(3, "a", 0)), Offer::Full);
        assert_eq!(b.finish().unwrap().body.len(), exact);
    }
}
