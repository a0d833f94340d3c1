//! Every Kyutai-format config in `tests/data/` parses to exactly what moshi_mlx 0.3's own
//! `LmConfig.from_config_dict` builds (`NAME.expected.json`, written by
//! `scripts/reference/moshi_repo_expected.py` from `dataclasses.asdict`).

use moshi_repo::{LmConfig, RepoConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// moshi_mlx writes the depformer's `bias_attn` as `null` (it copies `depformer_layer_scale`);
/// our `bool` serialises it as `false`. Everything else must be identical.
fn normalise(mut v: Value) -> Value {
    let b = &mut v["depformer"]["transformer"]["bias_attn"];
    if b.is_null() {
        *b = Value::Bool(false);
    }
    v
}

fn check(name: &str) -> LmConfig {
    let cfg = RepoConfig::from_value(&read(&data().join(format!("{name}.json"))))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut want = read(&data().join(format!("{name}.expected.json")));
    let derived = want
        .as_object_mut()
        .and_then(|o| o.remove("derived"))
        .expect("expected file has `derived`");
    let got = serde_json::to_value(&cfg.lm).expect("serialises");
    assert_eq!(normalise(got), normalise(want.clone()), "{name}");
    // The derived numbers moshi_mlx computes from the config.
    let lm = &cfg.lm;
    assert_eq!(derived["generated_codebooks"], lm.generated_codebooks());
    assert_eq!(derived["other_codebooks"], lm.other_codebooks());
    assert_eq!(derived["audio_eos_token"], lm.audio_eos_token());
    assert_eq!(derived["audio_padding_token"], lm.audio_padding_token());
    assert_eq!(derived["main_head_dim"], lm.transformer.head_dim());
    assert_eq!(
        derived["depformer_head_dim"],
        lm.depformer.transformer.head_dim()
    );
    // And the fixture shape reads back to the same config.
    let back: LmConfig = serde_json::from_value(want).expect("moshi_mlx shape deserialises");
    assert_eq!(&back, lm, "{name}: asdict shape round trip");
    cfg.lm
}

#[test]
fn kyutai_7b_config_matches_moshi_mlx() {
    let lm = check("moshi_7b_202409");
    assert_eq!(lm, LmConfig::moshi_7b());
    // The known 7B numbers (docs/moshi-architecture.md).
    assert_eq!(lm.transformer.dim_feedforward, 16384);
    assert_eq!(lm.transformer.gating_hidden(), 11264);
    assert_eq!(lm.depformer.transformer.gating_hidden(), 2816);
    assert_eq!(lm.transformer.head_dim(), 128);
    assert_eq!(lm.audio_padding_token(), 2048);
    assert_eq!(lm.initial_text_token(), 32000);
    assert_eq!(lm.transformer.context, 3000);
    assert_eq!(lm.depformer.transformer.context, 8);
}

#[test]
fn moshiko_mlx_repo_config_matches_moshi_mlx_and_names_its_files() {
    check("moshiko_mlx_q4_config");
    let cfg =
        RepoConfig::from_value(&read(&data().join("moshiko_mlx_q4_config.json"))).expect("parses");
    assert_eq!(cfg.moshi_name.as_deref(), Some("model.q4.safetensors"));
    assert_eq!(cfg.mimi_name, moshi_repo::MIMI_FILE);
    assert_eq!(cfg.tokenizer_name, moshi_repo::TOKENIZER_FILE);
}

#[test]
fn minimal_config_takes_moshi_mlx_defaults() {
    let lm = check("tiny_minimal_keys");
    // depformer_context defaults to dep_q, depformer_max_period to 8.
    assert_eq!(lm.depformer.transformer.context, 8);
    assert_eq!(lm.depformer.transformer.max_period, 8);
}
