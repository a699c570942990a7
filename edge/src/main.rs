//! The `wms-edge` command line (`edge-api.md`). Exit codes: 0 success, 1 runtime failure,
//! 2 usage or validation error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wms_edge::config;
use wms_edge::domain::role::Role;
use wms_edge::store::{self, base::keys, Origin};

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

fn load_config(path: &std::path::Path) -> anyhow::Result<config::Config> {
    config::load(path).map_err(|p| Usage(p.to_string()).into())
}

fn init_logging(cfg: &config::Config, verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG").ok().unwrap_or_else(|| {
        if verbose {
            "debug".into()
        } else {
            cfg.log.level.clone()
        }
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn init_demo_logging(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .unwrap_or_else(|| if verbose { "debug" } else { "warn" }.into());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config } => {
            let cfg = load_config(&config)?;
            init_logging(&cfg, cli.verbose);
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(wms_edge::node::serve(
                cfg,
                wms_edge::node::termination(),
                |addr| {
                    println!("wms-edge listening on http://{addr}");
                },
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            listen,
            data_dir,
            keep,
        } => {
            init_demo_logging(cli.verbose);
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let opts = wms_edge::demo::DemoOptions {
                listen,
                data_dir,
                keep,
            };
            rt.block_on(wms_edge::demo::run(
                opts,
                wms_edge::node::termination(),
                |banner| {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{banner}");
                    let _ = out.flush();
                },
            ))?;
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "wms-edge demo stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::CentralSim(args) => {
            init_demo_logging(cli.verbose);
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            rt.block_on(wms_edge::central_sim::run(
                *args,
                wms_edge::node::termination(),
                |banner| {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{banner}");
                    let _ = out.flush();
                },
            ))?;
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "central simulator stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            command:
                SyncCommand::ResetSequence {
                    config,
                    central_acked_through,
                    keep_through,
                },
        } => {
            let cfg = load_config(&config)?;
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let r = rt.block_on(wms_edge::sync_glue::reset_sequence(
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
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            let cfg = load_config(&file)?;
            println!(
                "{}: ok (site {}, {} devices, {} stations, {} api keys)",
                file.display(),
                cfg.site_id(),
                cfg.devices.len(),
                cfg.stations.len(),
                cfg.api_keys.len()
            );
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
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                Usage(format!(
                    "unknown role \"{role}\"; roles are picker, packer, cashier, supervisor, admin, central"
                ))
            })?;
            let cfg = load_config(&config)?;
            std::fs::create_dir_all(cfg.data_dir())
                .with_context(|| format!("creating {}", cfg.data_dir().display()))?;
            let conn = store::open_and_migrate(&cfg.db_path())?;
            let key = keys::generate();
            let origin = Origin {
                actor: wms_edge::domain::Actor {
                    user: std::env::var("USER").ok(),
                    device: Some("cli".into()),
                    api_key: None,
                },
                request_id: None,
            };
            let now = wms_edge::domain::time::now();
            conn.execute_batch("BEGIN IMMEDIATE")?;
            match keys::create(&conn, &origin, &now, &name, role, tenant.as_deref(), &key) {
                Ok(()) => conn.execute_batch("COMMIT")?,
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(match e {
                        wms_edge::Error::Conflict(m)
                        | wms_edge::Error::Validation { message: m, .. } => Usage(m).into(),
                        other => other.into(),
                    });
                }
            }
            eprintln!(
                "created API key \"{name}\" with role {} (shown once; store it now):",
                role.as_str()
            );
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
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
        Command::Label { command } => {
            let bytes = match command {
                LabelCommand::Render {
                    kind,
                    data,
                    dpi,
                    format,
                    template,
                } => {
                    let text = std::fs::read_to_string(&data)
                        .map_err(|e| Usage(format!("{}: {e}", data.display())))?;
                    let value: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|e| Usage(format!("{}:{}: {e}", data.display(), e.line())))?;
                    let result = match template {
                        Some(t) => {
                            let tpl = std::fs::read_to_string(&t)
                                .map_err(|e| Usage(format!("{}: {e}", t.display())))?;
                            wms_labels::cli::render_with_template(&kind, &value, &tpl)
                        }
                        None => {
                            let format = format.unwrap_or_else(|| {
                                wms_labels::cli::default_format(&kind).to_string()
                            });
                            wms_labels::cli::render(&kind, &value, dpi, &format)
                        }
                    };
                    result.map_err(|e| Usage(format!("{}: {e}", data.display())))?
                }
                LabelCommand::Sample { kind, dpi, format } => {
                    let format = format
                        .unwrap_or_else(|| wms_labels::cli::default_format(&kind).to_string());
                    wms_labels::cli::sample(&kind, dpi, &format)
                        .map_err(|e| Usage(e.to_string()))?
                }
            };
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes).context("writing to stdout")?;
            out.flush().context("writing to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            println!("{}", wms_edge::api::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}
