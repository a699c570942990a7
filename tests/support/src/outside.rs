//! Some tests drive programs nobody in this project wrote — Mosquitto, Chromium, an npm barcode
//! decoder, schemathesis — because agreeing with an independent implementation is the point. A
//! test whose program is missing fails and names the script that installs it: a skipped check
//! must never look like a passed one. Setting [`OPT_OUT`] lets such a test skip instead; it then
//! says so on the terminal (past cargo's output capture) and appends a line to the file named by
//! [`SKIP_LOG`], which the README's test command (`.ci/test`) prints at the end of its summary.

use std::io::Write;

/// Set (to anything but `0` or nothing) to let tests skip when their outside program is missing.
pub const OPT_OUT: &str = "WMS_SKIP_MISSING_TOOLS";

/// A file to which each skip appends one line (set by `.ci/test`).
pub const SKIP_LOG: &str = "WMS_SKIPPED_TESTS_LOG";

/// Whether the opt-out is set.
pub fn opted_out() -> bool {
    std::env::var_os(OPT_OUT).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Call when `what` is missing; `setup` is the command that installs it. Fails the calling test
/// unless [`OPT_OUT`] is set; then it records the skip and returns, and the test returns early.
#[track_caller]
pub fn missing(what: &str, setup: &str) {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(str::to_string)
        .unwrap_or_else(|| "a test".into());
    if !opted_out() {
        panic!(
            "{test} needs {what}, which is missing: run {setup} (or set {OPT_OUT}=1 to skip it, \
             reported at the end of .ci/test)"
        );
    }
    let line = format!("SKIPPED {test}: {what} is missing ({OPT_OUT} is set; {setup} installs it)");
    // Straight to the terminal: cargo's test harness captures `eprintln!` of a passing test.
    let _ = writeln!(std::io::stderr().lock(), "\n{line}\n");
    if let Some(log) = std::env::var_os(SKIP_LOG) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The first `name` found on `PATH` (or among `extra` absolute paths, such as `/usr/sbin`).
pub fn find_program(name: &str, extra: &[&str]) -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(extra.iter().map(std::path::PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
