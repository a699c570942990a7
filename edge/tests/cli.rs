//! The `wms-edge` binary as operators run it: `config check` exit codes and messages.

use std::process::Command;

const GOOD: &str = r#"[site]
id = "wh-east-1"
timezone = "America/New_York"
data_dir = "/tmp/wms-edge-cli-test"

[[stations]]
id = "pack-1"
kind = "pack"

[[devices]]
id = "printer-1"
kind = "label_printer"
profile = "zebra-zpl-300"
station = "pack-1"
transport = { tcp = { host = "10.1.2.3" } }

[[devices]]
id = "handheld-1"
kind = "scanner"
station = "pack-1"
transport = { http = {} }
"#;

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_wms-edge"))
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("run wms-edge");
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "edge.toml");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn a_good_config_passes() {
    let (code, stdout, stderr) = check(GOOD);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        stdout.contains("ok (site wh-east-1, 2 devices, 1 stations"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_profile_fails_with_its_line() {
    let (code, stdout, stderr) = check(&GOOD.replace("zebra-zpl-300", "zebra-zpl-600"));
    assert_eq!(code, 2, "stdout: {stdout}");
    assert_eq!(
        stderr.trim_end(),
        "edge.toml:13: unknown profile \"zebra-zpl-600\" (did you mean \"zebra-zpl-300\"?)"
    );
}

#[test]
fn a_profile_of_the_wrong_kind_and_a_misplaced_key_fail() {
    let (code, _, stderr) = check(&GOOD.replace("zebra-zpl-300", "mettler-toledo-sics"));
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim_end(),
        "edge.toml:13: device \"printer-1\": profile \"mettler-toledo-sics\" is for a scale, not a label_printer"
    );
    let (code, _, stderr) = check(&GOOD.replace("host = \"10.1.2.3\"", "hots = \"10.1.2.3\""));
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("edge.toml:15: unknown key \"hots\""),
        "{stderr}"
    );
}

/// The example shipped for site installs must itself pass `config check`.
#[test]
fn the_shipped_example_config_passes() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../systemd/edge.toml.example"
    ))
    .expect("systemd/edge.toml.example");
    let (code, stdout, stderr) = check(&text);
    assert_eq!(code, 0, "stdout: {stdout} stderr: {stderr}");
}

#[test]
fn scan_parse_exits_0_for_a_good_scan_and_2_for_a_bad_check_digit() {
    let run = |raw: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_wms-edge"))
            .args(["scan", "parse", "--json", raw])
            .output()
            .expect("run wms-edge");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        (out.status.code().unwrap_or(-1), v)
    };
    let (code, v) = run("]C1010950123456789117270331<GS>10LOT7");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["kind"], "gs1");
    assert_eq!(v["gtin"], "09501234567891");
    assert_eq!(v["dates"]["17"], "2027-03-31");
    let (code, v) = run("09501234567896");
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["ok"], false);
}

/// A register with a customer display on a serial port passes; the display on MQTT (it only
/// takes a byte stream) or with a printer's profile fails on its line.
#[test]
fn a_customer_display_is_checked_like_any_device() {
    let register = r#"[site]
id = "st-14"
timezone = "UTC"
data_dir = "/tmp/wms-edge-cli-test"

[[stations]]
id = "pos-1"
kind = "pos"
tenant_id = "acme"
location = "STORE"
currency = "USD"

[[devices]]
id = "disp-1"
kind = "customer_display"
profile = "epson-dm-d110"
station = "pos-1"
transport = { serial = { path = "/dev/wms/display-pos-1" } }
"#;
    let (code, stdout, stderr) = check(register);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains("1 devices"), "{stdout}");
    let (code, _, stderr) = check(&register.replace("epson-dm-d110", "escpos-80mm"));
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim_end(),
        "edge.toml:16: device \"disp-1\": profile \"escpos-80mm\" is for a receipt_printer, not a customer_display"
    );
    let mqtt = format!(
        "{}\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n",
        register.replace(
            "{ serial = { path = \"/dev/wms/display-pos-1\" } }",
            "{ mqtt = {} }"
        )
    );
    let (code, _, stderr) = check(&mqtt);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("edge.toml:18: ")
            && stderr.contains("mqtt transport is for scanners and scales only"),
        "{stderr}"
    );
}
