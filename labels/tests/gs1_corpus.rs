//! The GS1 test corpus: every line of `tests/gs1/corpus.jsonl` (examples from the GS1 General
//! Specifications and the GS1 Digital Link standard, and cases written by hand for each rule) and
//! of `tests/gs1/generated.jsonl` (every AI family the floor reads, in every way a scanner sends
//! it, valid and with one fault each; written by `tests/gs1/generate.py`) is interpreted as
//! `wms-edge scan parse` would, with 2026 as the reference year for two-digit years.
//!
//! A line is `{"note", "in", "expect", "reasons"?}`: `expect` holds fields of the `scan parse`
//! JSON that must be equal; `reasons` lists `[ai, text]` pairs the errors must match in order
//! (the AI exactly, the text as a part of the reason). Lines starting with `#` are comments.

use serde_json::Value;
use wms_labels::gs1::Options;
use wms_labels::scan;

fn check_file(name: &str) -> usize {
    let path = format!("{}/tests/gs1/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let opts = Options {
        reference_year: 2026,
    };
    let mut failures = Vec::new();
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        count += 1;
        let case: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", n + 1));
        let input = case["in"].as_str().expect("in");
        let got = scan::interpret_with(input.as_bytes(), &opts);
        let json = got.to_json();
        let mut wrong = Vec::new();
        if let Some(expect) = case["expect"].as_object() {
            for (key, want) in expect {
                if &json[key] != want {
                    wrong.push(format!("{key}: expected {want}, got {}", json[key]));
                }
            }
        }
        if let Some(reasons) = case["reasons"].as_array() {
            if reasons.len() != got.problems.len() {
                wrong.push(format!(
                    "{} errors expected, got {:?}",
                    reasons.len(),
                    json["errors"]
                ));
            }
            for (want, have) in reasons.iter().zip(&got.problems) {
                let ai = want[0].as_str();
                let text = want[1].as_str().unwrap_or("");
                if have.ai.as_deref() != ai || !have.reason.contains(text) {
                    wrong.push(format!("error {have} does not match {want}"));
                }
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{name}:{} {:?} ({}):\n    {}",
                n + 1,
                input,
                case["note"].as_str().unwrap_or(""),
                wrong.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    count
}

#[test]
fn the_hand_written_corpus_reads_as_expected() {
    assert!(check_file("corpus.jsonl") > 100);
}

#[test]
fn the_generated_corpus_reads_as_expected() {
    assert!(check_file("generated.jsonl") > 500);
}
