//! MLX's active memory stays flat over a long session: the KV ring updates in place.
//!
//! Alone in its own test binary on purpose: `mlx_rs::memory::active_memory` counts the whole
//! process, so any other test running beside it (the test harness runs tests on threads) would
//! make the figure grow and the test fail for nothing.

use engine::config::LmConfig;
use engine::SamplingConfig;
use engine::WeightFormat;
use engine::{Lm, LmGen};
use mlx_rs::Dtype;
use std::path::{Path, PathBuf};

fn seed0() -> PathBuf {
    let root = std::env::var_os("MOSHIBAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/fixtures"));
    let d = root.join("moshi-tiny-seed0");
    assert!(
        d.join("lm.safetensors").exists() && d.join("config.json").exists(),
        "seed-0 fixture not found at {} (scripts/make-fixtures.sh)",
        d.display()
    );
    d
}

fn tiny_cfg(dir: &Path) -> LmConfig {
    engine::read_repo_config(&dir.join("config.json"))
        .expect("fixture config.json")
        .lm
}

/// The cache never holds more than context + 1 steps and MLX's active memory stops growing.
#[test]
fn memory_is_flat_over_a_long_session() {
    let dir = seed0();
    let cfg = tiny_cfg(&dir);
    let lm = Lm::load_file(
        &dir.join("lm.safetensors"),
        &cfg,
        WeightFormat::Dense(Dtype::Float32),
    )
    .expect("load");
    let mut gen = LmGen::new(lm, SamplingConfig::argmax()).expect("gen");
    let user = vec![1u32; cfg.other_codebooks()];
    for _ in 0..2 * cfg.transformer.context {
        gen.step(&user).expect("step");
    }
    let before = mlx_rs::memory::active_memory().expect("memory");
    for _ in 0..300 {
        gen.step(&user).expect("step");
    }
    let after = mlx_rs::memory::active_memory().expect("memory");
    assert_eq!(gen.lm().cached_steps(), cfg.transformer.context + 1);
    assert!(
        after <= before + 64 * 1024,
        "active memory grew from {before} to {after} bytes"
    );
}
