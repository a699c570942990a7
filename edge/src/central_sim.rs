//! `wms-edge central-sim`: the reference central simulator of `wms_sync` on its own, so an
//! integrator can point an edge at a server that follows `sync-api.md` (signatures, timestamps,
//! dedupe, per-aggregate order, changes feed, ID blocks, fault injection) without a central
//! platform. It lives in the library, not in `main.rs`, so a test can drive the same code the
//! binary runs.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wms_sync::central_sim::{CentralSim, Faults, SimConfig, WebhookTarget};

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
    /// The edge's doorbell, `http://<edge>/v1/sync/webhook`: rung after new changes.
    #[arg(long, requires = "webhook_secret")]
    pub webhook_url: Option<String>,
    /// The site's webhook secret (`[central] webhook_secret`), signing the doorbell.
    #[arg(long, requires = "webhook_url")]
    pub webhook_secret: Option<String>,
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
        if let (Some(url), Some(secret)) = (&self.webhook_url, &self.webhook_secret) {
            if !(url.starts_with("http://") || url.starts_with("https://")) || secret.is_empty() {
                return Err(Error::Config(
                    "--webhook-url must be an http(s) URL and --webhook-secret not empty".into(),
                ));
            }
            cfg.webhook = Some(WebhookTarget {
                url: url.clone(),
                secret: secret.clone().into_bytes(),
            });
        }
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

/// What to paste into the edge's config to talk to the simulator at `addr`, and how to feed it.
pub fn banner(addr: SocketAddr, args: &Args) -> String {
    let url = format!("http://{addr}/v2");
    let db = args
        .db
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "in memory".into());
    let mut out = format!(
        "central simulator listening on {url} (site {site}, state {db})\n\
         Paste into edge.toml (its [site] id must be \"{site}\"):\n\n\
         [central]\n\
         url = {url_q}\n\
         api_key = {key_q}\n\
         signing_secret = {secret_q}\n",
        site = args.site,
        url_q = toml_string(&url),
        key_q = toml_string(&args.api_key),
        secret_q = toml_string(&args.signing_secret),
    );
    if let Some(w) = &args.webhook_secret {
        out.push_str(&format!("webhook_secret = {}\n", toml_string(w)));
    }
    out.push_str(&format!(
        "\nSend changes (orders, holds, products, locations…) to the edge with\n\
         curl -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n  \
         -d '{{\"changes\": [{{\"type\": \"location.upsert\", \"object\": {{\"code\": \"A-01-1\", \"zone\": \"A\", \"pick_sequence\": 1, \"kind\": \"pick\", \"version\": 1}}}}]}}' \\\n  \
         http://{addr}/sim/changes\n",
        key = args.api_key,
    ));
    out
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
    on_ready(banner(sim.addr(), &args));
    shutdown.await;
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["central-sim"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("flags").args
    }

    #[test]
    fn the_banner_is_a_central_section_that_parses_with_the_webhook_secret_when_set() {
        let a = args(&[
            "--webhook-url",
            "http://127.0.0.1:8080/v1/sync/webhook",
            "--webhook-secret",
            "hook \"s\"",
            "--api-key",
            "k",
        ]);
        let text = banner(SocketAddr::from(([127, 0, 0, 1], 8700)), &a);
        let section: String = text
            .lines()
            .skip_while(|l| *l != "[central]")
            .take_while(|l| !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        let t: toml::Table = toml::from_str(&section).expect("TOML");
        let c = t["central"].as_table().expect("[central]");
        assert_eq!(c["url"].as_str(), Some("http://127.0.0.1:8700/v2"));
        assert_eq!(c["api_key"].as_str(), Some("k"));
        assert_eq!(c["webhook_secret"].as_str(), Some("hook \"s\""));
        assert!(text.contains("http://127.0.0.1:8700/sim/changes"), "{text}");
        let cfg = a.sim_config().expect("config");
        assert_eq!(
            cfg.webhook.map(|w| w.url),
            Some("http://127.0.0.1:8080/v1/sync/webhook".to_string())
        );
        let plain = banner(SocketAddr::from(([127, 0, 0, 1], 8700)), &args(&[]));
        assert!(!plain.contains("webhook_secret"), "{plain}");
    }

    #[test]
    fn a_webhook_needs_both_flags_and_rates_are_bounded() {
        let cli = |v: &[&str]| {
            let mut argv = vec!["central-sim"];
            argv.extend_from_slice(v);
            Cli::try_parse_from(argv).map(|c| c.args)
        };
        assert!(cli(&["--webhook-url", "http://x/v1/sync/webhook"]).is_err());
        assert!(cli(&["--webhook-secret", "s"]).is_err());
        assert!(cli(&["--fault-rate", "0.3"]).is_err());
        let a = cli(&["--fault-rate", "0.1", "--reset-rate", "0"]).expect("flags");
        let f = a.sim_config().expect("config").faults;
        assert_eq!((f.server_error, f.reset), (0.1, 0.0));
        let bad = cli(&["--webhook-url", "ftp://x", "--webhook-secret", "s"]).expect("flags");
        assert!(bad.sim_config().is_err());
    }
}
