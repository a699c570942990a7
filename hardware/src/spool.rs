//! Durable print spool: one file per job in a directory (the edge passes `data_dir/spool/<id>`).
//! A job is written to a temporary file, fsynced, renamed to `<job>.queued` and the directory
//! fsynced, so an acknowledged job survives power loss. Sending renames it `.sent`; the printer
//! confirming a clean status turns it into a `printed/<job>` marker. A `.sent` job is never
//! resent: a printer that faulted mid-job keeps the data buffered and prints it on recovery.
//!
//! Between handing the bytes over and the rename there is a window: a crash there leaves the job
//! `.queued` although the printer may have it. So before the bytes go, a `<job>.sending` marker
//! is made durable with the printer's odometer reading (or `-` when it has none); a queued job
//! with a marker is *in doubt*, and the printer task settles it against the odometer before it
//! sends anything else (see `device::printer`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Durable, not yet sent to the printer.
    Queued,
    /// Sent; waiting for the printer to report a clean status.
    Sent,
    /// Printed.
    Printed,
    /// Not known to this spool.
    Unknown,
}

/// A spooled job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Sortable id (`<micros>-<counter>`).
    pub id: String,
    /// Bytes for the printer.
    pub data: Vec<u8>,
}

/// File-based spool for one printer.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn spool_err(what: &str, p: &Path, e: std::io::Error) -> Error {
    let message = format!("{what} {}: {e}", p.display());
    if e.kind() == std::io::ErrorKind::StorageFull {
        Error::SpoolFull(message)
    } else {
        Error::Spool(message)
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Spool {
    /// Opens (creating) the spool directory and removes half-written temporary files.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Spool> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("printed")).map_err(|e| spool_err("create", &dir, e))?;
        for entry in fs::read_dir(&dir)
            .map_err(|e| spool_err("read", &dir, e))?
            .flatten()
        {
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "tmp") {
                // Half-written jobs and markers: a marker that never became durable means the
                // bytes never went out.
                let _ = fs::remove_file(&p);
            }
        }
        Ok(Spool { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn sync_dir(&self) -> Result<()> {
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| spool_err("fsync", &self.dir, e))
    }

    /// Stores a job durably and returns its id.
    pub fn enqueue(&self, data: &[u8]) -> Result<String> {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        let id = format!("{micros:017}-{n:06}");
        let tmp = self.dir.join(format!("{id}.tmp"));
        let dst = self.dir.join(format!("{id}.queued"));
        let mut f = fs::File::create(&tmp).map_err(|e| spool_err("create", &tmp, e))?;
        f.write_all(data).map_err(|e| spool_err("write", &tmp, e))?;
        f.sync_all().map_err(|e| spool_err("fsync", &tmp, e))?;
        drop(f);
        fs::rename(&tmp, &dst).map_err(|e| spool_err("rename", &tmp, e))?;
        self.sync_dir()?;
        Ok(id)
    }

    /// Stores a job durably under the caller's id, unless a job with that id is already here
    /// (queued, sent or printed): then nothing happens and `false` is returned. This is what lets
    /// a caller with its own durable job list hand a job over again after a crash without the
    /// label printing twice. Ids are 1–64 letters, digits and `-`; they order the queue.
    pub fn enqueue_as(&self, id: &str, data: &[u8]) -> Result<bool> {
        if !valid_id(id) {
            return Err(Error::Spool(format!("invalid job id {id:?}")));
        }
        if self.state(id) != JobState::Unknown {
            return Ok(false);
        }
        let tmp = self.dir.join(format!("{id}.tmp"));
        let dst = self.dir.join(format!("{id}.queued"));
        let written = fs::File::create(&tmp)
            .map_err(|e| spool_err("create", &tmp, e))
            .and_then(|mut f| {
                f.write_all(data).map_err(|e| spool_err("write", &tmp, e))?;
                f.sync_all().map_err(|e| spool_err("fsync", &tmp, e))
            });
        if let Err(e) = written {
            // A half-written job on a full disk only takes the room the next try needs.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &dst).map_err(|e| spool_err("rename", &tmp, e))?;
        self.sync_dir()?;
        Ok(true)
    }

    fn list(&self, ext: &str) -> Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(&self.dir)
            .map_err(|e| spool_err("read", &self.dir, e))?
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                if p.extension()? != ext {
                    return None;
                }
                let stem = p.file_stem()?.to_str()?.to_string();
                valid_id(&stem).then_some(stem)
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The oldest queued job.
    pub fn next_queued(&self) -> Result<Option<Job>> {
        for id in self.list("queued")? {
            let p = self.dir.join(format!("{id}.queued"));
            match fs::read(&p) {
                Ok(data) => return Ok(Some(Job { id, data })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(spool_err("read", &p, e)),
            }
        }
        Ok(None)
    }

    /// Jobs sent but not yet confirmed.
    pub fn sent(&self) -> Result<Vec<String>> {
        self.list("sent")
    }

    /// Number of jobs not yet printed.
    pub fn pending(&self) -> Result<usize> {
        Ok(self.list("queued")?.len() + self.list("sent")?.len())
    }

    /// Records, durably and before the job's bytes go out, that they are about to, with the
    /// printer's odometer reading then (`None` when the printer has no odometer).
    pub fn mark_sending(&self, id: &str, odometer: Option<u64>) -> Result<()> {
        if !valid_id(id) {
            return Err(Error::Spool(format!("invalid job id {id:?}")));
        }
        let tmp = self.dir.join(format!("{id}.sending.tmp"));
        let dst = self.dir.join(format!("{id}.sending"));
        let text = odometer.map_or_else(|| "-".to_string(), |n| n.to_string());
        let mut f = fs::File::create(&tmp).map_err(|e| spool_err("create", &tmp, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| spool_err("write", &tmp, e))?;
        f.sync_all().map_err(|e| spool_err("fsync", &tmp, e))?;
        drop(f);
        fs::rename(&tmp, &dst).map_err(|e| spool_err("rename", &tmp, e))?;
        self.sync_dir()
    }

    /// For a queued job whose bytes may already have gone out: `Some(reading)` with the odometer
    /// reading taken before they did (`Some(None)` when the printer had none); `None` when the job
    /// was never being sent.
    pub fn in_doubt(&self, id: &str) -> Option<Option<u64>> {
        if !valid_id(id) {
            return None;
        }
        let text = fs::read_to_string(self.dir.join(format!("{id}.sending"))).ok()?;
        Some(text.trim().parse().ok())
    }

    /// The job is not in doubt any more (it will be sent again from the start).
    pub fn clear_doubt(&self, id: &str) -> Result<()> {
        let marker = self.dir.join(format!("{id}.sending"));
        match fs::remove_file(&marker) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(spool_err("remove", &marker, e)),
        }
    }

    /// Records that the job's bytes went to the printer.
    pub fn mark_sent(&self, id: &str) -> Result<()> {
        let from = self.dir.join(format!("{id}.queued"));
        let to = self.dir.join(format!("{id}.sent"));
        fs::rename(&from, &to).map_err(|e| spool_err("rename", &from, e))?;
        let marker = self.dir.join(format!("{id}.sending"));
        if let Err(e) = fs::remove_file(&marker) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(spool_err("remove", &marker, e));
            }
        }
        self.sync_dir()
    }

    /// Records that the printer confirmed the job.
    pub fn mark_printed(&self, id: &str) -> Result<()> {
        let marker = self.dir.join("printed").join(id);
        fs::File::create(&marker)
            .and_then(|f| f.sync_all())
            .map_err(|e| spool_err("create", &marker, e))?;
        let sent = self.dir.join(format!("{id}.sent"));
        fs::remove_file(&sent).map_err(|e| spool_err("remove", &sent, e))?;
        self.sync_dir()
    }

    /// Where job `id` is.
    pub fn state(&self, id: &str) -> JobState {
        if !valid_id(id) {
            return JobState::Unknown;
        }
        if self.dir.join(format!("{id}.queued")).exists() {
            JobState::Queued
        } else if self.dir.join(format!("{id}.sent")).exists() {
            JobState::Sent
        } else if self.dir.join("printed").join(id).exists() {
            JobState::Printed
        } else {
            JobState::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Unmount(PathBuf);

    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }

    /// A full disk: the job is refused whole as `SpoolFull` (nothing stored, no partial file
    /// left to take the room), and the same call goes through once a job fits. Needs a small
    /// tmpfs, so root (CI runs as root); skipped otherwise.
    #[test]
    fn a_full_disk_refuses_the_job_whole_and_the_call_succeeds_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("spool");
        fs::create_dir_all(&mnt).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&mnt)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let _unmount = Unmount(mnt.clone());
        let s = Spool::open(&mnt).unwrap();
        let e = s.enqueue_as("job-1", &vec![b'x'; 512 * 1024]).unwrap_err();
        assert!(matches!(e, Error::SpoolFull(_)), "{e:?}");
        assert_eq!(s.state("job-1"), JobState::Unknown);
        let left: Vec<_> = fs::read_dir(&mnt)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(
            left.iter()
                .all(|p| p.extension().is_none_or(|x| x != "tmp")),
            "{left:?}"
        );
        assert!(s.enqueue_as("job-1", b"^XA^XZ").unwrap());
        assert_eq!(s.state("job-1"), JobState::Queued);
    }

    #[test]
    fn lifecycle_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        let a = s.enqueue(b"^XA^XZ").unwrap();
        let b = s.enqueue(b"second").unwrap();
        assert!(a < b);
        assert_eq!(s.state(&a), JobState::Queued);
        let s = Spool::open(dir.path()).unwrap();
        let j = s.next_queued().unwrap().unwrap();
        assert_eq!(
            (j.id.as_str(), j.data.as_slice()),
            (a.as_str(), &b"^XA^XZ"[..])
        );
        s.mark_sent(&a).unwrap();
        assert_eq!(s.state(&a), JobState::Sent);
        assert_eq!(s.sent().unwrap(), vec![a.clone()]);
        s.mark_printed(&a).unwrap();
        assert_eq!(s.state(&a), JobState::Printed);
        assert_eq!(s.pending().unwrap(), 1);
        assert_eq!(s.state("../etc"), JobState::Unknown);
    }

    #[test]
    fn a_job_marked_sending_is_in_doubt_until_sent_or_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        let a = s.enqueue(b"^XA^XZ").unwrap();
        assert_eq!(s.in_doubt(&a), None);
        s.mark_sending(&a, Some(1234)).unwrap();
        // Survives a restart, and the job is still the next to print.
        let s = Spool::open(dir.path()).unwrap();
        assert_eq!(s.in_doubt(&a), Some(Some(1234)));
        assert_eq!(s.state(&a), JobState::Queued);
        assert_eq!(s.next_queued().unwrap().map(|j| j.id), Some(a.clone()));
        s.clear_doubt(&a).unwrap();
        assert_eq!(s.in_doubt(&a), None);
        s.mark_sending(&a, None).unwrap();
        assert_eq!(s.in_doubt(&a), Some(None));
        s.mark_sent(&a).unwrap();
        assert_eq!(s.in_doubt(&a), None);
        assert_eq!(s.state(&a), JobState::Sent);
        assert!(s.mark_sending("../x", None).is_err());
    }

    #[test]
    fn a_job_handed_over_twice_under_its_id_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        assert!(s.enqueue_as("j000000000001", b"label").unwrap());
        assert!(!s.enqueue_as("j000000000001", b"label").unwrap());
        s.mark_sent("j000000000001").unwrap();
        assert!(!s.enqueue_as("j000000000001", b"label").unwrap());
        s.mark_printed("j000000000001").unwrap();
        // After restart too: the printed marker remembers it.
        let s = Spool::open(dir.path()).unwrap();
        assert!(!s.enqueue_as("j000000000001", b"label").unwrap());
        assert_eq!(s.pending().unwrap(), 0);
        assert!(s.enqueue_as("j000000000002", b"next").unwrap());
        assert_eq!(s.pending().unwrap(), 1);
        assert!(s.enqueue_as("../x", b"no").is_err());
    }
}
