//! Transports: how a device entry reaches its device. Serial ports (`tokio-serial`), raw TCP,
//! USB line-printer device files and pseudo-terminals all become one byte stream ([`Link`]);
//! MQTT and HTTP devices have no stream (see [`crate::mqtt`]). Every device task reconnects
//! with [`Backoff`].

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{Error, Result};
use crate::profiles::{FlowControl, Parity, Profile, Terminator};

/// Serial settings in a device entry; unset ones come from the profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// Device path, preferably a stable `/dev/serial/by-id/…` or udev symlink.
    pub path: String,
    /// Bits per second.
    #[serde(default)]
    pub baud: Option<u32>,
    /// 7 or 8.
    #[serde(default)]
    pub data_bits: Option<u8>,
    /// none / even / odd.
    #[serde(default)]
    pub parity: Option<Parity>,
    /// 1 or 2.
    #[serde(default)]
    pub stop_bits: Option<u8>,
    /// none / software / hardware.
    #[serde(default)]
    pub flow_control: Option<FlowControl>,
    /// Scanner line terminator.
    #[serde(default)]
    pub terminator: Option<Terminator>,
}

/// Raw TCP (printers on 9100, payment terminals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    /// Host name or address.
    pub host: String,
    /// Port; the profile's `tcp_port` when absent.
    #[serde(default)]
    pub port: Option<u16>,
}

/// USB printer class device file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbLpConfig {
    /// `/dev/usb/lp0` or a udev symlink.
    pub path: String,
}

/// MQTT device: uses the topics under its own id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttDeviceConfig {}

/// HTTP handheld: scans arrive only through `POST /v1/scans`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpDeviceConfig {}

/// `transport = { serial = {…} }` and friends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TransportConfig {
    /// Serial port.
    Serial(SerialConfig),
    /// Raw TCP.
    Tcp(TcpConfig),
    /// USB line printer.
    UsbLp(UsbLpConfig),
    /// MQTT topics.
    Mqtt(MqttDeviceConfig),
    /// HTTP scans only.
    Http(HttpDeviceConfig),
}

/// Fully resolved serial settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialSettings {
    /// Path.
    pub path: String,
    /// Baud.
    pub baud: u32,
    /// Data bits.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// Stop bits.
    pub stop_bits: u8,
    /// Flow control.
    pub flow_control: FlowControl,
}

/// Where a stream device is, with everything resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Serial port (also pseudo-terminals).
    Serial(SerialSettings),
    /// TCP.
    Tcp {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// USB line-printer device file.
    UsbLp {
        /// Path.
        path: String,
    },
}

impl Endpoint {
    /// Resolves a transport against a profile; `None` for MQTT and HTTP devices.
    pub fn resolve(cfg: &TransportConfig, profile: &Profile) -> Result<Option<Endpoint>> {
        let d = &profile.transport;
        Ok(match cfg {
            TransportConfig::Serial(s) => Some(Endpoint::Serial(SerialSettings {
                path: s.path.clone(),
                baud: s.baud.unwrap_or(d.baud),
                data_bits: s.data_bits.unwrap_or(d.data_bits),
                parity: s.parity.unwrap_or(d.parity),
                stop_bits: s.stop_bits.unwrap_or(d.stop_bits),
                flow_control: s.flow_control.unwrap_or(d.flow_control),
            })),
            TransportConfig::Tcp(t) => Some(Endpoint::Tcp {
                host: t.host.clone(),
                port: t.port.or(d.tcp_port).ok_or_else(|| {
                    Error::Config(format!("tcp transport to {} needs a port", t.host))
                })?,
            }),
            TransportConfig::UsbLp(u) => Some(Endpoint::UsbLp {
                path: u.path.clone(),
            }),
            TransportConfig::Mqtt(_) | TransportConfig::Http(_) => None,
        })
    }

    /// Human-readable target for logs.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Serial(s) => format!("serial {} {} baud", s.path, s.baud),
            Endpoint::Tcp { host, port } => format!("tcp {host}:{port}"),
            Endpoint::UsbLp { path } => format!("usb_lp {path}"),
        }
    }

    /// Opens the stream. Serial input left over from before the open is discarded.
    pub async fn open(&self) -> Result<Link> {
        match self {
            Endpoint::Serial(s) => open_serial(s),
            Endpoint::Tcp { host, port } => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
            Endpoint::UsbLp { path } => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
                    .open(path)?;
                Ok(Box::new(FdStream::new(file)?))
            }
        }
    }
}

fn open_serial(s: &SerialSettings) -> Result<Link> {
    use tokio_serial::SerialPort;
    let builder = tokio_serial::new(&s.path, s.baud)
        .data_bits(if s.data_bits == 7 {
            tokio_serial::DataBits::Seven
        } else {
            tokio_serial::DataBits::Eight
        })
        .parity(match s.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(if s.stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        })
        .flow_control(match s.flow_control {
            FlowControl::None => tokio_serial::FlowControl::None,
            FlowControl::Software => tokio_serial::FlowControl::Software,
            FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
        });
    let port = tokio_serial::SerialStream::open(&builder)
        .map_err(|e| Error::Serial(format!("{}: {e}", s.path)))?;
    // Stale bytes from before the open (adapter buffers, power-up noise) mean nothing.
    let _ = port.clear(tokio_serial::ClearBuffer::Input);
    Ok(Box::new(port))
}

/// Byte stream to a device.
pub trait LinkIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> LinkIo for T {}

/// An open device stream.
pub type Link = Box<dyn LinkIo>;

/// Non-blocking character device (pty master, `/dev/usb/lp*`) driven by the tokio reactor.
#[derive(Debug)]
pub struct FdStream {
    fd: AsyncFd<File>,
}

impl FdStream {
    /// Wraps a file opened on a pollable character device; sets `O_NONBLOCK`.
    pub fn new(file: File) -> io::Result<Self> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let flags = fcntl(&file, FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(&file, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        // SAFETY: the File is owned by the AsyncFd for its whole life and its descriptor is
        // never closed or replaced while registered.
        let fd = unsafe { AsyncFd::register(file) }.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(FdStream { fd })
    }
}

impl AsyncRead for FdStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|inner| inner.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|inner| inner.get_ref().write(data)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Capped exponential backoff between reconnect attempts, with a little jitter so a site
/// full of devices does not retry in lock-step.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    salt: u64,
}

impl Backoff {
    /// Starts at `initial`, doubles, never exceeds `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()))
            .unwrap_or(7);
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
            salt,
        }
    }

    /// The delay to wait now; the following one doubles up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        self.salt = self
            .salt
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Up to +10% jitter, still capped.
        let jitter = d.as_micros() as u64 / 10;
        let extra = if jitter == 0 {
            0
        } else {
            (self.salt >> 33) % jitter
        };
        (d + Duration::from_micros(extra)).min(self.max)
    }

    /// Back to the initial delay after a connection that worked.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_exponential() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let d: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert!(d[0] >= 100 && d[0] <= 110, "{d:?}");
        assert!(d[1] >= 200 && d[1] <= 220, "{d:?}");
        assert!(d[2] >= 400 && d[2] <= 440, "{d:?}");
        assert_eq!(d[5], 1000);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(110));
    }

    #[test]
    fn transport_config_shapes() {
        #[derive(Deserialize)]
        struct D {
            transport: TransportConfig,
        }
        let d: D =
            toml::from_str(r#"transport = { serial = { path = "/dev/ttyUSB0", baud = 9600 } }"#)
                .unwrap();
        assert!(matches!(
            d.transport,
            TransportConfig::Serial(SerialConfig {
                baud: Some(9600),
                ..
            })
        ));
        let d: D =
            toml::from_str(r#"transport = { tcp = { host = "10.1.2.3", port = 9100 } }"#).unwrap();
        assert!(matches!(d.transport, TransportConfig::Tcp(_)));
        let d: D = toml::from_str(r#"transport = { usb_lp = { path = "/dev/usb/lp0" } }"#).unwrap();
        assert!(matches!(d.transport, TransportConfig::UsbLp(_)));
        let d: D = toml::from_str(r#"transport = { mqtt = {} }"#).unwrap();
        assert!(matches!(d.transport, TransportConfig::Mqtt(_)));
        let d: D = toml::from_str(r#"transport = { http = {} }"#).unwrap();
        assert!(matches!(d.transport, TransportConfig::Http(_)));
        assert!(
            toml::from_str::<D>(r#"transport = { serial = { path = "x", baudrate = 1 } }"#)
                .is_err()
        );
        let p = crate::profiles::get("toledo-8217").unwrap();
        let d: D = toml::from_str(r#"transport = { serial = { path = "/dev/x" } }"#).unwrap();
        match Endpoint::resolve(&d.transport, p).unwrap().unwrap() {
            Endpoint::Serial(s) => {
                assert_eq!((s.baud, s.data_bits, s.parity), (9600, 7, Parity::Even))
            }
            other => panic!("{other:?}"),
        }
    }
}
