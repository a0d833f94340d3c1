//! `Moshi` end to end against `moshi_mlx` on the matched tiny repo
//! (`.cache/fixtures/pipeline-tiny`, from `scripts/make-fixtures.sh`): PCM → Mimi encode →
//! LM (fp32, argmax) → Mimi decode, frame by frame, with text pieces. Skipped with a message
//! when the fixture has not been generated.

use engine::moshi::{LoadOptions, Moshi, MoshiPaths, Quality, FRAME_SAMPLES};
use engine::nn::WeightFormat;
use engine::SamplingConfig;
use mlx_rs::Dtype;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn pipeline_dir() -> Option<PathBuf> {
    let root = std::env::var_os("MOSHIBAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/fixtures"));
    let d = root.join("pipeline-tiny");
    if d.join("reference.json").exists() {
        Some(d)
    } else {
        eprintln!(
            "skipping: {} missing (run scripts/make-fixtures.sh)",
            d.display()
        );
        None
    }
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
