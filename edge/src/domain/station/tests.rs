//! The canonical sequences of design.md §4 and the failure paths of issue 6 that belong to the
//! pure layer, each run against the in-memory floor with the store's re-checks.

use super::testkit::*;
use super::*;
use crate::domain::order::Status;

fn picked_to_tote(floor: &mut Floor) {
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    pick.all_good(
        floor,
        &[
            "EMP:100",
            "TOTE:T-1",
            "LOC:A-03-2",
            TSHIRT_GTIN,
            TSHIRT_GTIN,
            "LOC:B-01-1",
            MUG_L1,
            "LOC:C-02-1",
            "CAP-BLUE",
            "CMD:DONE",
        ],
    );
}

fn stage(out: &Outcome) -> &str {
    out.context["stage"].as_str().unwrap_or("")
}

#[test]
fn pick_canonical_sequence_picks_every_task_and_closes_the_tote() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    let out = pick.scan(&mut floor, "EMP:100");
    assert!(out.feedback.good);
    assert_eq!(
        out.commands,
        vec![Command::SessionStarted {
            user_id: "u-pia".into()
        }]
    );
    let out = pick.scan(&mut floor, "TOTE:T-1");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert_eq!(out.context["task"]["location"], "A-03-2");
    assert_eq!(out.context["task"]["sku"], "TSHIRT-M");
    assert_eq!(out.context["task"]["qty"], 2);
    assert_eq!(out.context["task"]["order_id"], "SO-1");
    assert!(
        out.feedback.prompt.contains("Scan location A-03-2"),
        "{}",
        out.feedback.prompt
    );
    pick.all_good(&mut floor, &["LOC:A-03-2"]);
    // QTY:2 then one scan picks both units.
    pick.all_good(&mut floor, &["QTY:2"]);
    let out = pick.scan(&mut floor, TSHIRT_GTIN);
    assert!(out.feedback.good);
    assert!(
        matches!(&out.commands[0], Command::Pick { qty: 2, location, .. } if location == "A-03-2")
    );
    assert_eq!(out.context["task"]["location"], "B-01-1");
    pick.all_good(
        &mut floor,
        &["LOC:B-01-1", MUG_L1, "LOC:C-02-1", "CAP-BLUE"],
    );
    assert_eq!(pick.state.user().map(|u| u.user_id.as_str()), Some("u-pia"));
    let out = pick.scan(&mut floor, "CMD:DONE");
    assert!(out.feedback.good);
    assert!(
        matches!(&out.commands[0], Command::CloseTote { tote, order_ids } if tote == "T-1" && order_ids.len() == 2)
    );
    assert_eq!(floor.status("SO-1"), Some(Status::Picked));
    assert_eq!(floor.status("SO-2"), Some(Status::Picked));
    assert_eq!(floor.total_units(), floor.initial_units);
    assert_eq!(stage(&out), "await_tote");
}

#[test]
fn pick_wrong_location_item_lot_and_over_pick_are_refused_without_changing_state() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    pick.all_good(&mut floor, &["EMP:100", "TOTE:T-1"]);
    for (text, expect) in [
        ("LOC:B-01-1", "Wrong location: scan LOC A-03-2"),
        (TSHIRT_GTIN, "First Scan location A-03-2"),
        ("CMD:SHORT", "First Scan location A-03-2"),
    ] {
        let before = pick.state.clone();
        let out = pick.scan(&mut floor, text);
        assert!(!out.feedback.good, "{text}");
        assert!(
            out.feedback.prompt.starts_with(expect),
            "{text}: {}",
            out.feedback.prompt
        );
        assert_eq!(out.next, before);
        assert!(out.commands.is_empty());
    }
    pick.all_good(&mut floor, &["LOC:A-03-2"]);
    for (text, expect) in [
        ("CAP-BLUE", "Wrong item: expected SKU TSHIRT-M"),
        ("QTY:3", "Over-pick: only 2 left"),
        ("NOPE-123", "Unknown barcode NOPE-123"),
        ("CMD:DONE", "Task not finished"),
    ] {
        let before = pick.state.clone();
        let out = pick.scan(&mut floor, text);
        assert!(!out.feedback.good, "{text}");
        assert!(
            out.feedback.prompt.starts_with(expect),
            "{text}: {}",
            out.feedback.prompt
        );
        assert_eq!(out.next, before);
    }
    pick.all_good(&mut floor, &[TSHIRT_GTIN, TSHIRT_GTIN, "LOC:B-01-1"]);
    // The allocation names lot L1: a plain GTIN or another lot is refused.
    let out = pick.scan(&mut floor, MUG_GTIN);
    assert_eq!(
        out.feedback.prompt,
        "Scan the GS1 label: lot L1 expected for MUG"
    );
    let out = pick.scan(&mut floor, MUG_L2);
    assert_eq!(out.feedback.prompt, "Wrong lot L2: expected lot L1");
    assert!(pick.scan(&mut floor, MUG_L1).feedback.good);
}

#[test]
fn short_pick_reallocates_from_another_location_or_raises_an_exception() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    pick.all_good(
        &mut floor,
        &["EMP:100", "TOTE:T-1", "LOC:A-03-2", TSHIRT_GTIN],
    );
    let out = pick.scan(&mut floor, "CMD:SHORT");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert!(
        matches!(&out.commands[0], Command::ShortPick { short_qty: 1, sku, .. } if sku == "TSHIRT-M")
    );
    // A-04-1 has T-shirts: a new task for the missing unit; the order is still picking.
    assert_eq!(floor.status("SO-1"), Some(Status::Picking));
    assert!(floor
        .tasks
        .iter()
        .any(|t| t.open && t.task.location == "A-04-1" && t.task.qty == 1));
    pick.all_good(&mut floor, &["LOC:B-01-1", MUG_L1, "LOC:C-02-1"]);
    // No other location has caps: the order goes to exception.
    let out = pick.scan(&mut floor, "CMD:SHORT");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert_eq!(floor.status("SO-2"), Some(Status::Exception));
    assert_eq!(out.context["task"]["location"], "A-04-1");
    pick.all_good(&mut floor, &["LOC:A-04-1", TSHIRT_GTIN, "CMD:DONE"]);
    assert_eq!(floor.status("SO-1"), Some(Status::Picked));
    // What the short pick wrote off is an adjustment; nothing else was lost.
    assert_eq!(
        floor.total_units(),
        floor.initial_units + floor.adjusted_units
    );
}

#[test]
fn hold_during_picking_refuses_every_scan_until_the_picker_sets_it_aside() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    pick.all_good(
        &mut floor,
        &["EMP:100", "TOTE:T-1", "LOC:A-03-2", TSHIRT_GTIN],
    );
    assert!(floor.hold("SO-1"));
    for text in [TSHIRT_GTIN, "LOC:A-03-2", "QTY:1", "CMD:SHORT", "CMD:DONE"] {
        let before = pick.state.clone();
        let out = pick.scan(&mut floor, text);
        assert!(!out.feedback.good, "{text}");
        assert_eq!(
            out.feedback.prompt,
            "Order SO-1 on hold — put its items back, then scan CMD:SKIP"
        );
        assert_eq!(out.next, before);
        assert!(out.commands.is_empty());
    }
    let out = pick.scan(&mut floor, "CMD:SKIP");
    assert!(out.feedback.good);
    // SO-1's other task is withdrawn too: the station goes straight to SO-2.
    assert_eq!(out.context["task"]["order_id"], "SO-2");
    assert_eq!(floor.status("SO-1"), Some(Status::OnHold));
}

#[test]
fn pack_canonical_sequence_verifies_weighs_prints_and_ships() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(&mut floor, &["EMP:200"]);
    // The tote holds two orders, so the order is scanned.
    let out = pack.scan(&mut floor, "TOTE:T-1");
    assert_eq!(
        out.feedback.prompt,
        "Tote T-1 holds 2 orders — scan the order (ORD:)"
    );
    let out = pack.scan(&mut floor, "ORD:SO-1");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert_eq!(floor.status("SO-1"), Some(Status::Packing));
    pack.all_good(&mut floor, &[TSHIRT_GTIN, MUG_L1]);
    let out = pack.scan(&mut floor, TSHIRT_GTIN);
    assert!(out.feedback.good);
    assert_eq!(stage(&out), "weighing");
    assert_eq!(out.context["read_scale"], true);
    // Expected 2 × 200 g + 350 g = 750 g; 790 g is within 75 g.
    let out = pack.weigh(&mut floor, 790);
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert!(matches!(
        &out.commands[..],
        [
            Command::PrintLabel {
                weight_mg: 790_000,
                ..
            },
            Command::PrintSlip { .. }
        ]
    ));
    assert_eq!(floor.status("SO-1"), Some(Status::Packed));
    let out = pack.scan(&mut floor, "CMD:REPRINT");
    assert!(matches!(&out.commands[..], [Command::Reprint { .. }]));
    let out = pack.scan(&mut floor, "CMD:DONE");
    assert!(out.feedback.good);
    assert!(
        matches!(&out.commands[..], [Command::ConfirmShipment { lines, .. }] if lines.iter().map(|l| l.qty).sum::<u32>() == 3)
    );
    assert_eq!(floor.status("SO-1"), Some(Status::Shipped));
    assert_eq!(floor.shipped_units, 3);
    assert_eq!(floor.total_units(), floor.initial_units);
    // The tote now only holds SO-2: scanning it takes that order.
    let out = pack.scan(&mut floor, "TOTE:T-1");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert_eq!(out.context["order"]["order_id"], "SO-2");
}

/// The lot and serial of each unit scanned at the bench are kept with the unit: a lot the tote does
/// not hold for the line is refused, a serial packs once, and the shipment carries both.
#[test]
fn pack_records_each_units_lot_and_serial_and_refuses_a_lot_not_picked() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(&mut floor, &["EMP:200", "ORD:SO-1"]);
    let before = pack.state.clone();
    let out = pack.scan(&mut floor, MUG_L2);
    assert!(!out.feedback.good);
    assert_eq!(
        out.feedback.prompt,
        "Wrong lot: lot L2 of SKU MUG was not picked for order SO-1 (picked: L1) — take it out"
    );
    assert_eq!(pack.state, before);
    let tshirt_serial = |s: &str| format!("]C101{TSHIRT_GTIN}21{s}");
    pack.all_good(
        &mut floor,
        &[&format!("{MUG_L1}\x1D21M-7"), &tshirt_serial("T-1")],
    );
    let out = pack.scan(&mut floor, &tshirt_serial("T-1"));
    assert_eq!(
        out.feedback.prompt,
        "Serial T-1 is already packed for order SO-1 — take it out"
    );
    let out = pack.scan(&mut floor, &tshirt_serial("T-2"));
    assert_eq!(stage(&out), "weighing", "{}", out.feedback.prompt);
    assert!(pack.weigh(&mut floor, 750).feedback.good);
    let out = pack.scan(&mut floor, "CMD:DONE");
    let Some(Command::ConfirmShipment { lines, .. }) = out.commands.first() else {
        panic!("{:?}", out.commands);
    };
    let lots = |sku: &str| {
        lines
            .iter()
            .find(|l| l.sku == sku)
            .map(|l| l.lots.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        lots("MUG"),
        vec![UnitLot {
            lot: Some("L1".into()),
            qty: 1,
            serials: vec!["M-7".into()]
        }]
    );
    // T-shirts have no lots in the tote: only their serials are kept.
    assert_eq!(
        lots("TSHIRT-M"),
        vec![UnitLot {
            lot: None,
            qty: 2,
            serials: vec!["T-1".into(), "T-2".into()]
        }]
    );
}

#[test]
fn pack_wrong_item_and_over_scan_are_refused_zero_mis_packs() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(
        &mut floor,
        &["EMP:200", "ORD:SO-1", TSHIRT_GTIN, TSHIRT_GTIN],
    );
    let before = pack.state.clone();
    let out = pack.scan(&mut floor, "CAP-BLUE");
    assert_eq!(
        out.feedback.prompt,
        "Wrong item: SKU CAP is not in order SO-1 — take it out"
    );
    assert_eq!(out.next, before);
    let out = pack.scan(&mut floor, TSHIRT_GTIN);
    assert_eq!(
        out.feedback.prompt,
        "Over-scan: SKU TSHIRT-M needs 0 more (2 of 2 verified) — take it out"
    );
    assert_eq!(out.next, before);
    pack.all_good(&mut floor, &["QTY:2"]);
    let out = pack.scan(&mut floor, MUG_GTIN);
    assert!(out
        .feedback
        .prompt
        .starts_with("Over-scan: SKU MUG needs 1 more"));
    // A weight before every unit is verified prints nothing.
    let out = pack.weigh(&mut floor, 750);
    assert!(!out.feedback.good);
    assert!(out.commands.is_empty());
}

#[test]
fn weight_out_of_tolerance_prints_nothing_until_reweighed_or_overridden() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(
        &mut floor,
        &["EMP:200", "ORD:SO-1", TSHIRT_GTIN, TSHIRT_GTIN, MUG_L1],
    );
    let out = pack.weigh(&mut floor, 900);
    assert!(!out.feedback.good);
    assert!(out.commands.is_empty());
    assert!(
        out.feedback
            .prompt
            .starts_with("Weight 0.900 kg out of tolerance (expected 0.750 kg ± 0.075 kg)"),
        "{}",
        out.feedback.prompt
    );
    assert!(floor.labels_printed.is_empty());
    // Unstable readings are not checked at all.
    let out = pack.input(
        &mut floor,
        StationInput::Weight(ScaleReading {
            milligrams: 750_000,
            stable: false,
        }),
    );
    assert_eq!(out.feedback.prompt, "Weight not stable — hold still");
    // CMD:DONE cannot skip the weight.
    assert!(!pack.scan(&mut floor, "CMD:DONE").feedback.good);
    // Fix the carton, read again.
    pack.all_good(&mut floor, &["CMD:WEIGH"]);
    let out = pack.weigh(&mut floor, 760);
    assert!(out.feedback.good);
    assert_eq!(floor.labels_printed, vec!["SO-1".to_string()]);
}

#[test]
fn a_supervisor_override_needs_badge_and_pin_and_is_audited() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(
        &mut floor,
        &["EMP:200", "ORD:SO-1", TSHIRT_GTIN, TSHIRT_GTIN, MUG_L1],
    );
    pack.weigh(&mut floor, 2000);
    // A packer's badge cannot override.
    assert_eq!(
        pack.scan(&mut floor, "EMP:200").feedback.prompt,
        "Override needs a supervisor badge"
    );
    pack.all_good(&mut floor, &["EMP:900"]);
    let out = pack.scan(&mut floor, "PIN:9999");
    assert!(!out.feedback.good);
    // The wrong PIN is audited as a failed login, and changes nothing else.
    assert_eq!(
        out.commands,
        vec![Command::LoginFailed {
            user_id: Some("u-sue".into()),
            reason: LoginFailure::WrongPin
        }]
    );
    assert!(floor.labels_printed.is_empty());
    let out = pack.scan(&mut floor, "PIN:4321");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    // The PIN never appears in prompts or context.
    assert!(!out.feedback.prompt.contains("4321"));
    assert!(!out.context.to_string().contains("4321"));
    let Command::Audit {
        action,
        by_user,
        changes,
        ..
    } = &out.commands[0]
    else {
        panic!("expected an audit first: {:?}", out.commands);
    };
    assert_eq!(
        (action.as_str(), by_user.as_str()),
        ("pack.weight_override", "u-sue")
    );
    assert_eq!(changes["measured_mg"], 2_000_000);
    assert_eq!(changes["expected_mg"], 750_000);
    // Who packed it and where travel with the supervisor's name.
    assert_eq!(changes["packer"], "u-pat");
    assert_eq!(changes["station"], "pack-1");
    assert_eq!(floor.labels_printed, vec!["SO-1".to_string()]);
    // The packer is still the one logged in.
    assert_eq!(pack.state.user().map(|u| u.user_id.as_str()), Some("u-pat"));
}

#[test]
fn cancel_during_packing_refuses_every_step_and_the_tote_is_set_aside() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(
        &mut floor,
        &["EMP:200", "ORD:SO-1", TSHIRT_GTIN, TSHIRT_GTIN],
    );
    assert!(floor.cancel("SO-1"));
    for text in [MUG_L1, "CMD:DONE", "CMD:WEIGH", "CMD:REPRINT", "ORD:SO-1"] {
        let before = pack.state.clone();
        let out = pack.scan(&mut floor, text);
        assert!(!out.feedback.good, "{text}");
        assert_eq!(
            out.feedback.prompt,
            "Order SO-1 cancelled — put tote aside (CMD:CANCEL)"
        );
        assert_eq!(out.next, before);
    }
    let out = pack.weigh(&mut floor, 750);
    assert!(!out.feedback.good);
    assert!(out.commands.is_empty());
    let out = pack.scan(&mut floor, "CMD:CANCEL");
    assert!(out.feedback.good);
    assert_eq!(stage(&out), "await_order");
    assert!(floor.labels_printed.is_empty() && floor.shipments.is_empty());
    // The order itself stays cancelled; its units wait in the tote for re-stock.
    assert_eq!(floor.status("SO-1"), Some(Status::Cancelled));
    assert_eq!(floor.total_units(), floor.initial_units);
}

#[test]
fn cancel_after_label_asks_to_void_it_and_never_ships() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(
        &mut floor,
        &["EMP:200", "ORD:SO-1", TSHIRT_GTIN, TSHIRT_GTIN, MUG_L1],
    );
    assert!(pack.weigh(&mut floor, 750).feedback.good);
    assert!(floor.cancel("SO-1"));
    let out = pack.scan(&mut floor, "CMD:DONE");
    assert_eq!(
        out.feedback.prompt,
        "Order SO-1 cancelled — void the label, put tote aside for re-stock (CMD:CANCEL)"
    );
    let out = pack.scan(&mut floor, "CMD:CANCEL");
    assert!(matches!(
        &out.commands[..],
        [Command::ReleaseOrder {
            label_printed: true,
            ..
        }]
    ));
    assert!(floor.shipments.is_empty());
}

#[test]
fn the_store_recheck_wins_the_race_with_a_cancel_on_the_last_scan() {
    // The cancel lands after the station read the view but before the commit: the store refuses
    // the label, the whole outcome rolls back and the station stays where it was.
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(
        &mut floor,
        &["EMP:200", "ORD:SO-1", TSHIRT_GTIN, TSHIRT_GTIN, MUG_L1],
    );
    let stale = floor.clone();
    let out = on_input(
        &pack.config,
        &pack.state,
        &StationInput::Weight(ScaleReading {
            milligrams: 750_000,
            stable: true,
        }),
        &stale,
        pack.now,
    );
    assert!(out
        .commands
        .iter()
        .any(|c| matches!(c, Command::PrintLabel { .. })));
    assert!(floor.cancel("SO-1"));
    let before = floor.clone();
    assert_eq!(
        floor.execute(out.actor.user.as_deref(), &out.commands),
        Err("order SO-1 is cancelled".to_string())
    );
    assert_eq!(floor, before);
}

#[test]
fn cancel_at_a_pack_station_returns_the_order_to_its_queue_never_cancels_it() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(&mut floor, &["EMP:200", "ORD:SO-2", "CMD:CANCEL"]);
    assert_eq!(floor.status("SO-2"), Some(Status::Packing));
    // Taken again, it starts from the first unit.
    let out = pack.scan(&mut floor, "ORD:SO-2");
    assert_eq!(out.context["order"]["lines"][0]["verified"], 0);
}

#[test]
fn count_applies_within_threshold_and_asks_for_an_agreeing_recount_above_it() {
    let mut floor = Floor::sample();
    let mut count = Bench::new("count-1", StationKind::Count);
    count.all_good(&mut floor, &["EMP:100", "LOC:A-03-2", "QTY:9", TSHIRT_GTIN]);
    let out = count.scan(&mut floor, "CMD:DONE");
    assert!(matches!(
        &out.commands[..],
        [Command::Count {
            counted: 9,
            expected: 10,
            recounted: false,
            ..
        }]
    ));
    assert_eq!(floor.adjusted_units, -1);
    // 3 instead of 5 mugs is above the threshold of 2: recount first.
    count.all_good(&mut floor, &["LOC:B-01-1", "QTY:2", MUG_L1]);
    let out = count.scan(&mut floor, "CMD:DONE");
    assert!(out.commands.is_empty());
    assert_eq!(out.feedback.prompt, "MUG off by 3 — recount LOC B-01-1");
    assert_eq!(stage(&out), "recounting");
    // A plain GTIN does not say which lot: refused.
    assert!(!count.scan(&mut floor, MUG_GTIN).feedback.good);
    count.all_good(&mut floor, &[MUG_L1]);
    // A recount that disagrees with the first asks again; one that agrees applies.
    let out = count.scan(&mut floor, "CMD:DONE");
    assert!(out.commands.is_empty());
    count.all_good(&mut floor, &[MUG_L1]);
    let out = count.scan(&mut floor, "CMD:DONE");
    assert!(
        matches!(
            &out.commands[..],
            [Command::Count {
                counted: 1,
                expected: 5,
                recounted: true,
                ..
            }]
        ),
        "{:?}",
        out.commands
    );
    assert_eq!(
        floor.total_units(),
        floor.initial_units + floor.adjusted_units
    );
}

#[test]
fn receive_books_into_the_receiving_location_and_put_away_moves_it() {
    let mut floor = Floor::sample();
    let mut rcv = Bench::new("rcv-1", StationKind::Receive);
    rcv.all_good(&mut floor, &["EMP:100"]);
    // A lot-tracked product needs its GS1 label.
    assert!(!rcv.scan(&mut floor, MUG_GTIN).feedback.good);
    rcv.all_good(&mut floor, &[MUG_L2, "QTY:3", TSHIRT_GTIN]);
    let out = rcv.scan(&mut floor, "CMD:DONE");
    assert_eq!(out.commands.len(), 2);
    assert!(out.commands.contains(&Command::Receive {
        location: "RCV-1".into(),
        tenant_id: "acme".into(),
        sku: "MUG".into(),
        lot: Some("L2".into()),
        expiry: Some("2027-03-31".into()),
        qty: 1,
    }));
    assert_eq!(floor.received_units, 4);
    rcv.all_good(&mut floor, &["LOC:RCV-1", "QTY:3", TSHIRT_GTIN]);
    assert_eq!(
        rcv.scan(&mut floor, TSHIRT_GTIN).feedback.prompt,
        "Only 0 × TSHIRT-M at LOC RCV-1"
    );
    let out = rcv.scan(&mut floor, "LOC:D-01-1");
    assert!(matches!(&out.commands[..], [Command::Move { qty: 3, .. }]));
    assert_eq!(
        floor
            .stock
            .get(&("D-01-1".into(), "acme".into(), "TSHIRT-M".into(), None)),
        Some(&3)
    );
    assert_eq!(
        floor.total_units(),
        floor.initial_units + floor.received_units
    );
}

#[test]
fn sessions_badge_pin_logout_and_idle_timeout() {
    let mut floor = Floor::sample();
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    assert_eq!(
        pack.scan(&mut floor, "ORD:SO-1").feedback.prompt,
        "Scan your badge (EMP:)"
    );
    assert_eq!(
        pack.scan(&mut floor, "EMP:999").feedback.prompt,
        "Unknown badge — see supervisor"
    );
    // A picker may not pack; a cashier may not pack either.
    assert!(!pack.scan(&mut floor, "EMP:100").feedback.good);
    assert!(!pack.scan(&mut floor, "EMP:500").feedback.good);
    // A supervisor needs the PIN.
    let out = pack.scan(&mut floor, "EMP:900");
    assert_eq!(stage(&out), "awaiting_pin");
    assert!(out.commands.is_empty());
    let out = pack.scan(&mut floor, "PIN:0000");
    assert_eq!(out.feedback.prompt, "Wrong PIN — scan your PIN again");
    let out = pack.scan(&mut floor, "PIN:4321");
    assert!(out.feedback.good);
    assert_eq!(
        out.commands,
        vec![Command::SessionStarted {
            user_id: "u-sue".into()
        }]
    );
    let out = pack.scan(&mut floor, "CMD:LOGOUT");
    assert_eq!(stage(&out), "logged_out");
    // A packer logs in with the badge alone; an idle session ends and returns the order.
    picked_to_tote(&mut floor);
    pack.all_good(&mut floor, &["EMP:200", "ORD:SO-1"]);
    pack.now += chrono::Duration::seconds(i64::from(pack.config.idle_timeout_s));
    let out = tick(&pack.config, &pack.state, pack.now).expect("the session expires");
    assert_eq!(
        out.commands,
        vec![
            Command::ReleaseOrder {
                order_id: "SO-1".into(),
                label_printed: false
            },
            Command::SessionEnded {
                user_id: "u-pat".into(),
                reason: SessionEnd::IdleTimeout
            },
        ]
    );
    assert_eq!(out.next, StationState::default());
    // The same expiry happens on the next scan when no timer ran.
    let out = pack.scan(&mut floor, TSHIRT_GTIN);
    assert_eq!(
        out.feedback.prompt,
        "Session timed out — Scan your badge (EMP:)"
    );
    assert_eq!(out.next.session, Session::LoggedOut);
}

#[test]
fn pins_stay_out_of_prompts_and_context_everywhere() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    for text in [
        "PIN:8642",
        "EMP:100",
        "PIN:8642",
        "TOTE:T-9",
        "PIN:8642",
        "LOC:A-03-2",
        "PIN:8642",
    ] {
        let out = pick.scan(&mut floor, text);
        assert!(
            !out.feedback.prompt.contains("8642"),
            "{text}: {}",
            out.feedback.prompt
        );
        assert!(!out.context.to_string().contains("8642"));
    }
}

#[test]
fn the_state_survives_a_restart_mid_order() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(&mut floor, &["EMP:200", "ORD:SO-1", TSHIRT_GTIN]);
    let text = serde_json::to_string(&pack.state).expect("serializable");
    let restored: StationState = serde_json::from_str(&text).expect("deserializable");
    assert_eq!(restored, pack.state);
    pack.state = restored;
    pack.all_good(&mut floor, &[TSHIRT_GTIN, MUG_L1]);
    assert!(pack.weigh(&mut floor, 750).feedback.good);
}

#[test]
fn tolerance_is_the_larger_of_the_percentage_and_the_floor() {
    assert_eq!(pack::allowed_deviation(100_000, 10, 50_000), 50_000);
    assert_eq!(pack::allowed_deviation(2_000_000, 10, 50_000), 200_000);
    assert_eq!(pack::allowed_deviation(i64::MAX, 10, 0), i64::MAX / 10);
}

#[test]
fn pick_skip_comes_back_later_and_cancel_returns_the_task_to_its_queue() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    pick.all_good(&mut floor, &["EMP:100", "TOTE:T-1"]);
    let out = pick.scan(&mut floor, "CMD:SKIP");
    assert_eq!(out.context["task"]["location"], "B-01-1");
    let out = pick.scan(&mut floor, "CMD:CANCEL");
    assert!(out.feedback.good);
    assert!(matches!(&out.commands[0], Command::ReleaseTask { task_id, .. } if task_id == "T2"));
    assert!(floor
        .tasks
        .iter()
        .any(|t| t.task.task_id == "T2" && t.open && t.claimed_by.is_none()));
    // The order itself is untouched.
    assert_eq!(floor.status("SO-1"), Some(Status::Picking));
    pick.all_good(&mut floor, &["LOC:C-02-1", "CAP-BLUE"]);
    // Only the skipped task is left: it comes back.
    let out = pick.scan(&mut floor, "LOC:A-03-2");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert_eq!(out.context["task"]["sku"], "TSHIRT-M");
}

#[test]
fn logging_out_mid_tote_returns_open_tasks_and_sends_the_tote_on() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    pick.all_good(
        &mut floor,
        &["EMP:100", "TOTE:T-1", "LOC:A-03-2", TSHIRT_GTIN],
    );
    let out = pick.scan(&mut floor, "CMD:LOGOUT");
    assert_eq!(
        out.commands,
        vec![
            Command::ReleaseTask {
                task_id: "T1".into(),
                order_id: "SO-1".into()
            },
            Command::CloseTote {
                tote: "T-1".into(),
                order_ids: vec!["SO-1".into()]
            },
            Command::SessionEnded {
                user_id: "u-pia".into(),
                reason: SessionEnd::Logout
            },
        ]
    );
    // Another picker gets the unit that is left.
    let mut other = Bench::new("pick-2", StationKind::Pick);
    let out = other.all_good(&mut floor, &["EMP:300", "TOTE:T-2"]);
    assert_eq!(out[1].context["task"]["qty"], 1);
    assert_eq!(floor.total_units(), floor.initial_units);
}

#[test]
fn a_multi_carton_order_weighs_and_labels_each_carton_and_ships_once() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(
        &mut floor,
        &["EMP:200", "ORD:SO-1", TSHIRT_GTIN, TSHIRT_GTIN],
    );
    let out = pack.scan(&mut floor, "CMD:DONE");
    assert_eq!(
        out.feedback.prompt,
        "Carton 1 closed with 2 items — place it on the scale"
    );
    // Carton 1 holds two T-shirts: 400 g expected, not the whole order's 750 g.
    let out = pack.weigh(&mut floor, 400);
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert!(matches!(
        &out.commands[..],
        [
            Command::PrintLabel {
                carton: 1,
                complete: false,
                ..
            },
            Command::PrintSlip { .. }
        ]
    ));
    assert_eq!(floor.status("SO-1"), Some(Status::Packing));
    // CMD:DONE now would ask for a partial shipment; the next item opens carton 2 instead.
    let out = pack.scan(&mut floor, "CMD:DONE");
    assert!(out.feedback.good);
    assert_eq!(stage(&out), "approve_partial");
    assert!(out.commands.is_empty());
    // Nothing more of what is already packed goes in.
    assert!(!pack.scan(&mut floor, TSHIRT_GTIN).feedback.good);
    pack.all_good(&mut floor, &[MUG_L1]);
    let out = pack.weigh(&mut floor, 350);
    assert!(matches!(
        &out.commands[..],
        [Command::PrintLabel {
            carton: 2,
            complete: true,
            ..
        }]
    ));
    assert_eq!(floor.status("SO-1"), Some(Status::Packed));
    let out = pack.scan(&mut floor, "CMD:DONE");
    assert!(matches!(
        &out.commands[..],
        [Command::ConfirmShipment {
            cartons: 2,
            weight_mg: 750_000,
            ..
        }]
    ));
    assert_eq!(floor.status("SO-1"), Some(Status::Shipped));
}

#[test]
fn a_tenants_own_staff_never_see_another_tenants_orders() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    floor.users.push((
        "210".into(),
        UserView {
            user_id: "u-zed".into(),
            name: "Zed".into(),
            tenant_id: Some("globex".into()),
            roles: vec![crate::domain::role::Role::Packer],
        },
        String::new(),
    ));
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(&mut floor, &["EMP:210"]);
    assert_eq!(
        pack.scan(&mut floor, "ORD:SO-1").feedback.prompt,
        "Unknown order SO-1"
    );
    assert_eq!(
        pack.scan(&mut floor, "TOTE:T-1").feedback.prompt,
        "Tote T-1 has no order to pack — scan ORD:"
    );
}

#[test]
fn pick_by_order_fills_a_tote_with_that_order_alone() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    pick.all_good(&mut floor, &["EMP:100"]);
    let out = pick.scan(&mut floor, "ORD:NOPE");
    assert!(!out.feedback.good);
    let out = pick.scan(&mut floor, "ORD:SO-2");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert!(out.commands.is_empty(), "choosing claims nothing");
    assert_eq!(out.context["order_id"], "SO-2");
    let out = pick.scan(&mut floor, "TOTE:T-9");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert_eq!(out.context["task"]["order_id"], "SO-2");
    assert_eq!(out.context["task"]["location"], "C-02-1");
    pick.all_good(&mut floor, &["LOC:C-02-1", "CAP-BLUE"]);
    assert_eq!(stage(&pick.scan(&mut floor, "LOC:A-03-2")), "tote_complete");
    pick.all_good(&mut floor, &["CMD:DONE"]);
    assert_eq!(floor.status("SO-2"), Some(Status::Picked));
    assert_eq!(floor.status("SO-1"), Some(Status::Allocated));
    assert_eq!(floor.total_units(), floor.initial_units);
}

#[test]
fn a_short_picked_order_ships_partially_only_with_a_supervisors_approval() {
    let mut floor = Floor::sample();
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    pick.all_good(
        &mut floor,
        &[
            "EMP:100",
            "TOTE:T-1",
            "LOC:A-03-2",
            TSHIRT_GTIN,
            TSHIRT_GTIN,
            "LOC:B-01-1",
        ],
    );
    // B-01-1 has no mug after all, and no other location has lot L1: exception.
    floor.stock.retain(|(_, _, sku, _), _| sku != "MUG");
    let units = floor.total_units();
    assert!(pick.scan(&mut floor, "CMD:SHORT").feedback.good);
    assert_eq!(floor.status("SO-1"), Some(Status::Exception));
    pick.all_good(&mut floor, &["LOC:C-02-1", "CAP-BLUE", "CMD:DONE"]);

    let mut pack = Bench::new("pack-1", StationKind::Pack);
    pack.all_good(&mut floor, &["EMP:200"]);
    let out = pack.scan(&mut floor, "ORD:SO-1");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    assert!(
        out.feedback.prompt.contains("picked short (2 of 3)"),
        "{}",
        out.feedback.prompt
    );
    assert_eq!(floor.status("SO-1"), Some(Status::Packing));
    // The mug was never picked: it cannot be verified.
    let out = pack.scan(&mut floor, MUG_L1);
    assert!(!out.feedback.good);
    assert!(
        out.feedback
            .prompt
            .contains("only 0 of SKU MUG were picked"),
        "{}",
        out.feedback.prompt
    );
    pack.all_good(&mut floor, &[TSHIRT_GTIN]);
    let out = pack.scan(&mut floor, TSHIRT_GTIN);
    assert_eq!(stage(&out), "weighing", "{}", out.feedback.prompt);
    let out = pack.weigh(&mut floor, 400);
    assert!(matches!(
        &out.commands[..],
        [
            Command::PrintLabel {
                complete: false,
                ..
            },
            Command::PrintSlip { .. }
        ]
    ));
    let out = pack.scan(&mut floor, "CMD:DONE");
    assert_eq!(stage(&out), "approve_partial");
    // A packer cannot approve; a wrong PIN ships nothing.
    assert_eq!(
        pack.scan(&mut floor, "EMP:200").feedback.prompt,
        "A partial shipment needs a supervisor badge"
    );
    assert!(!pack.scan(&mut floor, "PIN:4321").feedback.good);
    pack.all_good(&mut floor, &["EMP:900"]);
    assert!(!pack.scan(&mut floor, "PIN:9999").feedback.good);
    assert!(floor.shipments.is_empty());
    let out = pack.scan(&mut floor, "PIN:4321");
    assert!(out.feedback.good, "{}", out.feedback.prompt);
    let [Command::Audit {
        action,
        by_user,
        upstream,
        ..
    }, Command::ConfirmShipment {
        lines, approved_by, ..
    }] = &out.commands[..]
    else {
        panic!(
            "expected the approval's audit and a shipment: {:?}",
            out.commands
        );
    };
    assert_eq!(
        (action.as_str(), by_user.as_str(), *upstream),
        ("pack.partial_shipment", "u-sue", true)
    );
    assert_eq!(approved_by.as_deref(), Some("u-sue"));
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.sku.as_str(), l.qty))
            .collect::<Vec<_>>(),
        vec![("TSHIRT-M", 2)]
    );
    assert_eq!(floor.status("SO-1"), Some(Status::PartiallyShipped));
    assert!(!out.context.to_string().contains("4321"));
    assert_eq!(floor.total_units(), units + floor.adjusted_units);
}

#[test]
fn units_left_out_of_a_partial_shipment_are_put_back() {
    let mut floor = Floor::sample();
    picked_to_tote(&mut floor);
    let mut pack = Bench::new("pack-1", StationKind::Pack);
    // One T-shirt is damaged: the packer ships the other and the mug.
    pack.all_good(
        &mut floor,
        &["EMP:200", "ORD:SO-1", TSHIRT_GTIN, MUG_L1, "CMD:DONE"],
    );
    assert!(pack.weigh(&mut floor, 550).feedback.good);
    pack.all_good(&mut floor, &["CMD:DONE", "EMP:900", "PIN:4321"]);
    assert_eq!(floor.status("SO-1"), Some(Status::PartiallyShipped));
    // The packer's next tote scan takes the tote's other order, not the shipped one again.
    let out = pack.scan(&mut floor, "TOTE:T-1");
    assert!(
        out.feedback.prompt.starts_with("Order SO-2:"),
        "{}",
        out.feedback.prompt
    );
    pack.all_good(&mut floor, &["CMD:CANCEL"]);
    // At a pick station the tote's leftover goes back to its shelf first.
    let mut pick = Bench::new("pick-1", StationKind::Pick);
    let out = pick.all_good(&mut floor, &["EMP:100", "TOTE:T-1"]);
    assert!(
        out[1]
            .feedback
            .prompt
            .contains("Put back 1 × TSHIRT-M of order SO-1 at A-03-2"),
        "{}",
        out[1].feedback.prompt
    );
    pick.all_good(&mut floor, &["LOC:A-03-2", TSHIRT_GTIN]);
    assert!(floor.put_backs("T-1").is_empty());
    assert_eq!(floor.total_units(), floor.initial_units);
}
