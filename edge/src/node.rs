//! Running the node: open the store, build the API, serve until told to stop.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::api::{self, AppState, Shared};
use crate::config::Config;
use crate::domain::role::Role;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::ops::data_dir::DataDirLock;
use crate::ops::service::{self, Notifier, StatusLine};
use crate::store::base::keys::{self, KeyRecord};
use crate::store::{Store, StoreOptions};

/// Config-file keys indexed by the SHA-256 of the key.
pub fn config_keys(cfg: &Config) -> HashMap<[u8; 32], Arc<KeyRecord>> {
    cfg.api_keys
        .iter()
        .filter_map(|k| {
            let role = Role::parse(k.role.get_ref())?;
            let digest = match (&k.key, &k.key_sha256) {
                (Some(key), _) => keys::sha256(key.get_ref()),
                (None, Some(h)) => {
                    let mut d = [0u8; 32];
                    hex::decode_to_slice(h.get_ref(), &mut d).ok()?;
                    d
                }
                (None, None) => return None,
            };
            Some((
                digest,
                Arc::new(KeyRecord {
                    name: k.name.get_ref().clone(),
                    role,
                    tenant_id: k.tenant_id.clone(),
                }),
            ))
        })
        .collect()
}

/// Open the site's store (creating the data dir), off the async runtime.
pub async fn open_store(cfg: &Config) -> Result<Store> {
    let dir = cfg.data_dir().to_path_buf();
    let path = cfg.db_path();
    let opts = StoreOptions {
        readers: cfg.store.readers.unwrap_or(3),
        max_group: cfg.store.max_group.unwrap_or(512),
        ..StoreOptions::default()
    };
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Config(format!("cannot create data_dir {}: {e}", dir.display())))?;
        Store::open(&path, opts)
    })
    .await
    .map_err(|e| Error::Internal(format!("store open task: {e}")))?
}

/// Build the application state for a config and an open store; `serve` adds the running services.
pub fn app_state(cfg: &Config, store: Store) -> Shared {
    let events = crate::events::EventBus::default();
    let registers: Arc<HashMap<_, _>> = Arc::new(
        cfg.registers()
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect(),
    );
    Shared {
        site_id: Arc::from(cfg.site_id()),
        till: crate::till::Till::without_terminals(
            store.clone(),
            cfg.site_id().to_string(),
            events.clone(),
            registers.clone(),
        ),
        store,
        config_keys: config_keys(cfg),
        started: Instant::now(),
        metrics: Arc::new(Metrics::new()),
        central_configured: cfg.central.is_some(),
        openapi_json: Arc::new(api::openapi_json()),
        events,
        devices: crate::devices::DeviceManager::default(),
        sync: None,
        registers,
        ops: Arc::new(crate::ops::OpsStatus {
            data_dir: Some(cfg.data_dir().to_path_buf()),
            min_free_bytes: cfg.store.min_free_bytes(),
            backups_scheduled: cfg.backup.is_some(),
            ..Default::default()
        }),
    }
}

/// Creates the data dir and takes its lock (one node per data dir; `restore` checks it).
pub async fn lock_data_dir(cfg: &Config) -> Result<DataDirLock> {
    let dir = cfg.data_dir().to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Config(format!("cannot create data_dir {}: {e}", dir.display())))?;
        DataDirLock::acquire(&dir)
    })
    .await
    .map_err(|e| Error::Internal(format!("data dir lock task: {e}")))?
}

/// The one line the service manager shows (`systemctl status`): sync state and storage.
fn service_status(sync: Option<Arc<crate::sync_glue::SyncLink>>, store: Store) -> StatusLine {
    Box::new(move || {
        let sync = match &sync {
            None => "disabled".to_string(),
            Some(l) => serde_json::to_value(l.handle.status().state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "offline".into()),
        };
        let storage = if store.stats.storage_full() {
            "FULL"
        } else {
            "ok"
        };
        format!("serving; sync {sync}; storage {storage}")
    })
}

/// Serve the node until `shutdown` resolves. `on_listening` is told the bound address (the config
/// may ask for port 0).
pub async fn serve(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    let started = Instant::now();
    let notifier = Notifier::from_env();
    let _lock = lock_data_dir(&cfg).await?;
    let store = open_store(&cfg).await?;
    let mut state = app_state(&cfg, store);
    let listener = tokio::net::TcpListener::bind(cfg.listen())
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", cfg.listen())))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("local addr: {e}")))?;
    // Sync starts before the devices, so a sync configuration error leaves no device task behind.
    state.sync = crate::sync_glue::start(&cfg, &state.store, &state.events)?;
    let sync = state.sync.clone();
    // Devices start once the port is ours, so a failed bind leaves no device task behind.
    let candidates = crate::discovery::Candidates::default();
    state.devices =
        crate::devices::DeviceManager::start(&cfg, state.events.clone(), candidates.clone())?;
    state
        .devices
        .attach_floor(crate::floor::Floor::from_config(&cfg, state.store.clone()));
    state.till = crate::till::Till::start(crate::till::TillParts {
        store: state.store.clone(),
        site: cfg.site_id().to_string(),
        events: state.events.clone(),
        registers: state.registers.clone(),
        devices: state
            .devices
            .entries()
            .map(|e| {
                (
                    e.config.id.clone(),
                    e.config.station.clone(),
                    e.device.clone(),
                )
            })
            .collect(),
        sync: state.sync.as_ref().map(|s| s.handle.subscribe()),
        central: crate::sync_glue::credentials(&cfg),
        print_wake: state.devices.print_wake(),
        shutdown: wms_hardware::CancellationToken::new(),
    });
    state.devices.attach_till(state.till.clone());
    let devices = state.devices.clone();
    let till = state.till.clone();
    tracing::info!(site = cfg.site_id(), %addr, startup_ms = started.elapsed().as_millis() as u64, "wms-edge listening");
    on_listening(addr);
    let status = service_status(state.sync.clone(), state.store.clone());
    if let Some(n) = &notifier {
        n.send(&format!("READY=1\nSTATUS={}", status()));
    }
    let ops_stop = wms_hardware::CancellationToken::new();
    let supervisor = service::spawn_supervisor(
        notifier.clone(),
        state.store.clone(),
        status,
        ops_stop.clone(),
    );
    let backups = cfg.backup_schedule().map(|schedule| {
        crate::ops::spawn_backups(
            state.store.clone(),
            schedule,
            state.ops.clone(),
            ops_stop.clone(),
        )
    });
    let discovery_stop = wms_hardware::CancellationToken::new();
    let discovery =
        crate::discovery::Discovery::start(&cfg, addr, candidates, discovery_stop.clone());
    // Open event streams never end by themselves: close them when shutdown starts.
    let bus = state.events.clone();
    let stopping = notifier.clone();
    let shutdown = async move {
        shutdown.await;
        if let Some(n) = &stopping {
            n.send("STOPPING=1\nSTATUS=stopping");
        }
        bus.close();
    };
    let served = axum::serve(listener, api::router(AppState::new(state)))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Internal(format!("http server: {e}")));
    discovery_stop.cancel();
    ops_stop.cancel();
    let _ = supervisor.await;
    if let Some(b) = backups {
        let _ = b.await;
    }
    if let Some(d) = discovery {
        d.shutdown().await;
    }
    till.shutdown().await;
    devices.shutdown().await;
    crate::sync_glue::stop(sync).await;
    served?;
    tracing::info!("wms-edge stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
