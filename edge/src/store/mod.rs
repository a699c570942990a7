//! The local store: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the only read-write connection. Callers send it closures; it takes
//! whatever is queued, runs each closure inside its own savepoint of one `BEGIN IMMEDIATE`
//! transaction, commits once (one fsync for the whole group) and only then answers each caller.
//! A closure that fails is rolled back to its savepoint alone; a commit that fails answers every
//! caller of the group with an error. A few reader threads serve queries on read-only connections.
//! A checkpoint thread copies the WAL back into the database file, so no commit waits for that
//! copy and its fsync (see [`checkpoint_loop`]). No SQLite call ever runs on an async runtime
//! thread.

//!
//! The operations are plain functions over a `&Connection` that the writer runs inside a job's
//! savepoint, arranged in layers; each layer imports only from the layers below it (a test,
//! `store_layers_import_only_downwards`, keeps it so):
//!
//! 1. [`base`]: context, audit, outbox, `sync_state`, ID leases, list filters, reference data;
//! 2. [`stock`]: the ledger and the stock projection (book, positions, counts);
//! 3. [`orders`]: orders, reservations, backorders, the order life cycle;
//! 4. [`workflow`]: the station transactions (pick, pack, receive, count) and print jobs;
//! 5. [`sync`]: the `wms_sync` traits, down-sync changes applied, divergence recovery.

pub mod base;
pub mod orders;
pub mod schema;
pub mod stock;
pub mod sync;
pub mod workflow;

pub use base::{Ctx, Origin};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// Why a group did not commit, as every job of the group is told.
#[derive(Debug, Clone)]
struct CommitFailure {
    message: String,
    /// SQLite said the disk is full (`SQLITE_FULL`).
    storage_full: bool,
}

/// What the writer tells a job after the group's commit: `Ok` or the commit error.
type Deliver = Box<dyn FnOnce(std::result::Result<(), CommitFailure>) + Send>;
type WriteJob = Box<dyn FnOnce(&Connection) -> (bool, Deliver) + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;
type CommitHook = Box<dyn Fn(&Committed) + Send + Sync>;

/// What a committed write tells the commit hook beyond "something committed".
#[derive(Debug, Clone, Copy, Default)]
pub struct Committed {
    /// The write registered an ID kind the site did not number before (a new carrier): its first
    /// block should be asked for now rather than at the next periodic check.
    pub new_id_kind: bool,
}

/// Tuning for the store; defaults suit a small edge box.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most write jobs folded into one transaction.
    pub max_group: usize,
    pub readers: usize,
    /// Queue depth in front of the writer; senders wait (asynchronously) when it is full.
    pub queue: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_group: 512,
            readers: 3,
            queue: 4096,
        }
    }
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct StoreStats {
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub failed_jobs: AtomicU64,
    pub failed_commits: AtomicU64,
    /// Writes refused because the disk was full (`SQLITE_FULL`) since start.
    pub storage_full_errors: AtomicU64,
    /// Set when a write failed for lack of disk space; cleared by the next commit that wrote
    /// something, so `/health` and the metrics recover by themselves once space returns.
    pub storage_full: AtomicBool,
    /// Frames in the WAL after the last commit (SQLite pages; the log starts again from zero
    /// once a checkpoint has copied all of it back).
    pub wal_frames: AtomicU64,
    /// Checkpoint passes run by the checkpoint thread.
    pub checkpoints: AtomicU64,
    /// Short passes the writer ran to copy the last few frames, so that the log can start over.
    pub finishing_checkpoints: AtomicU64,
    /// Checkpoints the writer had to run itself because the WAL passed [`WAL_FRAMES_LIMIT`]: each
    /// one held up the writes queued behind it.
    pub writer_checkpoints: AtomicU64,
}

impl StoreStats {
    /// The last write failed for lack of space and none has succeeded since.
    pub fn storage_full(&self) -> bool {
        self.storage_full.load(Ordering::SeqCst)
    }

    fn saw_full(&self) {
        self.storage_full_errors.fetch_add(1, Ordering::Relaxed);
        self.storage_full.store(true, Ordering::SeqCst);
    }
}

/// WAL frames after which the checkpoint thread copies the log back: SQLite's own automatic
/// checkpoint threshold (about 4 MB of 4 KiB pages).
const CHECKPOINT_FRAMES: u64 = 1000;

/// Frames not yet copied back that the writer copies itself, between two groups. SQLite starts
/// the log over only at a transaction that begins with every frame copied, and the checkpoint
/// thread's passes always end with a few frames committed meanwhile; the writer's short pass,
/// with no commit running, finishes the job. More frames than this left, and the checkpoint
/// thread is woken for another pass instead.
const FINISH_FRAMES: u64 = 256;

/// WAL frames past which the writer checkpoints by itself whatever is left: the bound on the file
/// (about 32 MB) if the checkpoint thread cannot keep up.
const WAL_FRAMES_LIMIT: u64 = 8 * CHECKPOINT_FRAMES;

/// What the writer and the checkpoint thread know of the log's progress.
#[derive(Default)]
struct WalProgress {
    /// Bumped by the writer each time the log starts over: a count of copied frames from an
    /// earlier log means nothing for this one.
    generation: AtomicU64,
    /// `generation << 32 | frames copied back`, as the last pass left it.
    copied: AtomicU64,
}

impl WalProgress {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire) & 0xffff_ffff
    }

    fn publish(&self, generation: u64, pass: &CheckpointPass) {
        let copied = u64::try_from(pass.copied).unwrap_or(0).min(0xffff_ffff);
        self.copied
            .store(generation << 32 | copied, Ordering::Release);
    }

    /// Frames of the current log not yet copied back, if a pass over this log said.
    fn left(&self, frames: u64) -> Option<u64> {
        let v = self.copied.load(Ordering::Acquire);
        (v >> 32 == self.generation()).then(|| frames.saturating_sub(v & 0xffff_ffff))
    }
}

/// SQLite's "database or disk is full" (`SQLITE_FULL`), which is also what a failed write of the
/// WAL or a temporary file with `ENOSPC` comes back as.
pub fn is_storage_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: mpsc::Sender<WriteJob>,
    readers: crossbeam_channel::Sender<ReadJob>,
    path: Arc<PathBuf>,
    pub stats: Arc<StoreStats>,
    /// Called after every successful write (the sync pump's wake-up; see [`Store::on_commit`]).
    on_commit: Arc<std::sync::OnceLock<CommitHook>>,
    #[cfg(test)]
    fail_commits: Arc<std::sync::atomic::AtomicBool>,
}

fn configure(conn: &Connection) -> Result<()> {
    statement_settings(conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every write job runs in a savepoint, whose sub-journal otherwise goes to a temporary file
    // (a write() per page touched). It only serves a rollback inside the open transaction, never
    // recovery, so memory is enough.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// How every connection, writer and readers, keeps its prepared statements. First, SQLite's
/// query planner stability guarantee. Without it SQLite 3.46+ marks a bound
/// `LIMIT ?` (and a few other parameters) as plan-relevant and re-prepares the statement every time
/// the parameter is bound, so a cached statement was parsed and planned again on every list
/// request: a fifth of all the CPU of `GET /v1/inventory`. With it, a statement keeps the plan it
/// was prepared with, whatever is bound.
///
/// It also sizes the statement cache for the node's working set: rusqlite keeps 16 by default, a
/// pick scan alone runs more distinct statements than that, and the LRU then parsed and planned
/// most of them again on every scan (a third of the writer's CPU in the floor benchmark).
fn statement_settings(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Distinct statements a connection keeps prepared: room for the store's ~100 `prepare_cached`
/// sites and the list filters' combinations, so a long-running node stops parsing once warm.
const STATEMENT_CACHE: usize = 256;

/// Open (creating if needed) and migrate the database; the connection returned is read-write.
pub fn open_and_migrate(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Apply every migration this binary knows that the file lacks. Refuses a newer file.
pub fn migrate(conn: &Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = schema::MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::SchemaTooNew(format!(
            "the database is at schema version {current} but this wms-edge knows only up to \
             {known}: it was written by a newer wms-edge. Refusing to start; run the newer binary \
             or restore a backup made by this version."
        )));
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let applied = conn
            .execute_batch(sql)
            .and_then(|_| conn.pragma_update(None, "user_version", version));
        match applied {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(Error::Internal(format!("migration {version} failed: {e}")));
            }
        }
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}

/// The schema version a file is at, without changing it.
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

impl Store {
    /// Open the store: migrate, then start the writer and reader threads. Blocking; call it before
    /// serving or from `spawn_blocking`.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store> {
        let mut conn = open_and_migrate(path)?;
        let stats = Arc::new(StoreStats::default());
        let (wtx, wrx) = mpsc::channel::<WriteJob>(opts.queue.max(1));
        let wal = Arc::new(WalProgress::default());
        #[cfg(test)]
        let fail_commits = Arc::new(std::sync::atomic::AtomicBool::new(false));
        #[cfg(test)]
        {
            let flag = fail_commits.clone();
            conn.commit_hook(Some(move || flag.load(Ordering::SeqCst)))?;
        }
        {
            // The writer never checkpoints in its COMMIT (a custom WAL hook replaces SQLite's
            // automatic checkpoint); it counts the log and wakes the checkpoint thread instead.
            let checkpointer = Connection::open(path)?;
            configure(&checkpointer)?;
            let (wake_tx, wake_rx) = std::sync::mpsc::sync_channel::<()>(1);
            let frames = stats.clone();
            let progress = wal.clone();
            let (mut last, mut next_wake) = (0u64, CHECKPOINT_FRAMES);
            conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
                let pages = u64::try_from(pages).unwrap_or(0);
                frames.wal_frames.store(pages, Ordering::Relaxed);
                if pages < last {
                    // The log started over.
                    progress.generation.fetch_add(1, Ordering::AcqRel);
                    next_wake = CHECKPOINT_FRAMES;
                }
                last = pages;
                if pages >= next_wake {
                    // Full means a wake-up is already pending.
                    let _ = wake_tx.try_send(());
                    next_wake = pages + FINISH_FRAMES;
                }
                Ok(())
            }))?;
            let stats = stats.clone();
            let progress = wal.clone();
            thread::Builder::new()
                .name("store-checkpoint".into())
                .spawn(move || checkpoint_loop(checkpointer, wake_rx, progress, stats))
                .map_err(|e| Error::Internal(format!("spawn checkpointer: {e}")))?;
        }
        {
            let stats = stats.clone();
            let max_group = opts.max_group.max(1);
            thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || writer_loop(conn, wrx, max_group, wal, stats))
                .map_err(|e| Error::Internal(format!("spawn writer: {e}")))?;
        }
        // Readers share one multi-consumer queue; crossbeam's receivers spin briefly before they
        // park, which saves a sleep and a wake-up per query when reads come in bursts.
        let (rtx, rrx) = crossbeam_channel::bounded::<ReadJob>(opts.queue.max(1));
        for i in 0..opts.readers.max(1) {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            statement_settings(&conn)?;
            let rrx = rrx.clone();
            thread::Builder::new()
                .name(format!("store-reader-{i}"))
                .spawn(move || reader_loop(conn, rrx))
                .map_err(|e| Error::Internal(format!("spawn reader: {e}")))?;
        }
        Ok(Store {
            writer: wtx,
            readers: rtx,
            path: Arc::new(path.to_path_buf()),
            stats,
            on_commit: Arc::new(std::sync::OnceLock::new()),
            #[cfg(test)]
            fail_commits,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Installs the hook run after every committed write (set once; later calls are ignored).
    /// Any write may have appended outbox rows, so the sync pump is woken after each: cheaper and
    /// harder to forget than a call in every handler. It must not block.
    pub fn on_commit(&self, hook: impl Fn(&Committed) + Send + Sync + 'static) {
        let _ = self.on_commit.set(Box::new(hook));
    }

    /// Run `f` in the next group transaction; resolves only after that transaction committed (or
    /// with the error that kept it from committing).
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<(R, Committed)>>();
        let stats = self.stats.clone();
        let job: WriteJob = Box::new(move |conn| {
            let res = catch_unwind(AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(Error::Internal("write job panicked".into())))
                .map_err(|e| match e {
                    Error::Sql(e) if is_storage_full(&e) => {
                        stats.saw_full();
                        Error::StorageFull(e.to_string())
                    }
                    other => other,
                });
            // Read on the writer thread, where the job just ran.
            let committed = Committed {
                new_id_kind: base::ids::take_new_id_kind(),
            };
            let ok = res.is_ok();
            let deliver: Deliver = Box::new(move |commit| {
                let out = match (res, commit) {
                    (Ok(v), Ok(())) => Ok((v, committed)),
                    (Ok(_), Err(f)) if f.storage_full => Err(Error::StorageFull(f.message)),
                    (Ok(_), Err(f)) => Err(Error::Commit(f.message)),
                    (Err(e), _) => Err(e),
                };
                let _ = tx.send(out);
            });
            (ok, deliver)
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| Error::StoreClosed("writer stopped".into()))?;
        let out = rx.await.map_err(|_| {
            let why = "the write transaction could not start".to_string();
            if self.stats.storage_full() {
                Error::StorageFull(why)
            } else {
                Error::Commit(why)
            }
        })?;
        let (value, committed) = out?;
        if let Some(hook) = self.on_commit.get() {
            hook(&committed);
        }
        Ok(value)
    }

    /// Run a query on one of the read-only connections.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R>>();
        let job: ReadJob = Box::new(move |conn| {
            let res = catch_unwind(AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(Error::Internal("read job panicked".into())));
            let _ = tx.send(res);
        });
        match self.readers.try_send(job) {
            Ok(()) => {}
            Err(crossbeam_channel::TrySendError::Full(job)) => {
                // Overloaded: wait for room on a blocking thread, never on the runtime.
                let tx = self.readers.clone();
                tokio::task::spawn_blocking(move || tx.send(job))
                    .await
                    .map_err(|e| Error::Internal(format!("read queue: {e}")))?
                    .map_err(|_| Error::StoreClosed("readers stopped".into()))?;
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                return Err(Error::StoreClosed("readers stopped".into()));
            }
        }
        rx.await
            .map_err(|_| Error::StoreClosed("reader dropped the job".into()))?
    }

    /// Resolves once the writer thread has run an empty job and finished its group's commit: the
    /// proof the service watchdog asks for that the writer makes progress. A writer stuck in a job,
    /// or unable to begin a transaction (a lock held elsewhere), never answers or answers an error.
    /// A commit that failed still counts: the writer is alive and answering, and a node that
    /// refuses writes on a full disk must keep answering rather than be restarted. Runs no hook.
    pub async fn ping_writer(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel::<Result<()>>();
        let job: WriteJob = Box::new(move |_conn| {
            let deliver: Deliver = Box::new(move |_commit| {
                let _ = tx.send(Ok(()));
            });
            (true, deliver)
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| Error::StoreClosed("writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Commit("the write transaction could not start".into()))?
    }

    /// A one-row write that tells whether there is room on the disk again after a write failed
    /// for lack of it; success clears [`StoreStats::storage_full`].
    pub async fn probe_storage(&self) -> Result<()> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO counters(name, value) VALUES ('storage_probe', 1)
                 ON CONFLICT(name) DO UPDATE SET value = value + 1",
            )?
            .execute([])?;
            Ok(())
        })
        .await
    }

    /// Make every following commit fail (tests of the acknowledgement rule).
    #[cfg(test)]
    pub fn fail_commits(&self, fail: bool) {
        self.fail_commits.store(fail, Ordering::SeqCst);
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<WriteJob>,
    max_group: usize,
    wal: Arc<WalProgress>,
    stats: Arc<StoreStats>,
) {
    let mut group: Vec<WriteJob> = Vec::with_capacity(max_group);
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        run_group(&conn, &mut group, &stats);
        finish_checkpoint(&conn, &wal, &stats);
    }
    tracing::debug!("store writer stopped");
}

/// Between two groups, with no transaction open: copies the last frames the checkpoint thread
/// left, so the next transaction starts the log over; or, past [`WAL_FRAMES_LIMIT`], whatever is
/// left.
fn finish_checkpoint(conn: &Connection, wal: &WalProgress, stats: &StoreStats) {
    let frames = stats.wal_frames.load(Ordering::Relaxed);
    let over_limit = frames >= WAL_FRAMES_LIMIT;
    let few_left =
        frames >= CHECKPOINT_FRAMES && wal.left(frames).is_some_and(|n| n <= FINISH_FRAMES);
    if !over_limit && !few_left {
        return;
    }
    let generation = wal.generation();
    match checkpoint_pass(conn) {
        Ok(p) => {
            wal.publish(generation, &p);
            if few_left {
                stats.finishing_checkpoints.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.writer_checkpoints.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    frames = p.log,
                    copied = p.copied,
                    "the WAL passed its limit; the writer checkpointed it"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "writer checkpoint failed"),
    }
    // Counted again by the next commit; until then, no second pass.
    stats.wal_frames.store(0, Ordering::Relaxed);
}

/// What one `wal_checkpoint(PASSIVE)` reported.
struct CheckpointPass {
    /// Frames in the log.
    log: i64,
    /// Frames copied back to the database, this pass or an earlier one.
    copied: i64,
}

/// A PASSIVE checkpoint never waits for the writer or a reader: it copies what no reader still
/// needs and returns. With `synchronous=FULL` it fsyncs the WAL before copying and the database
/// after.
fn checkpoint_pass(conn: &Connection) -> rusqlite::Result<CheckpointPass> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(CheckpointPass {
            log: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

/// The checkpoint thread: woken by the writer's WAL hook once the log holds
/// [`CHECKPOINT_FRAMES`] (and again for every [`FINISH_FRAMES`] more until the log starts over),
/// it copies the log back into the database on its own connection while the writer goes on
/// committing; the writer copies the last few frames (see [`finish_checkpoint`]). SQLite's automatic checkpoint would run inside the COMMIT that
/// crossed the threshold, and every scan queued behind that commit waited for the copy and the
/// database's fsync (70–90 ms on the reference box). Ends when the writer's connection closes.
fn checkpoint_loop(
    conn: Connection,
    wake: std::sync::mpsc::Receiver<()>,
    wal: Arc<WalProgress>,
    stats: Arc<StoreStats>,
) {
    while wake.recv().is_ok() {
        stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        // Read before the pass: a log that starts over during it makes the count stale.
        let generation = wal.generation();
        match checkpoint_pass(&conn) {
            Ok(p) => wal.publish(generation, &p),
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; the next commit retries"),
        }
    }
    tracing::debug!("store checkpointer stopped");
}

/// Savepoint statements run once per write job: keep them prepared.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_group(conn: &Connection, group: &mut Vec<WriteJob>, stats: &StoreStats) {
    stats.jobs.fetch_add(group.len() as u64, Ordering::Relaxed);
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Dropping a job drops its reply channel: the caller gets an error, never an ack.
        tracing::error!(error = %e, jobs = group.len(), "could not begin a write transaction");
        if is_storage_full(&e) {
            stats.saw_full();
        }
        stats.failed_commits.fetch_add(1, Ordering::Relaxed);
        group.clear();
        return;
    }
    let mut wrote = false;
    let mut deliveries = Vec::with_capacity(group.len());
    for job in group.drain(..) {
        if let Err(e) = run_cached(conn, "SAVEPOINT job") {
            tracing::error!(error = %e, "could not open a savepoint; job refused");
            continue;
        }
        let changes_before = conn.total_changes();
        let (ok, deliver) = job(conn);
        wrote |= ok && conn.total_changes() != changes_before;
        let closed = if ok {
            run_cached(conn, "RELEASE job")
        } else {
            stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
            run_cached(conn, "ROLLBACK TO job").and_then(|_| run_cached(conn, "RELEASE job"))
        };
        if let Err(e) = closed {
            tracing::error!(error = %e, "could not close a savepoint");
        }
        deliveries.push(deliver);
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| CommitFailure {
        message: e.to_string(),
        storage_full: is_storage_full(&e),
    });
    match &commit {
        Ok(()) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            // Only a commit that wrote pages proves there is room again; an empty one needs none.
            if wrote {
                stats.storage_full.store(false, Ordering::SeqCst);
            }
        }
        Err(e) => {
            if e.storage_full {
                stats.saw_full();
            }
            tracing::error!(error = %e.message, "group commit failed; nothing of it is applied");
            stats.failed_commits.fetch_add(1, Ordering::Relaxed);
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    for deliver in deliveries {
        deliver(commit.clone());
    }
}

fn reader_loop(conn: Connection, rx: crossbeam_channel::Receiver<ReadJob>) {
    while let Ok(job) = rx.recv() {
        job(&conn);
    }
}

/// The store's tests, and the fixtures other modules' tests build on.
#[cfg(test)]
pub(crate) mod tests;
