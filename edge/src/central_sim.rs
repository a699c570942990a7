//! `wms-edge central-sim`: the reference central simulator of `wms_sync` on its own, so an
//! integrator can point an edge at a server that follows `sync-api.md` (signatures, timestamps,
//! dedupe, per-aggregate order, changes feed, ID blocks, fault injection) without a central
//! platform. It lives in the library, not in `main.rs`, so a test can drive the same code the
//! binary runs.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wms_sync::central_sim::{CentralSim, Faults, SimConfig};

use crate::{Error, Result};

/// Flags of `wms-edge central-sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 = any free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub listen: SocketAddr,
    /// The one site this central serves: the edge's `[site] id`.
    #[arg(long, default_value = "wh-demo")]
    pub site: String,
    /// Bearer key the edge must send (`[central] api_key`).
    #[arg(long, default_value = "sim-api-key")]
    pub api_key: String,
    /// HMAC secret of request signatures (`[central] signing_secret`).
    #[arg(long, default_value = "sim-signing-secret")]
    pub signing_secret: String,
    /// SQLite file for the central's state (applied ids, stock, changes, ID blocks); a restart on
    /// the same file keeps dedupe. Without it the state is in memory.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Rate (0–0.2) of every fault kind at once: 5xx, 429, hangs, resets, lost answers.
    #[arg(long, default_value_t = 0.0, value_parser = rate)]
    pub fault_rate: f64,
    /// Rate of 500 answers (overrides --fault-rate for this kind).
    #[arg(long, value_parser = rate)]
    pub server_error_rate: Option<f64>,
    /// Rate of 429 answers with Retry-After.
    #[arg(long, value_parser = rate)]
    pub rate_limited_rate: Option<f64>,
    /// Seconds sent in Retry-After.
    #[arg(long, default_value_t = 2)]
    pub retry_after_s: u64,
    /// Rate of requests held for --hang-ms and then answered 503.
    #[arg(long, value_parser = rate)]
    pub hang_rate: Option<f64>,
    /// How long a hang lasts, in milliseconds (longer than the edge's timeout makes it a timeout).
    #[arg(long, default_value_t = 40_000)]
    pub hang_ms: u64,
    /// Rate of connection resets before any work.
    #[arg(long, value_parser = rate)]
    pub reset_rate: Option<f64>,
    /// Rate of requests whose work is done and whose answer is then lost.
    #[arg(long, value_parser = rate)]
    pub lost_response_rate: Option<f64>,
    /// Reject events with this `data.sku` (repeatable), to see dead letters.
    #[arg(long = "reject-sku")]
    pub reject_skus: Vec<String>,
    /// Seed of the fault dice (reproducible runs).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn rate(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=0.2).contains(&r) => Ok(r),
        Ok(_) => Err("a fault rate is between 0 and 0.2".into()),
        Err(e) => Err(e.to_string()),
    }
}

impl Args {
    /// The simulator configuration these flags describe.
    pub fn sim_config(&self) -> Result<SimConfig> {
        if self.site.is_empty() || self.api_key.is_empty() || self.signing_secret.is_empty() {
            return Err(Error::Config(
                "--site, --api-key and --signing-secret must not be empty".into(),
            ));
        }
        let mut cfg = SimConfig::new(&self.site);
        cfg.api_key = self.api_key.clone();
        cfg.signing_secret = self.signing_secret.clone().into_bytes();
        cfg.db_path = self.db.clone();
        cfg.seed = self.seed;
        cfg.reject_skus = self.reject_skus.iter().cloned().collect();
        let all = self.fault_rate;
        cfg.faults = Faults {
            server_error: self.server_error_rate.unwrap_or(all),
            rate_limited: self.rate_limited_rate.unwrap_or(all),
            retry_after_s: self.retry_after_s,
            hang: self.hang_rate.unwrap_or(all),
            hang_for: Duration::from_millis(self.hang_ms),
            reset: self.reset_rate.unwrap_or(all),
            lost_response: self.lost_response_rate.unwrap_or(all),
        };
        Ok(cfg)
    }
}

/// What to paste into the edge's config to talk to this simulator.
pub fn banner(sim: &CentralSim, args: &Args) -> String {
    let db = args
        .db
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "in memory".into());
    format!(
        "central simulator listening on {url} (site {site}, state {db})\n\
         Paste into edge.toml (its [site] id must be \"{site}\"):\n\n\
         [central]\n\
         url = {url_q}\n\
         api_key = {key_q}\n\
         signing_secret = {secret_q}\n",
        url = sim.url(),
        site = args.site,
        url_q = toml_string(&sim.url()),
        key_q = toml_string(&args.api_key),
        secret_q = toml_string(&args.signing_secret),
    )
}

/// A TOML basic string (quotes and backslashes escaped), so any key or secret pastes verbatim.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Runs the simulator until `shutdown` resolves; `on_ready` gets the banner once it listens.
pub async fn run(
    args: Args,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(String),
) -> Result<()> {
    let cfg = args.sim_config()?;
    let sim = CentralSim::start_on(args.listen, cfg)
        .await
        .map_err(|e| Error::Config(format!("central simulator: {e}")))?;
    on_ready(banner(&sim, &args));
    shutdown.await;
    sim.shutdown().await;
    Ok(())
}
