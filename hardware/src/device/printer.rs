//! Printer task (ZPL label and ESC/POS receipt printers): prints jobs from the durable spool,
//! polls the printer's own status (`~HS`/`~HQES`, `DLE EOT`), holds jobs while it reports a
//! fault and never reports a job printed until the printer is clean again.
//!
//! **Printing once across a crash.** A job is handed over only when the printer is clean and
//! idle. Before the bytes go, a ZPL printer's odometer (`~HQOD`) is read and the reading made
//! durable with the job (`Spool::mark_sending`); after the bytes, the job is marked sent. A crash
//! in between leaves the job queued *in doubt*. Before anything else is sent, an in-doubt job is
//! settled once the printer is clean and idle again (so a label it still holds in its buffer, or
//! behind paper out, has printed by then): if the odometer moved since the reading the job
//! printed and is not sent again; if it did not, the printer never had it (or lost it in a power
//! cycle) and it is sent. Residual cases, where it may print twice: a printer that does not
//! answer `~HQOD` (ESC/POS receipt printers, older ZPL firmware) or a label shorter than the
//! odometer's unit (whole inches or centimetres); where it may be taken for printed: another host
//! printing on the same printer in that window, or a printer that reports idle while still
//! feeding the previous label.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn, Instrument, Span};

use super::{connect, Common, DeviceContext, End, Timings};
use crate::error::{Error, Result};
use crate::profiles::{Profile, ProtocolKind};
use crate::protocol::escpos::{self, EscPosStatus};
use crate::protocol::zpl::{self, HsAssembler};
use crate::protocol::DelimitedFramer;
use crate::spool::{JobState, Spool};
use crate::status::{KindStatus, PrinterStatus, StatusTx};
use crate::transport::Endpoint;

enum Cmd {
    Raw(Vec<u8>, oneshot::Sender<Result<()>>),
}

/// Handle of a label or receipt printer.
#[derive(Clone, Debug)]
pub struct PrinterHandle {
    pub(crate) common: Common,
    spool: Spool,
    wake: Arc<Notify>,
    cmd: mpsc::Sender<Cmd>,
    drawer: bool,
}

impl PrinterHandle {
    /// Latest status.
    pub fn status(&self) -> tokio::sync::watch::Receiver<crate::status::DeviceStatus> {
        self.common.status.clone()
    }

    /// Stores a job durably (fsync + rename) and returns its id; the printer task prints it
    /// when the printer is ready. Survives restarts; printed once.
    pub async fn print(&self, data: Vec<u8>) -> Result<String> {
        let spool = self.spool.clone();
        let id = tokio::task::spawn_blocking(move || spool.enqueue(&data))
            .await
            .map_err(|e| Error::Spool(e.to_string()))??;
        self.wake.notify_one();
        Ok(id)
    }

    /// [`PrinterHandle::print`] under the caller's job id; `false` when that job was already
    /// handed over (see [`Spool::enqueue_as`]).
    pub async fn print_as(&self, id: &str, data: Vec<u8>) -> Result<bool> {
        let spool = self.spool.clone();
        let id = id.to_string();
        let queued = tokio::task::spawn_blocking(move || spool.enqueue_as(&id, &data))
            .await
            .map_err(|e| Error::Spool(e.to_string()))??;
        if queued {
            self.wake.notify_one();
        }
        Ok(queued)
    }

    /// Where a job is (`queued`, `sent`, `printed`).
    pub fn job_state(&self, id: &str) -> JobState {
        self.spool.state(id)
    }

    /// Jobs not yet printed.
    pub fn pending_jobs(&self) -> Result<usize> {
        self.spool.pending()
    }

    /// Opens the cash drawer (receipt printers with a drawer connector). Not spooled: a
    /// drawer kick is only meaningful now.
    pub async fn kick_drawer(&self) -> Result<()> {
        if !self.drawer {
            return Err(Error::Unsupported(
                "this printer has no cash-drawer connector".into(),
            ));
        }
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Raw(escpos::DRAWER_KICK_PIN2.to_vec(), tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    profile: &'static Profile,
    t: Timings,
    ep: Endpoint,
    dir: PathBuf,
    ctx: DeviceContext,
    status: StatusTx,
    common: Common,
    span: Span,
) -> Result<(PrinterHandle, Option<JoinHandle<()>>)> {
    let spool = Spool::open(dir)?;
    let wake = Arc::new(Notify::new());
    let (tx, rx) = mpsc::channel(8);
    let drawer = profile.printer.as_ref().is_some_and(|p| p.drawer_kick);
    let task = tokio::spawn(
        run(profile, t, ep, spool.clone(), wake.clone(), ctx, status, rx).instrument(span),
    );
    Ok((
        PrinterHandle {
            common,
            spool,
            wake,
            cmd: tx,
            drawer,
        },
        Some(task),
    ))
}

/// Result of one status poll.
struct Report {
    flags: PrinterStatus,
    fault: Option<String>,
    /// The printer still holds data it has not printed (ZPL formats/labels in buffer).
    busy: bool,
}

/// Crash-test hook: with this set in the environment, the printer task stops right after a job's
/// bytes are handed over and before the spool records it, so a test can kill the node in the one
/// window the odometer check exists for. Never set in production.
pub const HOLD_AFTER_SEND_ENV: &str = "WMS_TEST_HOLD_PRINT_AFTER_SEND";

#[allow(clippy::too_many_arguments)]
async fn run(
    profile: &'static Profile,
    t: Timings,
    ep: Endpoint,
    spool: Spool,
    wake: Arc<Notify>,
    ctx: DeviceContext,
    status: StatusTx,
    mut rx: mpsc::Receiver<Cmd>,
) {
    let mut backoff = t.backoff();
    let zpl = profile.protocol == ProtocolKind::Zpl;
    let hold_after_send = std::env::var_os(HOLD_AFTER_SEND_ENV).is_some();
    let fast = t.poll_interval.min(Duration::from_millis(200));
    loop {
        let link = connect(
            &ep,
            &t,
            &mut backoff,
            &ctx.shutdown,
            &status,
            &mut rx,
            |Cmd::Raw(_, r)| {
                let _ = r.send(Err(Error::Offline("printer unreachable".into())));
            },
        )
        .await;
        let Some(link) = link else { break };
        info!(endpoint = %ep.describe(), "printer connected");
        let (mut rd, mut wr) = tokio::io::split(link);
        let mut next_poll = Instant::now();
        // A printer that once left `~HQOD` unanswered is not asked again on this connection:
        // every job would wait out the timeout.
        let mut has_odometer = zpl;
        let end = 'session: loop {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break End::Shutdown,
                _ = tokio::time::sleep_until(next_poll) => {}
                _ = wake.notified() => {}
                c = rx.recv() => match c {
                    Some(Cmd::Raw(bytes, reply)) => {
                        let r = wr.write_all(&bytes).await;
                        let lost = r.as_ref().err().map(|e| e.to_string());
                        let _ = reply.send(r.map_err(Error::from));
                        if let Some(e) = lost { break End::Lost(e); }
                        continue;
                    }
                    None => break End::Shutdown,
                },
            }
            // Poll, then print as many queued jobs as the printer accepts.
            loop {
                let report = if zpl {
                    query_zpl(&mut rd, &mut wr, t.status_timeout).await
                } else {
                    query_escpos(&mut rd, &mut wr, t.status_timeout).await
                };
                let report = match report {
                    Ok(r) => r,
                    Err(e) => break 'session End::Lost(e.to_string()),
                };
                backoff.reset();
                status.seen();
                let flags = report.flags.clone();
                status.update(|k| *k = KindStatus::Printer(flags));
                if let Some(f) = &report.fault {
                    status.fault(f);
                    break;
                }
                status.online();
                if report.busy {
                    break;
                }
                // Clean status: everything sent before is printed.
                let printed = on_disk(&spool, |spool| {
                    for id in spool.sent()? {
                        if let Err(e) = spool.mark_printed(&id) {
                            warn!(error = %e, "spool");
                        } else {
                            info!(job = %id, "job printed");
                        }
                    }
                    Ok(())
                });
                if let Err(e) = printed.await {
                    warn!(error = %e, "spool");
                }
                let job = match on_disk(&spool, |spool| spool.next_queued()).await {
                    Ok(Some(j)) => j,
                    Ok(None) => break,
                    Err(e) => {
                        warn!(error = %e, "spool");
                        break;
                    }
                };
                // The printer is clean and idle: settle a job left in doubt by a crash first.
                let id = job.id.clone();
                let doubt = match on_disk(&spool, move |spool| Ok(spool.in_doubt(&id))).await {
                    Ok(d) => d,
                    Err(e) => {
                        warn!(error = %e, "spool");
                        break;
                    }
                };
                if let Some(before) = doubt {
                    let now = match odometer(zpl, &mut rd, &mut wr, t.status_timeout).await {
                        Ok(n) => n,
                        Err(e) => break 'session End::Lost(e.to_string()),
                    };
                    let id = job.id.clone();
                    match on_disk(&spool, move |spool| Ok(settle(spool, &id, before, now))).await {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => {
                            warn!(error = %e, "spool");
                            break;
                        }
                    }
                }
                let reading = match odometer(has_odometer, &mut rd, &mut wr, t.status_timeout).await
                {
                    Ok(n) => n,
                    Err(e) => break 'session End::Lost(e.to_string()),
                };
                if reading.is_none() && has_odometer {
                    warn!("the printer does not answer ~HQOD: a crash while sending may print a label twice");
                    has_odometer = false;
                }
                let id = job.id.clone();
                if let Err(e) = on_disk(&spool, move |spool| spool.mark_sending(&id, reading)).await
                {
                    // Without the durable reading a crash could not be settled: do not send.
                    warn!(error = %e, "spool");
                    break;
                }
                if let Err(e) = wr.write_all(&job.data).await {
                    // The job stays in doubt; the odometer settles it when the printer is back.
                    break 'session End::Lost(e.to_string());
                }
                let _ = wr.flush().await;
                if hold_after_send {
                    warn!(job = %job.id, "{HOLD_AFTER_SEND_ENV} is set: holding after the send");
                    ctx.shutdown.cancelled().await;
                    break 'session End::Shutdown;
                }
                let id = job.id.clone();
                if let Err(e) = on_disk(&spool, move |spool| spool.mark_sent(&id)).await {
                    warn!(error = %e, "spool");
                }
            }
            let pending = on_disk(&spool, |spool| spool.pending()).await.unwrap_or(0) > 0;
            next_poll = Instant::now() + if pending { fast } else { t.poll_interval };
        };
        match end {
            End::Shutdown => break,
            End::Lost(e) => {
                warn!(error = %e, "printer offline");
                status.offline(&e);
            }
        }
    }
}

/// Runs spool file work (directory listings, renames, fsyncs) on the blocking pool, in the
/// printer's span. On a runtime thread, the several fsyncs of every label's life stalled each
/// task queued on that thread — other devices' scans and their answers, HTTP requests — for as
/// long as the disk took.
async fn on_disk<T: Send + 'static>(
    spool: &Spool,
    work: impl FnOnce(&Spool) -> Result<T> + Send + 'static,
) -> Result<T> {
    let spool = spool.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| work(&spool)))
        .await
        .map_err(|e| Error::Spool(e.to_string()))?
}

/// Settles a job in doubt: `before` is the odometer reading taken before its bytes went out,
/// `now` the reading with the printer clean and idle again. Returns true when it printed (it is
/// then marked sent, not sent again); otherwise the doubt is cleared and it is sent again.
fn settle(spool: &Spool, id: &str, before: Option<u64>, now: Option<u64>) -> bool {
    match (before, now) {
        (Some(b), Some(n)) if n > b => {
            info!(job = %id, odometer_before = b, odometer_now = n,
                "job printed before the restart: not sent again");
            if let Err(e) = spool.mark_sent(id) {
                warn!(error = %e, "spool");
            }
            true
        }
        (Some(b), Some(_)) => {
            info!(job = %id, odometer = b, "job had not printed before the restart: sending it");
            if let Err(e) = spool.clear_doubt(id) {
                warn!(error = %e, "spool");
            }
            false
        }
        _ => {
            warn!(job = %id,
                "cannot tell whether the job printed before the restart (no odometer): sending it again");
            if let Err(e) = spool.clear_doubt(id) {
                warn!(error = %e, "spool");
            }
            false
        }
    }
}

/// The printer's odometer (`~HQOD` total), or `None` for a printer that does not answer it
/// (every ESC/POS printer, older ZPL firmware).
async fn odometer<R, W>(zpl: bool, rd: &mut R, wr: &mut W, timeout: Duration) -> Result<Option<u64>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if !zpl {
        return Ok(None);
    }
    let mut framer = DelimitedFramer::new(zpl::STX, zpl::ETX, 512);
    let mut buf = [0u8; 512];
    let mut blocks = Vec::new();
    wr.write_all(zpl::HQOD).await?;
    wr.flush().await?;
    let deadline = Instant::now() + timeout;
    while let Some(n) = read_some(rd, &mut buf, deadline).await? {
        framer.push(&buf[..n], &mut blocks);
        for b in blocks.drain(..) {
            if let Some(o) = zpl::parse_hqod(&String::from_utf8_lossy(&b)) {
                return Ok(Some(o.total));
            }
        }
    }
    Ok(None)
}

async fn read_some<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<Option<usize>> {
    match tokio::time::timeout_at(deadline, rd.read(buf)).await {
        Err(_) => Ok(None),
        Ok(Ok(0)) => Err(Error::Offline("connection closed".into())),
        Ok(Ok(n)) => Ok(Some(n)),
        Ok(Err(e)) => Err(e.into()),
    }
}

async fn query_zpl<R, W>(rd: &mut R, wr: &mut W, timeout: Duration) -> Result<Report>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut framer = DelimitedFramer::new(zpl::STX, zpl::ETX, 512);
    let mut asm = HsAssembler::new();
    let mut buf = [0u8; 512];
    let mut blocks = Vec::new();
    wr.write_all(zpl::HS).await?;
    wr.flush().await?;
    let deadline = Instant::now() + timeout;
    while let Some(n) = read_some(rd, &mut buf, deadline).await? {
        framer.push(&buf[..n], &mut blocks);
        for b in blocks.drain(..) {
            if let Some(hs) = asm.push(&String::from_utf8_lossy(&b)) {
                let fault = [
                    (hs.paper_out, "paper out"),
                    (hs.head_open, "head open"),
                    (hs.ribbon_out, "ribbon out"),
                    (hs.paused, "paused"),
                    (hs.over_temperature, "head over temperature"),
                    (hs.corrupt_ram, "configuration lost"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, s)| *s)
                .collect::<Vec<_>>();
                return Ok(Report {
                    flags: PrinterStatus {
                        paper_out: Some(hs.paper_out),
                        head_open: Some(hs.head_open),
                        paused: Some(hs.paused),
                        ribbon_out: Some(hs.ribbon_out),
                        cover_open: None,
                        paper_near_end: None,
                    },
                    fault: (!fault.is_empty()).then(|| fault.join(", ")),
                    busy: hs.formats_in_buffer > 0 || hs.labels_remaining > 0 || hs.buffer_full,
                });
            }
        }
    }
    // Silence on ~HS: newer firmware is faulted (media/ribbon out, head open). Ask ~HQES.
    wr.write_all(zpl::HQES).await?;
    wr.flush().await?;
    let deadline = Instant::now() + timeout;
    while let Some(n) = read_some(rd, &mut buf, deadline).await? {
        framer.push(&buf[..n], &mut blocks);
        for b in blocks.drain(..) {
            if let Some(es) = zpl::parse_hqes(&String::from_utf8_lossy(&b)) {
                let fault = [
                    (es.media_out(), "paper out"),
                    (es.head_open(), "head open"),
                    (es.ribbon_out(), "ribbon out"),
                    (es.paused(), "paused"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, s)| *s)
                .collect::<Vec<_>>();
                let fault = if fault.is_empty() && es.any_error() {
                    vec!["printer error"]
                } else {
                    fault
                };
                return Ok(Report {
                    flags: PrinterStatus {
                        paper_out: Some(es.media_out()),
                        head_open: Some(es.head_open()),
                        paused: Some(es.paused()),
                        ribbon_out: Some(es.ribbon_out()),
                        cover_open: None,
                        paper_near_end: Some(es.paper_near_end()),
                    },
                    // ~HS silent but ~HQES clean: treat as busy, poll again.
                    busy: fault.is_empty(),
                    fault: (!fault.is_empty()).then(|| fault.join(", ")),
                });
            }
        }
    }
    Err(Error::Timeout("no answer to ~HS or ~HQES".into()))
}

async fn query_escpos<R, W>(rd: &mut R, wr: &mut W, timeout: Duration) -> Result<Report>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut st = EscPosStatus::default();
    let mut buf = [0u8; 64];
    for n in [1u8, 2, 4] {
        wr.write_all(&escpos::dle_eot(n)).await?;
        wr.flush().await?;
        let deadline = Instant::now() + timeout;
        'reply: loop {
            let Some(k) = read_some(rd, &mut buf, deadline).await? else {
                return Err(Error::Timeout(format!("no answer to DLE EOT {n}")));
            };
            // Unsolicited ASB bytes and XON/XOFF do not match the reply pattern.
            if let Some(b) = buf[..k].iter().rev().find(|b| escpos::is_status_byte(**b)) {
                st.apply(n, *b);
                break 'reply;
            }
        }
    }
    let paper_out = st.paper_end || st.paper_end_stop;
    let fault = [
        (paper_out, "paper out"),
        (st.cover_open, "cover open"),
        (st.autocutter_error, "autocutter error"),
        (st.unrecoverable_error, "unrecoverable error"),
        (st.offline && !paper_out && !st.cover_open, "offline"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| *s)
    .collect::<Vec<_>>();
    Ok(Report {
        flags: PrinterStatus {
            paper_out: Some(paper_out),
            head_open: None,
            paused: None,
            ribbon_out: None,
            cover_open: Some(st.cover_open),
            paper_near_end: Some(st.paper_near_end),
        },
        fault: (!fault.is_empty()).then(|| fault.join(", ")),
        busy: false,
    })
}
