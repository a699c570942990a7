//! Throughput of GS1 scan interpretation and 4x6 shipping label rendering on one core.
//! Prints one JSON object; `labels/bench/run.sh` runs it next to the peer libraries and writes
//! BENCHMARKS.md. Run alone: `cargo bench -p wms-labels --bench throughput`.

use std::hint::black_box;
use std::time::{Duration, Instant};
use wms_labels::gs1::Options;
use wms_labels::{cli, samples, scan};

/// The GS1 scans both this crate and the peer parser are timed on (also written for the peer).
pub const SCANS: &[&str] = &[
    "]C100106141411234567897",
    "]C1010950110153000310ABC123\u{1d}17270331",
    "]d2011231231231233310ABC123\u{1d}99TESTING",
    "]C10109501101530003172703003103001234",
    "]C1420941050\u{1d}00106141411234567897",
];

/// The floor's mix: the scans above and the same kinds of labels as scanners without an AIM
/// prefix send them (bare, FNC1 as GS or `^`, with a CR or Tab suffix), as printed text, and as
/// GS1 Digital Link URIs with and without an AIM prefix.
pub const MIXED: &[&str] = &[
    "]C100106141411234567897",
    "]C1010950110153000310ABC123\u{1d}17270331",
    "]d2011231231231233310ABC123\u{1d}99TESTING",
    "]C10109501101530003172703003103001234",
    "]C1420941050\u{1d}00106141411234567897",
    "0109506000134352172512311012AB\u{1d}21XYZ\r",
    "\u{1d}00106141411234567897\t",
    "^0109506000134352^10AB^3103001234",
    "0010614141123456789702095060001343523712\u{1d}10LOT42\r\n",
    "(01)09506000134352(17)251231(10)AB",
    "https://id.gs1.org/01/09506000134352/10/ABC123/21/12345?17=251231",
    "]Q1https://example.com/products/01/09506000134352/10/AB%2F1?3103=000500\r",
];

fn measure<F: FnMut() -> usize>(mut f: F, min_time: Duration) -> f64 {
    // Warm up, then run batches until the time budget is used.
    for _ in 0..1000 {
        black_box(f());
    }
    let start = Instant::now();
    let mut ops = 0usize;
    while start.elapsed() < min_time {
        for _ in 0..1000 {
            ops += black_box(f());
        }
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let budget = Duration::from_secs(secs);
    let opts = Options::default();
    let interpret_all = |scans: &'static [&'static str]| {
        let raw: Vec<&[u8]> = scans.iter().map(|s| s.as_bytes()).collect();
        let mut i = 0usize;
        measure(
            || {
                let s = scan::interpret_with(raw[i % raw.len()], &opts);
                i += 1;
                assert!(s.ok(), "{:?}: {:?}", s.data, s.errors);
                1
            },
            budget,
        )
    };
    let gs1_per_sec = interpret_all(SCANS);
    let mixed_per_sec = interpret_all(MIXED);
    let data = samples::sample_data("shipping").expect("sample");
    let label: wms_labels::model::ShippingLabel =
        serde_json::from_value(data).expect("typed sample");
    let labels_per_sec = measure(
        || {
            let zpl = wms_labels::zpl::labels::shipping(&label, wms_labels::zpl::Dpi::Dpi203)
                .expect("renders");
            black_box(zpl.len());
            1
        },
        budget,
    );
    // The CLI path includes JSON deserialisation of the data file.
    let json = samples::sample_data("shipping").expect("sample");
    let cli_labels_per_sec = measure(
        || {
            black_box(
                cli::render("shipping", &json, 203, "zpl")
                    .expect("renders")
                    .len(),
            );
            1
        },
        budget,
    );
    println!(
        "{{\"gs1_parses_per_sec\": {gs1_per_sec:.0}, \"gs1_mixed_parses_per_sec\": {mixed_per_sec:.0}, \"shipping_labels_per_sec\": {labels_per_sec:.0}, \"shipping_labels_from_json_per_sec\": {cli_labels_per_sec:.0}}}"
    );
}
