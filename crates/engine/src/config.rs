//! LM configuration: the built-in 7B `config_v0_1` and any config in the JSON shape of
//! `moshi_mlx`'s `LmConfig` (the `config` object of the reference fixtures).

use crate::error::EngineError;
use serde::{Deserialize, Serialize};

/// One transformer stack (main or depformer), mirroring `moshi_mlx` `TransformerConfig`.
///
/// Only the fields that matter for Moshi are required; the rest default to the values every
/// Moshi checkpoint uses, and [`LmConfig::validate`] rejects variants the port does not
/// implement (layer norm, biases, layer scale, cross-attention, GQA, non-gated MLP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// Model width.
    pub d_model: usize,
    /// Attention heads (head_dim = d_model / num_heads).
    pub num_heads: usize,
    /// Layers.
    pub num_layers: usize,
    /// `dim_feedforward` as in the config; the gating hidden size is derived from it.
    pub dim_feedforward: usize,
    /// Attention context (keys kept besides the current one).
    pub context: usize,
    /// RoPE base.
    #[serde(default = "default_max_period")]
    pub max_period: usize,
    /// `"rope"` or `"none"`.
    #[serde(default = "default_pos")]
    pub positional_embedding: String,
    /// moshi_mlx's rotating-cache size; unused by the port (it keeps context + 1 keys).
    #[serde(default = "default_max_seq_len")]
    pub max_seq_len: usize,
    /// Must be `"rms_norm"`.
    #[serde(default = "default_norm")]
    pub norm: String,
    /// Must be true (SiLU-gated MLP).
    #[serde(default = "default_true")]
    pub gating: bool,
    /// Must be 1.
    #[serde(default = "default_one")]
    pub kv_repeat: usize,
    /// Must be false.
    #[serde(default)]
    pub bias_ff: bool,
    /// Must be false.
    #[serde(default)]
    pub bias_attn: bool,
    /// Must be null.
    #[serde(default)]
    pub layer_scale: Option<f64>,
    /// Must be false.
    #[serde(default)]
    pub cross_attention: bool,
}

fn default_max_period() -> usize {
    10000
}
fn default_pos() -> String {
    "rope".into()
}
fn default_max_seq_len() -> usize {
    4096
}
fn default_norm() -> String {
    "rms_norm".into()
}
fn default_true() -> bool {
    true
}
fn default_one() -> usize {
    1
}

impl TransformerConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.num_heads
    }

    /// Hidden size of the gated MLP: 11·d/4 when dim_ff = 4·d, else 2·dim_ff/3
    /// (`moshi_mlx` `MlpGating`).
    pub fn gating_hidden(&self) -> usize {
        if self.dim_feedforward == 4 * self.d_model {
            11 * self.d_model / 4
        } else {
            2 * self.dim_feedforward / 3
        }
    }

    /// Whether RoPE is applied to queries and keys.
    pub fn rope(&self) -> bool {
        self.positional_embedding == "rope"
    }

    fn validate(&self, what: &str) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Config(format!("{what}: {m}")));
        if self.num_heads == 0 || !self.d_model.is_multiple_of(self.num_heads) {
            return bad(format!(
                "d_model {} not divisible by num_heads {}",
                self.d_model, self.num_heads
            ));
        }
        if self.norm != "rms_norm" {
            return bad(format!("norm {:?} unsupported (rms_norm only)", self.norm));
        }
        if !self.gating || self.kv_repeat != 1 || self.bias_ff || self.bias_attn {
            return bad("only gated MLPs without biases and kv_repeat 1 are supported".into());
        }
        if self.layer_scale.is_some() || self.cross_attention {
            return bad("layer_scale and cross_attention are unsupported".into());
        }
        if !matches!(self.positional_embedding.as_str(), "rope" | "none") {
            return bad(format!(
                "positional_embedding {:?} unsupported",
                self.positional_embedding
            ));
        }
        Ok(())
    }
}

/// The depformer: `num_slices` small transformers, one per generated codebook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepFormerConfig {
    /// Each slice's transformer.
    pub transformer: TransformerConfig,
    /// Generated codebooks (8 for Moshi).
    pub num_slices: usize,
    /// Must be null (moshiko/moshika).
    #[serde(default)]
    pub weights_per_step_schedule: Option<Vec<usize>>,
    /// Must be null.
    #[serde(default)]
    pub low_rank_embeddings: Option<usize>,
}

/// The Moshi LM configuration in `moshi_mlx`'s `LmConfig` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    /// The main (temporal) transformer.
    pub transformer: TransformerConfig,
    /// The depformer.
    pub depformer: DepFormerConfig,
    /// Text embedding rows (text_out_vocab_size + 1: the last is the initial token).
    pub text_in_vocab_size: usize,
    /// Text logits.
    pub text_out_vocab_size: usize,
    /// Audio embedding rows (card + 1: the last is padding).
    pub audio_vocab_size: usize,
    /// Codebooks in the input (Moshi's 8 + the user's 8).
    pub audio_codebooks: usize,
    /// Delay per codebook, in frames.
    pub audio_delays: Vec<usize>,
    /// Must be false.
    #[serde(default)]
    pub demux_second_stream: bool,
    /// Must be 0.
    #[serde(default)]
    pub extra_heads_num_heads: usize,
    /// Must be empty.
    #[serde(default)]
    pub conditioners: serde_json::Map<String, serde_json::Value>,
}

impl LmConfig {
    /// moshiko/moshika 7B (`moshi_mlx.models.config_v0_1`), used when a repo has no config.json.
    pub fn v0_1() -> LmConfig {
        let t = |d_model, num_heads, num_layers, context, pos: &str| TransformerConfig {
            d_model,
            num_heads,
            num_layers,
            dim_feedforward: 4 * d_model,
            context,
            max_period: 10000,
            positional_embedding: pos.into(),
            max_seq_len: 4096,
            norm: "rms_norm".into(),
            gating: true,
            kv_repeat: 1,
            bias_ff: false,
            bias_attn: false,
            layer_scale: None,
            cross_attention: false,
        };
        let mut delays = vec![0];
        delays.extend([1; 7]);
        let delays = [delays.clone(), delays].concat();
        LmConfig {
            transformer: t(4096, 32, 32, 3000, "rope"),
            depformer: DepFormerConfig {
                transformer: t(1024, 16, 6, 8, "none"),
                num_slices: 8,
                weights_per_step_schedule: None,
                low_rank_embeddings: None,
            },
            text_in_vocab_size: 32001,
            text_out_vocab_size: 32000,
            audio_vocab_size: 2049,
            audio_codebooks: 16,
            audio_delays: delays,
            demux_second_stream: false,
            extra_heads_num_heads: 0,
            conditioners: Default::default(),
        }
    }

    /// Parses a config in the fixtures' JSON shape (extra keys such as `derived` are ignored)
    /// and validates it.
    pub fn from_json(v: &serde_json::Value) -> Result<LmConfig, EngineError> {
        let cfg: LmConfig = serde_json::from_value(v.clone())
            .map_err(|e| EngineError::Config(format!("LM config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Rejects configurations the port does not implement, with a message naming the field.
    pub fn validate(&self) -> Result<(), EngineError> {
        self.transformer.validate("transformer")?;
        self.depformer
            .transformer
            .validate("depformer.transformer")?;
        let bad = |m: &str| Err(EngineError::Config(m.to_string()));
        if self.depformer.weights_per_step_schedule.is_some()
            || self.depformer.low_rank_embeddings.is_some()
        {
            return bad("depformer weights_per_step_schedule / low_rank_embeddings unsupported");
        }
        if self.demux_second_stream || self.extra_heads_num_heads != 0 {
            return bad("demux_second_stream / extra heads unsupported");
        }
        if !self.conditioners.is_empty() {
            return bad("conditioners unsupported");
        }
        if self.audio_delays.len() != self.audio_codebooks {
            return bad("audio_delays must have one entry per codebook");
        }
        if self.depformer.num_slices > self.audio_codebooks || self.depformer.num_slices == 0 {
            return bad("depformer.num_slices must be in 1..=audio_codebooks");
        }
        if self.text_in_vocab_size <= self.text_out_vocab_size || self.audio_vocab_size < 2 {
            return bad("vocab sizes inconsistent");
        }
        Ok(())
    }

    /// Codebooks Moshi generates (the depformer slices).
    pub fn generated_codebooks(&self) -> usize {
        self.depformer.num_slices
    }

    /// Codebooks of the user stream.
    pub fn other_codebooks(&self) -> usize {
        self.audio_codebooks - self.depformer.num_slices
    }

    /// Audio padding token (2048 in the 7B): "no token yet".
    pub fn audio_padding_token(&self) -> u32 {
        (self.audio_vocab_size - 1) as u32
    }

    /// Text token fed at step 0 (32000 in the 7B).
    pub fn initial_text_token(&self) -> u32 {
        self.text_out_vocab_size as u32
    }

    /// Audio card (2048 in the 7B): logits per depformer slice.
    pub fn audio_card(&self) -> usize {
        self.audio_vocab_size - 1
    }

    /// Largest delay.
    pub fn max_delay(&self) -> usize {
        self.audio_delays.iter().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v0_1_matches_the_architecture_brief() {
        let c = LmConfig::v0_1();
        c.validate().expect("valid");
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
}
