//! Checks on the shape of the code, in the spirit of rust-analyzer's tidy tests: they read the
//! sources and fail when a rule of `ARCHITECTURE.md` is broken, so the map stays true.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The store's layers, bottom first. A module may import from its own layer and the ones below.
const STORE_LAYERS: [&str; 5] = ["base", "stock", "orders", "workflow", "sync"];

fn rank(layer: &str) -> Option<usize> {
    STORE_LAYERS.iter().position(|l| *l == layer)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The first path segment of every item a `use` tree or path expression names right after
/// `prefix` (`crate::store::{base::audit, orders}` → `base`, `orders`). Comments are skipped.
fn segments_after(src: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in src.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            if let Some(group) = after.strip_prefix('{') {
                // One level of grouping is all the code uses; a nested group's head is still
                // the first segment.
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.push(head(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                found.push(head(&item));
            } else {
                found.push(head(after));
            }
            rest = &rest[at + prefix.len()..];
        }
    }
    found.retain(|s| !s.is_empty());
    found
}

fn head(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every import of a layer above `layer` in `src`, as `(target layer, how it was written)`.
fn upward_imports(layer: &str, is_layer_root: bool, src: &str) -> Vec<(String, String)> {
    let own = rank(layer).expect("a known layer");
    let mut bad = Vec::new();
    let mut check = |target: String, written: String| {
        if rank(&target).is_some_and(|r| r > own) {
            bad.push((target, written));
        }
    };
    for t in segments_after(src, "crate::store::") {
        check(t.clone(), format!("crate::store::{t}"));
    }
    // `super::` from a layer's mod.rs, and `super::super::` from a file inside a layer, both
    // reach the store's root.
    let root = if is_layer_root {
        "super::"
    } else {
        "super::super::"
    };
    for t in segments_after(src, root) {
        if t != "super" {
            check(t.clone(), format!("{root}{t}"));
        }
    }
    bad
}

#[test]
fn store_layers_import_only_downwards() {
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files = Vec::new();
    rust_files(&store, &mut files);
    let mut violations = Vec::new();
    let mut layers_seen = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&store).expect("under store");
        let parts: Vec<_> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts.len() < 2 {
            continue; // the store's root: the threads, the schema and the tests see every layer
        }
        let layer = parts[0].as_str();
        assert!(
            rank(layer).is_some(),
            "{}: `{layer}` is not a store layer; add it to STORE_LAYERS and ARCHITECTURE.md",
            rel.display()
        );
        layers_seen.insert(layer.to_string());
        let src = std::fs::read_to_string(file).expect("read source");
        let is_layer_root = parts.len() == 2 && parts[1] == "mod.rs";
        for (target, written) in upward_imports(layer, is_layer_root, &src) {
            violations.push(format!(
                "{}: the {layer} layer imports `{written}` from the {target} layer above it",
                rel.display()
            ));
        }
    }
    assert_eq!(
        layers_seen.len(),
        STORE_LAYERS.len(),
        "every layer has code"
    );
    assert!(
        violations.is_empty(),
        "store layers import only downwards (ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_layer_check_catches_an_upward_import() {
    let src = "use crate::store::base::audit;\nuse crate::store::{orders::Ctx, sync};\n";
    let bad = upward_imports("stock", false, src);
    let targets: Vec<_> = bad.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(targets, ["orders", "sync"]);
    assert_eq!(
        upward_imports("stock", true, "use super::workflow::pick;\n")[0].0,
        "workflow"
    );
    assert!(upward_imports("sync", false, src).is_empty());
    // A comment naming a higher layer is not an import.
    assert!(upward_imports("base", false, "// see crate::store::sync\n").is_empty());
}

#[test]
fn the_domain_does_no_io() {
    let domain = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut files = Vec::new();
    rust_files(&domain, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let src = std::fs::read_to_string(file).expect("read source");
        for forbidden in [
            "crate::store",
            "crate::api",
            "crate::devices",
            "rusqlite",
            "tokio",
            "std::fs",
            "std::net",
        ] {
            if src
                .lines()
                .any(|l| l.split("//").next().unwrap_or("").contains(forbidden))
            {
                violations.push(format!("{}: uses {forbidden}", file.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the domain is pure rules over data (ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}
