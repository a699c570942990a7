//! ID-block leases: SSCC serials, carrier tracking numbers and receipt numbers come from blocks
//! the central granted, so the site keeps numbering while offline. Pure state (serialisable, the
//! edge persists it in the same transaction that uses a number); no I/O.

use crate::error::SyncError;
use crate::wire::IdBlock;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// A new block is wanted once the current one is this many percent used.
pub const REFILL_PERCENT: u64 = 80;

/// One granted block and how far it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The grant.
    pub block: IdBlock,
    /// Next serial to hand out; `> block.last` means used up.
    pub next: u64,
}

impl Lease {
    fn size(&self) -> u64 {
        self.block.last - self.block.first + 1
    }
    fn used(&self) -> u64 {
        self.next.saturating_sub(self.block.first).min(self.size())
    }
    fn remaining(&self) -> u64 {
        self.size() - self.used()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct KindLeases {
    /// Live blocks in grant order; serials come from the front.
    blocks: VecDeque<Lease>,
    /// Used-up ranges `(prefix, first, last)`, merged when contiguous, so a replayed grant of a
    /// block that is already used up is recognised and never re-issued.
    retired: Vec<(String, u64, u64)>,
}

/// A serial handed out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuedId {
    /// The kind.
    pub kind: String,
    /// The block's prefix.
    pub prefix: String,
    /// The serial.
    pub serial: u64,
}

impl IssuedId {
    /// The printable number: for `sscc` the 18-digit SSCC, otherwise prefix + serial.
    pub fn render(&self) -> Result<String, SyncError> {
        if self.kind == "sscc" {
            sscc(&self.prefix, self.serial)
        } else {
            Ok(format!("{}{}", self.prefix, self.serial))
        }
    }
}

/// What a grant did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantOutcome {
    /// A new block was added.
    Added,
    /// The block was already known (live or used up): nothing changed.
    AlreadyKnown,
}

/// Per-kind view for status and alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindStatus {
    /// Kind.
    pub kind: String,
    /// Serials left across all live blocks.
    pub remaining: u64,
    /// Percent used of the current block (100 when none).
    pub current_used_percent: u64,
    /// Live blocks (current + spares).
    pub blocks: usize,
    /// Nothing left: numbering stops until a block arrives (alert).
    pub exhausted: bool,
    /// A new block should be requested.
    pub needs_block: bool,
}

/// The lease manager for all ID kinds of a site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdLeases {
    kinds: BTreeMap<String, KindLeases>,
}

fn validate_kind(kind: &str) -> Result<(), SyncError> {
    let ok = kind == "sscc"
        || kind == "receipt"
        || kind
            .strip_prefix("tracking:")
            .is_some_and(|c| !c.is_empty());
    if ok {
        Ok(())
    } else {
        Err(SyncError::IdBlock(format!("unknown ID kind {kind:?}")))
    }
}

impl IdLeases {
    /// Registers a kind the site uses, so it reports `needs_block` before the first grant.
    pub fn track_kind(&mut self, kind: &str) -> Result<(), SyncError> {
        validate_kind(kind)?;
        self.kinds.entry(kind.to_string()).or_default();
        Ok(())
    }

    /// Adds a granted block. Idempotent for a block already known; an overlapping, empty or
    /// unrenderable block is an error (the central promised blocks never overlap).
    pub fn grant(&mut self, block: IdBlock) -> Result<GrantOutcome, SyncError> {
        validate_kind(&block.kind)?;
        if block.first > block.last {
            return Err(SyncError::IdBlock(format!(
                "empty range {}..{}",
                block.first, block.last
            )));
        }
        if block.kind == "sscc" {
            // Every serial of the block must render to a valid SSCC.
            sscc(&block.prefix, block.last)?;
        }
        let entry = self.kinds.entry(block.kind.clone()).or_default();
        for lease in &entry.blocks {
            if lease.block == block {
                return Ok(GrantOutcome::AlreadyKnown);
            }
            if lease.block.prefix == block.prefix
                && lease.block.first <= block.last
                && block.first <= lease.block.last
            {
                return Err(SyncError::IdBlock(format!(
                    "{} {}..{} overlaps live block {}..{}",
                    block.kind, block.first, block.last, lease.block.first, lease.block.last
                )));
            }
        }
        for (prefix, first, last) in &entry.retired {
            if *prefix != block.prefix || *first > block.last || block.first > *last {
                continue;
            }
            if *first <= block.first && block.last <= *last {
                return Ok(GrantOutcome::AlreadyKnown);
            }
            return Err(SyncError::IdBlock(format!(
                "{} {}..{} overlaps used range {first}..{last}",
                block.kind, block.first, block.last
            )));
        }
        let next = block.first;
        entry.blocks.push_back(Lease { block, next });
        Ok(GrantOutcome::Added)
    }

    /// Takes the next serial of `kind`. Never returns a serial twice; when nothing is left it
    /// returns [`SyncError::IdExhausted`] (the caller alerts and refuses to print).
    pub fn take(&mut self, kind: &str) -> Result<IssuedId, SyncError> {
        let exhausted = || SyncError::IdExhausted {
            kind: kind.to_string(),
        };
        let entry = self.kinds.get_mut(kind).ok_or_else(exhausted)?;
        loop {
            let Some(front) = entry.blocks.front_mut() else {
                return Err(exhausted());
            };
            if front.next <= front.block.last {
                let serial = front.next;
                front.next += 1;
                let issued = IssuedId {
                    kind: kind.to_string(),
                    prefix: front.block.prefix.clone(),
                    serial,
                };
                if front.next > front.block.last {
                    Self::retire_front(entry);
                }
                return Ok(issued);
            }
            Self::retire_front(entry);
        }
    }

    fn retire_front(entry: &mut KindLeases) {
        if let Some(done) = entry.blocks.pop_front() {
            let b = done.block;
            if let Some(last) = entry.retired.iter_mut().find(|(p, f, l)| {
                *p == b.prefix
                    && (l.checked_add(1) == Some(b.first) || b.last.checked_add(1) == Some(*f))
            }) {
                last.1 = last.1.min(b.first);
                last.2 = last.2.max(b.last);
            } else {
                entry.retired.push((b.prefix, b.first, b.last));
            }
        }
    }

    /// Serials left for `kind` across all live blocks.
    pub fn remaining(&self, kind: &str) -> u64 {
        self.kinds
            .get(kind)
            .map(|k| k.blocks.iter().map(Lease::remaining).sum())
            .unwrap_or(0)
    }

    /// True when the current block is ≥ 80% used (or there is none) and no spare is queued.
    pub fn needs_block(&self, kind: &str) -> bool {
        let Some(k) = self.kinds.get(kind) else {
            return false;
        };
        match k.blocks.len() {
            0 => true,
            1 => k.blocks[0].used() * 100 >= k.blocks[0].size() * REFILL_PERCENT,
            _ => false,
        }
    }

    /// All tracked kinds for which [`IdLeases::needs_block`] holds.
    pub fn kinds_needing_block(&self) -> Vec<String> {
        self.kinds
            .keys()
            .filter(|k| self.needs_block(k))
            .cloned()
            .collect()
    }

    /// Per-kind status for the status endpoint and alerts.
    pub fn status(&self) -> Vec<KindStatus> {
        self.kinds
            .iter()
            .map(|(kind, k)| {
                let remaining = self.remaining(kind);
                let current_used_percent = k
                    .blocks
                    .front()
                    .map(|l| l.used() * 100 / l.size())
                    .unwrap_or(100);
                KindStatus {
                    kind: kind.clone(),
                    remaining,
                    current_used_percent,
                    blocks: k.blocks.len(),
                    exhausted: remaining == 0,
                    needs_block: self.needs_block(kind),
                }
            })
            .collect()
    }
}

/// GS1 mod-10 check digit of a digit string (weights 3,1,3,… from the right).
pub fn gs1_check_digit(digits: &str) -> Result<u8, SyncError> {
    let mut sum = 0u32;
    for (i, c) in digits.chars().rev().enumerate() {
        let d = c
            .to_digit(10)
            .ok_or_else(|| SyncError::IdBlock(format!("non-digit in {digits:?}")))?;
        sum += if i % 2 == 0 { d * 3 } else { d };
    }
    // The result is in 0..=9.
    Ok(((10 - sum % 10) % 10) as u8)
}

/// An SSCC: `prefix` (extension digit + GS1 company prefix), the serial reference zero-padded to
/// fill 17 digits, and the check digit (18 digits in all).
pub fn sscc(prefix: &str, serial: u64) -> Result<String, SyncError> {
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() >= 17 {
        return Err(SyncError::IdBlock(format!(
            "SSCC prefix {prefix:?} must be 1..16 digits"
        )));
    }
    let width = 17 - prefix.len();
    let serial_text = format!("{serial:0width$}");
    if serial_text.len() > width {
        return Err(SyncError::IdBlock(format!(
            "serial {serial} does not fit in {width} digits after prefix {prefix}"
        )));
    }
    let body = format!("{prefix}{serial_text}");
    let check = gs1_check_digit(&body)?;
    Ok(format!("{body}{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blk(kind: &str, first: u64, last: u64) -> IdBlock {
        IdBlock {
            kind: kind.into(),
            prefix: "00614141".into(),
            first,
            last,
        }
    }

    #[test]
    fn sscc_known_value() {
        // GS1 example SSCC 0 0614141 123456789 → check digit 0 (with extension 1 → 7).
        assert_eq!(sscc("00614141", 123456789).unwrap(), "006141411234567890");
        assert_eq!(sscc("10614141", 123456789).unwrap(), "106141411234567897");
        assert_eq!(sscc("00614141", 1).unwrap().len(), 18);
        assert!(sscc("00614141", 1_000_000_000).is_err());
        assert!(sscc("0a", 1).is_err());
        assert!(sscc("", 1).is_err());
    }

    #[test]
    fn rollover_at_80_percent_and_exhaustion() {
        let mut l = IdLeases::default();
        l.track_kind("sscc").unwrap();
        assert!(l.needs_block("sscc"));
        assert!(matches!(l.take("sscc"), Err(SyncError::IdExhausted { .. })));
        l.grant(blk("sscc", 1, 10)).unwrap();
        for _ in 0..7 {
            l.take("sscc").unwrap();
            assert!(!l.needs_block("sscc"));
        }
        l.take("sscc").unwrap(); // 8 of 10 used = 80%
        assert!(l.needs_block("sscc"));
        assert_eq!(l.kinds_needing_block(), vec!["sscc".to_string()]);
        l.grant(blk("sscc", 11, 20)).unwrap();
        assert!(!l.needs_block("sscc"));
        let mut seen = Vec::new();
        for _ in 0..12 {
            seen.push(l.take("sscc").unwrap().serial);
        }
        assert_eq!(seen, (9..=20).collect::<Vec<_>>());
        assert!(matches!(l.take("sscc"), Err(SyncError::IdExhausted { .. })));
        let st = l.status();
        assert!(st[0].exhausted && st[0].needs_block);
        // A replay of a used-up block is recognised and issues nothing.
        assert_eq!(
            l.grant(blk("sscc", 1, 10)).unwrap(),
            GrantOutcome::AlreadyKnown
        );
        assert_eq!(
            l.grant(blk("sscc", 11, 20)).unwrap(),
            GrantOutcome::AlreadyKnown
        );
        assert!(l.take("sscc").is_err());
        assert!(l.grant(blk("sscc", 15, 30)).is_err());
    }

    #[test]
    fn overlap_and_bad_blocks_rejected() {
        let mut l = IdLeases::default();
        l.grant(blk("receipt", 1, 100)).unwrap();
        assert_eq!(
            l.grant(blk("receipt", 1, 100)).unwrap(),
            GrantOutcome::AlreadyKnown
        );
        assert!(l.grant(blk("receipt", 50, 150)).is_err());
        assert!(l.grant(blk("receipt", 10, 5)).is_err());
        assert!(l.grant(blk("pallet", 1, 5)).is_err());
        assert!(l.grant(blk("tracking:", 1, 5)).is_err());
        assert!(l.grant(blk("tracking:ups", 1, 5)).is_ok());
        let mut big = blk("sscc", 1, 10_000_000_000);
        big.prefix = "00614141".into();
        assert!(l.grant(big).is_err());
    }

    proptest! {
        #[test]
        fn leases_never_duplicate(sizes in prop::collection::vec(1u64..50, 1..8),
                                  takes in prop::collection::vec(0usize..40, 1..20)) {
            let mut l = IdLeases::default();
            l.track_kind("receipt").unwrap();
            let mut next_first = 1u64;
            let mut blocks = sizes.into_iter();
            let mut issued = std::collections::HashSet::new();
            let mut granted_total = 0u64;
            for n in takes {
                for _ in 0..n {
                    match l.take("receipt") {
                        Ok(id) => prop_assert!(issued.insert(id.serial)),
                        Err(SyncError::IdExhausted { .. }) => {
                            prop_assert_eq!(l.remaining("receipt"), 0);
                            prop_assert!(l.needs_block("receipt"));
                        }
                        Err(e) => prop_assert!(false, "{e}"),
                    }
                }
                let st = &l.status()[0];
                let needs = l.needs_block("receipt");
                prop_assert_eq!(st.needs_block, needs);
                if st.blocks == 1 {
                    prop_assert_eq!(needs, st.current_used_percent >= REFILL_PERCENT);
                }
                if needs {
                    if let Some(size) = blocks.next() {
                        let b = blk("receipt", next_first, next_first + size - 1);
                        next_first += size;
                        granted_total += size;
                        prop_assert_eq!(l.grant(b.clone()).unwrap(), GrantOutcome::Added);
                        prop_assert_eq!(l.grant(b).unwrap(), GrantOutcome::AlreadyKnown);
                    }
                }
                prop_assert_eq!(issued.len() as u64 + l.remaining("receipt"), granted_total);
            }
        }

        #[test]
        fn sscc_is_18_digits_and_checks(prefix_len in 2usize..12, serial in 0u64..1_000_000) {
            let prefix: String = "0614141999888".chars().take(prefix_len).collect();
            if let Ok(s) = sscc(&prefix, serial) {
                prop_assert_eq!(s.len(), 18);
                let check = gs1_check_digit(&s[..17]).unwrap();
                prop_assert_eq!(s.as_bytes()[17] - b'0', check);
                prop_assert!(s.starts_with(&prefix));
            }
        }
    }
}
