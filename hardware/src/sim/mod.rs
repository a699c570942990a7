//! Device simulators speaking the real protocols byte for byte over real pseudo-terminals
//! (`openpty`) and loopback TCP (port 0). Tests and `wms-edge demo` drive the real device
//! tasks against them. Each simulator is a [`Behavior`] (pure: bytes in, bytes out) run by a
//! [`PtySim`] or [`TcpSim`] that can also "unplug" and "replug" the device.

mod behaviors;
mod display;
mod payment;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use behaviors::{
    ContinuousScale, EscPosPrinter, EscPosState, NciScale, ScaleState, SicsScale, Toledo8217Scale,
    ZplPrinter, ZplState,
};
pub use display::{CustomerDisplay, DisplayState, HISTORY};
pub use payment::{PaymentTerminal, TerminalMode, TerminalState, TEST_PAN};

use crate::error::{Error, Result};
use crate::transport::FdStream;

/// What a simulator does with the connection after some input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Keep going.
    Continue,
    /// Drop the connection without a word (a lost response).
    Disconnect,
}

/// A device's behaviour: bytes from the host in, reply bytes out.
pub trait Behavior: Send + 'static {
    /// Handles bytes from the host; replies go to `out`.
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action;
    /// Unsolicited output (continuous scales), called every [`Behavior::tick`] interval.
    fn on_tick(&mut self, _out: &mut Vec<u8>) {}
    /// Interval of [`Behavior::on_tick`], if any.
    fn tick(&self) -> Option<Duration> {
        None
    }
}

/// A scanner sends without being asked; its behaviour ignores input.
#[derive(Debug, Default)]
pub struct Silent;

impl Behavior for Silent {
    fn on_input(&mut self, _: &[u8], _: &mut Vec<u8>) -> Action {
        Action::Continue
    }
}

enum Ctl {
    Unplug(oneshot::Sender<()>),
    Replug(oneshot::Sender<Result<()>>),
    Write(Vec<u8>, oneshot::Sender<Result<()>>),
}

/// A simulated serial device on a pseudo-terminal. Drivers open [`PtySim::path`], a stable
/// symlink to the current pty slave (like a udev by-id link), so a replugged device comes back
/// under the same name.
#[derive(Debug)]
pub struct PtySim {
    path: PathBuf,
    ctl: mpsc::Sender<Ctl>,
    _dir: Option<tempfile::TempDir>,
    task: JoinHandle<()>,
}

struct Pty {
    master: FdStream,
    _slave: OwnedFd,
}

fn open_pty(link: &Path) -> Result<Pty> {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let p = nix::pty::openpty(None, None).map_err(|e| Error::Io(e.into()))?;
    let mut t = tcgetattr(&p.slave).map_err(|e| Error::Io(e.into()))?;
    cfmakeraw(&mut t);
    tcsetattr(&p.slave, SetArg::TCSANOW, &t).map_err(|e| Error::Io(e.into()))?;
    let name = nix::unistd::ttyname(&p.slave).map_err(|e| Error::Io(e.into()))?;
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(&name, link)?;
    let master = FdStream::new(std::fs::File::from(p.master))?;
    Ok(Pty {
        master,
        _slave: p.slave,
    })
}

impl PtySim {
    /// Starts `behavior` on a new pty, linked as `<tempdir>/<name>`.
    pub fn start(name: &str, behavior: impl Behavior) -> Result<PtySim> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(name);
        let mut sim = PtySim::start_at(&path, behavior)?;
        sim._dir = Some(dir);
        Ok(sim)
    }

    /// Starts `behavior` on a new pty linked at `path`.
    pub fn start_at(path: &Path, mut behavior: impl Behavior) -> Result<PtySim> {
        let mut pty = Some(open_pty(path)?);
        let (tx, mut rx) = mpsc::channel::<Ctl>(8);
        let link = path.to_path_buf();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut out = Vec::new();
            let period = behavior.tick().unwrap_or(Duration::from_secs(3600));
            let mut ticker = tokio::time::interval(period);
            loop {
                let read = async {
                    match pty.as_mut() {
                        Some(p) => p.master.read(&mut buf).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = read => match r {
                        Ok(n) if n > 0 => {
                            out.clear();
                            let a = behavior.on_input(&buf[..n], &mut out);
                            if let Some(p) = pty.as_mut() {
                                if !out.is_empty() { let _ = p.master.write_all(&out).await; }
                            }
                            if a == Action::Disconnect { pty = None; let _ = std::fs::remove_file(&link); }
                        }
                        // EIO/EOF on the master: nobody has the slave open right now.
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    },
                    _ = ticker.tick() => {
                        out.clear();
                        behavior.on_tick(&mut out);
                        if let Some(p) = pty.as_mut() {
                            if !out.is_empty() { let _ = p.master.write_all(&out).await; }
                        }
                    }
                    c = rx.recv() => match c {
                        None => break,
                        Some(Ctl::Unplug(r)) => {
                            pty = None;
                            let _ = std::fs::remove_file(&link);
                            let _ = r.send(());
                        }
                        Some(Ctl::Replug(r)) => {
                            let res = open_pty(&link).map(|p| { pty = Some(p); });
                            let _ = r.send(res);
                        }
                        Some(Ctl::Write(bytes, r)) => {
                            let res = match pty.as_mut() {
                                Some(p) => p.master.write_all(&bytes).await.map_err(Error::from),
                                None => Err(Error::Offline("unplugged".into())),
                            };
                            let _ = r.send(res);
                        }
                    },
                }
            }
            let _ = std::fs::remove_file(&link);
        });
        Ok(PtySim {
            path: path.to_path_buf(),
            ctl: tx,
            _dir: None,
            task,
        })
    }

    /// The device path a driver opens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as a string for a serial config.
    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Writes bytes as the device (a scanner reading barcodes, noise at power-up…).
    pub async fn write(&self, bytes: &[u8]) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(Ctl::Write(bytes.to_vec(), tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Pulls the cable: closes the pty and removes the device path.
    pub async fn unplug(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Ctl::Unplug(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Plugs it back in: a new pty under the same path.
    pub async fn replug(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(Ctl::Replug(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }
}

impl Drop for PtySim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A simulated network device on loopback TCP (bound to port 0). One client at a time; a new
/// connection replaces the old one, as single-connection printers and terminals do.
#[derive(Debug)]
pub struct TcpSim {
    addr: std::net::SocketAddr,
    ctl: mpsc::Sender<Ctl>,
    task: JoinHandle<()>,
}

impl TcpSim {
    /// Starts `behavior` on `127.0.0.1:0`.
    pub async fn start(mut behavior: impl Behavior) -> Result<TcpSim> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, mut rx) = mpsc::channel::<Ctl>(8);
        let task = tokio::spawn(async move {
            let mut listener = Some(listener);
            let mut conn: Option<tokio::net::TcpStream> = None;
            let mut buf = vec![0u8; 8192];
            let mut out = Vec::new();
            loop {
                let accept = async {
                    match listener.as_ref() {
                        Some(l) => l.accept().await,
                        None => std::future::pending().await,
                    }
                };
                let read = async {
                    match conn.as_mut() {
                        Some(c) => c.read(&mut buf).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    a = accept => if let Ok((s, _)) = a { let _ = s.set_nodelay(true); conn = Some(s); },
                    r = read => match r {
                        Ok(n) if n > 0 => {
                            out.clear();
                            let a = behavior.on_input(&buf[..n], &mut out);
                            if let Some(c) = conn.as_mut() {
                                if !out.is_empty() && c.write_all(&out).await.is_err() { conn = None; }
                            }
                            if a == Action::Disconnect { conn = None; }
                        }
                        _ => conn = None,
                    },
                    c = rx.recv() => match c {
                        None => break,
                        Some(Ctl::Unplug(r)) => { conn = None; listener = None; let _ = r.send(()); }
                        Some(Ctl::Replug(r)) => {
                            let res = TcpListener::bind(addr).await.map(|l| { listener = Some(l); }).map_err(Error::from);
                            let _ = r.send(res);
                        }
                        Some(Ctl::Write(bytes, r)) => {
                            let res = match conn.as_mut() {
                                Some(c) => c.write_all(&bytes).await.map_err(Error::from),
                                None => Err(Error::Offline("no client".into())),
                            };
                            let _ = r.send(res);
                        }
                    },
                }
            }
        });
        Ok(TcpSim {
            addr,
            ctl: tx,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Drops the client and stops listening (cable pulled).
    pub async fn unplug(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Ctl::Unplug(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Listens again on the same port.
    pub async fn replug(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(Ctl::Replug(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Writes bytes to the current client.
    pub async fn write(&self, bytes: &[u8]) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(Ctl::Write(bytes.to_vec(), tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }
}

impl Drop for TcpSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
