//! Talking to the service manager (`Type=notify` in the systemd unit): `READY=1` once the store is
//! open and migrated and the port bound, `WATCHDOG=1` only while the store's writer and the async
//! runtime make progress, `STATUS=` with the sync state, `STOPPING=1` on shutdown.
//!
//! The protocol is one datagram per message on the unix socket named by `NOTIFY_SOCKET` (a path,
//! or `@name` in the abstract namespace). Without that variable (a node run by hand, tests) every
//! call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    target: std::os::unix::net::SocketAddr,
}

impl Notifier {
    /// The manager named by `NOTIFY_SOCKET`, if any.
    pub fn from_env() -> Option<Arc<Notifier>> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        match Self::connect(&name) {
            Ok(n) => Some(Arc::new(n)),
            Err(e) => {
                tracing::warn!(socket = ?name, error = %e, "cannot use NOTIFY_SOCKET");
                None
            }
        }
    }

    fn connect(name: &std::ffi::OsStr) -> std::io::Result<Notifier> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = name.as_bytes();
        let target = match bytes.split_first() {
            Some((b'@', rest)) => abstract_addr(rest)?,
            Some((b'/', _)) => std::os::unix::net::SocketAddr::from_pathname(name)?,
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "NOTIFY_SOCKET must be an absolute path or @name",
                ))
            }
        };
        let socket = UnixDatagram::unbound()?;
        // A manager that stopped reading must not stall the node: drop the message instead.
        socket.set_nonblocking(true)?;
        Ok(Notifier { socket, target })
    }

    /// Sends one message (`KEY=value` lines); failures are logged, never fatal.
    pub fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.target) {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &[u8]) -> std::io::Result<std::os::unix::net::SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets are Linux only",
    ))
}

/// The watchdog period the manager asks for (`WATCHDOG_USEC`), when it is meant for this process
/// (`WATCHDOG_PID` absent or ours).
pub fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// How often the supervisor checks progress and refreshes `STATUS=` when there is no watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// One check of progress: the writer answered an empty job within `deadline`. The answer comes
/// back through the runtime (a oneshot woken by the writer thread), so a runtime that no longer
/// schedules tasks fails it too.
pub async fn making_progress(store: &Store, deadline: Duration) -> bool {
    matches!(
        tokio::time::timeout(deadline, store.ping_writer()).await,
        Ok(Ok(()))
    )
}

/// What the supervisor needs besides the store: the current one-line status to publish.
pub type StatusLine = Box<dyn Fn() -> String + Send + Sync>;

/// Runs until `stop` is cancelled: every half watchdog period (or [`STATUS_EVERY`]) checks that
/// the writer makes progress and, only then, pings `WATCHDOG=1`; publishes `STATUS=` when it
/// changes; and, while a write failed for lack of space, probes whether there is room again so
/// `/health` recovers without waiting for traffic.
pub fn spawn_supervisor(
    notifier: Option<Arc<Notifier>>,
    store: Store,
    status: StatusLine,
    stop: wms_hardware::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let watchdog = notifier.as_ref().and_then(|_| watchdog_period());
    let every = watchdog.map(|w| w / 2).unwrap_or(STATUS_EVERY);
    tokio::spawn(async move {
        let mut last_status = String::new();
        let mut was_stuck = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            let alive = making_progress(&store, every).await;
            if alive && store.stats.storage_full() {
                if let Err(e) = store.probe_storage().await {
                    tracing::debug!(error = %e, "storage still full");
                } else {
                    tracing::info!("storage has room again; writes are accepted");
                }
            }
            if alive == was_stuck {
                if alive {
                    tracing::info!("store writer makes progress again");
                } else {
                    tracing::error!(
                        "store writer made no progress within {every:?}; watchdog pings withheld"
                    );
                }
                was_stuck = !alive;
            }
            let Some(n) = &notifier else { continue };
            if alive && watchdog.is_some() {
                n.send("WATCHDOG=1");
            }
            let line = status();
            if line != last_status {
                n.send(&format!("STATUS={line}"));
                last_status = line;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).expect("bind");
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let n = Notifier::connect(path.as_os_str()).expect("connect");
        n.send("READY=1\nSTATUS=test");
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=test");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn messages_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("wms-edge-notify-test-{}", std::process::id());
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let server = UnixDatagram::bind_addr(&addr).expect("bind");
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let n = Notifier::connect(std::ffi::OsStr::new(&format!("@{name}"))).expect("connect");
        n.send("WATCHDOG=1");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn a_relative_socket_name_is_refused() {
        assert!(Notifier::connect(std::ffi::OsStr::new("notify.sock")).is_err());
    }
}
