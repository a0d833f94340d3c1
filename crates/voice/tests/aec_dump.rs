//! The canceller's recording (`SessionConfig::aec_dump`, `moshibar-voice live --aec-dump`): a
//! live session on the PulseAudio null sinks writes far.wav, near.wav and out.wav, and running
//! `far` and `near` through the offline canceller (`moshibar-voice aec`'s `cancel_clip`) gives
//! the session's `out` again, so a recorded run can be replayed and studied offline.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use voice::{EchoModel, Session, SessionConfig};

#[test]
fn a_recorded_session_replays_through_the_offline_canceller(
) -> Result<(), Box<dyn std::error::Error>> {
    common::start_pulse(Some("/tmp/moshibar-pulse-dump"));
    std::env::set_var("MOSHIBAR_AUDIO_HOST", "pulseaudio");
    let dir = tempfile::tempdir()?;
    let speech = common::speech_24k(
        dir.path(),
        "mic",
        "en-us",
        "One two three four five six seven eight nine ten.",
    );
    let mic = dir.path().join("mic.wav");
    voice::wav::write_mono_i16(&mic, &speech, 24_000)?;
    let rec = dir.path().join("rec");
    // The echo model plays what it hears two frames later: the far end carries speech.
    let (session, _events) = Session::start(
        EchoModel::new(2),
        SessionConfig {
            hands_free: true,
            aec_dump: Some(rec.clone()),
            ..Default::default()
        },
    )?;
    let _feed = common::MicFeed::start(&mic);
    let deadline = Instant::now() + Duration::from_secs(30);
    while session.stats().frames.load(Ordering::Relaxed) < 50 {
        assert!(
            Instant::now() < deadline && session.is_running(),
            "frames stopped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let frames = session.stats().frames.load(Ordering::Relaxed);
    session.stop()?;

    let (far, r1) = voice::wav::read_mono(&rec.join("far.wav"))?;
    let (near, r2) = voice::wav::read_mono(&rec.join("near.wav"))?;
    let (out, r3) = voice::wav::read_mono(&rec.join("out.wav"))?;
    assert_eq!((r1, r2, r3), (24_000, 24_000, 24_000));
    assert_eq!(far.len(), near.len());
    assert_eq!(out.len(), near.len());
    assert!(
        near.len() >= frames as usize * voice::FRAME_SAMPLES,
        "{} samples for {frames} frames",
        near.len()
    );
    let energy = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
    assert!(energy(&far) > 0.0, "the far end never played");
    assert!(energy(&near) > 0.0, "the microphone heard nothing");
    // The session really cancelled (the recording is after the canceller, not a copy).
    assert!(out != near, "out.wav is the microphone unchanged");

    let (replay, _) = voice::cancel_clip(&far, &near)?;
    let diff: Vec<f32> = replay.iter().zip(&out).map(|(a, b)| a - b).collect();
    let rel_db = 10.0
        * (energy(&diff) / energy(&near).max(1e-20))
            .max(1e-30)
            .log10();
    eprintln!("replay differs from the session's output by {rel_db:.1} dB of the microphone");
    assert!(rel_db < -60.0, "the replay differs by {rel_db:.1} dB");
    Ok(())
}
