//! Customer display task: owns the display's port, writes the screen the till wants and keeps
//! the display's state.
//!
//! A display shows the present, so the task keeps exactly one wanted screen (a `watch`, not a
//! queue): [`DisplayHandle::show`] replaces it and returns at once, whatever the display is
//! doing. A slow or unplugged display therefore never holds up a sale, and when it comes back
//! it gets the current screen, never a backlog of the ones it missed. The display never
//! answers, so it is `online` while its port is open and its last write went through, and
//! `offline` once a write fails or takes longer than the profile's status timeout; the task
//! then reconnects with backoff. The current screen is written again every poll interval, so
//! a display power-cycled behind a port that stayed open catches up by itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn, Instrument, Span};

use super::{connect, Common, DeviceContext, End, Timings};
use crate::profiles::Profile;
use crate::protocol::display::{self, CodePage, COLUMNS};
use crate::status::{DeviceStatus, KindStatus, StatusTx};
use crate::transport::Endpoint;

/// Handle of a customer display.
#[derive(Clone, Debug)]
pub struct DisplayHandle {
    pub(crate) common: Common,
    wanted: Arc<watch::Sender<[String; 2]>>,
    columns: usize,
    page: CodePage,
}

impl DisplayHandle {
    /// Latest status; the kind status says what the display last showed.
    pub fn status(&self) -> watch::Receiver<DeviceStatus> {
        self.common.status.clone()
    }

    /// Puts `top` and `bottom` on the display as soon as it can take them and returns at once.
    /// A screen asked for while an earlier one is still being written, or while the display is
    /// offline, replaces it: only the latest is ever written. Text longer than
    /// [`DisplayHandle::columns`] is cut; control characters never reach the display.
    pub fn show(&self, top: &str, bottom: &str) {
        self.wanted.send_if_modified(|w| {
            if w[0] == top && w[1] == bottom {
                return false;
            }
            *w = [top.to_string(), bottom.to_string()];
            true
        });
    }

    /// The screen last asked for (shown, or waiting for the display).
    pub fn wanted(&self) -> [String; 2] {
        self.wanted.borrow().clone()
    }

    /// Characters per line.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// What the display shows for `text` on one line: cut or padded to its width, in its code
    /// page (`?` for characters the page lacks).
    pub fn shown(&self, text: &str) -> String {
        display::shown(text, self.page, self.columns)
    }
}

pub(crate) fn start(
    profile: &'static Profile,
    t: Timings,
    ep: Endpoint,
    ctx: DeviceContext,
    status: StatusTx,
    common: Common,
    span: Span,
) -> (DisplayHandle, Option<JoinHandle<()>>) {
    let (columns, page) = profile
        .display
        .as_ref()
        .map_or((COLUMNS, CodePage::default()), |d| (d.columns, d.code_page));
    let (tx, rx) = watch::channel([String::new(), String::new()]);
    let task = tokio::spawn(run(t, ep, page, columns, ctx, status, rx).instrument(span));
    (
        DisplayHandle {
            common,
            wanted: Arc::new(tx),
            columns,
            page,
        },
        Some(task),
    )
}

async fn run(
    t: Timings,
    ep: Endpoint,
    page: CodePage,
    columns: usize,
    ctx: DeviceContext,
    status: StatusTx,
    mut wanted: watch::Receiver<[String; 2]>,
) {
    let mut backoff = t.backoff();
    // A display takes no commands (its screen is the watch): `connect` gets a channel that
    // stays empty.
    let (_no_commands_tx, mut no_commands) = mpsc::channel::<Infallible>(1);
    // A USB printer-class device file reads as end-of-file when the device has nothing to
    // say; only serial and TCP links tell a closed peer by reading.
    let listen = !matches!(ep, Endpoint::UsbLp { .. });
    let shown = |lines: &[String; 2]| {
        let shown = [
            display::shown(&lines[0], page, columns),
            display::shown(&lines[1], page, columns),
        ];
        status.seen();
        status.update(|k| *k = KindStatus::CustomerDisplay { shown: Some(shown) });
    };
    loop {
        let link = connect(
            &ep,
            &t,
            &mut backoff,
            &ctx.shutdown,
            &status,
            &mut no_commands,
            |never| match never {},
        )
        .await;
        let Some(link) = link else { break };
        info!(endpoint = %ep.describe(), "display connected");
        let (mut rd, mut wr) = tokio::io::split(link);
        // A clean start with the screen wanted now, whatever was asked while it was away.
        let lines = wanted.borrow_and_update().clone();
        let mut bytes = display::connect(page);
        bytes.extend(display::screen(&lines[0], &lines[1], page, columns));
        let end = match send(&mut wr, &bytes, t.status_timeout).await {
            Err(e) => End::Lost(e),
            Ok(()) => {
                backoff.reset();
                status.online();
                shown(&lines);
                let mut buf = [0u8; 64];
                let mut refresh_at = Instant::now() + t.poll_interval;
                loop {
                    let read = async {
                        if listen {
                            rd.read(&mut buf).await
                        } else {
                            std::future::pending().await
                        }
                    };
                    let (bytes, lines) = tokio::select! {
                        _ = ctx.shutdown.cancelled() => break End::Shutdown,
                        changed = wanted.changed() => {
                            if changed.is_err() {
                                break End::Shutdown;
                            }
                            let lines = wanted.borrow_and_update().clone();
                            (display::screen(&lines[0], &lines[1], page, columns), lines)
                        }
                        _ = tokio::time::sleep_until(refresh_at) => {
                            let lines = wanted.borrow_and_update().clone();
                            let mut bytes = display::setup(page);
                            bytes.extend(display::screen(&lines[0], &lines[1], page, columns));
                            (bytes, lines)
                        }
                        r = read => match r {
                            Ok(0) => break End::Lost("connection closed".into()),
                            // Nothing a display sends changes what it should show.
                            Ok(_) => continue,
                            Err(e) => break End::Lost(e.to_string()),
                        },
                    };
                    if let Err(e) = send(&mut wr, &bytes, t.status_timeout).await {
                        break End::Lost(e);
                    }
                    shown(&lines);
                    refresh_at = Instant::now() + t.poll_interval;
                }
            }
        };
        match end {
            End::Shutdown => break,
            End::Lost(e) => {
                warn!(error = %e, "display offline");
                status.offline(&e);
            }
        }
    }
}

/// Writes `bytes` within `timeout`; a display that does not take them in time is treated as
/// gone (a stalled serial handshake or TCP window must not keep the screen stale unnoticed).
async fn send<W: AsyncWrite + Unpin>(
    wr: &mut W,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let write = async {
        wr.write_all(bytes).await?;
        wr.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the display took no screen within {} ms",
            timeout.as_millis()
        )),
    }
}
