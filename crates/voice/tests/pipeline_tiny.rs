//! The whole pipeline with the REAL tiny Moshi (matched tiny LM + Mimi + SentencePiece from
//! scripts/make-fixtures.sh): espeak-ng speech in, a 24 kHz WAV of the right length out,
//! identical on a second run with argmax sampling. Needs the `engine` feature (MLX).
#![cfg(feature = "engine")]

mod common;

use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    let base = std::env::var_os("MOSHIBAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::workspace().join(".cache/fixtures"));
    let dir = base.join("pipeline-tiny");
    assert!(
        dir.join("config.json").exists(),
        "{} is missing: run scripts/make-fixtures.sh",
        dir.display()
    );
    dir
}

#[test]
fn speech_through_tiny_moshi_is_deterministic_and_the_right_length(
) -> Result<(), Box<dyn std::error::Error>> {
    let model_dir = fixture_dir();
    let dir = tempfile::tempdir()?;
    let input = common::speech_wav(dir.path(), "Hello Moshi, can you hear me?");
    let (x, rate) = voice::wav::read_mono(&input)?;
    let expected = (x.len() as u64 * 24_000).div_ceil(u64::from(rate)) as usize;

    let mut outs = Vec::new();
    for name in ["a.wav", "b.wav"] {
        let model =
            voice::engine_model::load_with(&model_dir, "q8", engine::SamplingConfig::argmax())?;
        let out = dir.path().join(name);
        let report = voice::run_file(model, &input, &out)?;
        let (y, out_rate) = voice::wav::read_mono(&out)?;
        assert_eq!(out_rate, 24_000);
        assert_eq!(y.len(), expected);
        assert_eq!(
            report.frames as usize,
            expected.div_ceil(voice::FRAME_SAMPLES)
        );
        assert!(y.iter().all(|s| s.is_finite()));
        outs.push(std::fs::read(&out)?);
    }
    assert_eq!(outs[0], outs[1], "argmax runs differ");
    Ok(())
}
