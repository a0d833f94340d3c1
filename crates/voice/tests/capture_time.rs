//! The capture clock on real devices: with push-to-talk and no pre-roll, a key-down at instant
//! T lets through exactly the samples whose capture time (from the input callback's stamps)
//! is at or after T. On a private PulseAudio daemon with a tone in the microphone, the first
//! frame that carries sound must then have been captured before it was processed: its
//! leading silent samples put its capture start at T − zeros/24 kHz, and the model must have
//! seen it at least one frame (80 ms) later and not absurdly late. A frame's capture time that
//! is off by more than the processing delay (e.g. ignoring the queued samples) fails this.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use voice::{FrameModel, ModelError, ModelFrame, Session, SessionConfig, FRAME_SAMPLES};

const DIR: &str = "/tmp/moshibar-pulse-capture";

/// Per frame: when the model got it, its leading silent samples, its non-silent samples.
type Log = Arc<Mutex<Vec<(Instant, usize, usize)>>>;

struct Probe(Log);

impl FrameModel for Probe {
    fn warmup(&mut self) -> Result<(), ModelError> {
        Ok(())
    }
    fn reset(&mut self) {}
    fn process(&mut self, pcm: &[f32]) -> Result<ModelFrame, ModelError> {
        let now = Instant::now();
        let zeros = pcm.iter().take_while(|s| **s == 0.0).count();
        let sound = pcm.iter().filter(|s| **s != 0.0).count();
        self.0.lock().push((now, zeros, sound));
        Ok(ModelFrame {
            pcm: vec![0.0; FRAME_SAMPLES],
            text: None,
            encode_ms: 0.0,
            lm_ms: 0.0,
            decode_ms: 0.0,
        })
    }
}

#[test]
fn a_key_down_gates_by_the_callbacks_capture_time() -> Result<(), Box<dyn std::error::Error>> {
    common::start_pulse(Some(DIR));
    let dir = tempfile::tempdir()?;
    let tone = dir.path().join("tone.wav");
    common::tone_wav(&tone, 310.0, 20.0, 0.4);
    let _feed = common::MicFeed::start(&tone);
    let log: Log = Arc::default();
    let (session, _events) = Session::start(
        Probe(log.clone()),
        SessionConfig {
            pre_roll_ms: 0,
            echo_cancellation: false,
            ..Default::default()
        },
    )?;
    // Frames flowing steadily first (the devices start in a burst).
    let deadline = Instant::now() + Duration::from_secs(15);
    while log.lock().len() < 15 {
        assert!(Instant::now() < deadline, "frames did not flow");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    session.set_talking_at(true, t);
    std::thread::sleep(Duration::from_millis(1000));
    session.stop()?;

    let log = log.lock().clone();
    let first = log
        .iter()
        .position(|(_, _, sound)| *sound > 0)
        .ok_or("no frame carried the microphone after the key-down")?;
    let (processed, zeros, _) = log[first];
    let before = log.iter().filter(|(at, _, _)| *at < t).count();
    eprintln!("{before} frames before the key-down, first open frame #{first}");
    assert!(processed > t, "sound reached the model before the key-down");
    let captured = t - Duration::from_secs_f64(zeros as f64 / 24_000.0);
    let lag = processed.saturating_duration_since(captured);
    eprintln!(
        "first open frame: {zeros} silent samples, processed {:.1} ms after its capture start",
        lag.as_secs_f64() * 1e3
    );
    assert!(
        processed >= captured + Duration::from_millis(75),
        "the frame was handled {:.1} ms after its computed capture start: before it was whole",
        lag.as_secs_f64() * 1e3
    );
    assert!(
        lag < Duration::from_millis(1500),
        "capture time too early: {lag:?}"
    );
    // Once open, later frames carry sound from their first sample.
    assert!(log[first + 1..].iter().take(5).all(|(_, z, _)| *z < 50));
    Ok(())
}
