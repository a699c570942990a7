//! Golden files for every template at both resolutions (ZPL) and both paper widths (ESC/POS).
//! A layout change shows up as a reviewed diff; regenerate with `UPDATE_GOLDEN=1 cargo test -p
//! wms-labels --test golden`. ESC/POS goldens are stored as hex dumps so they stay text.

use std::path::PathBuf;
use wms_labels::cli;
use wms_labels::samples::sample_data;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(16) {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!("{:<48} |{text}|\n", hex.join(" ")));
    }
    out
}

fn check(name: &str, actual: &str) -> Option<String> {
    let path = golden_dir().join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).expect("write golden file");
        return None;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == actual => None,
        Ok(_) => Some(format!("{name} differs from its golden file")),
        Err(_) => Some(format!(
            "{name} has no golden file (run with UPDATE_GOLDEN=1)"
        )),
    }
}

#[test]
fn zpl_templates_match_golden_files() {
    let mut failures = Vec::new();
    for kind in [
        "shipping",
        "carton",
        "product",
        "location",
        "tote",
        "packing_slip",
    ] {
        for dpi in [203, 300] {
            let zpl = cli::sample(kind, dpi, "zpl").expect("sample renders");
            let text = String::from_utf8(zpl).expect("ZPL is UTF-8");
            failures.extend(check(&format!("{kind}-{dpi}.zpl"), &text));
        }
    }
    // The product label also in GS1 DataMatrix.
    let mut d = sample_data("product").expect("sample");
    d["symbol"] = "datamatrix".into();
    for dpi in [203, 300] {
        let zpl = cli::render("product", &d, dpi, "zpl").expect("renders");
        failures.extend(check(
            &format!("product-datamatrix-{dpi}.zpl"),
            &String::from_utf8(zpl).expect("UTF-8"),
        ));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn escpos_layouts_match_golden_files() {
    let mut failures = Vec::new();
    for kind in ["receipt", "packing_slip", "report"] {
        for paper in [58, 80] {
            let mut d = sample_data(kind).expect("sample");
            d["paper_mm"] = paper.into();
            let bytes = cli::render(kind, &d, 203, "escpos").expect("renders");
            failures.extend(check(
                &format!("{kind}-{paper}mm.escpos.hex"),
                &hex_dump(&bytes),
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_zpl_field_is_hex_escaped() {
    // Structural check on all goldens: every ^FD is directly preceded by ^FH.
    for kind in [
        "shipping",
        "carton",
        "product",
        "location",
        "tote",
        "packing_slip",
    ] {
        for dpi in [203, 300] {
            let zpl =
                String::from_utf8(cli::sample(kind, dpi, "zpl").expect("renders")).expect("UTF-8");
            assert_eq!(
                zpl.matches("^FD").count(),
                zpl.matches("^FH^FD").count(),
                "{kind} at {dpi} dpi has a field without ^FH"
            );
            assert!(zpl.starts_with("^XA\n^CI28\n"));
        }
    }
}
