//! LM parity against the `moshi_mlx` reference fixtures, plus properties the fixtures cannot
//! show (strict loading errors, ring == time-ordered cache, reset). Flat memory has its own test
//! binary (`lm_memory.rs`): MLX's active memory is per process, so it must run alone.
//!
//! Fixture directories (`$MOSHIBAR_FIXTURES`, default `<workspace>/.cache/fixtures`, written by
//! `scripts/make-fixtures.sh`; all required — a missing fixture fails, it never skips):
//! `moshi-tiny-seed0` (the shared read-only seed-0 reference plus its Kyutai `config.json`),
//! the other `moshi-*-seed*` and `pipeline-tiny`. Every LM config is read from the fixture's
//! Kyutai-format `config.json`.

use engine::config::LmConfig;
use engine::parity::lm::checks;
use engine::WeightFormat;
use engine::{EngineError, SamplingConfig};
use engine::{Lm, LmGen};
use mlx_rs::Dtype;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures_root() -> PathBuf {
    std::env::var_os("MOSHIBAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".cache/fixtures"))
}

/// The generated fixtures besides seed 0 (which has its own test); at least the three
/// seeds and the pipeline repo `scripts/make-fixtures.sh` writes.
fn generated_dirs() -> Vec<PathBuf> {
    let root = fixtures_root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    (name.starts_with("moshi-") && name.contains("-seed"))
                        || name == "pipeline-tiny"
                })
                .filter(|p| !p.to_string_lossy().ends_with(".incomplete"))
                .filter(|p| !p.ends_with("moshi-tiny-seed0"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    for want in [
        "moshi-tiny-seed1",
        "moshi-tiny-seed2",
        "moshi-small-seed3",
        "pipeline-tiny",
    ] {
        assert!(
            dirs.iter().any(|d| d.ends_with(want)),
            "fixture {want} missing under {}: run scripts/make-fixtures.sh",
            root.display()
        );
    }
    dirs
}

fn assert_all_pass(dir: &Path, min_checks: usize) {
    let results = checks(dir);
    for c in &results {
        println!("{} {}: {:?}", dir.display(), c.name, c.result);
    }
    assert!(
        results.len() >= min_checks,
        "{}: expected at least {min_checks} LM checks, got {}",
        dir.display(),
        results.len()
    );
    let failed: Vec<_> = results.iter().filter(|c| c.result.is_err()).collect();
    assert!(failed.is_empty(), "{}: failed: {failed:?}", dir.display());
}

fn seed0() -> PathBuf {
    let d = fixtures_root().join("moshi-tiny-seed0");
    assert!(
        d.join("lm_reference.json").exists() && d.join("config.json").exists(),
        "seed-0 fixture not found at {} (scripts/make-fixtures.sh converts \
         ../shared/reference/moshi-tiny-seed0 into it)",
        d.display()
    );
    d
}

/// The tiny LM's config, from the fixture's Kyutai-format `config.json`.
fn tiny_cfg(dir: &Path) -> LmConfig {
    engine::read_repo_config(&dir.join("config.json"))
        .expect("fixture config.json")
        .lm
}

/// fp32 argmax exact tokens + logits, bf16/q8/q4 teacher-forced, sampled run (informational).
#[test]
fn reference_seed0_parity() {
    assert_all_pass(&seed0(), 6);
}

/// The same checks on every generated fixture (other seeds and sizes; pipeline-tiny adds the
/// runtime-quantization checks).
#[test]
fn generated_fixtures_parity() {
    for dir in generated_dirs() {
        let min = if dir.join("lm_reference.json").exists() {
            6
        } else {
            2
        };
        assert_all_pass(&dir, min);
    }
}

/// A checkpoint that does not fit the config fails naming the tensor.
#[test]
fn strict_loading_names_the_tensor() {
    let dir = seed0();
    let mut cfg = tiny_cfg(&dir);
    cfg.transformer.num_layers += 1;
    let err = Lm::load_file(
        &dir.join("lm.safetensors"),
        &cfg,
        WeightFormat::Dense(Dtype::Float32),
    )
    .err()
    .expect("must fail");
    match err {
        EngineError::Weights { tensor, .. } => {
            assert_eq!(
                tensor,
                format!(
                    "transformer.layers.{}.norm1.weight",
                    cfg.transformer.num_layers - 1
                )
            )
        }
        e => panic!("unexpected error {e}"),
    }
    let mut cfg = tiny_cfg(&dir);
    cfg.transformer.num_layers -= 1;
    let err = Lm::load_file(
        &dir.join("lm.safetensors"),
        &cfg,
        WeightFormat::Dense(Dtype::Float32),
    )
    .err()
    .expect("extra tensors must fail");
    assert!(err.to_string().contains("unexpected tensor"), "{err}");
    // A bf16 file is not a q8 file.
    let err = Lm::load_file(
        &dir.join("lm.safetensors"),
        &tiny_cfg(&dir),
        WeightFormat::Quantized(engine::QuantSpec::Q8),
    )
    .err()
    .expect("must fail");
    assert!(matches!(err, EngineError::Weights { .. }), "{err}");
    let err = Lm::load_file(
        &dir.join("missing.safetensors"),
        &tiny_cfg(&dir),
        WeightFormat::Dense(Dtype::Float32),
    )
    .err()
    .expect("must fail");
    assert!(matches!(err, EngineError::Io { .. }), "{err}");
}

fn run(lm: Lm, steps: usize) -> Vec<(u32, Vec<u32>)> {
    let n = lm.config().other_codebooks();
    let card = lm.config().audio_card() as u32;
    let mut gen = LmGen::new(lm, SamplingConfig::argmax()).expect("gen");
    (0..steps)
        .map(|t| {
            let user: Vec<u32> = (0..n as u32)
                .map(|k| (t as u32 * 7 + k * 3) % card)
                .collect();
            let o = gen.step(&user).expect("step");
            (o.text_token, o.depformer_tokens)
        })
        .collect()
}

/// Far past moshi_mlx's rotating buffer (64 slots in the tiny config), the ring of
/// context + 1 slots gives the same tokens as a cache that keeps keys in time order.
#[test]
fn kv_ring_matches_time_ordered_cache() {
    let dir = seed0();
    let cfg = tiny_cfg(&dir);
    let file = dir.join("lm.safetensors");
    // 1.5 × the 64-slot rotating buffer the seed-0 reference ran with.
    let steps = 96;
    let ring = run(
        Lm::load_file(&file, &cfg, WeightFormat::Dense(Dtype::Float32)).expect("load"),
        steps,
    );
    let mut lm = Lm::load_file(&file, &cfg, WeightFormat::Dense(Dtype::Float32)).expect("load");
    lm.use_reference_cache();
    let reference = run(lm, steps);
    assert_eq!(ring, reference);
}

/// After `reset()` a session replays exactly like a fresh one.
#[test]
fn reset_restarts_the_session() {
    let dir = seed0();
    let cfg = tiny_cfg(&dir);
    let lm = Lm::load_file(
        &dir.join("lm.safetensors"),
        &cfg,
        WeightFormat::Dense(Dtype::Float32),
    )
    .expect("load");
    let mut gen = LmGen::new(lm, SamplingConfig::default()).expect("gen");
    let user = vec![2u32; cfg.other_codebooks()];
    let first: Vec<_> = (0..10).map(|_| gen.step(&user).expect("step")).collect();
    gen.reset().expect("reset");
    let second: Vec<_> = (0..10).map(|_| gen.step(&user).expect("step")).collect();
    assert_eq!(first, second);
    gen.warmup().expect("warmup");
    assert_eq!(gen.step_index(), 0);
}
