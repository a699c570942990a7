//! Fuzz targets replayed as ordinary tests. Each crate's `fuzz/` directory is a cargo-fuzz
//! project whose targets call check functions kept in a file the crate's `tests/fuzz_replay.rs`
//! includes too; [`replay`] runs those checks on stable Rust over
//!
//! - `fuzz/seeds/<target>/`, committed: hand-made seeds, and every input a fuzzer ever crashed
//!   on (kept under its `crash-…` name once fixed, so it can never come back unnoticed);
//! - `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/`, where cargo-fuzz keeps what it
//!   found on this machine, when they exist (they are not committed).
//!
//! Every `[[bin]]` of `fuzz/Cargo.toml` must be replayed and have seeds, so a target cannot be
//! added without CI running it.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// A fuzz target's name (its `[[bin]]` in `fuzz/Cargo.toml`) and its checks.
pub type Target = (&'static str, fn(&[u8]));

/// The fewest committed seeds a target may have.
pub const MIN_SEEDS: usize = 3;

/// What a replay ran.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Inputs read from files.
    pub inputs: usize,
    /// Calls of a target's checks: whole inputs, and each seed cut at every length.
    pub runs: usize,
}

/// The `[[bin]]` names of a cargo-fuzz project's manifest.
pub fn fuzz_targets(fuzz_dir: &Path) -> BTreeSet<String> {
    let manifest = fuzz_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let mut names = BTreeSet::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(value) = line.strip_prefix("name").map(str::trim_start) {
                if let Some(value) = value.strip_prefix('=') {
                    names.insert(value.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    names
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn run(target: &str, check: fn(&[u8]), path: &Path, data: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| check(data))).is_err() {
        panic!(
            "fuzz target {target} fails on {} ({} bytes; the panic is printed above)",
            path.display(),
            data.len()
        );
    }
}

/// Replays every target of the cargo-fuzz project in `fuzz_dir`; fails naming the file whose
/// input a target's checks reject, or a target without checks or seeds.
pub fn replay(fuzz_dir: &Path, targets: &[Target]) -> Replayed {
    let declared = fuzz_targets(fuzz_dir);
    let replayed: BTreeSet<String> = targets.iter().map(|t| t.0.to_string()).collect();
    assert_eq!(
        declared,
        replayed,
        "the targets of {} and the ones replayed differ",
        fuzz_dir.join("Cargo.toml").display()
    );
    let mut done = Replayed::default();
    for &(name, check) in targets {
        let seeds = files_in(&fuzz_dir.join("seeds").join(name));
        assert!(
            seeds.len() >= MIN_SEEDS,
            "fuzz target {name} has {} seeds in {}; commit at least {MIN_SEEDS}",
            seeds.len(),
            fuzz_dir.join("seeds").join(name).display()
        );
        for path in &seeds {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            done.inputs += 1;
            for cut in 0..=data.len() {
                run(name, check, path, &data[..cut]);
                done.runs += 1;
            }
        }
        for found in ["corpus", "artifacts"] {
            for path in files_in(&fuzz_dir.join(found).join(name)) {
                let data =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                done.inputs += 1;
                run(name, check, &path, &data);
                done.runs += 1;
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never_a_zero(data: &[u8]) {
        assert!(!data.contains(&0), "a zero");
    }

    fn anything(_: &[u8]) {}

    fn project(seeds: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"x\"\n\n[[bin]]\nname = \"t\"\npath = \"t.rs\"\n\n[dependencies]\nname = \"not-a-bin\"\n",
        )
        .expect("manifest");
        let s = dir.path().join("seeds/t");
        std::fs::create_dir_all(&s).expect("seeds");
        for (n, d) in seeds {
            std::fs::write(s.join(n), d).expect("seed");
        }
        dir
    }

    #[test]
    fn only_bin_names_are_targets() {
        let d = project(&[]);
        assert_eq!(fuzz_targets(d.path()), BTreeSet::from(["t".to_string()]));
    }

    #[test]
    fn seeds_are_replayed_at_every_length_and_local_finds_whole() {
        let d = project(&[("a", b"12"), ("b", b"345"), ("c", b"")]);
        std::fs::create_dir_all(d.path().join("corpus/t")).expect("corpus");
        std::fs::write(d.path().join("corpus/t/x"), b"6789").expect("corpus file");
        let r = replay(d.path(), &[("t", anything)]);
        assert_eq!(
            r,
            Replayed {
                inputs: 4,
                runs: 3 + 4 + 1 + 1
            }
        );
    }

    #[test]
    fn a_failing_input_fails_the_replay_naming_its_file() {
        let d = project(&[("a", b"1"), ("b", b"2"), ("crash-1", b"3\x00")]);
        let e = catch_unwind(|| replay(d.path(), &[("t", never_a_zero)])).expect_err("fails");
        let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("crash-1"), "{msg}");
    }

    #[test]
    fn a_target_without_checks_or_seeds_fails() {
        let d = project(&[("a", b"1")]);
        assert!(catch_unwind(|| replay(d.path(), &[("t", anything)])).is_err());
        assert!(catch_unwind(|| replay(d.path(), &[])).is_err());
    }
}
