//! A session opened ahead of the first press (the app's popover is up, `wait_for_talk`) keeps
//! the model still until the key lets the microphone through: on a private PulseAudio daemon
//! with a tone in the microphone, the devices run (Ready came) but the model gets no frame
//! while the key is up, and after the key-down it hears the microphone at once. Without
//! `wait_for_talk` the same session steps the model from the first frame (the control).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use voice::FRAME_SAMPLES;
use voice::{FrameModel, ModelError, ModelFrame, Session, SessionConfig, SessionEvent};

const DIR: &str = "/tmp/moshibar-pulse-wait";

/// Per frame the model got: its samples that were not silence.
type Log = Arc<Mutex<Vec<usize>>>;

struct Probe(Log);

impl FrameModel for Probe {
    fn warmup(&mut self) -> Result<(), ModelError> {
        Ok(())
    }
    fn reset(&mut self) {}
    fn process(&mut self, pcm: &[f32]) -> Result<ModelFrame, ModelError> {
        let sound = pcm.iter().filter(|s| **s != 0.0).count();
        self.0.lock().push(sound);
        Ok(ModelFrame {
            pcm: vec![0.0; FRAME_SAMPLES],
            text: None,
            encode_ms: 0.0,
            lm_ms: 0.0,
            decode_ms: 0.0,
        })
    }
}

fn frames(log: &Log) -> Vec<usize> {
    log.lock().clone()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "{what} within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a session with a probe model and waits until its devices are open.
fn start(wait_for_talk: bool) -> Result<(Session, Log), Box<dyn std::error::Error>> {
    let log: Log = Arc::default();
    let (session, events) = Session::start(
        Probe(log.clone()),
        SessionConfig {
            echo_cancellation: false,
            wait_for_talk,
            ..Default::default()
        },
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(SessionEvent::Ready { .. }) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("no Ready event: {e}").into()),
        }
    }
    Ok((session, log))
}

#[test]
fn the_model_waits_for_the_first_press() -> Result<(), Box<dyn std::error::Error>> {
    common::start_pulse(Some(DIR));
    let dir = tempfile::tempdir()?;
    let tone = dir.path().join("tone.wav");
    common::tone_wav(&tone, 310.0, 30.0, 0.4);
    let _feed = common::MicFeed::start(&tone);

    // Control: a session the person started steps the model from its first frames.
    let (session, log) = start(false)?;
    wait_until("the control session's model runs", || {
        frames(&log).len() >= 5
    });
    session.stop()?;

    // Opened ahead of the press: the devices run and the loop handles a second of the
    // microphone (its live figures count it), while the model waits.
    let (session, log) = start(true)?;
    wait_until("a second of microphone handled", || {
        session.stats().live().audio.captured_s >= 1.0
    });
    let before = frames(&log).len();
    let captured = session.stats().live().audio.captured_s;
    session.set_talking(true);
    wait_until("the model runs after the press", || frames(&log).len() >= 5);
    session.set_talking(false);
    session.stop()?;
    let after = frames(&log);
    eprintln!("waiting: {before} model frames in {captured:.2} s of microphone before the press");
    assert_eq!(before, 0, "the model ran before the first press");
    let first = after[0];
    assert!(
        first > FRAME_SAMPLES / 2,
        "the first frame after the press did not carry the microphone ({first} samples of sound)"
    );
    Ok(())
}
