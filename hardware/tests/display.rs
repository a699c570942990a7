//! Customer displays over a real pty and loopback TCP, against the DM-D simulator: the screen
//! the till wants arrives byte for byte, hostile text stays text, and an unplugged display
//! shows the current screen when it is back — never the ones it missed.

mod common;

use std::sync::{Arc, Mutex, MutexGuard};

use common::*;
use wms_hardware::device::{DeviceConfig, DisplayHandle};
use wms_hardware::profiles::DeviceKind;
use wms_hardware::protocol::display::DisplayScreen;
use wms_hardware::sim::{CustomerDisplay, DisplayState, PtySim, TcpSim};
use wms_hardware::transport::{HttpDeviceConfig, MqttDeviceConfig, TransportConfig, UsbLpConfig};
use wms_hardware::{Device, DeviceState, KindStatus};

fn lock(s: &Arc<Mutex<DisplayState>>) -> MutexGuard<'_, DisplayState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn handle(d: &Device) -> &DisplayHandle {
    match d {
        Device::CustomerDisplay(h) => h,
        other => panic!("not a display: {other:?}"),
    }
}

async fn shows(state: &Arc<Mutex<DisplayState>>, top: &str, bottom: &str) {
    let want = [top.to_string(), bottom.to_string()];
    eventually(&format!("the display to show {want:?}"), || {
        lock(state).text() == want
    })
    .await;
}

#[tokio::test]
async fn a_display_on_a_pty_shows_the_latest_screen_and_never_a_backlog() {
    let display = CustomerDisplay::new();
    let state = display.state();
    let sim = PtySim::start("display", display).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _scans) = ctx(dir.path());
    let cfg = serial(
        "disp-1",
        DeviceKind::CustomerDisplay,
        "epson-dm-d110",
        &sim.path_str(),
    );
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let h = handle(&dev).clone();
    assert_eq!(h.columns(), 20);
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;

    h.show("Acme Mug       12.50", "TOTAL          12.50");
    shows(&state, "Acme Mug       12.50", "TOTAL          12.50").await;
    let s = wait_status(&mut st, "the screen in the status", |s| {
        s.status
            == KindStatus::CustomerDisplay {
                shown: Some([
                    "Acme Mug       12.50".to_string(),
                    "TOTAL          12.50".to_string(),
                ]),
            }
    })
    .await;
    assert!(s.last_seen_at.is_some());

    // A product name is text, whatever it holds: no ESC @, no clear, no cursor move reaches the
    // display; what the page lacks is a '?'; a long line is cut at 20 columns.
    h.show(
        "Tee\u{1b}@\u{0c}\u{1f}$\u{1}\u{1}Bad\r\n",
        "Crème brûlée €5 and more",
    );
    shows(&state, "Tee@$Bad", "Crème brûlée ?5 and").await;
    assert_eq!(
        lock(&state).screen.inits(),
        1,
        "only the driver's own ESC @"
    );
    assert_eq!(h.shown("Crème brûlée €5 and more"), "Crème brûlée ?5 and ");

    // Unplugged: offline. Screens asked for meanwhile are not queued up: only the last shows.
    sim.unplug().await;
    wait_state(&mut st, DeviceState::Offline).await;
    h.show("MISSED ONE", "");
    h.show("MISSED TWO", "");
    h.show("TOTAL          31.49", "CHANGE          8.51");
    assert_eq!(h.wanted()[0], "TOTAL          31.49");
    sim.replug().await.unwrap();
    wait_state(&mut st, DeviceState::Online).await;
    shows(&state, "TOTAL          31.49", "CHANGE          8.51").await;
    let (inits, history) = {
        let s = lock(&state);
        (s.screen.inits(), s.history.clone())
    };
    assert_eq!(inits, 2, "a reconnect starts from a clean screen");
    assert!(
        !history.iter().any(|l| l[0].starts_with("MISSED")),
        "a backlog reached the display: {history:?}"
    );
    ctx.shutdown.cancel();
    dev.join().await;
}

#[tokio::test]
async fn a_display_on_loopback_tcp_reconnects_and_repaints_a_screen_it_lost() {
    let display = CustomerDisplay::new();
    let state = display.state();
    let sim = TcpSim::start(display).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _scans) = ctx(dir.path());
    let cfg = tcp(
        "disp-2",
        DeviceKind::CustomerDisplay,
        "escpos-display-2x20",
        sim.port(),
    );
    let dev = wms_hardware::spawn(&cfg, &ctx).unwrap();
    let h = handle(&dev).clone();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    h.show("Welcome", "");
    shows(&state, "Welcome", "").await;

    // The display was power-cycled behind an open connection: the periodic refresh (200 ms in
    // these tests) puts the present screen back without anything new being asked.
    lock(&state).screen = DisplayScreen::new(20);
    shows(&state, "Welcome", "").await;

    sim.unplug().await;
    wait_state(&mut st, DeviceState::Offline).await;
    h.show("Acme Tee       19.99", "TOTAL          19.99");
    sim.replug().await.unwrap();
    wait_state(&mut st, DeviceState::Online).await;
    shows(&state, "Acme Tee       19.99", "TOTAL          19.99").await;
    ctx.shutdown.cancel();
    dev.join().await;
}

#[test]
fn a_display_takes_serial_tcp_and_usb_lp_but_not_mqtt_or_http() {
    let entry =
        |t: TransportConfig| DeviceConfig::new("disp-3", DeviceKind::CustomerDisplay, None, t);
    let usb = entry(TransportConfig::UsbLp(UsbLpConfig {
        path: "/dev/usb/lp1".into(),
    }));
    assert!(usb.validate().is_ok());
    assert_eq!(usb.resolve_profile().unwrap().name, "escpos-display-2x20");
    assert!(entry(TransportConfig::Mqtt(MqttDeviceConfig {}))
        .validate()
        .is_err());
    assert!(entry(TransportConfig::Http(HttpDeviceConfig {}))
        .validate()
        .is_err());
    let mut wrong = usb.clone();
    wrong.profile = Some("escpos-80mm".into());
    assert!(wrong.validate().is_err(), "a receipt printer profile");
    // The generic profile has no TCP port to assume: the entry must name one.
    let no_port = entry(TransportConfig::Tcp(wms_hardware::transport::TcpConfig {
        host: "10.1.2.40".into(),
        port: None,
    }));
    assert!(no_port.validate().is_err());
}
