//! Starts and stops the `wms_sync` client for a node with a `[central]` section: builds its
//! configuration, wires the store's commit hook to the push pump, publishes sync state changes on
//! the event bus, stamps a divergence in the store for the recovery command, and prunes delivered
//! outbox rows past their retention.

use std::sync::{Arc, Weak};
use std::time::Duration;

use wms_sync::{Credentials, SyncConfig, SyncHandle, SyncState};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::store::sync::{self as sync_store, SyncStore};
use crate::store::{base::outbox, Store};

/// ID kinds leased from the central on every site.
pub const ID_KINDS: [&str; 2] = ["sscc", "receipt"];

/// The running sync client of a node, shared by the HTTP handlers.
pub struct SyncLink {
    /// Live status, metrics and wake-ups.
    pub handle: SyncHandle,
    /// The store as the sync loops see it (dead-letter actions go through it).
    pub store: SyncStore,
    /// `[central] webhook_secret`; without it the doorbell endpoint answers 404.
    pub webhook_secret: Option<Vec<u8>>,
}

/// The central's address and keys of a `[central]` section (`None` without one).
pub fn credentials(cfg: &Config) -> Option<Credentials> {
    let c = cfg.central.as_ref()?;
    Some(Credentials {
        central_url: c.url.get_ref().clone(),
        site_id: cfg.site_id().to_string(),
        api_key: c.api_key.clone(),
        signing_secret: c.signing_secret.as_bytes().to_vec(),
    })
}

/// The client configuration for a `[central]` section (`None` without one).
pub fn sync_config(cfg: &Config) -> Option<SyncConfig> {
    let c = cfg.central.as_ref()?;
    let mut sc = SyncConfig::new(credentials(cfg)?);
    if let Some(ms) = c.retry_base_ms {
        sc.timings.backoff_base = Duration::from_millis(ms.max(1));
    }
    if let Some(ms) = c.retry_cap_ms {
        sc.timings.backoff_cap = Duration::from_millis(ms.max(1));
    }
    if let Some(ms) = c.request_timeout_ms {
        sc.timings.push_timeout = Duration::from_millis(ms.max(1));
        sc.timings.request_timeout = Duration::from_millis(ms.max(1));
    }
    if let Some(s) = &c.unauthorized_retry_s {
        sc.timings.unauthorized_retry = Duration::from_secs((*s.get_ref()).max(1));
    }
    Some(sc)
}

/// How often the pruner looks for delivered outbox rows past their retention.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes delivered outbox rows whose `done_at` is older than `retention`, one short write of
/// [`outbox::PRUNE_BATCH`] rows at a time (so floor writes interleave with a large backlog), until
/// a step finds fewer. Returns how many rows went.
pub async fn prune_outbox(store: &Store, retention: Duration) -> Result<u64> {
    let age = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let before = crate::domain::time::format(chrono::Utc::now() - age);
    let mut total = 0u64;
    loop {
        let before = before.clone();
        let n = store
            .write(move |c| outbox::prune_done(c, &before, outbox::PRUNE_BATCH))
            .await?;
        total += n as u64;
        if n < outbox::PRUNE_BATCH {
            return Ok(total);
        }
    }
}

/// The periodic pruner of a node with `[central]`: a pass at start-up, then every
/// [`PRUNE_EVERY`]; it ends with the sync link (checked at each tick).
fn spawn_pruner(store: Store, retention: Duration, link: Weak<SyncLink>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if link.upgrade().is_none() {
                break;
            }
            match prune_outbox(&store, retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "pruned delivered outbox rows"),
                Err(e) => tracing::warn!(error = %e, "could not prune the outbox"),
            }
        }
    });
}

/// Starts sync when `[central]` is configured (on the current runtime). The store's commit hook
/// wakes the pump after every committed write.
pub fn start(cfg: &Config, store: &Store, events: &EventBus) -> Result<Option<Arc<SyncLink>>> {
    let (Some(sc), Some(central)) = (sync_config(cfg), cfg.central.as_ref()) else {
        return Ok(None);
    };
    let link = start_with(sc, central.webhook_secret.clone(), store, events)?;
    spawn_pruner(
        store.clone(),
        central.outbox_retention(),
        Arc::downgrade(&link),
    );
    Ok(Some(link))
}

/// [`start`] with an explicit client configuration (tests tune timings and limits).
pub fn start_with(
    sc: SyncConfig,
    webhook_secret: Option<String>,
    store: &Store,
    events: &EventBus,
) -> Result<Arc<SyncLink>> {
    let sync_store = SyncStore::new(store.clone(), &sc.credentials.site_id);
    let handle = wms_sync::start(sc, Arc::new(sync_store.clone()))
        .map_err(|e| Error::Config(format!("sync: {e}")))?;
    let mut status = handle.subscribe();
    let link = Arc::new(SyncLink {
        handle,
        store: sync_store,
        webhook_secret: webhook_secret.map(String::into_bytes),
    });
    let weak: Weak<SyncLink> = Arc::downgrade(&link);
    store.on_commit(move |committed| {
        if let Some(l) = weak.upgrade() {
            l.handle.events_committed();
            if committed.new_id_kind {
                l.handle.id_blocks_low();
            }
        }
    });
    // The kinds every site numbers: blocks are leased ahead, so labelling and receipts go on
    // through an outage. Carrier tracking kinds are added by the workflows that use them.
    {
        let store = store.clone();
        let weak = Arc::downgrade(&link);
        tokio::spawn(async move {
            let tracked = store
                .write(|c| {
                    for kind in ID_KINDS {
                        crate::store::base::ids::track_id_kind(c, kind)?;
                    }
                    Ok(())
                })
                .await;
            match tracked {
                Ok(()) => {
                    if let Some(l) = weak.upgrade() {
                        l.handle.id_blocks_low();
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not register the ID kinds"),
            }
        });
    }
    let events = events.clone();
    let store = store.clone();
    tokio::spawn(async move {
        // The current value is looked at first: the pump may have changed state before this
        // task ran (a divergence is found by the very first status check).
        let mut last: Option<SyncState> = None;
        loop {
            let s = status.borrow_and_update().clone();
            if last != Some(s.state) {
                if last.is_some() || s.state != SyncState::Offline {
                    tracing::info!(state = ?s.state, last_error = ?s.last_error, "sync state changed");
                    events.publish(
                        "sync.state",
                        serde_json::json!({"state": s.state, "last_error": s.last_error,
                                           "queue_depth": s.queue_depth, "dead_letters": s.dead_letters}),
                    );
                }
                last = Some(s.state);
                if s.state == SyncState::Diverged {
                    if let Err(e) = store.write(sync_store::mark_diverged).await {
                        tracing::error!(error = %e, "could not record the divergence");
                    }
                }
            }
            if status.changed().await.is_err() {
                break;
            }
        }
    });
    Ok(link)
}

/// Stops the loops and waits for them when this is the last reference (otherwise dropping the
/// handle still signals them to stop).
pub async fn stop(link: Option<Arc<SyncLink>>) {
    if let Some(link) = link {
        match Arc::try_unwrap(link) {
            Ok(l) => l.handle.shutdown().await,
            Err(_) => tracing::warn!("sync still referenced at shutdown; loops signalled to stop"),
        }
    }
}

/// `wms-edge sync reset-sequence`: recovery from `diverged`. Run with the node stopped. Asks the
/// central for its `acked_through` unless given, keeps the events up to `keep_through` (default:
/// the highest seq recorded when the divergence was first seen, i.e. the restored backup's own
/// events, which the central already has), renumbers every later not-yet-done event past the
/// central's mark and moves the counter there; one transaction, audited.
pub async fn reset_sequence(
    cfg: &Config,
    central_acked_through: Option<u64>,
    keep_through: Option<u64>,
) -> Result<sync_store::Reseq> {
    let acked = match central_acked_through {
        Some(a) => a,
        None => {
            let sc = sync_config(cfg).ok_or_else(|| {
                Error::Config("no [central] section: pass --central-acked-through".into())
            })?;
            let client = wms_sync::CentralClient::new(sc.credentials)
                .map_err(|e| Error::Config(format!("sync: {e}")))?;
            client
                .site_status(Duration::from_secs(30))
                .await
                .map_err(|e| {
                    Error::Config(format!(
                        "cannot ask the central for its acked_through ({e}); pass --central-acked-through"
                    ))
                })?
                .acked_through
        }
    };
    let path = cfg.db_path();
    let site = cfg.site_id().to_string();
    tokio::task::spawn_blocking(move || -> Result<sync_store::Reseq> {
        let conn = crate::store::open_and_migrate(&path)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let res = (|| {
            let keep = match keep_through {
                Some(k) => k,
                None => crate::store::base::sync_state::state_get(
                    &conn,
                    crate::store::base::sync_state::KEY_DIVERGED_AT,
                )?
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    Error::Config(
                        "this database never saw the central ahead of it; pass --keep-through \
                             <highest seq of the restored backup>"
                            .into(),
                    )
                })?,
            };
            sync_store::reset_sequence(&conn, &site, acked, keep)
        })();
        match res {
            Ok(r) => {
                conn.execute_batch("COMMIT")?;
                Ok(r)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    })
    .await
    .map_err(|e| Error::Internal(format!("reset task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Config {
        let text = format!(
            "[site]\nid = \"wh-1\"\ntimezone = \"UTC\"\ndata_dir = \"/tmp/x\"\n\
             [central]\nurl = \"http://127.0.0.1:8700/v2\"\napi_key = \"k\"\nsigning_secret = \"s\"\n{extra}"
        );
        crate::config::parse("edge.toml", &text).expect("config")
    }

    #[test]
    fn unauthorized_retry_defaults_to_the_contract_and_follows_the_config() {
        let sc = sync_config(&cfg("")).expect("central");
        assert_eq!(sc.timings.unauthorized_retry, Duration::from_secs(60));
        let sc = sync_config(&cfg("unauthorized_retry_s = 5")).expect("central");
        assert_eq!(sc.timings.unauthorized_retry, Duration::from_secs(5));
    }
}
