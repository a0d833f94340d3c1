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

/// The journey of a Kyutai repo whose `config.json` names its files (`moshi_name`, `mimi_name`,
/// `tokenizer_name`, as `kyutai/moshiko-mlx-*` do): the same weights under other names give the
/// same conversation as the standard names. Fails if any of the three names is ignored, since
/// the renamed repo has no file under a standard name.
#[test]
fn kyutai_repo_with_named_files_runs_like_the_standard_names(
) -> Result<(), Box<dyn std::error::Error>> {
    let standard = fixture_dir();
    let dir = tempfile::tempdir()?;
    let renamed = dir.path().join("repo");
    std::fs::create_dir(&renamed)?;
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(standard.join("config.json"))?)?;
    for (key, from, to) in [
        ("moshi_name", "model.q8.safetensors", "lm-8bit.safetensors"),
        (
            "mimi_name",
            "tokenizer-e351c8d8-checkpoint125.safetensors",
            "codec.safetensors",
        ),
        ("tokenizer_name", "tokenizer_spm_32k_3.model", "text.model"),
    ] {
        std::fs::copy(standard.join(from), renamed.join(to))?;
        config[key] = to.into();
    }
    // The tiny Mimi's shape (fixture only; a real repo's Mimi is the standard size).
    std::fs::copy(
        standard.join("fixture_mimi_config.json"),
        renamed.join("fixture_mimi_config.json"),
    )?;
    std::fs::write(renamed.join("config.json"), serde_json::to_vec(&config)?)?;

    let input = common::speech_wav(dir.path(), "Hello Moshi, can you hear me?");
    let mut outs = Vec::new();
    for (repo, name) in [(&standard, "standard.wav"), (&renamed, "renamed.wav")] {
        let model = voice::engine_model::load_with(repo, "q8", engine::SamplingConfig::argmax())?;
        let out = dir.path().join(name);
        let report = voice::run_file(model, &input, &out)?;
        outs.push((std::fs::read(&out)?, report.transcript));
    }
    // The tokenizer is optional (no transcript without it), so the text is compared too.
    assert!(
        !outs[0].1.is_empty(),
        "no transcript with the standard names"
    );
    assert_eq!(
        outs[0].1, outs[1].1,
        "the renamed repo's transcript differs"
    );
    assert!(outs[0].0 == outs[1].0, "the renamed repo's audio differs");
    Ok(())
}
