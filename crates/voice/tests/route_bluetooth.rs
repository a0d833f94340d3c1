//! A Bluetooth headset as the speaker: the session records through the built-in microphone
//! (so the headset keeps its high-quality profile) unless the person picked an input. On a
//! private PulseAudio daemon through cpal's native PulseAudio host (which names sinks and
//! sources, so a microphone can be chosen): a sink with bluez-like properties is the default
//! output, the default input is the null sink's monitor, and a null source that says it is
//! the computer's own microphone (a remapped source with `device.bus=pci`,
//! `device.form_factor=microphone`) exists.

mod common;

use std::time::Duration;

use voice::{EchoModel, Session, SessionConfig, SessionEvent};

const DIR: &str = "/tmp/moshibar-pulse-bt";

fn input_of(config: SessionConfig) -> Result<String, Box<dyn std::error::Error>> {
    let (session, events) = Session::start(EchoModel::new(1), config)?;
    let ready = events.recv_timeout(Duration::from_secs(10))?;
    session.stop()?;
    match ready {
        SessionEvent::Ready { input_device, .. } => Ok(input_device),
        other => Err(format!("first event was {other:?}").into()),
    }
}

#[test]
fn bluetooth_output_records_through_the_built_in_mic() -> Result<(), Box<dyn std::error::Error>> {
    common::start_pulse(Some(DIR));
    // Edition 2021: set_var is safe; nothing audio runs in this process yet.
    std::env::set_var("MOSHIBAR_AUDIO_HOST", "pulseaudio");
    let modules = common::pactl(&["list", "short", "modules"]);
    if !modules.contains("sink_name=bt_headset") {
        common::pactl(&[
            "load-module",
            "module-null-sink",
            "sink_name=bt_headset",
            "sink_properties='device.description=BT-Headset device.bus=bluetooth device.form_factor=headset'",
        ]);
    }
    if !modules.contains("source_name=laptop_mic") {
        // A remapped source can carry properties (module-null-source cannot).
        common::pactl(&[
            "load-module",
            "module-remap-source",
            "source_name=laptop_mic",
            "master=moshibar_mic.monitor",
            "source_properties='device.description=Laptop-Mic device.bus=pci device.form_factor=microphone'",
        ]);
    }
    common::pactl(&["set-default-sink", "bt_headset"]);
    common::pactl(&["set-default-source", "moshibar_mic.monitor"]);

    let chosen = input_of(SessionConfig::default())?;
    assert_eq!(
        chosen, "Laptop-Mic",
        "Bluetooth output: the built-in microphone"
    );

    // The person picked an input: it stays, whatever the output.
    let picked = voice::list_devices()?
        .inputs
        .into_iter()
        .find(|n| n.contains("Moshibar-Mic"))
        .ok_or("the null sink's monitor is not listed")?;
    let kept = input_of(SessionConfig {
        input_device: Some(picked.clone()),
        ..Default::default()
    })?;
    assert_eq!(kept, picked);

    // A speaker output: the default input is used as it is.
    common::pactl(&["set-default-sink", "moshibar_out"]);
    let plain = input_of(SessionConfig::default())?;
    assert_ne!(plain, "Laptop-Mic");
    Ok(())
}
