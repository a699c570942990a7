//! Scale task: polls the scale (or listens to a continuous stream / MQTT), keeps the status
//! current and serves `read_stable`, tare and zero. Motion is not a fault; overload and
//! underload are (`error` state) until a normal reading arrives.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument, Span};

use super::{connect, Common, DeviceContext, End, Timings};
use crate::decimal::Weight;
use crate::error::{Error, Result};
use crate::link::{MqttDeviceLink, MqttInbound};
use crate::profiles::{Profile, ProtocolKind};
use crate::protocol::nci::{self, NciFramer, NciReply};
use crate::protocol::sics::{self, SicsReply};
use crate::protocol::toledo::{self, ContinuousParser, Reply8217};
use crate::protocol::{DelimitedFramer, LineSplitter};
use crate::status::{KindStatus, StatusTx};
use crate::transport::Endpoint;

pub(crate) enum Source {
    Stream(Endpoint),
    Mqtt(MqttDeviceLink),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Tare,
    Zero,
    ClearTare,
}

enum Cmd {
    ReadStable(Duration, oneshot::Sender<Result<Weight>>),
    Op(Op, oneshot::Sender<Result<()>>),
}

/// Handle of a scale.
#[derive(Clone, Debug)]
pub struct ScaleHandle {
    pub(crate) common: Common,
    cmd: mpsc::Sender<Cmd>,
}

impl ScaleHandle {
    /// Latest status.
    pub fn status(&self) -> tokio::sync::watch::Receiver<crate::status::DeviceStatus> {
        self.common.status.clone()
    }

    /// Waits up to `timeout` for a stable weight. [`Error::Motion`] when it did not settle,
    /// [`Error::Overload`]/[`Error::Underload`] at once, [`Error::Offline`] when unreachable.
    pub async fn read_stable(&self, timeout: Duration) -> Result<Weight> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::ReadStable(timeout, tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Tares the scale (stable load becomes zero net).
    pub async fn tare(&self) -> Result<()> {
        self.op(Op::Tare).await
    }

    /// Zeroes the scale (within its zero range, when stable).
    pub async fn zero(&self) -> Result<()> {
        self.op(Op::Zero).await
    }

    /// Clears the tare.
    pub async fn clear_tare(&self) -> Result<()> {
        self.op(Op::ClearTare).await
    }

    async fn op(&self, op: Op) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Op(op, tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }
}

pub(crate) fn start(
    profile: &'static Profile,
    t: Timings,
    src: Source,
    ctx: DeviceContext,
    status: StatusTx,
    common: Common,
    span: Span,
) -> (ScaleHandle, Option<JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel(32);
    let task = match src {
        Source::Stream(ep) => {
            tokio::spawn(run_stream(profile, t, ep, ctx, status, rx).instrument(span))
        }
        Source::Mqtt(link) => tokio::spawn(run_mqtt(t, link, ctx, status, rx).instrument(span)),
    };
    (ScaleHandle { common, cmd: tx }, Some(task))
}

/// What one reply means, whatever the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reading {
    Weight { weight: Weight, stable: bool },
    Motion,
    Overload,
    Underload,
    Ack,
    Nak(String),
}

enum Codec {
    Sics(LineSplitter),
    T8217(DelimitedFramer),
    Nci(NciFramer),
    Continuous(ContinuousParser),
}

impl Codec {
    fn new(p: &Profile) -> Codec {
        match p.protocol {
            ProtocolKind::Toledo8217 => {
                Codec::T8217(DelimitedFramer::new(toledo::STX, toledo::CR, 32))
            }
            ProtocolKind::NciGeneral => Codec::Nci(NciFramer::new()),
            ProtocolKind::ToledoContinuous => Codec::Continuous(ContinuousParser::new(
                p.scale.as_ref().is_some_and(|s| s.checksum),
            )),
            _ => Codec::Sics(LineSplitter::new(p.framing.max_line)),
        }
    }

    fn reset(&mut self) {
        match self {
            Codec::Sics(s) => s.reset(),
            Codec::T8217(f) => f.reset(),
            Codec::Nci(f) => f.reset(),
            Codec::Continuous(p) => p.reset(),
        }
    }

    fn polled(&self) -> bool {
        !matches!(self, Codec::Continuous(_))
    }

    fn weight_request(&self) -> &'static [u8] {
        match self {
            Codec::Sics(_) => b"SI\r\n",
            Codec::T8217(_) => b"W",
            Codec::Nci(_) => b"W\r",
            Codec::Continuous(_) => b"",
        }
    }

    fn op_request(&self, op: Op) -> Result<&'static [u8]> {
        Ok(match (self, op) {
            (Codec::Sics(_), Op::Tare) => b"T\r\n",
            (Codec::Sics(_), Op::Zero) => b"Z\r\n",
            (Codec::Sics(_), Op::ClearTare) => b"TAC\r\n",
            (Codec::T8217(_), Op::Tare) => b"T",
            (Codec::T8217(_), Op::Zero) => b"Z",
            (Codec::T8217(_), Op::ClearTare) => b"C",
            (Codec::Nci(_), Op::Zero) => b"Z\r",
            (Codec::Nci(_), _) => {
                return Err(Error::Unsupported("tare over the NCI protocol".into()))
            }
            (Codec::Continuous(_), _) => {
                return Err(Error::Unsupported(
                    "commands to a continuous-output scale".into(),
                ))
            }
        })
    }

    fn push(&mut self, bytes: &[u8], unit: &str, out: &mut Vec<Reading>) {
        match self {
            Codec::Sics(s) => {
                let mut lines = Vec::new();
                s.push(bytes, &mut lines);
                for l in lines {
                    out.push(match sics::parse_line(&l) {
                        SicsReply::Weight { weight, stable, .. } => {
                            Reading::Weight { weight, stable }
                        }
                        SicsReply::NotExecutable { command }
                            if command == "S" || command == "SI" =>
                        {
                            Reading::Motion
                        }
                        SicsReply::NotExecutable { command } => {
                            Reading::Nak(format!("{command} not executable now"))
                        }
                        SicsReply::Overload { .. } => Reading::Overload,
                        SicsReply::Underload { .. } => Reading::Underload,
                        SicsReply::Done { .. } | SicsReply::Info { .. } => Reading::Ack,
                        SicsReply::WrongParameter { command } => {
                            Reading::Nak(format!("{command}: parameter not allowed"))
                        }
                        SicsReply::SyntaxError => Reading::Nak("ES syntax error".into()),
                        SicsReply::TransmissionError => {
                            Reading::Nak("ET transmission error".into())
                        }
                        SicsReply::LogicalError => Reading::Nak("EL logical error".into()),
                        SicsReply::Unknown(_) => Reading::Nak("unrecognised reply".into()),
                    });
                }
            }
            Codec::T8217(f) => {
                let mut frames = Vec::new();
                f.push(bytes, &mut frames);
                for fr in frames {
                    out.push(match toledo::parse_8217(&fr) {
                        Ok(Reply8217::Weight { value, .. }) => Reading::Weight {
                            weight: Weight::new(value, unit),
                            stable: true,
                        },
                        Ok(Reply8217::Status(s)) if s.over_capacity => Reading::Overload,
                        Ok(Reply8217::Status(s)) if s.under_zero => Reading::Underload,
                        Ok(Reply8217::Status(s)) if s.motion => Reading::Motion,
                        Ok(Reply8217::Status(_)) | Ok(Reply8217::Echo) => Reading::Ack,
                        Err(e) => Reading::Nak(e.to_string()),
                    });
                }
            }
            Codec::Nci(f) => {
                let mut frames = Vec::new();
                f.push(bytes, &mut frames);
                for fr in frames {
                    out.push(match nci::parse(&fr) {
                        Ok(NciReply::Reading { status, .. }) if status.over_capacity => {
                            Reading::Overload
                        }
                        Ok(NciReply::Reading { status, .. }) if status.under_capacity => {
                            Reading::Underload
                        }
                        Ok(NciReply::Reading { status, .. }) if status.fault() => {
                            Reading::Nak("scale reports a hardware error".into())
                        }
                        Ok(NciReply::Reading { status, .. }) if status.motion => Reading::Motion,
                        Ok(NciReply::Reading {
                            weight: Some(w), ..
                        }) => Reading::Weight {
                            weight: w,
                            stable: true,
                        },
                        Ok(NciReply::Reading { weight: None, .. }) => Reading::Ack,
                        Ok(NciReply::Unrecognized) => Reading::Nak("command not recognised".into()),
                        Err(e) => Reading::Nak(e.to_string()),
                    });
                }
            }
            Codec::Continuous(p) => {
                let mut frames = Vec::new();
                p.push(bytes, &mut frames);
                for fr in frames {
                    out.push(match fr {
                        Ok(f) if f.out_of_range && f.weight.value.is_negative() => {
                            Reading::Underload
                        }
                        Ok(f) if f.out_of_range => Reading::Overload,
                        Ok(f) => Reading::Weight {
                            weight: f.weight,
                            stable: !f.motion,
                        },
                        Err(e) => {
                            debug!(error = %e, "bad continuous frame");
                            continue;
                        }
                    });
                }
            }
        }
    }
}

/// Request rate while someone waits for a stable weight (scales update about 10 times/s).
const WAITING_POLL: Duration = Duration::from_millis(50);

struct Waiter {
    deadline: Instant,
    /// Only replies to requests sent after the waiter arrived count (no stale weights).
    min_seq: u64,
    reply: oneshot::Sender<Result<Weight>>,
    saw_motion: bool,
}

enum Inflight {
    Weight(u64),
    Op(Op, oneshot::Sender<Result<()>>, u64),
}

impl Inflight {
    fn seq(&self) -> u64 {
        match self {
            Inflight::Weight(s) | Inflight::Op(_, _, s) => *s,
        }
    }
}

/// State shared by all scale sources.
struct Core {
    waiters: Vec<Waiter>,
    status: StatusTx,
    next_seq: u64,
}

impl Core {
    fn add_waiter(&mut self, timeout: Duration, reply: oneshot::Sender<Result<Weight>>) {
        self.waiters.push(Waiter {
            deadline: Instant::now() + timeout,
            min_seq: self.next_seq,
            reply,
            saw_motion: false,
        });
    }

    /// Resolves the waiters that `seq` (the request this reading answers; `u64::MAX` for
    /// unsolicited readings) is fresh enough for.
    fn take_waiters(&mut self, seq: u64) -> Vec<Waiter> {
        let (take, keep) = self.waiters.drain(..).partition(|w| seq >= w.min_seq);
        self.waiters = keep;
        take
    }

    fn on_reading(&mut self, r: &Reading, seq: u64) {
        self.status.seen();
        match r {
            Reading::Weight {
                weight,
                stable: true,
            } => {
                self.status.online();
                let w = weight.clone();
                self.status.update(|k| {
                    *k = KindStatus::Scale {
                        last_stable_weight: Some(w),
                    }
                });
                for wt in self.take_waiters(seq) {
                    let _ = wt.reply.send(Ok(weight.clone()));
                }
            }
            Reading::Weight { stable: false, .. } | Reading::Motion => {
                self.status.online();
                for w in &mut self.waiters {
                    w.saw_motion = true;
                }
            }
            Reading::Overload => {
                self.status.fault("overload");
                for w in self.take_waiters(seq) {
                    let _ = w.reply.send(Err(Error::Overload));
                }
            }
            Reading::Underload => {
                self.status.fault("underload");
                for w in self.take_waiters(seq) {
                    let _ = w.reply.send(Err(Error::Underload));
                }
            }
            Reading::Ack | Reading::Nak(_) => {}
        }
    }

    fn expire(&mut self, now: Instant) {
        let mut keep = Vec::new();
        for w in self.waiters.drain(..) {
            if now >= w.deadline {
                let _ = w.reply.send(Err(if w.saw_motion {
                    Error::Motion
                } else {
                    Error::Timeout("no weight from the scale".into())
                }));
            } else {
                keep.push(w);
            }
        }
        self.waiters = keep;
    }

    fn fail_all(&mut self, e: &str) {
        for w in self.waiters.drain(..) {
            let _ = w.reply.send(Err(Error::Offline(e.to_string())));
        }
    }
}

async fn run_stream(
    profile: &'static Profile,
    t: Timings,
    ep: Endpoint,
    ctx: DeviceContext,
    status: StatusTx,
    mut rx: mpsc::Receiver<Cmd>,
) {
    let unit = profile.scale.as_ref().map_or("kg", |s| s.unit.as_str());
    let mut codec = Codec::new(profile);
    let mut core = Core {
        waiters: Vec::new(),
        status,
        next_seq: 0,
    };
    let mut backoff = t.backoff();
    let mut buf = vec![0u8; 1024];
    let mut readings = Vec::new();
    let tick = Duration::from_millis(20);
    loop {
        let link = connect(
            &ep,
            &t,
            &mut backoff,
            &ctx.shutdown,
            &core.status,
            &mut rx,
            |c| match c {
                Cmd::ReadStable(_, r) => {
                    let _ = r.send(Err(Error::Offline("scale unreachable".into())));
                }
                Cmd::Op(_, r) => {
                    let _ = r.send(Err(Error::Offline("scale unreachable".into())));
                }
            },
        )
        .await;
        let Some(link) = link else { break };
        info!(endpoint = %ep.describe(), "scale port open");
        codec.reset();
        let (mut rd, mut wr) = tokio::io::split(link);
        let mut inflight: Option<(Inflight, Instant)> = None;
        let mut ops: VecDeque<(Op, oneshot::Sender<Result<()>>)> = VecDeque::new();
        let mut last_poll = Instant::now() - t.poll_interval;
        let mut last_frame = Instant::now();
        let mut first = true;
        let end = loop {
            let now = Instant::now();
            core.expire(now);
            // Liveness: an unanswered request, or silence from a streaming scale.
            if let Some((_, deadline)) = &inflight {
                if now >= *deadline {
                    break End::Lost("no answer to a status query".into());
                }
            }
            if !codec.polled() && now.duration_since(last_frame) > t.status_timeout {
                break End::Lost("continuous output stopped".into());
            }
            if codec.polled() && inflight.is_none() {
                let seq = core.next_seq;
                let request = if let Some((op, reply)) = ops.pop_front() {
                    match codec.op_request(op) {
                        Ok(b) => Some((b, Inflight::Op(op, reply, seq))),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            None
                        }
                    }
                } else if first
                    || now.duration_since(last_poll) >= t.poll_interval
                    || (!core.waiters.is_empty() && now.duration_since(last_poll) >= WAITING_POLL)
                {
                    Some((codec.weight_request(), Inflight::Weight(seq)))
                } else {
                    None
                };
                if let Some((bytes, what)) = request {
                    if let Err(e) = wr.write_all(bytes).await {
                        break End::Lost(e.to_string());
                    }
                    first = false;
                    last_poll = now;
                    core.next_seq += 1;
                    inflight = Some((what, now + t.status_timeout));
                }
            }
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break End::Shutdown,
                _ = tokio::time::sleep(tick) => {}
                c = rx.recv() => match c {
                    Some(Cmd::ReadStable(d, r)) => core.add_waiter(d, r),
                    Some(Cmd::Op(op, r)) => {
                        if codec.polled() {
                            ops.push_back((op, r));
                        } else {
                            let _ = r.send(codec.op_request(op).map(|_| ()));
                        }
                    }
                    None => break End::Shutdown,
                },
                r = rd.read(&mut buf) => match r {
                    Ok(0) => break End::Lost("port closed".into()),
                    Ok(n) => {
                        codec.push(&buf[..n], unit, &mut readings);
                        for reading in readings.drain(..) {
                            last_frame = Instant::now();
                            let seq = inflight.as_ref().map_or(u64::MAX, |(i, _)| i.seq());
                            core.on_reading(&reading, seq);
                            match inflight.take() {
                                Some((Inflight::Op(op, reply, _), _)) => {
                                    let res = match &reading {
                                        Reading::Ack | Reading::Weight { stable: true, .. } => Ok(()),
                                        Reading::Motion | Reading::Weight { stable: false, .. } => Err(Error::Motion),
                                        Reading::Overload => Err(Error::Overload),
                                        Reading::Underload => Err(Error::Underload),
                                        Reading::Nak(m) => Err(Error::Rejected(format!("{op:?}: {m}"))),
                                    };
                                    let _ = reply.send(res);
                                }
                                Some((Inflight::Weight(_), _)) | None => {}
                            }
                        }
                    }
                    Err(e) => break End::Lost(e.to_string()),
                },
            }
        };
        for (_, r) in ops.drain(..) {
            let _ = r.send(Err(Error::Offline("scale connection lost".into())));
        }
        if let Some((Inflight::Op(_, r, _), _)) = inflight.take() {
            let _ = r.send(Err(Error::Offline("scale connection lost".into())));
        }
        match end {
            End::Shutdown => break,
            End::Lost(e) => {
                warn!(error = %e, "scale offline");
                core.status.offline(&e);
                core.fail_all(&e);
                // A reconnect that worked resets the backoff only after a reply.
                backoff.reset();
            }
        }
    }
    core.fail_all("shutting down");
}

async fn run_mqtt(
    t: Timings,
    mut link: MqttDeviceLink,
    ctx: DeviceContext,
    status: StatusTx,
    mut rx: mpsc::Receiver<Cmd>,
) {
    let mut core = Core {
        waiters: Vec::new(),
        status,
        next_seq: 0,
    };
    let mut conn = link.connection();
    let mut last: Option<(Weight, Instant)> = None;
    if *conn.borrow() {
        core.status.online();
    } else {
        core.status.offline("mqtt broker unreachable");
    }
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(50)) => core.expire(Instant::now()),
            c = conn.changed() => {
                if c.is_err() { break; }
                if *conn.borrow() { core.status.online() } else { core.status.offline("mqtt broker unreachable") }
            }
            c = rx.recv() => match c {
                Some(Cmd::ReadStable(d, r)) => {
                    // A recent stable message counts; an old one must not be shipped.
                    match &last {
                        Some((w, at)) if at.elapsed() <= t.status_timeout => { let _ = r.send(Ok(w.clone())); }
                        _ => core.add_waiter(d, r),
                    }
                }
                Some(Cmd::Op(_, r)) => { let _ = r.send(Err(Error::Unsupported("commands to an MQTT scale".into()))); }
                None => break,
            },
            m = link.rx.recv() => match m {
                Some(MqttInbound::Weight(w)) => {
                    let reading = Reading::Weight { weight: w.weight.clone(), stable: w.stable };
                    last = w.stable.then(|| (w.weight.clone(), Instant::now()));
                    core.on_reading(&reading, u64::MAX);
                }
                Some(MqttInbound::State(on)) => {
                    if on { core.status.online() } else { core.status.offline("device reported offline") }
                }
                Some(MqttInbound::Scan { .. }) => {}
                None => break,
            },
        }
    }
    core.fail_all("shutting down");
}
