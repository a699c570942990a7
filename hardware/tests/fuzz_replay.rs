//! The fuzz targets of `hardware/fuzz` replayed without a fuzzer, so CI runs their checks on
//! stable Rust: every committed seed (crashes a fuzzer found included) cut at every length, and
//! whatever cargo-fuzz found on this machine.

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

#[test]
fn every_fuzz_target_holds_on_its_seeds_and_corpus() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let done = wms_test_support::fuzz::replay(&fuzz, checks::TARGETS);
    assert!(
        done.inputs >= 5 * wms_test_support::fuzz::MIN_SEEDS,
        "{done:?}"
    );
    assert!(done.runs > 2_000, "{done:?}");
}
