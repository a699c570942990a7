//! The `scan_parse` fuzz target's checks replayed without a fuzzer, so CI runs them: on the
//! checked-in seeds (`fuzz/seeds/scan_parse/`, where inputs a fuzzer found are added), on every
//! input of the GS1 corpus, and on each of those cut at every length.

#[path = "../fuzz/fuzz_targets/scan_check.rs"]
mod scan_check;

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
fn fuzz_target_checks_hold_on_the_seeds_and_the_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/scan_parse");
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("seed directory")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("seed"))
        .collect();
    assert!(inputs.len() >= 10, "seeds missing");
    inputs.extend(corpus_inputs());
    let mut runs = 0;
    for input in &inputs {
        for cut in 0..=input.len() {
            scan_check::check(&input[..cut]);
            runs += 1;
        }
    }
    assert!(runs > 10_000, "{runs}");
}
