//! LM configuration: the shared [`LmConfig`] of `moshi-repo` (Kyutai's `config.json` parsed as
//! moshi_mlx's `from_config_dict` does, or the fixtures' `asdict` shape), and the check that
//! the port implements what a config asks for.

use crate::error::EngineError;
pub use moshi_repo::{DepFormerConfig, LmConfig, RepoConfig, TransformerConfig};

/// The built-in 7B (moshiko/moshika), used when a repo has no `config.json`.
pub fn moshi_7b() -> LmConfig {
    LmConfig::moshi_7b()
}

/// Parses a config in moshi_mlx's `LmConfig` JSON shape (`dataclasses.asdict`, the `config`
/// object of the reference fixtures; extra keys such as `derived` are ignored) and checks
/// the port supports it.
pub fn from_mlx_json(v: &serde_json::Value) -> Result<LmConfig, EngineError> {
    let cfg: LmConfig =
        serde_json::from_value(v.clone()).map_err(|source| EngineError::ConfigParse {
            what: "LM config",
            source,
        })?;
    validate(&cfg)?;
    Ok(cfg)
}

fn validate_stack(t: &TransformerConfig, what: &str) -> Result<(), EngineError> {
    let bad = |m: String| Err(EngineError::Config(format!("{what}: {m}")));
    if t.num_heads == 0 || !t.d_model.is_multiple_of(t.num_heads) {
        return bad(format!(
            "d_model {} not divisible by num_heads {}",
            t.d_model, t.num_heads
        ));
    }
    if t.norm != "rms_norm" {
        return bad(format!("norm {:?} unsupported (rms_norm only)", t.norm));
    }
    if !t.gating || t.kv_repeat != 1 || t.bias_ff || t.bias_attn {
        return bad("only gated MLPs without biases and kv_repeat 1 are supported".into());
    }
    if t.layer_scale.is_some() || t.cross_attention {
        return bad("layer_scale and cross_attention are unsupported".into());
    }
    if !t.causal || !t.norm_first || t.use_conv_block || t.conv_layout {
        return bad("only causal pre-norm stacks without conv blocks are supported".into());
    }
    if !matches!(t.positional_embedding.as_str(), "rope" | "none") {
        return bad(format!(
            "positional_embedding {:?} unsupported",
            t.positional_embedding
        ));
    }
    Ok(())
}

/// Rejects configurations the port does not implement (layer norm, biases, layer scale,
/// cross-attention, GQA, non-gated MLP, conditioners, …), with a message naming the field.
pub fn validate(cfg: &LmConfig) -> Result<(), EngineError> {
    validate_stack(&cfg.transformer, "transformer")?;
    validate_stack(&cfg.depformer.transformer, "depformer.transformer")?;
    let bad = |m: &str| Err(EngineError::Config(m.to_string()));
    if cfg.depformer.weights_per_step_schedule.is_some()
        || cfg.depformer.low_rank_embeddings.is_some()
    {
        return bad("depformer weights_per_step_schedule / low_rank_embeddings unsupported");
    }
    if cfg.demux_second_stream || cfg.extra_heads_num_heads != 0 {
        return bad("demux_second_stream / extra heads unsupported");
    }
    if !cfg.conditioners.is_empty() {
        return bad("conditioners unsupported");
    }
    if cfg.audio_delays.len() != cfg.audio_codebooks {
        return bad("audio_delays must have one entry per codebook");
    }
    if cfg.depformer.num_slices > cfg.audio_codebooks || cfg.depformer.num_slices == 0 {
        return bad("depformer.num_slices must be in 1..=audio_codebooks");
    }
    if cfg.text_in_vocab_size <= cfg.text_out_vocab_size || cfg.audio_vocab_size < 2 {
        return bad("vocab sizes inconsistent");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_7b_is_supported_and_matches_the_architecture_brief() {
        let c = moshi_7b();
        validate(&c).expect("valid");
        assert_eq!(c.transformer.gating_hidden(), 11264);
        assert_eq!(c.depformer.transformer.gating_hidden(), 2816);
        assert_eq!(c.transformer.head_dim(), 128);
        assert_eq!(c.audio_padding_token(), 2048);
        assert_eq!(c.initial_text_token(), 32000);
        assert_eq!(
            c.audio_delays,
            [0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1]
        );
    }

    #[test]
    fn unsupported_settings_are_named() {
        let mut c = moshi_7b();
        c.depformer.transformer.norm = "layer_norm".into();
        let e = validate(&c).expect_err("layer norm is not implemented");
        assert!(e.to_string().contains("depformer.transformer"), "{e}");
        let mut c = moshi_7b();
        c.audio_delays.pop();
        assert!(validate(&c).is_err());
    }
}
