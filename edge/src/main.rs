//! The `wms-edge` command line (`edge-api.md`). Exit codes: 0 success, 1 runtime failure,
//! 2 usage or validation error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wms_edge::domain::role::Role;
use wms_edge::{cli, config, node};

/// The node's allocator. Rows are allocated on store reader threads and freed on the runtime's;
/// glibc's malloc pays for that in arena locks and consolidation, and mimalloc cut the CPU per
/// `GET /v1/inventory` by about a sixth (BENCHMARKS.md). It is chosen here, not in the library,
/// so the library's own tests and fuzz targets keep the system allocator; the benchmarks declare
/// the same one so they measure what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "wms-edge",
    version,
    about = "The per-site edge node of the fulfillment network"
)]
struct Cli {
    /// More detail on errors and in logs.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node in the foreground (what systemd runs).
    Run {
        #[arg(long, default_value = "/etc/wms-edge/edge.toml")]
        config: PathBuf,
    },
    /// Run a complete node on embedded defaults: sample data, simulated devices and the
    /// reference central simulator; prints the URL, an admin API key and what to try.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Data dir (default: a temporary directory removed on exit).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Keep the temporary data dir on exit.
        #[arg(long)]
        keep: bool,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Interpret scans exactly as the floor would.
    Scan {
        #[command(subcommand)]
        command: ScanCommand,
    },
    /// Labels and receipts: print the printer bytes to stdout.
    Label {
        #[command(subcommand)]
        command: LabelCommand,
    },
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Run the reference central simulator on its own (to try an edge without a central);
    /// prints its URL and the `[central]` section for edge.toml. Ctrl-C or SIGTERM stops it.
    CentralSim(Box<wms_edge::central_sim::Args>),
    /// A consistent copy of the database while the node runs (SQLite online backup), verified
    /// by `PRAGMA integrity_check` before it gets its name.
    Backup {
        #[arg(long, default_value = "/etc/wms-edge/edge.toml")]
        config: PathBuf,
        /// The backup file to write (must not exist).
        file: PathBuf,
    },
    /// Put a backup in place of the database, with the node stopped. The replaced database is
    /// kept beside it; the next start checks the central's high-water mark (`diverged`).
    Restore {
        #[arg(long, default_value = "/etc/wms-edge/edge.toml")]
        config: PathBuf,
        /// The backup file to restore.
        file: PathBuf,
    },
    /// Sync with the central platform: recovery tools.
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Recover from the `diverged` state (database restored from a backup): renumber the events
    /// committed since past the central's acked_through. Stop the node first.
    ResetSequence {
        #[arg(long, default_value = "/etc/wms-edge/edge.toml")]
        config: PathBuf,
        /// The central's acked_through (asked from the central when absent).
        #[arg(long)]
        central_acked_through: Option<u64>,
        /// Keep events up to this seq as they are (default: recorded when divergence was seen).
        #[arg(long)]
        keep_through: Option<u64>,
    },
}

#[derive(Subcommand)]
enum ScanCommand {
    /// Interpret one scan (GS1, GTIN, SSCC, control and location codes). `<GS>` or `\x1D` stand
    /// for the FNC1 separator. Exit 0 when accepted, 2 when rejected.
    Parse {
        /// One JSON object instead of a summary.
        #[arg(long)]
        json: bool,
        raw: String,
    },
}

#[derive(Subcommand)]
enum LabelCommand {
    /// Render a label from a JSON data file.
    Render {
        /// shipping, carton, product, location, tote, packing_slip, receipt, report
        kind: String,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 203, value_parser = parse_dpi)]
        dpi: u32,
        /// zpl or escpos (default: what the kind prints as).
        #[arg(long)]
        format: Option<String>,
        /// A tenant's ZPL template overriding the built-in layout.
        #[arg(long)]
        template: Option<PathBuf>,
    },
    /// Render a label from built-in sample data.
    Sample {
        kind: String,
        #[arg(long, default_value_t = 203, value_parser = parse_dpi)]
        dpi: u32,
        #[arg(long)]
        format: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file; problems are printed as <file>:<line>: <message>.
    Check { file: PathBuf },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key in the data dir and print it once.
    Create {
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        /// Limit the key to one tenant's data.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value = "/etc/wms-edge/edge.toml")]
        config: PathBuf,
    },
}

fn parse_dpi(s: &str) -> Result<u32, String> {
    match s {
        "203" => Ok(203),
        "300" => Ok(300),
        _ => Err("dpi must be 203 or 300".into()),
    }
}

/// A failure that is the caller's fault (exit 2) rather than the node's (exit 1).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(u) = e.downcast_ref::<Usage>() {
                eprintln!("{u}");
                return ExitCode::from(2);
            }
            if verbose {
                eprintln!("wms-edge: {e:?}");
            } else {
                eprintln!("wms-edge: {e:#}");
            }
            ExitCode::from(1)
        }
    }
}

/// One subcommand each: the work is in the library, here only what the operator sees.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let verbose = cli.verbose;
    match cli.command {
        Command::Run { config } => run_node(&config, verbose),
        Command::Demo {
            listen,
            data_dir,
            keep,
        } => demo(
            wms_edge::demo::DemoOptions {
                listen,
                data_dir,
                keep,
            },
            verbose,
        ),
        Command::CentralSim(args) => central_sim(*args, verbose),
        Command::Sync {
            command:
                SyncCommand::ResetSequence {
                    config,
                    central_acked_through,
                    keep_through,
                },
        } => reset_sequence(&config, central_acked_through, keep_through),
        Command::Backup { config, file } => {
            let cfg = load_config(&config)?;
            let report = wms_edge::ops::backup::backup_file(&cfg.db_path(), &file)
                .map_err(refusal_is_usage)?;
            println!("backup written: {report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { config, file } => {
            let cfg = load_config(&config)?;
            let r = wms_edge::ops::backup::restore(cfg.data_dir(), &cfg.db_path(), &file)
                .map_err(refusal_is_usage)?;
            println!("restored: {}", r.restored);
            if let Some(p) = r.previous {
                println!("the database it replaced is kept as {}", p.display());
            }
            println!(
                "start the node; if the central has seen later events it reports sync state \
                 \"diverged\": then stop it and run `wms-edge sync reset-sequence`"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            let cfg = load_config(&file)?;
            println!("{}", cli::config_summary(&file, &cfg));
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    role,
                    name,
                    tenant,
                    config,
                },
        } => create_key(&role, &name, tenant.as_deref(), &config),
        Command::Scan {
            command: ScanCommand::Parse { json, raw },
        } => {
            let (value, code) = wms_labels::cli::scan_parse(&raw);
            if json {
                println!("{value}");
            } else {
                println!("{}", wms_labels::cli::scan_summary(&value));
            }
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        Command::Label { command } => label(command),
        Command::Openapi => {
            println!("{}", wms_edge::api::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_config(path: &Path) -> anyhow::Result<config::Config> {
    config::load(path).map_err(|p| Usage(p.to_string()).into())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

/// A refusal the operator can fix is a usage error (exit 2); anything else is the node's (exit 1).
fn refusal_is_usage(e: wms_edge::Error) -> anyhow::Error {
    match e {
        wms_edge::Error::Conflict(m)
        | wms_edge::Error::Validation { message: m, .. }
        | wms_edge::Error::Config(m)
        | wms_edge::Error::SchemaTooNew(m) => Usage(m).into(),
        other => other.into(),
    }
}

fn print_flushed(text: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn run_node(config: &Path, verbose: bool) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let _log = cli::init_logging(&cfg.log, verbose);
    runtime()?
        .block_on(node::serve(cfg, node::termination(), |addr| {
            println!("wms-edge listening on http://{addr}");
        }))
        .map_err(|e| match e {
            // A database from a newer release: restarting cannot help; the operator must act.
            wms_edge::Error::SchemaTooNew(_) => refusal_is_usage(e),
            other => other.into(),
        })?;
    Ok(ExitCode::SUCCESS)
}

fn demo(opts: wms_edge::demo::DemoOptions, verbose: bool) -> anyhow::Result<ExitCode> {
    cli::init_quiet_logging(verbose);
    runtime()?.block_on(wms_edge::demo::run(opts, node::termination(), |banner| {
        print_flushed(banner)
    }))?;
    print_flushed("wms-edge demo stopped");
    Ok(ExitCode::SUCCESS)
}

fn central_sim(args: wms_edge::central_sim::Args, verbose: bool) -> anyhow::Result<ExitCode> {
    cli::init_quiet_logging(verbose);
    runtime()?.block_on(wms_edge::central_sim::run(
        args,
        node::termination(),
        print_flushed,
    ))?;
    print_flushed("central simulator stopped");
    Ok(ExitCode::SUCCESS)
}

fn reset_sequence(
    config: &Path,
    central_acked_through: Option<u64>,
    keep_through: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let r = runtime()?.block_on(wms_edge::sync_glue::reset_sequence(
        &cfg,
        central_acked_through,
        keep_through,
    ))?;
    println!(
        "renumbered {} events; highest seq is now {}; start the node again",
        r.renumbered, r.highest
    );
    Ok(ExitCode::SUCCESS)
}

fn create_key(
    role: &str,
    name: &str,
    tenant: Option<&str>,
    config: &Path,
) -> anyhow::Result<ExitCode> {
    let role = Role::parse(role).ok_or_else(|| {
        Usage(format!(
            "unknown role \"{role}\"; roles are picker, packer, cashier, supervisor, admin, central"
        ))
    })?;
    let cfg = load_config(config)?;
    let key = cli::create_key(&cfg, name, role, tenant).map_err(refusal_is_usage)?;
    eprintln!(
        "created API key \"{name}\" with role {} (shown once; store it now):",
        role.as_str()
    );
    println!("{key}");
    Ok(ExitCode::SUCCESS)
}

fn label(command: LabelCommand) -> anyhow::Result<ExitCode> {
    let bytes = match command {
        LabelCommand::Render {
            kind,
            data,
            dpi,
            format,
            template,
        } => cli::render_label(&kind, &data, dpi, format.as_deref(), template.as_deref()),
        LabelCommand::Sample { kind, dpi, format } => {
            cli::sample_label(&kind, dpi, format.as_deref())
        }
    }
    .map_err(refusal_is_usage)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes).context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
