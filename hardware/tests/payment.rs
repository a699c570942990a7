//! Payment terminal over loopback TCP against the simulator.

mod common;

use common::*;
use wms_hardware::device::{Device, PaymentHandle, PaymentOutcome, PaymentRequest};
use wms_hardware::profiles::DeviceKind;
use wms_hardware::protocol::nexo::TransactionId;
use wms_hardware::sim::{PaymentTerminal, TcpSim, TerminalMode, TEST_PAN};
use wms_hardware::{Decimal, DeviceState, Error};

fn term(d: &Device) -> &PaymentHandle {
    match d {
        Device::PaymentTerminal(p) => p,
        other => panic!("not a terminal: {other:?}"),
    }
}

fn sale(id: &str) -> PaymentRequest {
    PaymentRequest {
        sale_transaction_id: id.into(),
        amount: Decimal::parse("10.99").unwrap(),
        currency: "EUR".into(),
        service_id: None,
    }
}

#[tokio::test]
async fn approve_decline_lost_response_timeout_abort_refund() {
    let t = PaymentTerminal::new();
    let state = t.state();
    let sim = TcpSim::start(t).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _s) = ctx(dir.path());
    let mut cfg = tcp(
        "pos-term-1",
        DeviceKind::PaymentTerminal,
        "nexo-terminal",
        sim.port(),
    );
    cfg.response_timeout_ms = Some(1500);
    cfg.recovery_timeout_ms = Some(5000);
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    let p = term(&dev);

    // Approved: only card-safe fields survive.
    let out = p.pay(sale("S-1")).await.unwrap();
    let PaymentOutcome::Approved(r) = &out else {
        panic!("{out:?}")
    };
    assert_eq!(r.masked_pan.as_deref(), Some("411111 **** 1111"));
    assert_eq!(r.brand.as_deref(), Some("visa"));
    assert_eq!(r.approval_code.as_deref(), Some("A1B2C3"));
    assert_eq!(r.authorized_amount.unwrap().to_string(), "10.99");
    assert!(!r.recovered);
    let dump = format!("{out:?} {}", serde_json::to_string(&out).unwrap());
    assert!(!dump.contains(TEST_PAN), "card data leaked: {dump}");
    assert!(!dump.contains("Track2"));
    let first_txn = r.terminal_transaction_id.clone().unwrap();
    let first_ts = r.terminal_time_stamp.clone().unwrap();

    // Declined.
    state.lock().unwrap().modes.push_back(TerminalMode::Decline);
    let out = p.pay(sale("S-2")).await.unwrap();
    assert!(
        matches!(out, PaymentOutcome::Declined { ref error_condition, .. } if error_condition.as_deref() == Some("Refusal"))
    );

    // Lost response: recovered by transaction status, charged exactly once, never resent.
    state
        .lock()
        .unwrap()
        .modes
        .push_back(TerminalMode::LoseResponse);
    let before = state.lock().unwrap().payment_requests;
    let out = p.pay(sale("S-3")).await.unwrap();
    let PaymentOutcome::Approved(r) = &out else {
        panic!("{out:?}")
    };
    assert!(r.recovered);
    {
        let g = state.lock().unwrap();
        assert_eq!(g.payment_requests, before + 1, "payment must not be resent");
        assert_eq!(
            g.charges
                .iter()
                .filter(|c| c.sale_transaction_id == "S-3")
                .count(),
            1
        );
        assert!(g.status_requests >= 1);
    }

    // Waiting for a card until the cashier aborts.
    state.lock().unwrap().modes.push_back(TerminalMode::Timeout);
    let p2 = p.clone();
    let pending = tokio::spawn(async move { p2.pay(sale("S-4")).await });
    eventually("terminal has the request", || {
        state.lock().unwrap().payment_requests == before + 2
    })
    .await;
    // A second sale on a busy terminal is refused locally.
    assert!(matches!(p.pay(sale("S-5")).await, Err(Error::Busy)));
    p.abort().await.unwrap();
    let out = tokio::time::timeout(DEADLINE, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(out, PaymentOutcome::Declined { ref error_condition, .. } if error_condition.as_deref() == Some("Aborted")),
        "{out:?}"
    );
    assert!(!state
        .lock()
        .unwrap()
        .charges
        .iter()
        .any(|c| c.sale_transaction_id == "S-4"));

    // Status of an unknown ServiceID: not processed, safe to retry.
    assert!(matches!(
        p.transaction_status("ZZZZZZZZZZ").await.unwrap(),
        PaymentOutcome::NotProcessed { .. }
    ));

    // Refund of the first sale; a second identical refund is refused.
    let orig = TransactionId {
        transaction_id: first_txn,
        time_stamp: first_ts,
    };
    let r = p.refund(orig.clone(), None).await.unwrap();
    assert!(r.accepted);
    let r = p.refund(orig, None).await.unwrap();
    assert!(!r.accepted);

    // Terminal unplugged: offline; nothing is sent; back online by itself.
    sim.unplug().await;
    wait_state(&mut st, DeviceState::Offline).await;
    assert!(matches!(p.pay(sale("S-6")).await, Err(Error::Offline(_))));
    sim.replug().await.unwrap();
    wait_state(&mut st, DeviceState::Online).await;
    let out = p.pay(sale("S-6")).await.unwrap();
    assert!(matches!(out, PaymentOutcome::Approved(_)));
    assert_eq!(state.lock().unwrap().charges.len(), 3);
    ctx.shutdown.cancel();
    dev.join().await;
}

#[tokio::test]
async fn a_service_id_chosen_before_sending_is_the_one_the_terminal_answers_about() {
    let t = PaymentTerminal::new();
    let state = t.state();
    let sim = TcpSim::start(t).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _s) = ctx(dir.path());
    let cfg = tcp(
        "pos-term-2",
        DeviceKind::PaymentTerminal,
        "nexo-terminal",
        sim.port(),
    );
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    let p = term(&dev);
    let mut req = sale("S-9");
    req.service_id = Some("WAL0000001".into());
    let out = p.pay(req).await.unwrap();
    let PaymentOutcome::Approved(r) = &out else {
        panic!("{out:?}")
    };
    assert_eq!(r.service_id, "WAL0000001");
    // A node that restarted asks about it by that id and learns the same approval.
    let again = p.transaction_status("WAL0000001").await.unwrap();
    let PaymentOutcome::Approved(r2) = &again else {
        panic!("{again:?}")
    };
    assert_eq!(r2.terminal_transaction_id, r.terminal_transaction_id);
    assert_eq!(
        state.lock().unwrap().payment_requests,
        1,
        "asked once, charged once"
    );
}

/// The terminal behaviours the till must survive beyond a plain approval: part of the amount
/// authorised, an answer given only to a status query, a card still being read for several
/// queries, an approval that arrives after the status query said NotFound, and a terminal busy
/// with a dialogue from elsewhere.
#[tokio::test]
async fn partial_silent_in_progress_late_and_busy_answers() {
    let t = PaymentTerminal::new();
    let state = t.state();
    let sim = TcpSim::start(t).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _s) = ctx(dir.path());
    let mut cfg = tcp(
        "pos-term-3",
        DeviceKind::PaymentTerminal,
        "nexo-terminal",
        sim.port(),
    );
    cfg.response_timeout_ms = Some(300);
    cfg.recovery_timeout_ms = Some(10_000);
    cfg.poll_interval_ms = Some(50);
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    let p = term(&dev);
    let mut late = p.late_answers();
    let push = |m: TerminalMode| state.lock().unwrap().modes.push_back(m);

    // Partial: half authorised, flagged.
    push(TerminalMode::Partial);
    let out = p.pay(sale("P-1")).await.unwrap();
    let PaymentOutcome::Approved(r) = &out else {
        panic!("{out:?}")
    };
    assert!(r.partial);
    assert_eq!(r.authorized_amount.unwrap().to_string(), "5.49");
    assert_eq!(r.entry_mode.as_deref(), Some("Contactless"));

    // Silent: no answer to the request; the status query after the response timeout finds it.
    push(TerminalMode::Silent);
    let out = p.pay(sale("P-2")).await.unwrap();
    assert!(
        matches!(&out, PaymentOutcome::Approved(r) if r.recovered),
        "{out:?}"
    );

    // In progress for three queries, then approved: asked again until it is known.
    push(TerminalMode::InProgress(3));
    let queries = state.lock().unwrap().status_requests;
    let out = p.pay(sale("P-3")).await.unwrap();
    assert!(
        matches!(&out, PaymentOutcome::Approved(r) if r.recovered),
        "{out:?}"
    );
    assert!(state.lock().unwrap().status_requests >= queries + 4);

    // NotFound, then the approval arrives late, ahead of the next payment's answer: the next
    // payment gets its own answer and the late one is reported apart.
    push(TerminalMode::LateApproval);
    let out = p.pay(sale("P-4")).await.unwrap();
    let PaymentOutcome::NotProcessed { service_id: gone } = out else {
        panic!("{out:?}")
    };
    push(TerminalMode::Decline);
    let out = p.pay(sale("P-5")).await.unwrap();
    assert!(matches!(out, PaymentOutcome::Declined { .. }), "{out:?}");
    let l = tokio::time::timeout(DEADLINE, late.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.service_id, gone);
    assert!(
        matches!(&l.outcome, PaymentOutcome::Approved(r) if r.sale_transaction_id.as_deref() == Some("P-4")),
        "{l:?}"
    );
    assert!(!format!("{l:?}").contains(TEST_PAN));

    // Busy: refused by the terminal, nothing charged.
    push(TerminalMode::Busy);
    let charges = state.lock().unwrap().charges.len();
    let out = p.pay(sale("P-6")).await.unwrap();
    assert!(
        matches!(out, PaymentOutcome::Declined { ref error_condition, .. } if error_condition.as_deref() == Some("Busy")),
        "{out:?}"
    );
    assert_eq!(state.lock().unwrap().charges.len(), charges);
    ctx.shutdown.cancel();
    dev.join().await;
}

/// A reversal sent under a ServiceID chosen beforehand can be asked about later; partial
/// reversals of one charge add up to at most what was charged.
#[tokio::test]
async fn partial_reversals_under_chosen_service_ids_and_their_status() {
    let t = PaymentTerminal::new();
    let state = t.state();
    let sim = TcpSim::start(t).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _s) = ctx(dir.path());
    let cfg = tcp(
        "pos-term-4",
        DeviceKind::PaymentTerminal,
        "nexo-terminal",
        sim.port(),
    );
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    let p = term(&dev);
    let PaymentOutcome::Approved(r) = p.pay(sale("R-1")).await.unwrap() else {
        panic!("approved")
    };
    let orig = TransactionId {
        transaction_id: r.terminal_transaction_id.clone().unwrap(),
        time_stamp: r.terminal_time_stamp.clone().unwrap(),
    };
    let d = |s: &str| Decimal::parse(s).unwrap();
    let a = p
        .reverse(orig.clone(), Some(d("4.00")), Some("REV0000001".into()))
        .await
        .unwrap();
    assert!(a.accepted);
    assert_eq!(a.service_id, "REV0000001");
    let again = p.reversal_status("REV0000001").await.unwrap();
    assert!(again.accepted, "{again:?}");
    // 4.00 + 6.99 = 10.99: the rest fits; anything more does not.
    assert!(
        p.reverse(orig.clone(), Some(d("6.99")), None)
            .await
            .unwrap()
            .accepted
    );
    let over = p
        .reverse(orig.clone(), Some(d("0.01")), None)
        .await
        .unwrap();
    assert!(!over.accepted);
    assert_eq!(
        state.lock().unwrap().reversed_cents(&orig.transaction_id),
        1099
    );
    let unknown = p.reversal_status("NEVERSENT0").await.unwrap();
    assert_eq!(unknown.error_condition.as_deref(), Some("NotFound"));
    ctx.shutdown.cancel();
    dev.join().await;
}
