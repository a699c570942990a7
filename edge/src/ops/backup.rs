//! Backups of the site's database and putting one back.
//!
//! A backup is SQLite's online backup of the live database, taken in one step inside one read
//! transaction: in WAL mode that is a consistent snapshot of every committed write up to that
//! moment, while the writer goes on committing. The copy is written beside its destination,
//! switched to a single self-contained file (no `-wal`), checked with `PRAGMA integrity_check`,
//! fsynced, and only then renamed into place, so a file with the backup's name is always whole.
//!
//! A restore puts such a file in place of the database with the node stopped (the data dir's lock
//! proves it). The database it replaces is kept beside it. The restored database may be behind
//! what the central already received; the sync client sees that on the next start and reports
//! `diverged` (`sync-api.md`) until `wms-edge sync reset-sequence` renumbers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::data_dir::DataDirLock;
use crate::error::{Error, Result};
use crate::store::{self, base::outbox, schema};

/// What a backup (or a checked backup file) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
    /// The highest upstream event number the copy has assigned.
    pub highest_seq: u64,
    pub ledger_rows: u64,
}

impl std::fmt::Display for BackupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} bytes, schema version {}, {} ledger rows, events through seq {}, integrity ok",
            self.path.display(),
            self.bytes,
            self.schema_version,
            self.ledger_rows,
            self.highest_seq
        )
    }
}

/// Copies the database behind `src` (any connection on it; the node uses one of the store's
/// readers) to `dest`, verified. `dest` must not exist.
pub fn backup_from(src: &Connection, dest: &Path) -> Result<BackupReport> {
    if dest.exists() {
        return Err(Error::Conflict(format!(
            "{} already exists; choose a new file name",
            dest.display()
        )));
    }
    let partial = with_suffix(dest, ".partial");
    let _ = std::fs::remove_file(&partial);
    let copied = copy_into(src, &partial).and_then(|_| verify(&partial));
    let report = match copied {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, dest)
        .map_err(|e| io_error("rename", &partial, e))
        .and_then(|_| sync_parent(dest))?;
    Ok(BackupReport {
        path: dest.to_path_buf(),
        ..report
    })
}

/// Copies in one backup step (-1 pages: everything), so the copy is one read transaction's
/// snapshot; smaller steps would restart each time the node commits and might never finish.
fn copy_into(src: &Connection, partial: &Path) -> Result<()> {
    let mut dst = Connection::open(partial)?;
    {
        use rusqlite::backup::StepResult;
        let backup = rusqlite::backup::Backup::new(src, &mut dst)?;
        let mut tries = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                // The source is locked for a moment (a checkpoint); the writer is never waited on
                // in WAL mode, so this ends quickly.
                StepResult::Busy | StepResult::Locked if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => {
                    return Err(Error::Internal(format!(
                        "backup did not complete: {other:?}"
                    )))
                }
            }
        }
    }
    // The live database is in WAL mode and the copy inherits it; a backup is one file.
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    drop(dst);
    let f = std::fs::File::open(partial).map_err(|e| io_error("open", partial, e))?;
    f.sync_all().map_err(|e| io_error("fsync", partial, e))
}

/// `wms-edge backup`: copies the database file at `db` while a node may be writing it.
pub fn backup_file(db: &Path, dest: &Path) -> Result<BackupReport> {
    let src = open_existing(db)?;
    backup_from(&src, dest)
}

/// Opens a database file that must already exist (never creates an empty one by mistake).
fn open_existing(db: &Path) -> Result<Connection> {
    if !db.is_file() {
        return Err(Error::Config(format!("no database at {}", db.display())));
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Checks a backup file: `integrity_check` is `ok` and its schema is one this binary can open.
pub fn verify(path: &Path) -> Result<BackupReport> {
    if !path.is_file() {
        return Err(Error::Config(format!(
            "no backup file at {}",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let not_a_backup = |e: rusqlite::Error| {
        Error::Config(format!(
            "{} is not a wms-edge database: {e}",
            path.display()
        ))
    };
    let checks: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(not_a_backup)?;
    if checks != ["ok"] {
        return Err(Error::Config(format!(
            "{} fails integrity_check: {}",
            path.display(),
            checks.join("; ")
        )));
    }
    let version = store::schema_version(&conn)?;
    let known = schema::MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::SchemaTooNew(format!(
            "{} is at schema version {version} but this wms-edge knows only up to {known}: use \
             the newer wms-edge that made it",
            path.display()
        )));
    }
    if version == 0 {
        return Err(Error::Config(format!(
            "{} is not a wms-edge database (schema version 0)",
            path.display()
        )));
    }
    let highest_seq = outbox::figures(&conn)
        .map(|f| f.highest_seq)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    let ledger_rows: i64 = conn
        .query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))
        .map_err(not_a_backup)?;
    let bytes = std::fs::metadata(path)
        .map_err(|e| io_error("stat", path, e))?
        .len();
    Ok(BackupReport {
        path: path.to_path_buf(),
        bytes,
        schema_version: version,
        highest_seq,
        ledger_rows: ledger_rows.max(0) as u64,
    })
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub restored: BackupReport,
    /// Where the database it replaced was moved (none when the data dir had none).
    pub previous: Option<PathBuf>,
}

/// `wms-edge restore`: puts the backup at `backup` in place as `db` (inside `data_dir`), with no
/// node running on that data dir. The replaced database (with its `-wal`, which may hold
/// committed writes) is renamed to `<db>.replaced-<UTC time>`, never deleted.
pub fn restore(data_dir: &Path, db: &Path, backup: &Path) -> Result<RestoreReport> {
    let checked = verify(backup)?;
    std::fs::create_dir_all(data_dir).map_err(|e| io_error("create", data_dir, e))?;
    let _lock = DataDirLock::acquire(data_dir)?;
    let incoming = with_suffix(db, ".restoring");
    let _ = std::fs::remove_file(&incoming);
    let copied = std::fs::copy(backup, &incoming)
        .map_err(|e| io_error("copy to", &incoming, e))
        .and_then(|_| {
            std::fs::File::open(&incoming)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error("fsync", &incoming, e))
        });
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&incoming);
        return Err(e);
    }
    // Restored by root, the database must still belong to the account the node runs as: the
    // data dir's owner.
    if let Ok(owner) = std::fs::metadata(data_dir) {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::chown(&incoming, Some(owner.uid()), Some(owner.gid()));
    }
    let previous = if db.exists() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let aside = with_suffix(db, &format!(".replaced-{stamp}"));
        for suffix in ["-wal", "-shm"] {
            let from = with_suffix(db, suffix);
            if from.exists() {
                let to = with_suffix(&aside, suffix);
                std::fs::rename(&from, &to).map_err(|e| io_error("rename", &from, e))?;
            }
        }
        std::fs::rename(db, &aside).map_err(|e| io_error("rename", db, e))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&incoming, db).map_err(|e| io_error("rename", &incoming, e))?;
    sync_parent(db)?;
    Ok(RestoreReport {
        restored: BackupReport {
            path: db.to_path_buf(),
            ..checked
        },
        previous,
    })
}

/// Scheduled backups (`[backup]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub dir: PathBuf,
    pub interval: Duration,
    pub keep: usize,
}

/// Scheduled backups are named by their UTC time, so names sort by age.
const PREFIX: &str = "wms-edge-";
const SUFFIX: &str = ".db";

/// The file name of a scheduled backup taken at `at`.
pub fn scheduled_name(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// The scheduled backups in `dir`, oldest first.
pub fn scheduled_backups(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("read", dir, e)),
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Deletes all but the newest `keep` scheduled backups; returns the deleted ones.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let all = scheduled_backups(dir)?;
    let excess = all.len().saturating_sub(keep.max(1));
    let mut gone = Vec::new();
    for p in all.into_iter().take(excess) {
        std::fs::remove_file(&p).map_err(|e| io_error("delete", &p, e))?;
        gone.push(p);
    }
    Ok(gone)
}

/// How long after start the first scheduled backup is due: at once when the newest one is older
/// than the interval (or there is none), else when it will be. Read from the files' times, so a
/// node restarted every night still backs up once a day.
pub fn first_due(schedule: &Schedule) -> Duration {
    match newest_time(&schedule.dir).and_then(|t| t.elapsed().ok()) {
        Some(age) => schedule.interval.saturating_sub(age),
        None => Duration::ZERO,
    }
}

/// When the newest scheduled backup in `dir` was written.
pub fn newest_time(dir: &Path) -> Option<std::time::SystemTime> {
    scheduled_backups(dir)
        .ok()?
        .last()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn sync_parent(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("fsync", dir, e))
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return Error::StorageFull(format!("{what} {}: {e}", path.display()));
    }
    Error::Internal(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_with_rows(path: &Path, rows: i64) {
        let conn = store::open_and_migrate(path).expect("open");
        for i in 0..rows {
            conn.execute(
                "INSERT INTO ledger(tenant_id, sku, location, delta, reason, on_hand_after, at,
                                    event_seq)
                 VALUES ('t', 'S', 'A', 1, 'receipt', ?1, '2026-01-01T00:00:00.000Z', ?1)",
                [i + 1],
            )
            .expect("insert");
        }
    }

    #[test]
    fn a_backup_is_one_verified_file_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("wms-edge.db");
        database_with_rows(&db, 25);
        let dest = dir.path().join("copy.db");
        let report = backup_file(&db, &dest).expect("backup");
        assert_eq!(report.ledger_rows, 25);
        assert_eq!(report.schema_version, schema::MIGRATIONS.len() as i64);
        assert!(
            !with_suffix(&dest, "-wal").exists(),
            "no WAL beside a backup"
        );
        assert!(!with_suffix(&dest, ".partial").exists());
        let again = backup_file(&db, &dest).unwrap_err();
        assert!(matches!(again, Error::Conflict(_)), "{again:?}");
        let missing = backup_file(&dir.path().join("nope.db"), &dir.path().join("x.db"));
        assert!(matches!(missing, Err(Error::Config(_))), "{missing:?}");
        assert!(
            !dir.path().join("nope.db").exists(),
            "never creates an empty db"
        );
    }

    #[test]
    fn verify_refuses_damaged_foreign_and_newer_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![0x5a; 8192]).expect("write");
        assert!(matches!(verify(&junk), Err(Error::Config(_))));
        let empty = dir.path().join("empty.db");
        Connection::open(&empty)
            .and_then(|c| c.execute_batch("CREATE TABLE x(a)"))
            .expect("foreign db");
        assert!(matches!(verify(&empty), Err(Error::Config(_))));
        let newer = dir.path().join("newer.db");
        database_with_rows(&newer, 1);
        Connection::open(&newer)
            .and_then(|c| c.pragma_update(None, "user_version", 999))
            .expect("bump");
        let e = verify(&newer).unwrap_err();
        assert!(
            matches!(&e, Error::SchemaTooNew(m) if m.contains("schema version 999")),
            "{e:?}"
        );
    }

    #[test]
    fn restore_keeps_the_replaced_database_and_needs_the_data_dir_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        let db = data.join("wms-edge.db");
        database_with_rows(&db, 3);
        let backup = dir.path().join("b.db");
        backup_file(&db, &backup).expect("backup");
        database_with_rows(&db, 4); // 7 rows now, the backup has 3
        {
            let _running = DataDirLock::acquire(&data).expect("node lock");
            let e = restore(&data, &db, &backup).unwrap_err();
            assert!(matches!(e, Error::Conflict(_)), "{e:?}");
        }
        let r = restore(&data, &db, &backup).expect("restore");
        assert_eq!(r.restored.ledger_rows, 3);
        assert_eq!(verify(&db).expect("restored").ledger_rows, 3);
        let previous = r.previous.expect("kept");
        assert_eq!(verify(&previous).expect("replaced").ledger_rows, 7);
    }

    /// Run by root, a restore leaves the database to the data dir's owner (the node's account).
    #[test]
    fn a_restored_database_belongs_to_the_data_dirs_owner() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        let db = data.join("wms-edge.db");
        database_with_rows(&db, 1);
        let backup = dir.path().join("b.db");
        backup_file(&db, &backup).expect("backup");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&data, Some(65534), Some(65534)).expect("chown");
        }
        restore(&data, &db, &backup).expect("restore");
        let (dir_meta, db_meta) = (
            std::fs::metadata(&data).expect("dir"),
            std::fs::metadata(&db).expect("db"),
        );
        assert_eq!(
            (db_meta.uid(), db_meta.gid()),
            (dir_meta.uid(), dir_meta.gid())
        );
    }

    #[test]
    fn pruning_keeps_the_newest_and_ignores_other_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("time")
            .to_utc();
        for h in 0..5 {
            let name = scheduled_name(t0 + chrono::Duration::hours(h));
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        std::fs::write(dir.path().join("notes.txt"), b"keep me").expect("write");
        let gone = prune(dir.path(), 2).expect("prune");
        assert_eq!(gone.len(), 3);
        let left = scheduled_backups(dir.path()).expect("list");
        assert_eq!(
            left.iter()
                .map(|p| p.file_name().and_then(|n| n.to_str()).unwrap_or(""))
                .collect::<Vec<_>>(),
            [
                "wms-edge-20260101T030000.000Z.db",
                "wms-edge-20260101T040000.000Z.db"
            ]
        );
        assert!(dir.path().join("notes.txt").exists());
        let schedule = Schedule {
            dir: dir.path().to_path_buf(),
            interval: Duration::from_secs(3600),
            keep: 2,
        };
        // The newest was written just now: the next one is due in about an interval.
        assert!(first_due(&schedule) > Duration::from_secs(3000));
        let empty = Schedule {
            dir: dir.path().join("none"),
            ..schedule
        };
        assert_eq!(first_due(&empty), Duration::ZERO);
    }
}
