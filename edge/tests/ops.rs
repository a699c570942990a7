//! Running the node unattended, as `wms-edge run` child processes: what the service manager
//! hears (readiness, watchdog, stopping), backups under load and restores, a full disk, a
//! database from a newer release, and clock steps against the central. Schema upgrades from every
//! earlier version are in `ops/upgrade.rs`.

mod common;
#[path = "ops/upgrade.rs"]
mod upgrade;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const KEY: &str = "ops-test-admin-key";
const DEADLINE: Duration = Duration::from_secs(60);

fn wms(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wms-edge"))
        .args(args)
        .output()
        .expect("run wms-edge")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn call(
    http: &Client,
    base: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

async fn ok(http: &Client, base: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let (s, v) = call(http, base, method, path, body).await;
    assert!(s.is_success(), "{path}: {s} {v}");
    v
}

/// A product and a location to book adjustments against.
async fn catalog(http: &Client, base: &str) {
    ok(
        http,
        base,
        Method::PUT,
        "/v1/products/acme/SKU-1",
        Some(json!({"name": "Widget"})),
    )
    .await;
    ok(
        http,
        base,
        Method::PUT,
        "/v1/locations/A-01",
        Some(json!({"pick_sequence": 1})),
    )
    .await;
}

fn adjustment(delta: i64) -> Value {
    json!({"tenant_id": "acme", "sku": "SKU-1", "location": "A-01", "delta": delta, "reason": "received"})
}

async fn on_hand(http: &Client, base: &str) -> i64 {
    let v = ok(http, base, Method::GET, "/v1/inventory?sku=SKU-1", None).await;
    v["data"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["on_hand"].as_i64()).sum())
        .unwrap_or(0)
}

async fn health(http: &Client, base: &str) -> Value {
    let resp = http
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("health json")
}

/// Polls `f` until it holds or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm(edge: &common::Edge) {
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    let rc = unsafe { libc::kill(edge.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// Waits for the child to exit by itself; its exit status.
fn wait_exit(edge: &mut common::Edge, limit: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = edge.child.try_wait().expect("try_wait") {
            return s;
        }
        assert!(
            Instant::now() < end,
            "the node did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The datagrams a fake service manager receives on its `NOTIFY_SOCKET`.
struct Manager {
    path: PathBuf,
    rx: mpsc::Receiver<String>,
    stop: Arc<AtomicBool>,
}

impl Manager {
    fn bind(dir: &Path) -> Manager {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopped.load(Ordering::SeqCst) {
                if let Ok(n) = socket.recv(&mut buf) {
                    if tx.send(text(&buf[..n])).is_err() {
                        break;
                    }
                }
            }
        });
        Manager { path, rx, stop }
    }

    /// The next message that satisfies `want`, skipping others, within `limit`.
    fn next(&self, limit: Duration, want: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok(m) if want(&m) => return Some(m),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Every message that arrives within `span`.
    fn during(&self, span: Duration) -> Vec<String> {
        let end = Instant::now() + span;
        let mut got = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(m) => got.push(m),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        got
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn is_ping(m: &str) -> bool {
    m.lines().any(|l| l == "WATCHDOG=1")
}

/// `Type=notify` as systemd runs it: READY=1 once the store is migrated and the port answers,
/// WATCHDOG=1 every half period while the writer commits, no ping while another process holds
/// the database's write lock (the writer cannot begin a transaction), pings again once it is
/// released, STATUS= with the sync state, STOPPING=1 and a clean exit on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_manager_hears_ready_watchdog_pings_only_while_the_writer_commits_and_stopping()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = common::write_config(dir.path(), "wh-ops", KEY, "[discovery]\nenabled = false\n");
    let manager = Manager::bind(dir.path());
    let mut edge = common::spawn_with_log_env(
        &cfg,
        Stdio::null(),
        &[
            ("NOTIFY_SOCKET", manager.path.as_os_str()),
            ("WATCHDOG_USEC", std::ffi::OsStr::new("400000")),
        ],
    );
    let first = manager
        .next(Duration::from_secs(30), |_| true)
        .expect("no message from the node");
    assert!(
        first.starts_with("READY=1\n"),
        "the first message must be READY: {first:?}"
    );
    assert!(
        first.contains("STATUS=serving; sync disabled; storage ok"),
        "{first:?}"
    );
    let http = client();
    assert_eq!(health(&http, &edge.base).await["status"], "healthy");
    for _ in 0..3 {
        assert!(
            manager.next(Duration::from_secs(5), is_ping).is_some(),
            "no watchdog ping while the writer commits"
        );
    }

    // Another process takes the write lock: the writer cannot begin, so the pings must stop.
    let db = dir.path().join("data").join("wms-edge.db");
    let holder = rusqlite::Connection::open(&db).expect("open db");
    holder.execute_batch("BEGIN IMMEDIATE").expect("write lock");
    let settling = manager.during(Duration::from_millis(800));
    let wedged = manager.during(Duration::from_secs(3));
    assert!(
        !wedged.iter().any(|m| is_ping(m)),
        "pings went on with the writer wedged: {wedged:?} (before: {settling:?})"
    );
    holder.execute_batch("ROLLBACK").expect("release");
    drop(holder);
    assert!(
        manager.next(Duration::from_secs(15), is_ping).is_some(),
        "pings did not come back once the writer could commit"
    );

    sigterm(&edge);
    let stopping = manager.next(Duration::from_secs(10), |m| {
        m.lines().any(|l| l == "STOPPING=1")
    });
    assert!(stopping.is_some(), "no STOPPING=1 after SIGTERM");
    let status = wait_exit(&mut edge, Duration::from_secs(30));
    assert!(status.success(), "exit after SIGTERM: {status}");
}

/// Ledger rows (id, delta) of a database file, in id order.
fn ledger(db: &Path) -> Vec<(i64, i64)> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open");
    let mut s = c
        .prepare("SELECT id, delta FROM ledger ORDER BY id")
        .expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("rows")
}

fn integrity(db: &Path) -> String {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .expect("integrity_check")
}

/// `wms-edge backup` while clients write adjustments at up to 1,000/s: the backup finishes while
/// writes go on, `wms-edge restore` puts it into a new data dir, and the node started there has a
/// ledger that is exactly the acknowledged writes up to some point (a prefix, in commit order),
/// with stock to match and `integrity_check` ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_to_a_prefix_of_the_acknowledged_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = common::write_config(
        dir.path(),
        "wh-ops",
        KEY,
        "[discovery]\nenabled = false\n[log]\nlevel = \"warn\"\n",
    );
    let edge = common::spawn(&cfg);
    let http = client();
    catalog(&http, &edge.base).await;

    const WRITERS: u64 = 8;
    const RATE_PER_WRITER: u64 = 1000 / WRITERS;
    let acked: Arc<Mutex<Vec<(i64, i64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (http, base, acked, stop) =
            (http.clone(), edge.base.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_WRITER));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut i = 0i64;
            while !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                let delta = 1 + (i + w as i64) % 3;
                i += 1;
                let (s, v) = call(
                    &http,
                    &base,
                    Method::POST,
                    "/v1/inventory/adjustments",
                    Some(adjustment(delta)),
                )
                .await;
                assert_eq!(s, StatusCode::CREATED, "{v}");
                let id = v["id"].as_i64().expect("ledger id");
                assert_eq!(v["delta"], delta);
                if let Ok(mut a) = acked.lock() {
                    a.push((id, delta));
                }
            }
        }));
    }
    let count = |a: &Arc<Mutex<Vec<(i64, i64)>>>| a.lock().map(|v| v.len()).unwrap_or(0);
    assert!(
        eventually(DEADLINE, || async { count(&acked) >= 500 }).await,
        "writes did not get going"
    );
    let backup = dir.path().join("backup.db");
    let before = count(&acked);
    let out = tokio::task::spawn_blocking({
        let (cfg, backup) = (cfg.clone(), backup.clone());
        move || {
            wms(&[
                "backup".as_ref(),
                "--config".as_ref(),
                cfg.as_os_str(),
                backup.as_os_str(),
            ])
        }
    })
    .await
    .expect("backup task");
    let after_backup = count(&acked);
    assert!(
        out.status.success(),
        "backup: {} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("integrity ok"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        eventually(DEADLINE, || async { count(&acked) >= after_backup + 500 }).await,
        "writes did not go on after the backup"
    );
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("writer");
    }
    let took = load_started.elapsed();
    let total = count(&acked);
    eprintln!(
        "{total} adjustments acknowledged in {took:?} ({:.0}/s; paced at 1000/s)",
        total as f64 / took.as_secs_f64()
    );
    drop(edge);

    let mut acked = acked.lock().map(|v| v.clone()).unwrap_or_default();
    acked.sort();
    let dir2 = tempfile::tempdir().expect("tempdir");
    let cfg2 = common::write_config(dir2.path(), "wh-ops", KEY, "[discovery]\nenabled = false\n");
    let out = wms(&[
        "restore".as_ref(),
        "--config".as_ref(),
        cfg2.as_os_str(),
        backup.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "restore: {} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("diverged"),
        "the restore must say what to watch for"
    );
    let restored_node = common::spawn(&cfg2);
    let db2 = dir2.path().join("data").join("wms-edge.db");
    let restored = ledger(&db2);
    let last = restored
        .last()
        .map(|r| r.0)
        .expect("the backup has ledger rows");
    let prefix: Vec<(i64, i64)> = acked.iter().copied().filter(|r| r.0 <= last).collect();
    assert_eq!(
        restored, prefix,
        "the restored ledger is not a prefix of the acknowledged writes"
    );
    assert!(
        restored.len() >= before && restored.len() <= after_backup && restored.len() < acked.len(),
        "the backup's moment: {} rows restored, {before} acknowledged when it started, {after_backup} when it ended, {} in all",
        restored.len(),
        acked.len()
    );
    let sum: i64 = restored.iter().map(|r| r.1).sum();
    assert_eq!(on_hand(&http, &restored_node.base).await, sum);
    assert_eq!(integrity(&db2), "ok");

    // A restore while a node runs on the data dir is refused.
    let out = wms(&[
        "restore".as_ref(),
        "--config".as_ref(),
        cfg2.as_os_str(),
        backup.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("another wms-edge process"),
        "{}",
        text(&out.stderr)
    );
}

/// A database from a newer release is refused at start with one clear line and exit code 2
/// (the unit does not restart on 2), and `backup`/`restore` refuse such a file the same way.
#[test]
fn a_database_newer_than_the_binary_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = common::write_config(dir.path(), "wh-ops", KEY, "[discovery]\nenabled = false\n");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let db = data.join("wms-edge.db");
    {
        let c = wms_edge::store::open_and_migrate(&db).expect("create");
        c.pragma_update(None, "user_version", 99).expect("bump");
    }
    let out = wms(&["run".as_ref(), "--config".as_ref(), cfg.as_os_str()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(
        err.contains("schema version 99") && err.contains("newer wms-edge"),
        "{err}"
    );

    let copy = dir.path().join("newer.db");
    std::fs::copy(&db, &copy).expect("copy");
    let out = wms(&[
        "restore".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        copy.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("schema version 99"),
        "{}",
        text(&out.stderr)
    );
}

/// A tmpfs of a few MiB mounted over a test directory; unmounted on drop.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).expect("mkdir");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(out.status.success(), "mount tmpfs: {}", text(&out.stderr));
        SmallDisk {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}

/// Fills the filesystem holding `dir` with `file`, down to the last bytes.
fn fill(file: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(file).expect("filler");
    for chunk in [65_536usize, 4096, 512, 1] {
        let buf = vec![0x42u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
}

async fn scan(http: &Client, base: &str, data: &str) -> Value {
    ok(
        http,
        base,
        Method::POST,
        "/v1/scans",
        Some(json!({"device_id": "hh-1", "data": data})),
    )
    .await
}

/// The data dir on a full disk: adjustments answer 503 with the error object, a scan answers
/// bad "storage full", `/health` is degraded with the database `full`, the metric alerts; nothing
/// acknowledged is lost, and once space returns the node accepts writes and turns healthy by
/// itself. Needs root for the tmpfs mount (CI runs as root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_503_degrades_health_and_recovers_by_itself() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a size-limited tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(&dir.path().join("data"), "6m");
    let extra = "[discovery]\nenabled = false\n[store]\nmin_free_mb = 1\n\
                 [[stations]]\nid = \"cnt-1\"\nkind = \"count\"\n\
                 [[devices]]\nid = \"hh-1\"\nkind = \"scanner\"\nstation = \"cnt-1\"\ntransport = { http = {} }\n";
    let cfg = common::write_config(dir.path(), "wh-ops", KEY, extra);
    let edge = common::spawn(&cfg);
    let http = client();
    catalog(&http, &edge.base).await;
    ok(
        &http,
        &edge.base,
        Method::PUT,
        "/v1/users/U-1",
        Some(json!({"name": "Sam", "badge": "B-1", "roles": ["picker"]})),
    )
    .await;
    assert_eq!(health(&http, &edge.base).await["status"], "healthy");

    let filler = disk.path.join("filler");
    fill(&filler);
    let mut acked = 0i64;
    let mut refused = None;
    for _ in 0..5000 {
        let (s, v) = call(
            &http,
            &edge.base,
            Method::POST,
            "/v1/inventory/adjustments",
            Some(adjustment(1)),
        )
        .await;
        match s {
            StatusCode::CREATED => acked += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(v);
                break;
            }
            other => panic!("a full disk must answer 503, not {other}: {v}"),
        }
    }
    let refused = refused.expect("the disk never filled up");
    assert_eq!(refused["error"]["code"], "server_error", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("storage full")),
        "{refused}"
    );
    assert!(refused["error"]["request_id"].is_string(), "{refused}");
    let h = health(&http, &edge.base).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["services"]["database"], "full", "{h}");
    assert!(
        h["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.starts_with("storage full")))),
        "{h}"
    );
    let s = scan(&http, &edge.base, "EMP:B-1").await;
    assert_eq!(s["feedback"], "bad", "{s}");
    assert_eq!(
        s["prompt"], "Storage full — scan not saved; tell a supervisor",
        "{s}"
    );
    let (_, metrics) = call(&http, &edge.base, Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("\nwms_edge_store_storage_full 1\n"),
        "{metrics}"
    );

    // Space returns: the node recovers without a restart or any request of ours.
    std::fs::remove_file(&filler).expect("free space");
    assert!(
        eventually(DEADLINE, || async {
            health(&http, &edge.base).await["status"] == "healthy"
        })
        .await,
        "health did not recover: {}",
        health(&http, &edge.base).await
    );
    let (s, v) = call(
        &http,
        &edge.base,
        Method::POST,
        "/v1/inventory/adjustments",
        Some(adjustment(1)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    acked += 1;
    let s = scan(&http, &edge.base, "EMP:B-1").await;
    assert_eq!(s["feedback"], "good", "{s}");
    assert_eq!(
        on_hand(&http, &edge.base).await,
        acked,
        "every acknowledged adjustment, nothing else"
    );
    drop(edge);
    let edge = common::spawn(&cfg);
    assert_eq!(
        on_hand(&http, &edge.base).await,
        acked,
        "after a restart too"
    );
    assert_eq!(integrity(&disk.path.join("wms-edge.db")), "ok");
    drop(edge);
}

/// A restored backup the central has already seen past: the next start reports `diverged`
/// (nothing pushed, health degraded), and the documented recovery brings it back online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_behind_the_central_is_diverged_until_reset_sequence() {
    use wms_sync::central_sim::{CentralSim, SimConfig};
    let sim = CentralSim::start(SimConfig::new("wh-ops"))
        .await
        .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let central = format!(
        "[discovery]\nenabled = false\n[central]\nurl = \"{}\"\napi_key = \"test-key\"\n\
         signing_secret = \"test-signing-secret\"\nretry_base_ms = 5\nretry_cap_ms = 200\n",
        sim.url()
    );
    let cfg = common::write_config(dir.path(), "wh-ops", KEY, &central);
    let http = client();
    let edge = common::spawn(&cfg);
    catalog(&http, &edge.base).await;
    for _ in 0..3 {
        ok(
            &http,
            &edge.base,
            Method::POST,
            "/v1/inventory/adjustments",
            Some(adjustment(1)),
        )
        .await;
    }
    let backup = dir.path().join("b.db");
    let out = wms(&[
        "backup".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        backup.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for _ in 0..3 {
        ok(
            &http,
            &edge.base,
            Method::POST,
            "/v1/inventory/adjustments",
            Some(adjustment(1)),
        )
        .await;
    }
    let pushed = |n: usize| {
        let sim = &sim;
        move || async move { sim.applied_count() >= n }
    };
    let before = sim.applied_count();
    assert!(eventually(DEADLINE, pushed(before.max(3))).await);
    let mut edge = edge;
    sigterm(&edge);
    assert!(wait_exit(&mut edge, Duration::from_secs(30)).success());
    drop(edge);

    let out = wms(&[
        "restore".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        backup.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let applied = sim.applied_count();
    let edge = common::spawn(&cfg);
    let status = || async { ok(&http, &edge.base, Method::GET, "/v1/sync/status", None).await };
    assert!(
        eventually(DEADLINE, || async { status().await["state"] == "diverged" }).await,
        "{}",
        status().await
    );
    assert_eq!(health(&http, &edge.base).await["status"], "degraded");
    assert_eq!(
        sim.applied_count(),
        applied,
        "a diverged node must not push"
    );
    // The node notes the highest seq it had when it saw the central ahead (the recovery keeps
    // events up to it); an operator takes longer than that to react.
    let db = dir.path().join("data").join("wms-edge.db");
    let stamped = || {
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM sync_state WHERE key = 'diverged_at_seq'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0)
            == 1
    };
    assert!(
        eventually(DEADLINE, || async { stamped() }).await,
        "divergence not recorded"
    );
    let mut edge = edge;
    sigterm(&edge);
    assert!(wait_exit(&mut edge, Duration::from_secs(30)).success());
    drop(edge);

    let out = wms(&[
        "sync".as_ref(),
        "reset-sequence".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let edge = common::spawn(&cfg);
    let status = || async { ok(&http, &edge.base, Method::GET, "/v1/sync/status", None).await };
    assert!(
        eventually(DEADLINE, || async {
            let s = status().await;
            s["state"] == "online" && s["queue_depth"] == 0
        })
        .await,
        "{}",
        status().await
    );
    let now = sim.applied_count();
    ok(
        &http,
        &edge.base,
        Method::POST,
        "/v1/inventory/adjustments",
        Some(adjustment(1)),
    )
    .await;
    assert!(
        eventually(DEADLINE, || async { sim.applied_count() > now }).await,
        "no push after recovery"
    );
    drop(edge);
    sim.shutdown().await;
}

/// The edge's clock stepping against the central's (an NTP step on either side) within the
/// documented window (300 s) keeps sync online with a skew warning; beyond it, requests are
/// refused as `unauthorized`, and sync comes back by itself once the clocks agree again. Local
/// timers run on the monotonic clock, so the node's own schedules are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_steps_within_the_skew_window_keep_sync_online_and_beyond_it_recover() {
    use wms_sync::central_sim::{CentralSim, SimConfig};
    let sim = CentralSim::start(SimConfig::new("wh-ops"))
        .await
        .expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let central = format!(
        "[discovery]\nenabled = false\n[central]\nurl = \"{}\"\napi_key = \"test-key\"\n\
         signing_secret = \"test-signing-secret\"\nretry_base_ms = 5\nretry_cap_ms = 200\n\
         unauthorized_retry_s = 1\n",
        sim.url()
    );
    let cfg = common::write_config(dir.path(), "wh-ops", KEY, &central);
    let http = client();
    let edge = common::spawn(&cfg);
    catalog(&http, &edge.base).await;
    let status = || async { ok(&http, &edge.base, Method::GET, "/v1/sync/status", None).await };
    assert!(eventually(DEADLINE, || async { status().await["state"] == "online" }).await);

    sim.set_clock_offset(200);
    ok(
        &http,
        &edge.base,
        Method::POST,
        "/v1/inventory/adjustments",
        Some(adjustment(1)),
    )
    .await;
    assert!(
        eventually(DEADLINE, || async {
            let s = status().await;
            s["state"] == "online" && s["queue_depth"] == 0
        })
        .await,
        "a step within the window must not stop sync: {}",
        status().await
    );

    sim.set_clock_offset(-400);
    ok(
        &http,
        &edge.base,
        Method::POST,
        "/v1/inventory/adjustments",
        Some(adjustment(1)),
    )
    .await;
    assert!(
        eventually(DEADLINE, || async {
            status().await["state"] == "unauthorized"
        })
        .await,
        "{}",
        status().await
    );
    sim.set_clock_offset(0);
    assert!(
        eventually(DEADLINE, || async {
            let s = status().await;
            s["state"] == "online" && s["queue_depth"] == 0
        })
        .await,
        "{}",
        status().await
    );
    drop(edge);
    sim.shutdown().await;
}

/// Scheduled backups: with none on disk the first is taken at start, verified, and older ones
/// beyond `keep` are deleted; `/metrics` reports it for the stale-backup alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_backup_is_taken_at_start_verified_and_old_ones_pruned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).expect("mkdir");
    for old in [
        "wms-edge-20200101T000000.000Z.db",
        "wms-edge-20200102T000000.000Z.db",
    ] {
        std::fs::write(backups.join(old), b"old").expect("old backup");
    }
    // Old enough that a new backup is due now.
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 86_400);
    for entry in std::fs::read_dir(&backups).expect("read") {
        let f = std::fs::File::options()
            .write(true)
            .open(entry.expect("entry").path())
            .expect("open");
        f.set_modified(long_ago).expect("mtime");
    }
    let extra = format!(
        "[discovery]\nenabled = false\n[backup]\ndir = \"{}\"\ninterval_min = 1440\nkeep = 2\n",
        backups.display()
    );
    let cfg = common::write_config(dir.path(), "wh-ops", KEY, &extra);
    let edge = common::spawn(&cfg);
    let http = client();
    let list = || wms_edge::ops::backup::scheduled_backups(&backups).expect("list");
    assert!(
        eventually(DEADLINE, || async {
            list().len() == 2
                && list()
                    .last()
                    .is_some_and(|p| !p.ends_with("wms-edge-20200102T000000.000Z.db"))
        })
        .await,
        "{:?}",
        list()
    );
    let names = list();
    assert!(
        names[0].ends_with("wms-edge-20200102T000000.000Z.db"),
        "{names:?}"
    );
    let report = wms_edge::ops::backup::verify(&names[1]).expect("a verified backup");
    assert_eq!(
        report.schema_version,
        wms_edge::store::schema::MIGRATIONS.len() as i64
    );
    let (_, m) = call(&http, &edge.base, Method::GET, "/metrics", None).await;
    let m = m.as_str().unwrap_or_default().to_string();
    let last = m
        .lines()
        .find_map(|l| l.strip_prefix("wms_edge_backup_last_success_timestamp_seconds "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("backup metric");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(now.abs_diff(last) < 600, "last backup at {last}, now {now}");
}

/// Every metric the shipped alert rules and dashboard use is one a node exports: a node with a
/// central, a printer, a register and scheduled backups, whose `/metrics` must name each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_rules_and_dashboard_use_only_metrics_the_node_exports() {
    use wms_sync::central_sim::{CentralSim, SimConfig};
    let monitoring = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/monitoring");
    let mut used = std::collections::BTreeSet::new();
    for file in ["wms-edge.rules.yml", "wms-edge.dashboard.json"] {
        let text = std::fs::read_to_string(monitoring.join(file)).expect("monitoring file");
        let mut rest = text.as_str();
        while let Some(at) = rest.find("wms_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let name = name.strip_suffix("_bucket").unwrap_or(&name).to_string();
            used.insert(name);
        }
    }
    assert!(used.len() > 15, "{used:?}");

    let sim = CentralSim::start(SimConfig::new("wh-ops"))
        .await
        .expect("sim");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "[discovery]\nenabled = false\n[backup]\n\
         [central]\nurl = \"{}\"\napi_key = \"test-key\"\nsigning_secret = \"test-signing-secret\"\n\
         [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
         [[stations]]\nid = \"pack-1\"\nkind = \"pack\"\n\
         [[devices]]\nid = \"label-1\"\nkind = \"label_printer\"\nprofile = \"zebra-zpl-203\"\nstation = \"pack-1\"\n\
         transport = {{ tcp = {{ host = \"127.0.0.1\", port = {closed_port} }} }}\n",
        sim.url()
    );
    let cfg = common::write_config(dir.path(), "wh-ops", KEY, &extra);
    let edge = common::spawn(&cfg);
    let http = client();
    ok(&http, &edge.base, Method::GET, "/health", None).await;
    let text = loop {
        let (_, m) = call(&http, &edge.base, Method::GET, "/metrics", None).await;
        let text = m.as_str().unwrap_or_default().to_string();
        // The sync state appears once the client has talked to the central.
        if text.contains("wms_edge_sync_state") || !used.contains("wms_edge_sync_state") {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| {
            !text
                .lines()
                .any(|l| l.starts_with(name.as_str()) || l.starts_with(&format!("# TYPE {name} ")))
        })
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}\n{text}");
    drop(edge);
    sim.shutdown().await;
}

/// The unit as shipped: `Type=notify` with a watchdog, rated at most 2.5 by
/// `systemd-analyze security` (it was 7.5), and every hardening setting under a comment that says
/// why it is safe. The sandbox itself is not started here: the test machines do not run systemd
/// as PID 1, so `systemd-run` cannot start a unit (README.md, "The service").
#[test]
fn the_unit_is_notify_with_a_watchdog_hardened_and_every_setting_says_why() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/wms-edge.service");
    let unit = std::fs::read_to_string(&path).expect("unit");
    for needed in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30",
        "RestartPreventExitStatus=2",
        "ExecStart=/usr/bin/wms-edge run --config /etc/wms-edge/edge.toml",
    ] {
        assert!(unit.lines().any(|l| l == needed), "the unit lacks {needed}");
    }
    // From the hardening block on, a setting follows a comment or another setting of its group.
    let hardening = unit
        .split("\n# Hardening")
        .nth(1)
        .and_then(|rest| rest.split("\n[Install]").next())
        .expect("a hardening block");
    let mut explained = false;
    for line in hardening.lines().skip(1) {
        if line.starts_with('#') {
            explained = true;
        } else if line.trim().is_empty() {
            explained = false;
        } else {
            assert!(explained, "no reason given for {line:?}");
        }
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=25"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package; .ci/setup-ops installs it)");
    let report = text(&out.stdout);
    assert!(
        out.status.success(),
        "rated above 2.5:\n{report}{}",
        text(&out.stderr)
    );
    let overall = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .expect("an overall rating");
    assert!(overall.contains(" OK"), "{overall}");
}
