//! The fuzz targets of `labels/fuzz` replayed without a fuzzer, so CI runs their checks on
//! stable Rust: every committed seed (crashes a fuzzer found included) cut at every length,
//! whatever cargo-fuzz found on this machine, and the `scan_parse` checks on every input of the
//! GS1 corpus cut at every length.

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

use serde_json::Value;

fn corpus_inputs() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for name in ["corpus.jsonl", "generated.jsonl"] {
        let path = format!("{}/tests/gs1/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("corpus");
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let v: Value = serde_json::from_str(line).expect("json");
            out.push(v["in"].as_str().expect("in").as_bytes().to_vec());
        }
    }
    out
}

#[test]
fn every_fuzz_target_holds_on_its_seeds_and_corpus() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let done = wms_test_support::fuzz::replay(&fuzz, checks::TARGETS);
    assert!(done.inputs >= 20, "{done:?}");
    assert!(done.runs > 2_000, "{done:?}");
}

#[test]
fn scan_parse_checks_hold_on_the_gs1_corpus() {
    let inputs = corpus_inputs();
    assert!(inputs.len() > 100, "corpus missing");
    let mut runs = 0;
    for input in &inputs {
        for cut in 0..=input.len() {
            checks::scan_parse(&input[..cut]);
            runs += 1;
        }
    }
    assert!(runs > 10_000, "{runs}");
}
