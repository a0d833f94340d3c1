//! The microphone is open exactly while a session runs: on a private PulseAudio daemon, this
//! process has a recording stream (a source output) during the session and none once the
//! session has stopped (no recording indicator while idle). Checked with `pactl`, not with our
//! own bookkeeping.

mod common;

use std::time::{Duration, Instant};

use voice::{EchoModel, Session, SessionConfig};

const DIR: &str = "/tmp/moshibar-pulse-mic";

/// This process's recording streams on the server, from `pactl list source-outputs`.
fn our_source_outputs() -> usize {
    let pid = format!("application.process.id = \"{}\"", std::process::id());
    common::pactl(&["list", "source-outputs"])
        .split("Source Output #")
        .filter(|block| block.contains(&pid))
        .count()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_microphone_is_closed_when_the_session_ends() -> Result<(), Box<dyn std::error::Error>> {
    common::start_pulse(Some(DIR));
    assert_eq!(our_source_outputs(), 0, "recording before any session");
    for round in 0..2 {
        let (session, _events) = Session::start(EchoModel::new(1), SessionConfig::default())?;
        wait_until("our recording stream appears", || our_source_outputs() == 1);
        session.stop()?;
        wait_until("our recording stream is gone after the session", || {
            our_source_outputs() == 0
        });
        eprintln!("round {round}: open during the session, closed after it");
    }
    Ok(())
}
