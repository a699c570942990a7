//! Scales over real ptys against the simulators.

mod common;

use std::time::Duration;

use common::*;
use wms_hardware::device::Device;
use wms_hardware::profiles::DeviceKind;
use wms_hardware::sim::{ContinuousScale, NciScale, PtySim, SicsScale, Toledo8217Scale};
use wms_hardware::{DeviceState, Error, KindStatus};

fn scale(d: &Device) -> &wms_hardware::device::ScaleHandle {
    match d {
        Device::Scale(s) => s,
        other => panic!("not a scale: {other:?}"),
    }
}

#[tokio::test]
async fn sics_exact_weight_motion_then_settle_and_overload() {
    let sim_scale = SicsScale::new("12.345", "g");
    let state = sim_scale.state();
    let sim = PtySim::start("scale", sim_scale).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _scans) = ctx(dir.path());
    let dev = wms_hardware::spawn(
        &serial(
            "scale-1",
            DeviceKind::Scale,
            "mettler-toledo-sics",
            &sim.path_str(),
        ),
        &ctx,
    )
    .unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    let s = scale(&dev);

    let w = s.read_stable(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (w.value.to_string().as_str(), w.unit.as_str()),
        ("12.345", "g")
    );

    // A new parcel: moving for a few reads, then settles.
    state.lock().unwrap().place("2.500", 4);
    let w = s.read_stable(Duration::from_secs(5)).await.unwrap();
    assert_eq!(w.value.to_string(), "2.500");
    let st_now = dev.status().borrow().clone();
    assert!(
        matches!(st_now.status, KindStatus::Scale { last_stable_weight: Some(ref lw) } if lw.value.to_string() == "2.500")
    );

    // Never settles in time: motion, not a weight.
    state.lock().unwrap().place("3.000", 1000);
    let r = s.read_stable(Duration::from_millis(300)).await;
    assert!(
        matches!(r, Err(Error::Motion)),
        "{r:?} {:?}",
        state.lock().unwrap()
    );

    // Overload is an error and puts the device in error state.
    {
        let mut g = state.lock().unwrap();
        g.moving_reads = 0;
        g.overload = true;
    }
    assert!(matches!(
        s.read_stable(Duration::from_secs(5)).await,
        Err(Error::Overload)
    ));
    wait_state(&mut st, DeviceState::Error).await;
    state.lock().unwrap().overload = false;
    assert_eq!(
        s.read_stable(Duration::from_secs(5))
            .await
            .unwrap()
            .value
            .to_string(),
        "3.000"
    );
    wait_state(&mut st, DeviceState::Online).await;

    // Tare then zero.
    s.tare().await.unwrap();
    assert_eq!(
        s.read_stable(Duration::from_secs(5))
            .await
            .unwrap()
            .value
            .to_string(),
        "0.000"
    );
    s.zero().await.unwrap();

    ctx.shutdown.cancel();
    dev.join().await;
}

#[tokio::test]
async fn toledo_8217_weight_and_motion() {
    let sim_scale = Toledo8217Scale::new("1.25", "lb");
    let state = sim_scale.state();
    let sim = PtySim::start("scale8217", sim_scale).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _scans) = ctx(dir.path());
    let dev = wms_hardware::spawn(
        &serial("s8217", DeviceKind::Scale, "toledo-8217", &sim.path_str()),
        &ctx,
    )
    .unwrap();
    let s = scale(&dev);
    let w = s.read_stable(Duration::from_secs(5)).await.unwrap();
    assert_eq!(w.to_string(), "1.25 lb");
    state.lock().unwrap().place("10.05", 3);
    assert_eq!(
        s.read_stable(Duration::from_secs(5))
            .await
            .unwrap()
            .to_string(),
        "10.05 lb"
    );
    state.lock().unwrap().underload = true;
    assert!(matches!(
        s.read_stable(Duration::from_secs(5)).await,
        Err(Error::Underload)
    ));
    state.lock().unwrap().underload = false;
    state.lock().unwrap().overload = true;
    assert!(matches!(
        s.read_stable(Duration::from_secs(5)).await,
        Err(Error::Overload)
    ));
    ctx.shutdown.cancel();
    dev.join().await;
}

#[tokio::test]
async fn nci_weight_motion_overload() {
    let sim_scale = NciScale::new("1.25", "lb");
    let state = sim_scale.state();
    let sim = PtySim::start("nci", sim_scale).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _scans) = ctx(dir.path());
    let dev = wms_hardware::spawn(
        &serial(
            "nci",
            DeviceKind::Scale,
            "avery-weigh-tronix-7820",
            &sim.path_str(),
        ),
        &ctx,
    )
    .unwrap();
    let s = scale(&dev);
    assert_eq!(
        s.read_stable(Duration::from_secs(5))
            .await
            .unwrap()
            .to_string(),
        "1.25 lb"
    );
    state.lock().unwrap().place("7.40", 3);
    assert_eq!(
        s.read_stable(Duration::from_secs(5))
            .await
            .unwrap()
            .to_string(),
        "7.40 lb"
    );
    state.lock().unwrap().overload = true;
    assert!(matches!(
        s.read_stable(Duration::from_secs(5)).await,
        Err(Error::Overload)
    ));
    state.lock().unwrap().overload = false;
    s.zero().await.unwrap();
    assert!(matches!(s.tare().await, Err(Error::Unsupported(_))));
    ctx.shutdown.cancel();
    dev.join().await;
}

#[tokio::test]
async fn continuous_output_settles() {
    let sim_scale = ContinuousScale::new("1.234");
    let state = sim_scale.state();
    state.lock().unwrap().moving_reads = 3;
    let sim = PtySim::start("cont", sim_scale).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _scans) = ctx(dir.path());
    let dev = wms_hardware::spawn(
        &serial(
            "cont",
            DeviceKind::Scale,
            "toledo-continuous",
            &sim.path_str(),
        ),
        &ctx,
    )
    .unwrap();
    let w = scale(&dev)
        .read_stable(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(w.to_string(), "1.234 kg");
    ctx.shutdown.cancel();
    dev.join().await;
}

#[tokio::test]
async fn unplugged_scale_goes_offline_and_comes_back() {
    let sim = PtySim::start("plug", SicsScale::new("0.500", "kg")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _scans) = ctx(dir.path());
    let dev = wms_hardware::spawn(
        &serial(
            "plug",
            DeviceKind::Scale,
            "mettler-toledo-sics",
            &sim.path_str(),
        ),
        &ctx,
    )
    .unwrap();
    let mut st = dev.status();
    wait_state(&mut st, DeviceState::Online).await;
    sim.unplug().await;
    let s = wait_state(&mut st, DeviceState::Offline).await;
    assert!(s.last_error.is_some());
    assert!(matches!(
        scale(&dev).read_stable(Duration::from_secs(1)).await,
        Err(Error::Offline(_))
    ));
    sim.replug().await.unwrap();
    wait_state(&mut st, DeviceState::Online).await;
    assert_eq!(
        scale(&dev)
            .read_stable(Duration::from_secs(5))
            .await
            .unwrap()
            .value
            .to_string(),
        "0.500"
    );
    ctx.shutdown.cancel();
    dev.join().await;
}
