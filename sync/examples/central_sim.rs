//! Runs the central simulator on its own so integrators can point an edge at it.
//!
//! `cargo run -p wms-sync --example central_sim -- [ADDR]` (default 127.0.0.1:8700).
//! Environment: `SIM_SITE` (wh-east-1), `SIM_API_KEY`, `SIM_SIGNING_SECRET`, `SIM_FAULT_RATE`
//! (each fault kind at this rate, default 0), `SIM_REJECT_SKUS` (comma-separated).

use std::net::SocketAddr;
use std::time::Duration;
use wms_sync::central_sim::{CentralSim, Faults, SimConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8700".into())
        .parse()?;
    let env = |k: &str| std::env::var(k).ok();
    let mut cfg = SimConfig::new(&env("SIM_SITE").unwrap_or_else(|| "wh-east-1".into()));
    if let Some(k) = env("SIM_API_KEY") {
        cfg.api_key = k;
    }
    if let Some(s) = env("SIM_SIGNING_SECRET") {
        cfg.signing_secret = s.into_bytes();
    }
    if let Some(r) = env("SIM_FAULT_RATE").and_then(|r| r.parse::<f64>().ok()) {
        cfg.faults = Faults::chaos(r.clamp(0.0, 0.2), Duration::from_secs(40));
        cfg.faults.retry_after_s = 2;
    }
    if let Some(list) = env("SIM_REJECT_SKUS") {
        cfg.reject_skus = list.split(',').map(|s| s.trim().to_string()).collect();
    }
    let sim = CentralSim::start_on(addr, cfg).await?;
    let c = sim.credentials();
    println!(
        "central simulator: central_url={} site={}",
        c.central_url, c.site_id
    );
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
