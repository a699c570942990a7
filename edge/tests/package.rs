//! The Debian package as site IT installs it: unpacked into a scratch root, its files where the
//! system looks for them, the binary stripped with its debug info beside it, the config a
//! conffile, maintainer scripts that create the account, reload udev and enable without
//! starting; and the installed binary accepts the installed example config.
//!
//! It needs a built package, so it is ignored by a plain `cargo test`: `.ci/package` builds it
//! with `cargo deb -p wms-edge` and runs this test with `--ignored` and `WMS_EDGE_DEB` set (or
//! the newest `target/debian/wms-edge_*.deb` is taken).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn the_deb() -> PathBuf {
    if let Some(p) = std::env::var_os("WMS_EDGE_DEB") {
        return PathBuf::from(p);
    }
    let dir = repo().join("target/debian");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build it with `cargo deb -p wms-edge`",
                dir.display()
            )
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wms-edge_") && n.ends_with(".deb"))
        })
        .collect();
    debs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    debs.pop()
        .expect("no target/debian/wms-edge_*.deb; build it with `cargo deb -p wms-edge`")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The unit file wherever this cargo-deb version puts units.
fn unit_in(root: &Path) -> PathBuf {
    [
        "usr/lib/systemd/system/wms-edge.service",
        "lib/systemd/system/wms-edge.service",
    ]
    .iter()
    .map(|p| root.join(p))
    .find(|p| p.is_file())
    .expect("the package has no wms-edge.service")
}

#[test]
#[ignore = "needs a .deb built by `cargo deb -p wms-edge` (.ci/package runs it)"]
fn the_package_installs_into_a_scratch_root_and_its_binary_checks_the_installed_config() {
    let deb = the_deb();
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = scratch.path().join("root");
    let control = scratch.path().join("control");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));

    for file in [
        "usr/bin/wms-edge",
        "usr/lib/sysusers.d/wms-edge.conf",
        "usr/lib/tmpfiles.d/wms-edge.conf",
        "usr/lib/udev/rules.d/99-wms-edge.rules",
        "etc/wms-edge/edge.toml",
        "usr/share/doc/wms-edge/README.md",
        "usr/share/doc/wms-edge/copyright",
        "usr/share/doc/wms-edge/changelog.Debian.gz",
        "usr/share/doc/wms-edge/examples/edge.toml",
        "usr/share/wms-edge/monitoring/wms-edge.rules.yml",
        "usr/share/wms-edge/monitoring/wms-edge.dashboard.json",
    ] {
        assert!(root.join(file).is_file(), "the package lacks /{file}");
    }
    let profiles = |dir: &Path| {
        std::fs::read_dir(dir)
            .expect("profiles")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
            .count()
    };
    assert_eq!(
        profiles(&root.join("usr/share/wms-edge/firmware-profiles")),
        profiles(&repo().join("firmware-profiles"))
    );
    assert_eq!(
        std::fs::read_to_string(unit_in(&root)).expect("unit"),
        std::fs::read_to_string(repo().join("systemd/wms-edge.service")).expect("repo unit"),
        "the packaged unit is the repo's"
    );

    // Stripped, with the debug info split out under /usr/lib/debug.
    let bin = root.join("usr/bin/wms-edge");
    let sections = run(Command::new("readelf").arg("-S").arg("-W").arg(&bin));
    assert!(
        !sections.contains(".debug_info"),
        "the binary is not stripped"
    );
    let debug = run(Command::new("find")
        .arg(root.join("usr/lib/debug"))
        .args(["-name", "*.debug"]));
    assert!(
        !debug.trim().is_empty(),
        "no split debug info in the package"
    );

    // The config is a conffile, so an upgrade never overwrites the site's edits.
    let conffiles = std::fs::read_to_string(control.join("conffiles")).expect("conffiles");
    assert!(
        conffiles.lines().any(|l| l == "/etc/wms-edge/edge.toml"),
        "{conffiles}"
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("postinst");
    for needed in [
        "systemd-sysusers",
        "systemd-tmpfiles",
        "udevadm control --reload-rules",
        "chown root:wms-edge",
        "deb-systemd-helper",
    ] {
        assert!(
            postinst.contains(needed),
            "postinst lacks {needed}:\n{postinst}"
        );
    }
    assert!(
        !postinst.contains("deb-systemd-invoke start"),
        "the service must be enabled, not started, before the config is edited:\n{postinst}"
    );
    for script in ["postinst", "postrm", "prerm"] {
        let path = control.join(script);
        if path.exists() {
            run(Command::new("sh").arg("-n").arg(&path));
        }
    }

    // The installed binary runs and accepts the installed example config.
    let version = run(Command::new(&bin).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("wms-edge {}", env!("CARGO_PKG_VERSION"))
    );
    let checked = run(Command::new(&bin)
        .args(["config", "check"])
        .arg(root.join("etc/wms-edge/edge.toml")));
    assert!(checked.contains(": ok (site "), "{checked}");
}
