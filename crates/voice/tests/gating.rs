//! Push-to-talk semantics at the frame loop, deterministically (no devices): released →
//! silence reaches the model and it keeps running; pressed → the next frame carries the mic.

use std::sync::Arc;

use voice::FrameLoop;
use voice::Gate;
use voice::{EchoModel, SessionEvent, FRAME_SAMPLES};

#[test]
fn released_feeds_silence_pressed_feeds_mic_from_the_next_frame() -> Result<(), voice::ModelError> {
    let gate = Arc::new(Gate::new(false));
    let (tx, rx) = crossbeam_channel::bounded(64);
    let mut fl = FrameLoop::new(EchoModel::new(0).recording(), gate.clone(), tx);
    let mic = vec![0.3f32; FRAME_SAMPLES];

    for _ in 0..3 {
        let mut f = mic.clone();
        let out = fl.step(&mut f, None, 0, 0)?;
        assert!(
            out.pcm.iter().all(|s| *s == 0.0),
            "model heard the mic while released"
        );
    }
    gate.set_talking(true);
    let next = gate.frames_submitted();
    assert_eq!(next, 3);
    let mut f = mic.clone();
    let out = fl.step(&mut f, None, 0, 0)?;
    assert!(
        out.pcm.iter().all(|s| *s == 0.3),
        "key-down missed the next frame"
    );
    gate.set_talking(false);
    let mut f = mic.clone();
    let out = fl.step(&mut f, None, 0, 0)?;
    assert!(out.pcm.iter().all(|s| *s == 0.0));

    let received = fl.model.received.clone().unwrap_or_default();
    assert_eq!(
        received.len(),
        5,
        "the model ran on every frame, gated or not"
    );
    let silent: Vec<bool> = received
        .iter()
        .map(|f| f.iter().all(|s| *s == 0.0))
        .collect();
    assert_eq!(silent, vec![true, true, true, false, true]);
    // The input level reports the mic before the gate, so the UI can show a level while
    // the key is up; and a metrics event came after 3 frames.
    let m = rx
        .try_iter()
        .find_map(|e| match e {
            SessionEvent::Metrics(m) => Some(m),
            _ => None,
        })
        .ok_or_else(|| voice::ModelError::unavailable("no metrics event"))?;
    assert!(!m.talking);
    assert!((m.input_level - 0.3).abs() < 1e-4);
    Ok(())
}

#[test]
fn hands_free_lets_everything_through() -> Result<(), voice::ModelError> {
    let gate = Arc::new(Gate::new(true));
    let (tx, _rx) = crossbeam_channel::bounded(64);
    let mut fl = FrameLoop::new(EchoModel::new(0), gate, tx);
    let mut f = vec![0.1f32; FRAME_SAMPLES];
    let out = fl.step(&mut f, None, 0, 0)?;
    assert!(out.pcm.iter().all(|s| *s == 0.1));
    Ok(())
}

// ---- Push-to-talk by capture time, with pre-roll (the session's own path: PreRoll, then
// FrameLoop::step_captured), on a simulated clock so "late" processing is exact.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use voice::PreRoll;

const FRAME_MS: u64 = 80;

/// Sample `i` of the simulated microphone: a value that names its index (never 0).
fn mic_value(i: usize) -> f32 {
    0.01 + i as f32 * 1e-5
}

fn index_of(v: f32) -> usize {
    ((v - 0.01) / 1e-5).round() as usize
}

/// Runs `frames` microphone frames captured from `t0` on (frame k at k × 80 ms) through the
/// session's push-to-talk path; frame k is handled `processing_lag` after it was captured in
/// full, and each key edge (ms after t0, down?) is made known to the gate when that time has
/// come. Returns the indices of the samples the model heard, in the order it heard them, and
/// the frames it stepped.
fn run(
    frames: usize,
    edges: &[(u64, bool)],
    pre_roll: Duration,
    processing_lag: Duration,
) -> Result<(Vec<usize>, usize), voice::ModelError> {
    let t0 = Instant::now();
    let gate = Arc::new(Gate::with_pre_roll(false, pre_roll));
    let (tx, _rx) = crossbeam_channel::unbounded();
    let mut fl = FrameLoop::new(EchoModel::new(0).recording(), gate.clone(), tx);
    let mut pre = PreRoll::new(pre_roll);
    let mut told = 0;
    for k in 0..frames {
        let captured = t0 + Duration::from_millis(k as u64 * FRAME_MS);
        let now = captured + Duration::from_millis(FRAME_MS) + processing_lag;
        while told < edges.len() && t0 + Duration::from_millis(edges[told].0) <= now {
            let (at, down) = edges[told];
            gate.set_talking_at(down, t0 + Duration::from_millis(at));
            told += 1;
        }
        let mut frame = [0.0f32; FRAME_SAMPLES];
        for (j, s) in frame.iter_mut().enumerate() {
            *s = mic_value(k * FRAME_SAMPLES + j);
        }
        let at = pre.next(&gate, &mut frame, captured);
        fl.step_captured(&mut frame, at, None, 0, 0)?;
    }
    let received = fl.model.received.clone().unwrap_or_default();
    let heard = received
        .iter()
        .flatten()
        .filter(|s| **s != 0.0)
        .map(|s| index_of(*s))
        .collect();
    Ok((heard, received.len()))
}

/// Sample index of a time in ms after t0 (24 kHz).
fn at_ms(ms: u64) -> usize {
    ms as usize * 24
}

#[test]
fn the_gate_follows_capture_time_however_late_the_loop_runs() -> Result<(), voice::ModelError> {
    let edges = [(1000, true), (2000, false), (2600, true), (2900, false)];
    let pre = Duration::from_millis(250);
    let (on_time, n1) = run(50, &edges, pre, Duration::from_millis(5))?;
    let (late, n2) = run(50, &edges, pre, Duration::from_millis(500))?;
    assert_eq!(n1, 50, "one model step per captured frame");
    assert_eq!(n2, 50);
    // Exactly the samples captured from 250 ms before each key-down to its key-up, each heard
    // once, in capture order — whether the loop ran 5 ms or 500 ms behind the microphone.
    let expected: Vec<usize> = (at_ms(750)..at_ms(2000))
        .chain(at_ms(2350)..at_ms(2900))
        .collect();
    assert_eq!(
        on_time.len(),
        expected.len(),
        "on time: wrong samples heard"
    );
    assert!(on_time == expected, "on time: wrong samples or order");
    assert!(late == expected, "500 ms late: wrong samples or order");
    // Nothing captured before the pre-roll leaked in.
    let set: BTreeSet<usize> = on_time.iter().copied().collect();
    assert!(!set.contains(&(at_ms(750) - 1)));
    Ok(())
}

#[test]
fn pre_roll_keeps_the_first_syllable() -> Result<(), voice::ModelError> {
    // The person starts speaking at 900 ms; the key-down is known at 1000 ms (the finger and
    // the hotkey event are a little late). The model must hear the speech from its start.
    let edges = [(1000, true), (1500, false)];
    let (heard, _) = run(
        30,
        &edges,
        Duration::from_millis(250),
        Duration::from_millis(5),
    )?;
    assert_eq!(heard.first().copied(), Some(at_ms(750)));
    assert!(
        heard.contains(&at_ms(900)),
        "the syllable's first sample was lost"
    );
    // Without pre-roll the first 100 ms of the syllable are gone: the figure above is the
    // pre-roll's doing.
    let (bare, _) = run(30, &edges, Duration::ZERO, Duration::from_millis(5))?;
    assert_eq!(bare.first().copied(), Some(at_ms(1000)));
    Ok(())
}

/// A model that always speaks, whatever it hears.
struct Talker;

impl voice::FrameModel for Talker {
    fn warmup(&mut self) -> Result<(), voice::ModelError> {
        Ok(())
    }
    fn reset(&mut self) {}
    fn process(&mut self, _pcm: &[f32]) -> Result<voice::ModelFrame, voice::ModelError> {
        Ok(voice::ModelFrame {
            pcm: vec![0.25; FRAME_SAMPLES],
            text: None,
            encode_ms: 0.0,
            lm_ms: 0.0,
            decode_ms: 0.0,
        })
    }
}

#[test]
fn moshi_is_never_gated_by_the_key() -> Result<(), voice::ModelError> {
    let gate = Arc::new(Gate::new(false));
    let (tx, _rx) = crossbeam_channel::unbounded();
    let mut fl = FrameLoop::new(Talker, gate.clone(), tx);
    let mut pre = PreRoll::new(gate.pre_roll());
    let t0 = Instant::now();
    for k in 0..12u64 {
        // Key down for frames 4..8 only.
        gate.set_talking_at(
            (4..8).contains(&k),
            t0 + Duration::from_millis(k * FRAME_MS),
        );
        let mut f = [0.1f32; FRAME_SAMPLES];
        let at = pre.next(&gate, &mut f, t0 + Duration::from_millis(k * FRAME_MS));
        let out = fl.step_captured(&mut f, at, None, 0, 0)?;
        assert!(
            out.pcm.iter().all(|s| *s == 0.25),
            "frame {k}: Moshi's output was gated"
        );
    }
    Ok(())
}
