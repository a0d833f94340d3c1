//! `Moshi` end to end against `moshi_mlx` on the matched tiny repo
//! (`.cache/fixtures/pipeline-tiny`, from `scripts/make-fixtures.sh`): PCM → Mimi encode →
//! LM (fp32, argmax) → Mimi decode, frame by frame, with text pieces. The repo is laid out as
//! Kyutai's (their `config.json`, file names from it). A missing fixture fails the tests.

use engine::SamplingConfig;
use engine::WeightFormat;
use engine::{LoadOptions, Moshi, MoshiPaths, Quality, FRAME_SAMPLES};
use mlx_rs::Dtype;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn pipeline_dir() -> Option<PathBuf> {
    let root = std::env::var_os("MOSHIBAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/fixtures"));
    let d = root.join("pipeline-tiny");
    assert!(
        d.join("reference.json").exists() && d.join("config.json").exists(),
        "{} missing: run scripts/make-fixtures.sh",
        d.display()
    );
    Some(d)
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .map(|x| x as f32)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pipeline_matches_moshi_mlx() {
    let Some(dir) = pipeline_dir() else { return };
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).expect("read"))
            .expect("json");
    let paths = MoshiPaths::from_dir(&dir, Quality::Bf16).expect("paths");
    let mut m = Moshi::load_with_format(
        &paths,
        WeightFormat::Dense(Dtype::Float32),
        SamplingConfig::argmax(),
    )
    .expect("load");
    m.warmup().expect("warmup");
    let pcm = floats(&r["input"]["pcm"]);
    let frames = r["frames"].as_array().expect("frames");
    let mut text = String::new();
    let mut out_pcm = Vec::new();
    let mut emitted = 0;
    for (i, chunk) in pcm.chunks(FRAME_SAMPLES).enumerate() {
        let o = m.step_frame(chunk).expect("step");
        assert_eq!(o.pcm.len(), FRAME_SAMPLES);
        assert_eq!(
            o.text_token as u64,
            frames[i]["text_token"].as_u64().expect("token"),
            "frame {i}"
        );
        if let Some(t) = &o.text {
            text.push_str(t);
        }
        if !frames[i]["last_audio_tokens"].is_null() {
            emitted += 1;
            out_pcm.extend(o.pcm);
        } else {
            assert!(
                o.pcm.iter().all(|&s| s == 0.0),
                "frame {i} should be silent"
            );
        }
    }
    assert_eq!(text, r["text"].as_str().expect("text"));
    assert_eq!(
        emitted as u64,
        r["output_frames"].as_u64().expect("output_frames")
    );
    let want = floats(&r["output_pcm"]);
    assert_eq!(out_pcm.len(), want.len());
    let err = out_pcm
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-4, "max |Δpcm| {err}");
}

/// The public loading path: q8 from the pre-quantized file and q4 quantized at load time.
#[test]
fn quantized_loads_step() {
    let Some(dir) = pipeline_dir() else { return };
    for (quality, from_bf16) in [(Quality::Q8, false), (Quality::Q4, true)] {
        let mut paths = MoshiPaths::from_dir(&dir, quality).expect("paths");
        if from_bf16 {
            paths.lm = dir.join("model.safetensors");
        }
        let opts = LoadOptions {
            quality,
            quantize_from_bf16: from_bf16,
            sampling: SamplingConfig::default(),
        };
        let mut m = Moshi::load(&paths, &opts).expect("load");
        let silence = vec![0.0f32; FRAME_SAMPLES];
        for _ in 0..4 {
            let o = m.step_frame(&silence).expect("step");
            assert_eq!(o.pcm.len(), FRAME_SAMPLES);
        }
        assert_eq!(m.frames(), 4);
        m.reset();
        assert_eq!(m.frames(), 0);
        assert!(m.step_frame(&silence[..100]).is_err());
    }
}

/// The file names come from Kyutai's `config.json`: a repo whose config names other files
/// loads them, and a name that is not there is an error naming the file.
#[test]
fn file_names_come_from_the_repos_config() {
    let Some(src) = pipeline_dir() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let link = |from: &str, to: &str| {
        std::fs::copy(src.join(from), dir.path().join(to)).expect("copy");
    };
    link("model.q8.safetensors", "weights-q8.safetensors");
    link(
        "tokenizer-e351c8d8-checkpoint125.safetensors",
        "codec.safetensors",
    );
    link("tokenizer_spm_32k_3.model", "spm.model");
    link("fixture_mimi_config.json", "fixture_mimi_config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).expect("read"))
            .expect("json");
    cfg["moshi_name"] = "weights-q8.safetensors".into();
    cfg["mimi_name"] = "codec.safetensors".into();
    cfg["tokenizer_name"] = "spm.model".into();
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("write");

    let paths = MoshiPaths::from_dir(dir.path(), Quality::Q8).expect("paths");
    assert_eq!(paths.lm, dir.path().join("weights-q8.safetensors"));
    assert_eq!(paths.mimi, dir.path().join("codec.safetensors"));
    assert_eq!(paths.tokenizer, Some(dir.path().join("spm.model")));
    let opts = LoadOptions {
        quality: Quality::Q8,
        quantize_from_bf16: false,
        sampling: SamplingConfig::argmax(),
    };
    let mut m = Moshi::load(&paths, &opts).expect("loads with the names from config.json");
    m.step_frame(&[0.0; FRAME_SAMPLES]).expect("step");

    // A named file that is absent: the error names it (no silent fallback to the bf16 file).
    link("model.safetensors", "model.safetensors");
    cfg["moshi_name"] = "model.q4.safetensors".into();
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("write");
    let err = MoshiPaths::from_dir(dir.path(), Quality::Q4).expect_err("must fail");
    assert!(err.to_string().contains("model.q4.safetensors"), "{err}");

    // A malformed config names the key.
    cfg.as_object_mut().expect("object").remove("num_heads");
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("write");
    let err = MoshiPaths::from_dir(dir.path(), Quality::Q8).expect_err("must fail");
    assert!(err.to_string().contains("missing key `num_heads`"), "{err}");
}

/// A tokenizer that `config.json` names (`tokenizer_name`) but the repo lacks is an error
/// naming the file, not a session with a silently empty transcript; an unnamed standard
/// tokenizer stays optional.
#[test]
fn a_named_tokenizer_that_is_missing_is_an_error() {
    let Some(src) = pipeline_dir() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for f in [
        "model.safetensors",
        "tokenizer-e351c8d8-checkpoint125.safetensors",
        "fixture_mimi_config.json",
    ] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy");
    }
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).expect("read"))
            .expect("json");
    cfg["tokenizer_name"] = "text.model".into();
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("write");
    let err = MoshiPaths::from_dir(dir.path(), Quality::Bf16).expect_err("must fail");
    assert!(err.to_string().contains("text.model"), "{err}");
    assert!(err.to_string().contains("tokenizer"), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the I/O error is kept as the source: {err:?}"
    );

    // Not named and absent: no transcript, but the repo loads.
    cfg.as_object_mut()
        .expect("object")
        .remove("tokenizer_name");
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("write");
    let paths = MoshiPaths::from_dir(dir.path(), Quality::Bf16).expect("paths");
    assert_eq!(paths.tokenizer, None);
}

/// Without `config.json` a repo is Kyutai's 7B with the standard names: the tiny weights
/// then do not fit, and the error names the first tensor that does not.
#[test]
fn a_repo_without_config_is_the_7b() {
    let Some(src) = pipeline_dir() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for f in [
        "model.safetensors",
        "tokenizer-e351c8d8-checkpoint125.safetensors",
        "tokenizer_spm_32k_3.model",
    ] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy");
    }
    let paths = MoshiPaths::from_dir(dir.path(), Quality::Q4).expect("paths");
    assert_eq!(paths.config, None);
    assert_eq!(
        paths.lm,
        dir.path().join("model.safetensors"),
        "bf16 fallback"
    );
    let err = Moshi::load(&paths, &LoadOptions::default())
        .err()
        .expect("tiny weights are not the 7B");
    assert!(matches!(err, engine::EngineError::Weights { .. }), "{err}");
}

/// Pipelined (Mimi on its own thread, overlapping the LM step) gives exactly the serial
/// output two frames later: the same samples, text pieces and text tokens, frame for frame
/// (and silence for the first two frames). Also checks a pipelined reset starts the same
/// conversation again.
#[test]
fn pipelined_output_is_the_serial_output_two_frames_later() {
    let Some(dir) = pipeline_dir() else { return };
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).expect("read"))
            .expect("json");
    let paths = MoshiPaths::from_dir(&dir, Quality::Bf16).expect("paths");
    let mut m = Moshi::load_with_format(
        &paths,
        WeightFormat::Dense(Dtype::Float32),
        SamplingConfig::argmax(),
    )
    .expect("load");
    m.warmup().expect("warmup");
    let pcm = floats(&r["input"]["pcm"]);
    let chunks: Vec<&[f32]> = pcm.chunks(FRAME_SAMPLES).collect();
    assert!(chunks.len() >= 8, "{} frames of input", chunks.len());
    let serial: Vec<_> = chunks
        .iter()
        .map(|c| m.step_frame(c).expect("serial step"))
        .collect();
    assert!(
        serial.iter().any(|o| o.pcm.iter().any(|&s| s != 0.0)),
        "the serial run produced no audio"
    );
    m.set_pipelined(true).expect("pipelined");
    assert!(m.is_pipelined());
    m.warmup().expect("pipelined warmup");
    for pass in 0..2 {
        let silence = vec![0.0f32; FRAME_SAMPLES];
        let mut piped = Vec::new();
        for c in chunks.iter().copied().chain([&silence[..], &silence[..]]) {
            piped.push(m.step_frame(c).expect("pipelined step"));
        }
        assert_eq!(piped.len(), serial.len() + 2);
        for (i, o) in piped[..2].iter().enumerate() {
            assert!(
                o.pcm.iter().all(|&s| s == 0.0),
                "pass {pass}: frame {i} not silent"
            );
            assert_eq!(o.text, None, "pass {pass}: frame {i}");
        }
        for (i, (p, s)) in piped[2..].iter().zip(&serial).enumerate() {
            assert_eq!(p.pcm.len(), s.pcm.len(), "pass {pass}: frame {i}");
            assert!(p.pcm == s.pcm, "pass {pass}: frame {i}: samples differ");
            assert_eq!(p.text, s.text, "pass {pass}: frame {i}");
            assert_eq!(p.text_token, s.text_token, "pass {pass}: frame {i}");
        }
        m.reset();
    }
}
