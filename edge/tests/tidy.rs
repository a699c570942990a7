//! Checks on the shape of the code, in the spirit of rust-analyzer's tidy tests: they read the
//! sources and fail when a rule of `ARCHITECTURE.md` is broken, so the map stays true.

use std::collections::{BTreeMap, BTreeSet};
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

/// The top-level module (`device`, `mqtt`, …) a file under a crate's `src/` belongs to; `None`
/// for the crate root, which declares and re-exports every module.
fn top_module(rel: &Path) -> Option<String> {
    let first = rel.iter().next()?.to_string_lossy().into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The names the crate root re-exports, each with the module it comes from
/// (`pub use decimal::{Decimal, Weight};` → `Decimal` and `Weight` from `decimal`), so that an
/// import of `crate::Weight` counts as one of `decimal`.
fn root_reexports(lib_rs: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in lib_rs.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.trim_end_matches(';').split_once("::") else {
            continue;
        };
        let names = names.trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let name = name.rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                out.push((name.to_string(), module.trim().to_string()));
            }
        }
    }
    out
}

/// Which top-level modules each top-level module imports through `crate::` paths. `files` are
/// `(path under src/, source)`. A module's own submodules (`device::scanner` inside `device`)
/// are one node: a parent and its children are read together, so only circles between
/// top-level modules count.
fn module_graph(files: &[(PathBuf, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = files.iter().filter_map(|(p, _)| top_module(p)).collect();
    let reexports: Vec<(String, String)> = files
        .iter()
        .filter(|(p, _)| top_module(p).is_none())
        .flat_map(|(_, src)| root_reexports(src))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, src) in files {
        let Some(from) = top_module(path) else {
            continue;
        };
        let edges = graph.entry(from.clone()).or_default();
        for name in segments_after(src, "crate::") {
            let target = if modules.contains(&name) {
                Some(name)
            } else {
                reexports
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, m)| m.clone())
            };
            if let Some(t) = target.filter(|t| *t != from && modules.contains(t)) {
                edges.insert(t);
            }
        }
    }
    graph
}

/// One circle in the graph, as the modules along it with the first repeated at the end
/// (`["device", "mqtt", "device"]`), or `None` when the graph has none.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

#[test]
fn hardware_modules_form_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hardware/src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(PathBuf, String)> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).expect("under src").to_path_buf();
            (rel, std::fs::read_to_string(p).expect("read source"))
        })
        .collect();
    let graph = module_graph(&files);
    assert!(
        graph.contains_key("mqtt") && graph.contains_key("device") && graph.contains_key("link"),
        "the hardware modules moved; update this test and ARCHITECTURE.md"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "hardware modules import each other in a circle: {} (shared types go in a module \
             both import, as `link` is for `mqtt` and `device`; ARCHITECTURE.md)",
            cycle.join(" → ")
        );
    }
}

#[test]
fn the_circle_check_catches_a_planted_circle() {
    let file = |p: &str, s: &str| (PathBuf::from(p), s.to_string());
    let lib = file(
        "lib.rs",
        "pub mod device;\npub use decimal::{Decimal, Weight};\n",
    );
    let acyclic = [
        lib.clone(),
        file("decimal.rs", "use crate::error::Result;\n"),
        file("error.rs", ""),
        file("link.rs", "use crate::decimal::Weight;\n"),
        file("mqtt.rs", "pub use crate::link::{Feedback, MqttInbound};\n"),
        file("device/mod.rs", "use crate::mqtt::MqttHub;\n"),
        file(
            "device/scanner.rs",
            "use super::Common;\nuse crate::{link::Feedback, Weight};\n",
        ),
    ];
    let graph = module_graph(&acyclic);
    assert_eq!(
        graph["device"].iter().collect::<Vec<_>>(),
        ["decimal", "link", "mqtt"]
    );
    assert_eq!(find_cycle(&graph), None);

    // The circle the `link` module broke: the hub naming a device type.
    let mut planted = acyclic.to_vec();
    planted.push(file(
        "mqtt.rs",
        "// not crate::sim\nuse crate::device::Feedback;\n",
    ));
    let cycle = find_cycle(&module_graph(&planted)).expect("the planted circle is found");
    assert_eq!(cycle, ["device", "mqtt", "device"]);
    // Through a root re-export too: `crate::Weight` is `decimal`'s.
    let through_root = [
        lib,
        file("decimal.rs", "use crate::device::Scan;\n"),
        file("device/scale.rs", "fn f() -> crate::Weight { todo!() }\n"),
    ];
    assert_eq!(
        find_cycle(&module_graph(&through_root)),
        Some(vec!["decimal".into(), "device".into(), "decimal".into()])
    );
}
