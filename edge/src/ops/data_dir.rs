//! The data dir as a whole: the lock that lets one node at a time use it (and lets `restore`
//! know the node is stopped), and the free space on its filesystem.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name inside the data dir.
pub const LOCK_FILE: &str = "wms-edge.lock";

/// An exclusive `flock` on `<data_dir>/wms-edge.lock`, held for as long as this value lives. The
/// kernel drops it when the process ends, however it ends (a SIGKILL included), so a stale lock
/// cannot keep a node from starting.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock, or says who holds it: `Conflict` when another process does.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock> {
        let path = data_dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            // flock needs no write access: a lock file another user created (root running
            // `restore`) still serves.
            .or_else(|_| std::fs::File::open(&path))
            .map_err(|e| Error::Config(format!("cannot open {}: {e}", path.display())))?;
        // SAFETY: flock on a descriptor this function owns; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::Conflict(format!(
                    "another wms-edge process is using the data dir {} (stop it first, e.g. \
                     systemctl stop wms-edge)",
                    data_dir.display()
                )));
            }
            return Err(Error::Internal(format!("lock {}: {e}", path.display())));
        }
        Ok(DataDirLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Size and free space of a filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub total: u64,
    /// What an unprivileged process may still write.
    pub available: u64,
}

/// The filesystem holding `path`.
pub fn space(path: &Path) -> std::io::Result<Space> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs writes only into the zeroed struct passed; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let unit = st.f_frsize as u64;
    Ok(Space {
        total: (st.f_blocks as u64).saturating_mul(unit),
        available: (st.f_bavail as u64).saturating_mul(unit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_lock_goes_with_its_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = DataDirLock::acquire(dir.path()).expect("first");
        let second = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(&second, Error::Conflict(m) if m.contains("another wms-edge process")),
            "{second:?}"
        );
        drop(held);
        DataDirLock::acquire(dir.path()).expect("free again once dropped");
    }

    #[test]
    fn space_reads_the_filesystem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = space(dir.path()).expect("statvfs");
        assert!(s.total > 0 && s.available <= s.total, "{s:?}");
        assert!(space(&dir.path().join("missing")).is_err());
    }
}
