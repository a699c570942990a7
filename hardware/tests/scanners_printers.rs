//! Scanners and printers over real ptys and loopback TCP.

mod common;

use std::time::Duration;

use common::*;
use wms_hardware::device::Device;
use wms_hardware::profiles::DeviceKind;
use wms_hardware::sim::{EscPosPrinter, PtySim, Silent, TcpSim, ZplPrinter};
use wms_hardware::spool::JobState;
use wms_hardware::transport::{TransportConfig, UsbLpConfig};
use wms_hardware::{DeviceState, KindStatus};

#[tokio::test]
async fn scanner_burst_with_noise_and_partial_frame_yields_exactly_the_scans() {
    let sim = PtySim::start("scanner", Silent).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, mut scans) = ctx(dir.path());
    let mut cfg = serial(
        "scan-1",
        DeviceKind::Scanner,
        "honeywell-xenon-1900-serial",
        &sim.path_str(),
    );
    cfg.station = Some("pack-1".into());
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;

    // Power-up noise, then a half frame cut off by silence (idle gap 250 ms)…
    sim.write(b"\x00\x00\xff\xfe\r\x00").await.unwrap();
    sim.write(b"]E0590123").await.unwrap();
    // …the next bytes arrive after the gap: the half frame must be dropped, not glued on.
    let gap = tokio::time::Instant::now() + Duration::from_millis(400);
    tokio::time::sleep_until(gap).await; // models time passing on the wire, not synchronisation
    let burst: &[u8] = b"]C100106141411234567897\r]E05901234123457\r\x00\x00\r]d2011231231231233310ABC123\x1d99TESTING\rLOC:A-03-2\r";
    sim.write(burst).await.unwrap();

    let want = [
        ("00106141411234567897", Some("]C1")),
        ("5901234123457", Some("]E0")),
        ("011231231231233310ABC123\u{1d}99TESTING", Some("]d2")),
        ("LOC:A-03-2", None),
    ];
    for (data, sym) in want {
        let s = tokio::time::timeout(DEADLINE, scans.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.data, data);
        assert_eq!(s.symbology.as_deref(), sym);
        assert_eq!(s.device_id, "scan-1");
        assert_eq!(s.station.as_deref(), Some("pack-1"));
    }
    // Nothing else arrives (the next thing through is a marker scan).
    sim.write(b"MARK\r").await.unwrap();
    let s = tokio::time::timeout(DEADLINE, scans.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.data, "MARK");
    assert!(matches!(
        dev.status().borrow().status,
        KindStatus::Scanner {
            last_scan_at: Some(_)
        }
    ));

    // Unplug: offline; replug: online again and scanning.
    sim.unplug().await;
    wait_state(&mut st, DeviceState::Offline).await;
    sim.replug().await.unwrap();
    wait_state(&mut st, DeviceState::Online).await;
    sim.write(b"]E05901234123457\r").await.unwrap();
    let s = tokio::time::timeout(DEADLINE, scans.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.data, "5901234123457");
    ctx.shutdown.cancel();
    dev.join().await;
}

/// A scanner that keeps every byte the host sends it.
struct Listening(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl wms_hardware::sim::Behavior for Listening {
    fn on_input(&mut self, input: &[u8], _: &mut Vec<u8>) -> wms_hardware::sim::Action {
        if let Ok(mut heard) = self.0.lock() {
            heard.extend_from_slice(input);
        }
        wms_hardware::sim::Action::Continue
    }
}

#[tokio::test]
async fn a_host_ack_scanner_hears_its_escape_commands_for_good_and_bad() {
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sim = PtySim::start("scanner", Listening(heard.clone())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, mut scans) = ctx(dir.path());
    let cfg = serial(
        "scan-1",
        DeviceKind::Scanner,
        "honeywell-xenon-1900-host-ack",
        &sim.path_str(),
    );
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    sim.write(b"]C0LOC:A-01\r").await.unwrap();
    let s = tokio::time::timeout(DEADLINE, scans.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.data, "LOC:A-01");
    let Device::Scanner(h) = &dev else {
        panic!("not a scanner")
    };
    for good in [true, false] {
        let fb = wms_hardware::device::Feedback {
            feedback: good,
            prompt: String::new(),
        };
        h.feedback(fb).await.unwrap();
    }
    // ESC 7 , for the good read; ESC 8 , twice for the refusal.
    let want: &[u8] = b"\x1b7,\x1b8,\x1b8,";
    eventually("both escape commands", || {
        heard.lock().map(|b| b.as_slice() == want).unwrap_or(false)
    })
    .await;
    ctx.shutdown.cancel();
    dev.join().await;
}

fn printer(d: &Device) -> &wms_hardware::device::PrinterHandle {
    match d {
        Device::LabelPrinter(p) | Device::ReceiptPrinter(p) => p,
        other => panic!("not a printer: {other:?}"),
    }
}

const LABEL: &[u8] = b"^XA^CI28^PW812^LL1218^FO40,40^A0N,40,40^FDShip to^FS^XZ";

#[tokio::test]
async fn zpl_paper_out_holds_job_across_restart_and_prints_once() {
    let zpl = ZplPrinter::new();
    let state = zpl.state();
    let sim = TcpSim::start(zpl).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = tcp(
        "label-1",
        DeviceKind::LabelPrinter,
        "zebra-zd421-203",
        sim.port(),
    );

    // A clean job prints once.
    let (ctx, _s) = ctx(dir.path());
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    let id = printer(&dev).print(LABEL.to_vec()).await.unwrap();
    eventually("first label printed", || {
        printer(&dev).job_state(&id) == JobState::Printed
    })
    .await;
    assert_eq!(state.lock().unwrap().printed, 1);

    // Paper out: the printer goes silent on ~HS; ~HQES tells why; the job is held.
    state.lock().unwrap().set(true, false, false);
    let s = wait_state(&mut st, DeviceState::Error).await;
    assert!(matches!(s.status, KindStatus::Printer(ref p) if p.paper_out == Some(true)));
    let id2 = printer(&dev).print(LABEL.to_vec()).await.unwrap();
    eventually("a few status polls while faulted", || {
        state.lock().unwrap().hs_queries >= 8
    })
    .await;
    assert_eq!(printer(&dev).job_state(&id2), JobState::Queued);
    assert_eq!(state.lock().unwrap().formats.len(), 1);

    // Restart the printer task with the same spool directory.
    ctx.shutdown.cancel();
    dev.join().await;
    let (ctx, _s) = common::ctx(dir.path());
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Error).await;
    assert_eq!(printer(&dev).job_state(&id2), JobState::Queued);

    // Paper back: printed exactly once.
    state.lock().unwrap().set(false, false, false);
    eventually("held label printed", || {
        printer(&dev).job_state(&id2) == JobState::Printed
    })
    .await;
    wait_state(&mut st, DeviceState::Online).await;
    let polls = state.lock().unwrap().hs_queries;
    eventually("more polls after printing", || {
        state.lock().unwrap().hs_queries >= polls + 3
    })
    .await;
    assert_eq!(state.lock().unwrap().printed, 2);
    assert_eq!(state.lock().unwrap().formats.len(), 2);
    assert_eq!(printer(&dev).pending_jobs().unwrap(), 0);

    // Socket dropped: offline, then back by itself.
    sim.unplug().await;
    wait_state(&mut st, DeviceState::Offline).await;
    sim.replug().await.unwrap();
    wait_state(&mut st, DeviceState::Online).await;
    ctx.shutdown.cancel();
    dev.join().await;
}

#[tokio::test]
async fn zpl_head_open_on_older_firmware_reported_via_hs() {
    let zpl = ZplPrinter::new();
    let state = zpl.state();
    state.lock().unwrap().hs_when_faulted = true;
    state.lock().unwrap().set(false, false, true);
    let sim = PtySim::start("zebra", zpl).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _s) = ctx(dir.path());
    // USB line printer transport over the same kind of character device.
    let mut cfg = serial("label-2", DeviceKind::LabelPrinter, "zebra-gk420d", "");
    cfg.transport = TransportConfig::UsbLp(UsbLpConfig {
        path: sim.path_str(),
    });
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    let s = wait_state(&mut st, DeviceState::Error).await;
    assert!(matches!(s.status, KindStatus::Printer(ref p) if p.paused == Some(true)));
    let id = printer(&dev).print(LABEL.to_vec()).await.unwrap();
    state.lock().unwrap().set(false, false, false);
    eventually("printed after unpause", || {
        printer(&dev).job_state(&id) == JobState::Printed
    })
    .await;
    assert_eq!(state.lock().unwrap().printed, 1);
    ctx.shutdown.cancel();
    dev.join().await;
}

#[tokio::test]
async fn escpos_cover_open_holds_receipt_and_kicks_drawer() {
    let esc = EscPosPrinter::new();
    let state = esc.state();
    let sim = TcpSim::start(esc).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _s) = ctx(dir.path());
    let dev = wms_hardware::spawn(
        &tcp(
            "rcpt-1",
            DeviceKind::ReceiptPrinter,
            "epson-tm-m30",
            sim.port(),
        ),
        &ctx,
    )
    .unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    state.lock().unwrap().set(false, true, true);
    let s = wait_state(&mut st, DeviceState::Error).await;
    assert!(
        matches!(s.status, KindStatus::Printer(ref p) if p.cover_open == Some(true) && p.paper_near_end == Some(true) && p.head_open.is_none())
    );
    let mut receipt = b"\x1b@Thanks\n".to_vec();
    receipt.extend_from_slice(&wms_hardware::protocol::escpos::CUT);
    let id = printer(&dev).print(receipt).await.unwrap();
    printer(&dev).kick_drawer().await.unwrap();
    eventually("drawer kicked", || state.lock().unwrap().drawer_kicks == 1).await;
    assert_eq!(printer(&dev).job_state(&id), JobState::Queued);
    state.lock().unwrap().set(false, false, false);
    eventually("receipt printed", || {
        printer(&dev).job_state(&id) == JobState::Printed
    })
    .await;
    assert_eq!(state.lock().unwrap().receipts, 1);
    ctx.shutdown.cancel();
    dev.join().await;
}
