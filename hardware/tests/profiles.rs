//! Every firmware profile file parses, validates, and is named here.

use wms_hardware::profiles::{self, DeviceKind, ProtocolKind};
use wms_hardware::protocol::display::CodePage;

/// Every file in `firmware-profiles/`, by name, with the kind and protocol it must declare.
/// Adding a file without adding it here fails `every_file_is_listed`.
const EXPECTED: &[(&str, DeviceKind, ProtocolKind)] = &[
    (
        "avery-weigh-tronix-7820",
        DeviceKind::Scale,
        ProtocolKind::NciGeneral,
    ),
    (
        "epson-dm-d110",
        DeviceKind::CustomerDisplay,
        ProtocolKind::EscposDisplay,
    ),
    (
        "epson-tm-m30",
        DeviceKind::ReceiptPrinter,
        ProtocolKind::Escpos,
    ),
    (
        "epson-tm-t88vi",
        DeviceKind::ReceiptPrinter,
        ProtocolKind::Escpos,
    ),
    (
        "escpos-58mm",
        DeviceKind::ReceiptPrinter,
        ProtocolKind::Escpos,
    ),
    (
        "escpos-80mm",
        DeviceKind::ReceiptPrinter,
        ProtocolKind::Escpos,
    ),
    (
        "escpos-display-2x20",
        DeviceKind::CustomerDisplay,
        ProtocolKind::EscposDisplay,
    ),
    (
        "generic-serial-scanner",
        DeviceKind::Scanner,
        ProtocolKind::SerialLine,
    ),
    (
        "honeywell-xenon-1900-host-ack",
        DeviceKind::Scanner,
        ProtocolKind::SerialLine,
    ),
    (
        "honeywell-xenon-1900-serial",
        DeviceKind::Scanner,
        ProtocolKind::SerialLine,
    ),
    (
        "honeywell-xenon-1950g-serial",
        DeviceKind::Scanner,
        ProtocolKind::SerialLine,
    ),
    (
        "mettler-toledo-bc60-sics",
        DeviceKind::Scale,
        ProtocolKind::MtSics,
    ),
    (
        "mettler-toledo-ics425-sics",
        DeviceKind::Scale,
        ProtocolKind::MtSics,
    ),
    (
        "mettler-toledo-ps60-8217",
        DeviceKind::Scale,
        ProtocolKind::Toledo8217,
    ),
    (
        "mettler-toledo-sics",
        DeviceKind::Scale,
        ProtocolKind::MtSics,
    ),
    ("nci-general", DeviceKind::Scale, ProtocolKind::NciGeneral),
    (
        "nexo-terminal",
        DeviceKind::PaymentTerminal,
        ProtocolKind::NexoJson,
    ),
    (
        "star-tsp143",
        DeviceKind::ReceiptPrinter,
        ProtocolKind::Escpos,
    ),
    ("toledo-8217", DeviceKind::Scale, ProtocolKind::Toledo8217),
    (
        "toledo-continuous",
        DeviceKind::Scale,
        ProtocolKind::ToledoContinuous,
    ),
    (
        "zebra-ds2208-serial",
        DeviceKind::Scanner,
        ProtocolKind::SerialLine,
    ),
    ("zebra-gk420d", DeviceKind::LabelPrinter, ProtocolKind::Zpl),
    (
        "zebra-zd421-203",
        DeviceKind::LabelPrinter,
        ProtocolKind::Zpl,
    ),
    ("zebra-zpl-203", DeviceKind::LabelPrinter, ProtocolKind::Zpl),
    ("zebra-zpl-300", DeviceKind::LabelPrinter, ProtocolKind::Zpl),
    (
        "zebra-zt410-203",
        DeviceKind::LabelPrinter,
        ProtocolKind::Zpl,
    ),
    (
        "zebra-zt410-300",
        DeviceKind::LabelPrinter,
        ProtocolKind::Zpl,
    ),
];

#[test]
fn every_embedded_file_parses_and_validates() {
    assert!(
        profiles::load_errors().is_empty(),
        "{:#?}",
        profiles::load_errors()
    );
    assert_eq!(profiles::embedded_files().len(), profiles::names().len());
}

#[test]
fn every_file_is_listed() {
    let names = profiles::names();
    let expected: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(names, expected);
    for (name, kind, proto) in EXPECTED {
        let p = profiles::get(name).unwrap();
        assert_eq!(p.kind, *kind, "{name}");
        assert_eq!(p.protocol, *proto, "{name}");
    }
}

#[test]
fn files_on_disk_match_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-profiles");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "toml")
                .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, profiles::names());
}

#[test]
fn generic_profiles_always_exist() {
    for g in profiles::GENERIC {
        let p = profiles::get(g).unwrap();
        assert!(p.generic, "{g} should be generic");
    }
    assert!(profiles::get("no-such-printer").is_err());
}

#[test]
fn at_least_a_dozen_models_across_kinds() {
    let models: Vec<_> = profiles::all().filter(|p| !p.generic).collect();
    assert!(models.len() >= 12, "{}", models.len());
    for kind in [
        DeviceKind::Scanner,
        DeviceKind::Scale,
        DeviceKind::LabelPrinter,
        DeviceKind::ReceiptPrinter,
        DeviceKind::CustomerDisplay,
    ] {
        assert!(
            models.iter().any(|p| p.kind == kind),
            "no model of {kind:?}"
        );
    }
}

#[test]
fn known_facts_of_some_models() {
    let p = profiles::get("zebra-zpl-203")
        .unwrap()
        .printer
        .clone()
        .unwrap();
    assert_eq!((p.dpi, p.print_width_dots), (203, 832));
    let p = profiles::get("zebra-zpl-300")
        .unwrap()
        .printer
        .clone()
        .unwrap();
    assert_eq!(p.dpi, 300);
    let t = &profiles::get("toledo-8217").unwrap().transport;
    assert_eq!(
        (t.baud, t.data_bits, t.parity),
        (9600, 7, profiles::Parity::Even)
    );
    let s = profiles::get("mettler-toledo-sics").unwrap();
    assert_eq!(s.framing.terminator, profiles::Terminator::Crlf);
    for name in ["escpos-display-2x20", "epson-dm-d110"] {
        let p = profiles::get(name).unwrap();
        let d = p.display.as_ref().unwrap();
        assert_eq!((d.columns, d.code_page), (20, CodePage::Pc437), "{name}");
    }
    let t = &profiles::get("epson-dm-d110").unwrap().transport;
    assert_eq!(
        (t.baud, t.data_bits, t.parity, t.stop_bits),
        (9600, 8, profiles::Parity::None, 1)
    );
    assert_eq!(
        profiles::get("escpos-58mm")
            .unwrap()
            .printer
            .as_ref()
            .unwrap()
            .print_width_dots,
        384
    );
}

#[test]
fn invalid_profiles_are_rejected() {
    let good = profiles::embedded_files()
        .iter()
        .find(|(n, _)| *n == "escpos-80mm")
        .unwrap()
        .1;
    assert!(profiles::Profile::from_toml("escpos-80mm", good).is_ok());
    // Name must match the file.
    assert!(profiles::Profile::from_toml("other", good).is_err());
    // Unknown keys are errors.
    let typo = good.replace("baud = 9600", "baudrate = 9600");
    assert!(profiles::Profile::from_toml("escpos-80mm", &typo).is_err());
    // Protocol must fit the kind.
    let wrong = good.replace("protocol = \"escpos\"", "protocol = \"zpl\"");
    assert!(profiles::Profile::from_toml("escpos-80mm", &wrong).is_err());
    // Geometry must fit the media.
    let wide = good.replace("print_width_dots = 576", "print_width_dots = 5760");
    assert!(profiles::Profile::from_toml("escpos-80mm", &wide).is_err());
    // A display needs its [display] section, of a sane width and a known code page.
    let display = profiles::embedded_files()
        .iter()
        .find(|(n, _)| *n == "escpos-display-2x20")
        .unwrap()
        .1;
    assert!(profiles::Profile::from_toml("escpos-display-2x20", display).is_ok());
    let (head, _) = display.split_once("[display]").unwrap();
    assert!(profiles::Profile::from_toml("escpos-display-2x20", head).is_err());
    let narrow = display.replace("columns = 20", "columns = 2");
    assert!(profiles::Profile::from_toml("escpos-display-2x20", &narrow).is_err());
    let page = display.replace("code_page = \"pc437\"", "code_page = \"utf8\"");
    assert!(profiles::Profile::from_toml("escpos-display-2x20", &page).is_err());
    // A printer's profile may not carry a display section.
    let both = format!("{good}\n[display]\ncolumns = 20\ncode_page = \"pc437\"\n");
    assert!(profiles::Profile::from_toml("escpos-80mm", &both).is_err());
}
