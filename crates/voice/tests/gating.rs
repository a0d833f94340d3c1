//! Push-to-talk semantics at the frame loop, deterministically (no devices): released →
//! silence reaches the model and it keeps running; pressed → the next frame carries the mic.

use std::sync::Arc;

use voice::frame_loop::FrameLoop;
use voice::gate::Gate;
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
        .ok_or_else(|| voice::ModelError("no metrics event".into()))?;
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
