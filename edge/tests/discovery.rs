//! mDNS over the machine's real interfaces: the node is found as `_wms-edge._tcp` with its TXT
//! keys, and a printer announcing `_pdl-datastream._tcp` is listed as a candidate. Where the
//! machine has no working multicast (some containers) the test says so and checks only that
//! the node runs without it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

const ADMIN: &str = "test-key-for-admin";

/// Whether multicast reaches this host at all: one daemon announces, another must see it.
async fn multicast_works() -> bool {
    let (Ok(a), Ok(b)) = (ServiceDaemon::new(), ServiceDaemon::new()) else {
        return false;
    };
    let ty = "_wms-edge-probe._tcp.local.";
    let name = format!("probe-{}", std::process::id());
    let Ok(info) = ServiceInfo::new(ty, &name, "probe.local.", "", 9, &[("x", "1")][..])
        .map(ServiceInfo::enable_addr_auto)
    else {
        return false;
    };
    if a.register(info).is_err() {
        return false;
    }
    let Ok(rx) = b.browse(ty) else {
        return false;
    };
    let seen = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(ev) = rx.recv_async().await {
            if matches!(ev, ServiceEvent::ServiceResolved(_)) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    let _ = a.shutdown();
    let _ = b.shutdown();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_is_advertised_and_printers_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = format!("wh-mdns-{}", std::process::id());
    let toml = format!(
        "[site]\nid = \"{site}\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"0.0.0.0:0\"\n[[api_keys]]\nname = \"ops\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n",
        dir.path().display()
    );
    let cfg = wms_edge::config::parse("test.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stop_rx.await;
        };
        wms_edge::node::serve(cfg, shutdown, move |a| {
            let _ = addr_tx.send(a);
        })
        .await
        .expect("serve");
    });
    let addr = addr_rx.await.expect("listening");
    let base = format!("http://127.0.0.1:{}", addr.port());
    let http = Client::new();
    let discovered = || async {
        let r = http
            .get(format!("{base}/v1/devices/discovered"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("discovered");
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.expect("json")
    };
    if !multicast_works().await {
        eprintln!("no working multicast on this machine: checking only that the node runs");
        assert!(discovered().await["data"].is_array());
        let _ = stop_tx.send(());
        return;
    }

    // The node is found with its TXT keys.
    let browser = ServiceDaemon::new().expect("daemon");
    let rx = browser.browse("_wms-edge._tcp.local.").expect("browse");
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(ev) = rx.recv_async().await {
            if let ServiceEvent::ServiceResolved(s) = ev {
                if s.get_property_val_str("site") == Some(site.as_str()) {
                    return Some(s);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("node advertised");
    assert_eq!(found.get_port(), addr.port());
    assert_eq!(found.get_property_val_str("api"), Some("/v1"));
    assert_eq!(
        found.get_property_val_str("version"),
        Some(env!("CARGO_PKG_VERSION"))
    );

    // A printer announcing raw-port printing shows up as a candidate.
    let printer_name = format!("ZD421 test {}", std::process::id());
    let printer = ServiceInfo::new(
        "_pdl-datastream._tcp.local.",
        &printer_name,
        "zd421-test.local.",
        "",
        9100,
        &[("ty", "ZTC ZD421-203dpi ZPL")][..],
    )
    .expect("service")
    .enable_addr_auto();
    browser.register(printer).expect("register printer");
    let end = Instant::now() + Duration::from_secs(15);
    let candidate = loop {
        let v = discovered().await;
        let hit = v["data"].as_array().and_then(|a| {
            a.iter()
                .find(|c| {
                    c["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(&printer_name))
                })
                .cloned()
        });
        if let Some(c) = hit {
            break c;
        }
        assert!(Instant::now() < end, "printer not discovered: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(candidate["service"], "_pdl-datastream._tcp");
    assert_eq!(candidate["port"], 9100);
    assert_eq!(candidate["model"], "ZTC ZD421-203dpi ZPL");
    assert_eq!(candidate["configured"], false);
    let _ = browser.shutdown();
    let _ = stop_tx.send(());
}
