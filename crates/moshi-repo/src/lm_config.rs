//! The LM hyper-parameters in the shape of moshi_mlx's `LmConfig` dataclasses.
//!
//! [`LmConfig`] is what `LmConfig.from_config_dict` builds from a repo's `config.json`
//! ([`crate::RepoConfig`]); it also (de)serialises as `dataclasses.asdict(LmConfig)`, the
//! `config` object of the reference fixtures. Fields absent from such JSON take the values
//! every Moshi checkpoint uses.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One transformer stack (main or depformer): moshi_mlx's `TransformerConfig`, field for field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// Model width.
    pub d_model: usize,
    /// Attention heads (`head_dim = d_model / num_heads`).
    pub num_heads: usize,
    /// Layers.
    pub num_layers: usize,
    /// Feed-forward width as configured; the gated MLP's hidden size is derived from it
    /// ([`TransformerConfig::gating_hidden`]).
    pub dim_feedforward: usize,
    /// Attention context (keys kept besides the current one).
    pub context: usize,
    /// RoPE base.
    #[serde(default = "default_max_period")]
    pub max_period: usize,
    /// `"rope"` or `"none"`.
    #[serde(default = "default_pos")]
    pub positional_embedding: String,
    /// moshi_mlx's rotating-cache size (4096 in every config).
    #[serde(default = "default_max_seq_len")]
    pub max_seq_len: usize,
    /// `"rms_norm"` for the LM.
    #[serde(default = "default_norm")]
    pub norm: String,
    /// SiLU-gated MLP.
    #[serde(default = "default_true")]
    pub gating: bool,
    /// Key/value head sharing (1: none).
    #[serde(default = "default_one")]
    pub kv_repeat: usize,
    /// Biases on the MLP linears.
    #[serde(default)]
    pub bias_ff: bool,
    /// Biases on the attention projections. moshi_mlx sets the depformer's from
    /// `depformer_layer_scale` (null, i.e. false, in every Kyutai config).
    #[serde(default, deserialize_with = "null_as_false")]
    pub bias_attn: bool,
    /// LayerScale initial value (`None`: no LayerScale).
    #[serde(default)]
    pub layer_scale: Option<f64>,
    /// Cross-attention layers.
    #[serde(default)]
    pub cross_attention: bool,
    /// Causal attention.
    #[serde(default = "default_true")]
    pub causal: bool,
    /// Pre-norm layers.
    #[serde(default = "default_true")]
    pub norm_first: bool,
    /// Convolution blocks between layers.
    #[serde(default)]
    pub use_conv_block: bool,
    /// Bias of those convolutions.
    #[serde(default = "default_true")]
    pub use_conv_bias: bool,
    /// Kernel size of those convolutions.
    #[serde(default = "default_conv_kernel")]
    pub conv_kernel_size: usize,
    /// Channels-first layout (Mimi only).
    #[serde(default)]
    pub conv_layout: bool,
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
fn default_conv_kernel() -> usize {
    3
}
fn default_extra_heads_dim() -> usize {
    6
}
fn null_as_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

impl TransformerConfig {
    /// The stack moshi_mlx builds for Moshi (pre-norm, causal, RMS norm, gated MLP, no
    /// biases) with these sizes.
    pub fn moshi(
        d_model: usize,
        num_heads: usize,
        num_layers: usize,
        dim_feedforward: usize,
        context: usize,
    ) -> Self {
        TransformerConfig {
            d_model,
            num_heads,
            num_layers,
            dim_feedforward,
            context,
            max_period: default_max_period(),
            positional_embedding: default_pos(),
            max_seq_len: default_max_seq_len(),
            norm: default_norm(),
            gating: true,
            kv_repeat: 1,
            bias_ff: false,
            bias_attn: false,
            layer_scale: None,
            cross_attention: false,
            causal: true,
            norm_first: true,
            use_conv_block: false,
            use_conv_bias: true,
            conv_kernel_size: default_conv_kernel(),
            conv_layout: false,
        }
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.num_heads.max(1)
    }

    /// Hidden size of the gated MLP, as moshi_mlx's `MlpGating` computes it: 11·d/4 when
    /// `dim_feedforward` = 4·d (what `from_config_dict` always sets for the main
    /// transformer), else 2·`dim_feedforward`/3.
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
}

/// The depformer: `num_slices` small transformers, one per generated codebook
/// (moshi_mlx's `DepFormerConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepFormerConfig {
    /// Each slice's transformer.
    pub transformer: TransformerConfig,
    /// Generated codebooks (8 for Moshi).
    pub num_slices: usize,
    /// Which slice weights each step uses (null for moshiko/moshika).
    #[serde(default)]
    pub weights_per_step_schedule: Option<Vec<usize>>,
    /// Low-rank embedding width (null for moshiko/moshika).
    #[serde(default)]
    pub low_rank_embeddings: Option<usize>,
}

/// A conditioner of the LM (none in moshiko/moshika; moshi_mlx's two kinds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionerConfig {
    /// A look-up table (`"type": "lut"`).
    Lut {
        /// Bins of the table.
        n_bins: usize,
        /// Embedding width.
        dim: usize,
        /// Tokenizer kind.
        tokenizer: String,
        /// The values the condition may take.
        possible_values: Vec<String>,
    },
    /// A raw tensor (`"type": "tensor"`).
    Tensor {
        /// Embedding width.
        dim: usize,
    },
}

/// The Moshi LM configuration in moshi_mlx's `LmConfig` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    /// The main (temporal) transformer.
    pub transformer: TransformerConfig,
    /// The depformer.
    pub depformer: DepFormerConfig,
    /// Text embedding rows (`text_card + 1`: the last is the initial token).
    pub text_in_vocab_size: usize,
    /// Text logits (`text_card`).
    pub text_out_vocab_size: usize,
    /// Audio embedding rows (`card + 1`: the last is padding).
    pub audio_vocab_size: usize,
    /// Codebooks in the input (`n_q`: Moshi's 8 + the user's 8).
    pub audio_codebooks: usize,
    /// Delay per audio codebook, in frames (`delays[1:]`: the first delay is the text's).
    pub audio_delays: Vec<usize>,
    /// Conditioners by name.
    #[serde(default)]
    pub conditioners: BTreeMap<String, ConditionerConfig>,
    /// Two output streams demultiplexed (false for Moshi).
    #[serde(default)]
    pub demux_second_stream: bool,
    /// Extra output heads (0 for Moshi).
    #[serde(default)]
    pub extra_heads_num_heads: usize,
    /// Width of each extra head.
    #[serde(default = "default_extra_heads_dim")]
    pub extra_heads_dim: usize,
}

impl LmConfig {
    /// Kyutai's 7B moshiko/moshika: what `from_config_dict` makes of Kyutai's
    /// `configs/moshi_7b_202409.json`. Used when a repo has no `config.json`.
    pub fn moshi_7b() -> LmConfig {
        let mut delays = vec![0];
        delays.extend([1; 7]);
        let mut depformer = TransformerConfig::moshi(1024, 16, 6, 4224, 8);
        depformer.positional_embedding = "none".into();
        LmConfig {
            transformer: TransformerConfig::moshi(4096, 32, 32, 4 * 4096, 3000),
            depformer: DepFormerConfig {
                transformer: depformer,
                num_slices: 8,
                weights_per_step_schedule: None,
                low_rank_embeddings: None,
            },
            text_in_vocab_size: 32001,
            text_out_vocab_size: 32000,
            audio_vocab_size: 2049,
            audio_codebooks: 16,
            audio_delays: [delays.clone(), delays].concat(),
            conditioners: BTreeMap::new(),
            demux_second_stream: false,
            extra_heads_num_heads: 0,
            extra_heads_dim: default_extra_heads_dim(),
        }
    }

    /// Codebooks Moshi generates (the depformer slices).
    pub fn generated_codebooks(&self) -> usize {
        self.depformer.num_slices
    }

    /// Codebooks of the user stream.
    pub fn other_codebooks(&self) -> usize {
        self.audio_codebooks
            .saturating_sub(self.depformer.num_slices)
    }

    /// Audio padding token (2048 in the 7B): "no token yet".
    pub fn audio_padding_token(&self) -> u32 {
        self.audio_vocab_size.saturating_sub(1) as u32
    }

    /// Audio end-of-stream token (2047 in the 7B).
    pub fn audio_eos_token(&self) -> u32 {
        self.audio_vocab_size.saturating_sub(2) as u32
    }

    /// Text token fed at step 0 (32000 in the 7B).
    pub fn initial_text_token(&self) -> u32 {
        self.text_out_vocab_size as u32
    }

    /// Audio card (2048 in the 7B): logits per depformer slice.
    pub fn audio_card(&self) -> usize {
        self.audio_vocab_size.saturating_sub(1)
    }

    /// Largest delay.
    pub fn max_delay(&self) -> usize {
        self.audio_delays.iter().copied().max().unwrap_or(0)
    }
}
