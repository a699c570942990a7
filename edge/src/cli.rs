//! The work behind the binary's offline subcommands (`keys create`, `label render|sample`,
//! `config check`) and its logging set-up. `main.rs` parses the command line, calls these and
//! prints; keeping the work here lets tests call exactly what an operator runs, and keeps `anyhow`
//! out of the library. A refusal the operator can fix (a bad file, a taken key name) comes back
//! as `Error::Validation` or `Error::Conflict`, which the binary turns into exit code 2.

use std::path::Path;

use crate::config::{Config, LogConfig};
use crate::domain::role::Role;
use crate::store::{self, base::keys, Origin};
use crate::{Error, Result};

/// Lines the log writer thread keeps waiting before it drops new ones.
const LOG_BUFFER_LINES: usize = 65_536;

/// Lines dropped because the log's reader (the journal) fell that far behind; read by
/// `/metrics`. Unset until [`log_writer`] ran.
static LOG_DROPPED: std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter> =
    std::sync::OnceLock::new();

/// Log lines dropped since start because the log's reader did not keep up.
pub fn log_lines_dropped() -> u64 {
    LOG_DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// The node's log sink: lines are written by a thread of their own, never by the thread that
/// logs. A write to the journal's pipe or a file can block for tens of milliseconds (journald
/// behind, an ext4 journal commit holding the append), and a runtime thread blocked there stalls
/// every scanner it serves; with a scan logged at info, that was the 5-second stall of the
/// scan-path benchmark. A reader so far behind that [`LOG_BUFFER_LINES`] wait loses lines
/// (counted in `wms_edge_log_lines_dropped_total`) rather than stopping the floor. Keep the guard
/// until exit: dropping it flushes what is left.
pub fn log_writer<W: std::io::Write + Send + 'static>(
    out: W,
) -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
) {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .lossy(true)
        .thread_name("log-writer")
        .finish(out);
    let _ = LOG_DROPPED.set(writer.error_counter());
    (writer, guard)
}

/// Logging for `wms-edge run`: the config's filter and format, unless `RUST_LOG` says otherwise.
/// Returns the log writer's guard, to keep until exit.
pub fn init_logging(log: &LogConfig, verbose: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = std::env::var("RUST_LOG").ok().unwrap_or_else(|| {
        if verbose {
            "debug".into()
        } else {
            log.level.clone()
        }
    });
    let (writer, guard) = log_writer(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter(&filter, "info"))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    if log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}

/// Logging for the interactive commands (`demo`, `central-sim`): warnings only, so their banner
/// stays readable, unless `--verbose` or `RUST_LOG` asks for more.
pub fn init_quiet_logging(verbose: bool) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .unwrap_or_else(|| if verbose { "debug" } else { "warn" }.into());
    tracing_subscriber::fmt()
        .with_env_filter(env_filter(&filter, "warn"))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// A malformed filter falls back to `fallback` rather than stopping the node.
fn env_filter(filter: &str, fallback: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(fallback))
}

/// The line `config check` prints for a file without problems.
pub fn config_summary(file: &Path, cfg: &Config) -> String {
    format!(
        "{}: ok (site {}, {} devices, {} stations, {} api keys)",
        file.display(),
        cfg.site_id(),
        cfg.devices.len(),
        cfg.stations.len(),
        cfg.api_keys.len()
    )
}

/// `keys create`: a new API key in the site's database (created with its data dir when absent),
/// audited as the shell user at the `cli` device. Returns the key, which is stored only as a hash.
/// Runs on the calling thread: the node is not running, so no store threads exist.
pub fn create_key(cfg: &Config, name: &str, role: Role, tenant: Option<&str>) -> Result<String> {
    std::fs::create_dir_all(cfg.data_dir())
        .map_err(|e| Error::Internal(format!("creating {}: {e}", cfg.data_dir().display())))?;
    let conn = store::open_and_migrate(&cfg.db_path())?;
    let key = keys::generate();
    let origin = Origin {
        actor: crate::domain::Actor {
            user: std::env::var("USER").ok(),
            device: Some("cli".into()),
            api_key: None,
        },
        request_id: None,
    };
    let now = crate::domain::time::now();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match keys::create(&conn, &origin, &now, name, role, tenant, &key) {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(key)
}

/// `label render`: the printer bytes for `kind` from a JSON data file, in `format` (default: what
/// the kind prints as), or through a tenant's ZPL `template`. Every problem names its file.
pub fn render_label(
    kind: &str,
    data: &Path,
    dpi: u32,
    format: Option<&str>,
    template: Option<&Path>,
) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(data).map_err(|e| refused(data, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| refusal(format!("{}:{}: {e}", data.display(), e.line())))?;
    let rendered = match template {
        Some(t) => {
            let tpl = std::fs::read_to_string(t).map_err(|e| refused(t, e))?;
            wms_labels::cli::render_with_template(kind, &value, &tpl)
        }
        None => {
            let format = format.unwrap_or_else(|| wms_labels::cli::default_format(kind));
            wms_labels::cli::render(kind, &value, dpi, format)
        }
    };
    rendered.map_err(|e| refused(data, e))
}

/// `label sample`: the printer bytes for `kind` from built-in sample data.
pub fn sample_label(kind: &str, dpi: u32, format: Option<&str>) -> Result<Vec<u8>> {
    let format = format.unwrap_or_else(|| wms_labels::cli::default_format(kind));
    wms_labels::cli::sample(kind, dpi, format).map_err(|e| refusal(e.to_string()))
}

/// A problem with the operator's input, as the binary reports it (exit code 2).
fn refusal(message: String) -> Error {
    Error::Validation {
        message,
        details: Vec::new(),
    }
}

/// A problem with one of the operator's files: `<file>: <problem>`.
fn refused(file: &Path, problem: impl std::fmt::Display) -> Error {
    refusal(format!("{}: {problem}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(dir: &Path) -> Config {
        let text = format!(
            "[site]\nid = \"wh-1\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n",
            dir.join("data").display()
        );
        crate::config::parse("edge.toml", &text).expect("valid config")
    }

    #[test]
    fn a_created_key_authenticates_and_its_name_cannot_be_taken_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = site(dir.path());
        let key = create_key(&cfg, "ops", Role::Admin, Some("t1")).expect("created");
        let conn = store::open_and_migrate(&cfg.db_path()).expect("open");
        let found = keys::lookup(&conn, &keys::sha256_hex(&key))
            .expect("lookup")
            .expect("the key is stored");
        assert_eq!(found.name, "ops");
        assert_eq!(found.role, Role::Admin);
        assert_eq!(found.tenant_id.as_deref(), Some("t1"));
        let again = create_key(&cfg, "ops", Role::Picker, None).expect_err("name taken");
        assert!(matches!(again, Error::Conflict(_)), "{again:?}");
        let bad = create_key(&cfg, "o p", Role::Picker, None).expect_err("bad name");
        assert!(matches!(bad, Error::Validation { .. }), "{bad:?}");
    }

    #[test]
    fn label_problems_name_their_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{\"order_id\": \"x\"\n").expect("write");
        let err = render_label("shipping", &broken, 203, None, None).expect_err("broken json");
        assert!(matches!(err, Error::Validation { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2: ", broken.display())),
            "{err}"
        );
        let missing = dir.path().join("missing.json");
        let err = render_label("shipping", &missing, 203, None, None).expect_err("no file");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", missing.display())),
            "{err}"
        );
        let err = sample_label("nonsense", 203, None).expect_err("unknown kind");
        assert!(err.to_string().starts_with("unknown label kind"), "{err}");
        let zpl = sample_label("shipping", 203, None).expect("sample");
        assert!(zpl.starts_with(b"^XA"), "{}", String::from_utf8_lossy(&zpl));
    }
}
