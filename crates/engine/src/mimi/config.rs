//! Mimi hyper-parameters: the built-in `mimi_202407` and the fixture JSON shape.

use crate::error::EngineError;
use serde::{Deserialize, Serialize};

/// SEANet (convolutional encoder/decoder) settings, named as in `moshi_mlx` `SeanetConfig`
/// so that the fixture's JSON deserialises field for field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeanetConfig {
    /// Latent channels at the SEANet output (512 in the real Mimi).
    pub dimension: usize,
    /// Audio channels (1: mono).
    pub channels: usize,
    /// Causal padding (all padding on the left); Mimi is always causal.
    pub causal: bool,
    /// Channels after the first convolution (64), doubled by each downsampling layer.
    pub nfilters: usize,
    /// Residual blocks per layer (1).
    pub nresidual_layers: usize,
    /// Decoder upsampling ratios; the encoder uses them reversed. Their product is the hop.
    pub ratios: Vec<usize>,
    /// Kernel size of the first convolution.
    pub ksize: usize,
    /// Kernel size of the first convolution of each residual block.
    pub residual_ksize: usize,
    /// Kernel size of the last convolution.
    pub last_ksize: usize,
    /// Dilation growth between successive residual blocks of one layer.
    pub dilation_base: usize,
    /// Padding mode of the SEANet convolutions: `constant` (zeros) or `edge` (replicate).
    pub pad_mode: String,
    /// `true`: identity skip in residual blocks; `false`: a 1×1 convolution shortcut.
    pub true_skip: bool,
    /// Channel reduction inside residual blocks (hidden = dim / compress).
    pub compress: usize,
}

/// Encoder/decoder transformer settings, named as in `moshi_mlx` `TransformerConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Transformer layers.
    pub num_layers: usize,
    /// Causal attention; Mimi is always causal (candle semantics).
    pub causal: bool,
    /// Pre-norm layers; the only layout Mimi uses.
    pub norm_first: bool,
    /// Biases on the MLP linears.
    pub bias_ff: bool,
    /// Biases on the attention projections.
    pub bias_attn: bool,
    /// Initial LayerScale value; `None` means no LayerScale. The loaded `scale` tensors are used.
    pub layer_scale: Option<f64>,
    /// `rope` or `none`.
    pub positional_embedding: String,
    /// Gated MLP (not used by Mimi; rejected).
    pub gating: bool,
    /// `layer_norm` (the only norm Mimi uses).
    pub norm: String,
    /// Attention context in steps: keys `q - context ..= q` are visible.
    pub context: usize,
    /// RoPE base.
    pub max_period: f64,
    /// Key/value head sharing (must be 1).
    pub kv_repeat: usize,
    /// MLP hidden width.
    pub dim_feedforward: usize,
    /// Convolution-block variant (not used by Mimi; rejected when true).
    #[serde(default)]
    pub use_conv_block: bool,
    /// Cross-attention (not used by Mimi; rejected when true).
    #[serde(default)]
    pub cross_attention: bool,
}

/// Everything needed to build a [`super::Mimi`]: the real `mimi_202407` via [`MimiConfig::v0_1`],
/// or a tiny fixture model via [`MimiConfig::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MimiConfig {
    /// Audio channels (1).
    pub channels: usize,
    /// Sample rate in Hz (24000).
    pub sample_rate: f64,
    /// Code frame rate in Hz (12.5).
    pub frame_rate: f64,
    /// SEANet settings.
    pub seanet: SeanetConfig,
    /// Settings shared by the encoder and decoder transformers.
    pub transformer: TransformerConfig,
    /// Codebooks stored in the checkpoint (32 in the real file); fewer may be used.
    pub quantizer_nq: usize,
    /// Entries per codebook (2048).
    pub quantizer_bins: usize,
    /// Codebook vector width (256).
    pub quantizer_dim: usize,
}

impl MimiConfig {
    /// The real Mimi (`mimi_202407` in `moshi_mlx`), used when a model repo has no `config.json`.
    pub fn v0_1() -> Self {
        let seanet = SeanetConfig {
            dimension: 512,
            channels: 1,
            causal: true,
            nfilters: 64,
            nresidual_layers: 1,
            ratios: vec![8, 6, 5, 4],
            ksize: 7,
            residual_ksize: 3,
            last_ksize: 3,
            dilation_base: 2,
            pad_mode: "constant".into(),
            true_skip: true,
            compress: 2,
        };
        let transformer = TransformerConfig {
            d_model: 512,
            num_heads: 8,
            num_layers: 8,
            causal: true,
            norm_first: true,
            bias_ff: false,
            bias_attn: false,
            layer_scale: Some(0.01),
            positional_embedding: "rope".into(),
            gating: false,
            norm: "layer_norm".into(),
            context: 250,
            max_period: 10000.0,
            kv_repeat: 1,
            dim_feedforward: 2048,
            use_conv_block: false,
            cross_attention: false,
        };
        MimiConfig {
            channels: 1,
            sample_rate: 24000.0,
            frame_rate: 12.5,
            seanet,
            transformer,
            quantizer_nq: 32,
            quantizer_bins: 2048,
            quantizer_dim: 256,
        }
    }

    /// Parses the fixture shape (`mimi_reference.json` `"config"`, or the `"mimi"` entry of a
    /// tiny repo's `config.json`). An object holding that shape under `"config"` is accepted too.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, EngineError> {
        let v = match v.get("config") {
            Some(inner) if v.get("seanet").is_none() => inner,
            _ => v,
        };
        let cfg: MimiConfig =
            serde_json::from_value(v.clone()).map_err(|source| EngineError::ConfigParse {
                what: "Mimi config",
                source,
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Rejects settings this implementation does not support, so that a wrong model fails at
    /// load time with a clear message instead of producing noise.
    pub fn validate(&self) -> Result<(), EngineError> {
        let s = &self.seanet;
        let t = &self.transformer;
        let bad = |m: &str| Err(EngineError::Config(format!("Mimi config: {m}")));
        if s.ratios.is_empty() || s.ratios.contains(&0) {
            return bad("seanet.ratios must be non-empty and positive");
        }
        if !s.causal || !t.causal {
            return bad("only causal Mimi is supported");
        }
        if s.pad_mode != "constant" && s.pad_mode != "edge" {
            return bad("seanet.pad_mode must be `constant` or `edge`");
        }
        if s.compress == 0 || s.nfilters == 0 || s.dimension == 0 || s.channels == 0 {
            return bad("seanet sizes must be positive");
        }
        if t.gating || t.use_conv_block || t.cross_attention || !t.norm_first {
            return bad("gating, conv blocks, cross-attention and post-norm are not supported");
        }
        if t.norm != "layer_norm" {
            return bad("transformer.norm must be `layer_norm`");
        }
        if t.positional_embedding != "rope" && t.positional_embedding != "none" {
            return bad("transformer.positional_embedding must be `rope` or `none`");
        }
        if t.kv_repeat != 1 {
            return bad("transformer.kv_repeat must be 1");
        }
        if t.num_heads == 0 || !t.d_model.is_multiple_of(t.num_heads) {
            return bad("transformer.d_model must be a multiple of num_heads");
        }
        if t.d_model != s.dimension {
            return bad("transformer.d_model must equal seanet.dimension (no projections)");
        }
        if self.quantizer_nq == 0 || self.quantizer_bins == 0 || self.quantizer_dim == 0 {
            return bad("quantizer sizes must be positive");
        }
        let stride = self.downsample_stride();
        if stride == 0 || (self.encoder_frame_rate() / stride as f64 - self.frame_rate).abs() > 1e-6
        {
            return bad("sample_rate / prod(ratios) must be a multiple of frame_rate");
        }
        Ok(())
    }

    /// Samples per SEANet step (960 for the real Mimi).
    pub fn hop_length(&self) -> usize {
        self.seanet.ratios.iter().product()
    }

    /// SEANet output rate (25 Hz).
    pub fn encoder_frame_rate(&self) -> f64 {
        self.sample_rate / self.hop_length() as f64
    }

    /// Stride of the downsample conv / upsample convtr between 25 Hz and 12.5 Hz (2).
    pub fn downsample_stride(&self) -> usize {
        (self.encoder_frame_rate() / self.frame_rate).round() as usize
    }

    /// Samples per code frame (1920 = 80 ms at 24 kHz).
    pub fn frame_size(&self) -> usize {
        self.hop_length() * self.downsample_stride()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v0_1_has_the_real_frame_size() {
        let c = MimiConfig::v0_1();
        assert!(c.validate().is_ok());
        assert_eq!(c.frame_size(), 1920);
        assert_eq!(c.downsample_stride(), 2);
    }

    #[test]
    fn from_json_round_trips_the_fixture_shape() {
        let v = serde_json::json!({
            "channels": 1, "sample_rate": 24000, "frame_rate": 12.5, "renormalize": true,
            "seanet": {"dimension": 32, "channels": 1, "causal": true, "nfilters": 4,
                "nresidual_layers": 1, "ratios": [8, 6, 5, 4], "ksize": 7, "residual_ksize": 3,
                "last_ksize": 3, "dilation_base": 2, "pad_mode": "constant", "true_skip": true,
                "compress": 2},
            "transformer": {"d_model": 32, "num_heads": 4, "num_layers": 2, "causal": true,
                "norm_first": true, "bias_ff": false, "bias_attn": false, "layer_scale": 0.01,
                "positional_embedding": "rope", "use_conv_block": false, "cross_attention": false,
                "conv_kernel_size": 3, "use_conv_bias": true, "gating": false,
                "norm": "layer_norm", "context": 250, "max_period": 10000, "max_seq_len": 8192,
                "kv_repeat": 1, "dim_feedforward": 64, "conv_layout": true},
            "quantizer_nq": 16, "quantizer_bins": 64, "quantizer_dim": 16
        });
        let c = MimiConfig::from_json(&v).expect("fixture config parses");
        assert_eq!(c.seanet.dimension, 32);
        assert_eq!(c.transformer.num_layers, 2);
        assert_eq!(c.frame_size(), 1920);
        let wrapped = serde_json::json!({ "config": v });
        assert_eq!(MimiConfig::from_json(&wrapped).expect("wrapped parses"), c);
    }

    #[test]
    fn from_json_rejects_unsupported_settings() {
        let mut v = serde_json::to_value(MimiConfig::v0_1()).expect("serialises");
        v["transformer"]["gating"] = serde_json::Value::Bool(true);
        assert!(MimiConfig::from_json(&v).is_err());
        assert!(MimiConfig::from_json(&serde_json::json!({"channels": 1})).is_err());
    }
}
