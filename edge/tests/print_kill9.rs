//! SIGKILL between a label's bytes reaching the printer and the spool recording it: the one
//! window in which a spooled job could print twice, closed with the printer's odometer (`~HQOD`).
//! A real `wms-edge run` child prints a label on a ZPL printer simulator on loopback TCP; a
//! crash-test hook (`HOLD_AFTER_SEND_ENV`) stops its printer task right after the send, and the
//! node is killed there. Restarted, it settles the job against the odometer:
//!
//! - the label had printed: the odometer moved, it is not sent again — one label;
//! - the printer still held it in its buffer (busy): the node waits until the printer is idle,
//!   the label prints, the odometer moves — one label;
//! - the printer lost it in a power cycle: the odometer did not move, it is sent again — one
//!   label;
//! - a printer without the odometer query (the documented residual case): it cannot tell and
//!   sends again — two labels, which is why the limit is written down.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

mod common;

use common::{spawn, spawn_with_env, Edge};
use serde_json::Value;
use wms_hardware::device::HOLD_AFTER_SEND_ENV;
use wms_hardware::sim::{TcpSim, ZplPrinter, ZplState};

const KEY: &str = "print-kill9-admin-key";
const DEADLINE: Duration = Duration::from_secs(30);

fn lock(m: &Arc<Mutex<ZplState>>) -> MutexGuard<'_, ZplState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn until<F>(what: &str, mut cond: F)
where
    F: FnMut() -> bool,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < end, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kill(edge: &mut Edge) {
    let _ = edge.child.kill(); // SIGKILL
    let _ = edge.child.wait();
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    PrintedBeforeTheKill,
    StillInThePrintersBuffer,
    LostInAPowerCycle,
    PrinterWithoutOdometer,
}

/// Runs one case; returns (formats the printer received, labels it printed).
async fn run(case: Case) -> (usize, usize) {
    let zpl = ZplPrinter::new();
    let printer: Arc<Mutex<ZplState>> = zpl.state();
    {
        let mut st = lock(&printer);
        st.busy = matches!(
            case,
            Case::StillInThePrintersBuffer | Case::LostInAPowerCycle
        );
        st.no_odometer = case == Case::PrinterWithoutOdometer;
    }
    let sim = TcpSim::start(zpl).await.expect("printer");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::write_config(
        dir.path(),
        "wh-pr9",
        KEY,
        &format!(
            "[log]\nlevel = \"error\"\n[discovery]\nenabled = false\n\
             [[devices]]\nid = \"label-1\"\nkind = \"label_printer\"\nprofile = \"zebra-zpl-203\"\n\
             transport = {{ tcp = {{ host = \"127.0.0.1\", port = {} }} }}\n\
             status_timeout_ms = 300\npoll_interval_ms = 100\n",
            sim.port()
        ),
    );
    let http = reqwest::Client::new();
    let mut edge = spawn_with_env(&config, &[(HOLD_AFTER_SEND_ENV, "1")]);
    let answer: Value = http
        .post(format!("{}/v1/devices/label-1/test-print", edge.base))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("test print")
        .json()
        .await
        .expect("job");
    let job = answer["job_id"].as_str().expect("job id").to_string();
    let spool = dir.path().join("data/spool/label-1");
    let in_doubt = |spool: &Path| {
        spool.join(format!("{job}.sending")).exists()
            && spool.join(format!("{job}.queued")).exists()
    };
    until("the label's bytes reach the printer", || {
        lock(&printer).formats.len() == 1
    })
    .await;
    until("the job is in doubt in the spool", || in_doubt(&spool)).await;
    if case == Case::PrintedBeforeTheKill {
        assert_eq!(lock(&printer).labels.len(), 1);
    }
    kill(&mut edge);
    if case == Case::LostInAPowerCycle {
        lock(&printer).power_cycle();
    }
    let polled = lock(&printer).hs_queries;
    let mut edge = spawn(&config);
    if case == Case::StillInThePrintersBuffer {
        // The node sees a busy printer and waits; the label it holds prints after that.
        until("the restarted node polls the busy printer", || {
            lock(&printer).hs_queries >= polled + 2
        })
        .await;
        assert_eq!(lock(&printer).formats.len(), 1, "nothing sent while busy");
        lock(&printer).release();
    }
    until("the job is confirmed printed", || {
        spool.join("printed").join(&job).exists()
    })
    .await;
    // Another poll round: nothing more goes to the printer.
    let polled = lock(&printer).hs_queries;
    until("the node polls again", || {
        lock(&printer).hs_queries >= polled + 2
    })
    .await;
    kill(&mut edge);
    let st = lock(&printer);
    (st.formats.len(), st.labels.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_between_send_and_mark_prints_the_label_exactly_once() {
    assert_eq!(run(Case::PrintedBeforeTheKill).await, (1, 1));
    assert_eq!(run(Case::StillInThePrintersBuffer).await, (1, 1));
    // Received twice (the first copy died with the power), printed once.
    assert_eq!(run(Case::LostInAPowerCycle).await, (2, 1));
    // The residual case the odometer cannot close: printed twice.
    assert_eq!(run(Case::PrinterWithoutOdometer).await, (2, 2));
}
