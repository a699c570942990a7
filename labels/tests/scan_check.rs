//! Independent scan check: the shipping label's ZPL is rendered by a renderer nobody in this
//! project wrote (zpl-renderer-js) and its barcodes decoded by a decoder nobody in this project
//! wrote (ZXing-C++ as zxing-wasm); the decoded tracking number, (420) postal code and (00) SSCC
//! must equal the inputs, at 203 and 300 dpi. `.ci/setup-labels` installs the tools; their
//! absence fails the test unless `WMS_SKIP_MISSING_TOOLS` is set (`wms_test_support::outside`).

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use wms_labels::cli;
use wms_labels::samples::sample_data;

fn tools_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools")
}

fn tools_ready() -> Result<(), String> {
    let dir = tools_dir();
    for pkg in ["zpl-renderer-js", "zxing-wasm"] {
        if !dir
            .join("node_modules")
            .join(pkg)
            .join("package.json")
            .exists()
        {
            return Err(format!("the npm package {pkg}"));
        }
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("Node.js".into()),
    }
}

struct Case {
    data: Value,
    tracking: String,
    postal_hri: String,
    sscc_hri: String,
}

fn cases() -> Vec<Case> {
    let base = sample_data("shipping").expect("sample");
    let mut uk = base.clone();
    uk["tracking_number"] = "JD014600006281234567".into();
    uk["ship_to"]["postal_code"] = "SW1A 1AA".into();
    uk["ship_to"]["name"] = "Ünïcødé ^XA~JR Tester_".into();
    uk["sscc"] = "003456789012345670".into();
    let mut alnum = base.clone();
    alnum["tracking_number"] = "TBA123456789000".into();
    alnum["ship_to"]["postal_code"] = "10115".into();
    alnum["sscc"] = wms_labels::gs1::build_sscc(9, "4012345", "999")
        .expect("sscc")
        .into();
    [base, uk, alnum]
        .into_iter()
        .map(|d| {
            let postal: String = d["ship_to"]["postal_code"]
                .as_str()
                .unwrap_or("")
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            Case {
                tracking: d["tracking_number"].as_str().unwrap_or("").to_string(),
                postal_hri: format!("(420){postal}"),
                sscc_hri: format!("(00){}", d["sscc"].as_str().unwrap_or("")),
                data: d,
            }
        })
        .collect()
}

#[test]
fn shipping_label_barcodes_decode_to_their_inputs() {
    if let Err(what) = tools_ready() {
        wms_test_support::outside::missing(&what, ".ci/setup-labels");
        return;
    }
    let work = std::env::temp_dir().join(format!("wms-labels-scan-check-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let cases = cases();
    for (dpi, dpmm) in [(203, "8"), (300, "12")] {
        let mut files = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            let zpl = cli::render("shipping", &case.data, dpi, "zpl").expect("renders");
            let path = work.join(format!("case{i}-{dpi}.zpl"));
            std::fs::write(&path, zpl).expect("write zpl");
            files.push(path);
        }
        let out = Command::new("node")
            .arg(tools_dir().join("render_decode.mjs"))
            .arg(dpmm)
            .args(&files)
            .output()
            .expect("run node");
        assert!(
            out.status.success(),
            "renderer/decoder failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decoded: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        for (case, file) in cases.iter().zip(&files) {
            let file = file.to_string_lossy();
            let mut found: Vec<(String, String)> = decoded
                .iter()
                .filter(|v| v["file"] == *file)
                .map(|v| {
                    (
                        v["text"].as_str().unwrap_or("").to_string(),
                        v["symbology"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            found.sort();
            let mut want = vec![
                (case.tracking.clone(), "]C0".to_string()),
                (case.postal_hri.clone(), "]C1".to_string()),
                (case.sscc_hri.clone(), "]C1".to_string()),
            ];
            want.sort();
            assert_eq!(found, want, "decoded barcodes of {file} at {dpi} dpi");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
