//! Headphones, headsets and the "use headphones" notice on real devices: a private PulseAudio
//! daemon gets a sink that says it is a Bluetooth headset (`device.bus`, `device.form_factor`,
//! as bluez sinks do); with it as the speaker the session skips the echo canceller and needs
//! no notice; on the plain null sink (a speaker, as far as anyone knows) the canceller runs,
//! and with the canceller turned off the session tells the person to use headphones.

mod common;

use std::time::Duration;

use voice::{device_traits, find_device, host, Direction};
use voice::{EchoModel, RouteNotice, Session, SessionConfig, SessionEvent};
use voice::{Form, Transport};

const DIR: &str = "/tmp/moshibar-pulse-route";

/// The Ready event's (notice, echo cancelled) and the canceller the metrics report.
fn route_of(
    config: SessionConfig,
) -> Result<(Option<RouteNotice>, bool, String), Box<dyn std::error::Error>> {
    let (session, events) = Session::start(EchoModel::new(1), config)?;
    let ready = events.recv_timeout(Duration::from_secs(10))?;
    let SessionEvent::Ready {
        notice,
        echo_cancelled,
        ..
    } = ready
    else {
        return Err(format!("first event was {ready:?}").into());
    };
    let kind = loop {
        match events.recv_timeout(Duration::from_secs(10))? {
            SessionEvent::Metrics(m) => break serde_json::to_value(m.echo_canceller)?,
            SessionEvent::Error { message } => return Err(message.into()),
            _ => {}
        }
    };
    session.stop()?;
    Ok((
        notice,
        echo_cancelled,
        kind.as_str().unwrap_or("").to_string(),
    ))
}

#[test]
fn headsets_skip_the_canceller_speakers_get_it_or_a_notice(
) -> Result<(), Box<dyn std::error::Error>> {
    common::start_pulse(Some(DIR));
    let sinks = common::pactl(&["list", "short", "sinks"]);
    if !sinks.contains("fake_headset") {
        common::pactl(&[
            "load-module",
            "module-null-sink",
            "sink_name=fake_headset",
            "sink_properties='device.description=Fake-Headset device.bus=bluetooth device.form_factor=headset'",
        ]);
    }

    // The plain null sink: a speaker in the room, so the canceller runs.
    common::pactl(&["set-default-sink", "moshibar_out"]);
    let t = device_traits(
        &find_device(&host(), Direction::Output, None)?,
        Direction::Output,
    );
    assert!(!t.is_worn(), "null sink taken for headphones: {t:?}");
    let (notice, cancelled, kind) = route_of(SessionConfig::default())?;
    assert!(cancelled, "speaker: the canceller must run");
    assert_eq!(notice, None);
    assert_eq!(kind, "webrtcAec3");
    // ... and with the canceller off, the person is told to use headphones.
    let (notice, cancelled, kind) = route_of(SessionConfig {
        echo_cancellation: false,
        ..Default::default()
    })?;
    assert!(!cancelled);
    assert_eq!(notice, Some(RouteNotice::UseHeadphones));
    assert_eq!(kind, "off");

    // The "headset": found as such through PulseAudio's properties, no canceller, no notice.
    common::pactl(&["set-default-sink", "fake_headset"]);
    let t = device_traits(
        &find_device(&host(), Direction::Output, None)?,
        Direction::Output,
    );
    assert_eq!(
        (t.transport, t.form),
        (Transport::Bluetooth, Form::Headset),
        "{t:?}"
    );
    let (notice, cancelled, kind) = route_of(SessionConfig::default())?;
    assert!(!cancelled, "headset: the canceller must be skipped");
    assert_eq!(notice, None);
    assert_eq!(kind, "off");
    common::pactl(&["set-default-sink", "moshibar_out"]);
    Ok(())
}
