//! The headless WAV → WAV path with the deterministic echo model: any input rate and channel
//! count in, a 24 kHz mono WAV of the same duration out, the audio intact.

mod common;

use voice::{run_file, wav, EchoModel};

#[test]
fn speech_wav_goes_through_and_comes_back_the_right_length(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let input = common::speech_wav(dir.path(), "Hello Moshi, how are you today?");
    let (x, rate) = wav::read_mono(&input)?;
    assert_eq!(rate, 22_050);
    let out = dir.path().join("out.wav");
    let report = run_file(EchoModel::new(0), &input, &out)?;
    let (y, out_rate) = wav::read_mono(&out)?;
    assert_eq!(out_rate, 24_000);
    let expected = (x.len() as u64 * 24_000).div_ceil(22_050) as usize;
    assert_eq!(y.len(), expected);
    assert_eq!(report.output_samples, expected);
    assert_eq!(report.frames as usize, expected.div_ceil(1920));
    // Echo with no delay: the output is the input resampled, so its energy matches.
    let rx = voice::rms(&x);
    let ry = voice::rms(&y);
    assert!(rx > 0.01, "espeak produced silence");
    assert!((ry / rx - 1.0).abs() < 0.05, "rms in {rx} out {ry}");
    // Every frame with speech produced a transcript piece.
    assert!(report.transcript.contains(" 0"));
    Ok(())
}

#[test]
fn stereo_48k_input_is_mixed_and_resampled() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("tone.wav");
    common::tone_wav(&input, 440.0, 1.0, 0.5);
    let out = dir.path().join("out.wav");
    let report = run_file(EchoModel::new(1), &input, &out)?;
    let (y, _) = wav::read_mono(&out)?;
    assert_eq!(y.len(), 24_000);
    assert_eq!(report.frames, 13);
    // One frame of delay: the first 1920 samples are silence, then the tone.
    assert!(y[..1920].iter().all(|s| *s == 0.0));
    let tail = voice::rms(&y[4000..20_000]);
    assert!((tail - 0.354).abs() < 0.01, "tone rms {tail}");
    Ok(())
}

#[test]
fn same_input_same_output() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let input = common::speech_wav(dir.path(), "Determinism.");
    let a = dir.path().join("a.wav");
    let b = dir.path().join("b.wav");
    run_file(EchoModel::new(2), &input, &a)?;
    run_file(EchoModel::new(2), &input, &b)?;
    assert_eq!(std::fs::read(a)?, std::fs::read(b)?);
    Ok(())
}
