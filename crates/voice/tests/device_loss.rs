//! Device loss on real devices: a private PulseAudio daemon (so nobody else's audio is
//! disturbed) loses its sinks mid-session; the session must say so (DeviceLost), keep trying,
//! and reopen when the devices come back (DeviceReopened), with frames flowing again.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use voice::{EchoModel, Session, SessionConfig, SessionEvent};

const DIR: &str = "/tmp/moshibar-pulse-loss";

fn wait_for(
    events: &Receiver<SessionEvent>,
    what: &str,
    pred: impl Fn(&SessionEvent) -> bool,
) -> SessionEvent {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if pred(&e) => return e,
            Ok(SessionEvent::Error { message }) => {
                panic!("session error while waiting for {what}: {message}")
            }
            Ok(_) => {}
            Err(_) => panic!("no {what} event within 30 s"),
        }
    }
}

fn null_sink_modules() -> Vec<String> {
    common::pactl(&["list", "short", "modules"])
        .lines()
        .filter(|l| l.contains("module-null-sink"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn losing_the_devices_is_reported_and_recovered() -> Result<(), Box<dyn std::error::Error>> {
    common::start_pulse(Some(DIR));
    let (session, events) = Session::start(
        EchoModel::new(1),
        SessionConfig {
            hands_free: true,
            reopen_timeout: Duration::from_secs(60),
            ..Default::default()
        },
    )?;
    wait_for(&events, "ready", |e| {
        matches!(e, SessionEvent::Ready { .. })
    });
    let frames = || session.stats().frames.load(Ordering::Relaxed);
    while frames() < 10 {
        std::thread::sleep(Duration::from_millis(20));
    }

    // Pull the plug: every sink (and so every monitor source) disappears.
    let modules = null_sink_modules();
    assert_eq!(modules.len(), 2, "expected the two moshibar null sinks");
    for m in &modules {
        common::pactl(&["unload-module", m]);
    }
    let lost = wait_for(&events, "deviceLost", |e| {
        matches!(e, SessionEvent::DeviceLost { .. })
    });
    if let SessionEvent::DeviceLost { message, .. } = &lost {
        assert!(!message.is_empty());
    }
    assert!(
        session.is_running(),
        "a lost device must not end the session at once"
    );

    // Plug it back in: the session reopens by itself and frames flow again.
    common::start_pulse(Some(DIR));
    wait_for(&events, "deviceReopened", |e| {
        matches!(e, SessionEvent::DeviceReopened { .. })
    });
    let after = frames();
    let deadline = Instant::now() + Duration::from_secs(30);
    while frames() < after + 10 {
        assert!(
            Instant::now() < deadline,
            "frames did not flow after reopening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(session.stats().reopens.load(Ordering::Relaxed) >= 1);
    session.stop()?;
    Ok(())
}
