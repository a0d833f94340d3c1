//! The words every Moshibar crate uses for Kyutai's Moshi model repos.
//!
//! The planner picks a [`Quality`], the downloader fetches a [`ModelRepo`]'s files, the
//! engine loads them and the app shows them: this crate is the one place that knows what
//! those are called. It sits at the bottom of the crate graph (no MLX, no network), in the
//! spirit of ripgrep's `grep-matcher`.
//!
//! A Kyutai repo (`kyutai/moshiko-mlx-q4`, …) carries a `config.json` in Kyutai's flat format:
//! the keys moshi_mlx's `LmConfig.from_config_dict` reads (`dim`, `num_heads`, `context`,
//! `depformer_*`, `delays`, …) plus `moshi_name`, `mimi_name` and `tokenizer_name`.
//! [`RepoConfig`] parses it exactly as moshi_mlx does (checked against moshi_mlx's own output
//! in `tests/`), and names the missing or malformed key when it cannot. A repo without
//! `config.json` gets [`RepoConfig::default`]: Kyutai's 7B with the standard file names.
//!
//! ```
//! use moshi_repo::{ModelRepo, Quality, RepoConfig, Voice, CONFIG_FILE};
//!
//! let repo = ModelRepo::new(Voice::Moshika, Quality::Q4);
//! assert_eq!(repo.id(), "kyutai/moshika-mlx-q4");
//! assert_eq!(CONFIG_FILE, "config.json");
//!
//! let text = r#"{"dim": 64, "num_heads": 4, "num_layers": 2, "causal": true,
//!     "layer_scale": null, "context": 8, "max_period": 10000,
//!     "positional_embedding": "rope", "depformer_dim": 64, "depformer_num_heads": 4,
//!     "depformer_num_layers": 2, "depformer_dim_feedforward": 96, "dep_q": 2,
//!     "depformer_pos_emb": "none", "text_card": 64, "card": 32, "n_q": 4,
//!     "delays": [0, 0, 1, 0, 1], "moshi_name": "model.q4.safetensors"}"#;
//! let cfg = RepoConfig::from_json_str(text).expect("a valid Kyutai config");
//! assert_eq!(cfg.lm.transformer.dim_feedforward, 4 * 64); // as from_config_dict sets it
//! assert_eq!(cfg.lm.transformer.gating_hidden(), 11 * 64 / 4);
//! assert_eq!(cfg.lm.audio_delays, [0, 1, 0, 1]); // the first delay is the text's
//! assert_eq!(
//!     cfg.files(repo.quality),
//!     ["model.q4.safetensors", moshi_repo::MIMI_FILE, moshi_repo::TOKENIZER_FILE]
//! );
//!
//! let err = RepoConfig::from_json_str(r#"{"dim": 64}"#).unwrap_err();
//! assert_eq!(err.to_string(), "config.json: missing key `num_heads`");
//! ```

mod kyutai;
mod lm_config;
mod quality;
mod repo;
mod voice;

pub use kyutai::{ConfigError, RepoConfig};
pub use lm_config::{ConditionerConfig, DepFormerConfig, LmConfig, TransformerConfig};
pub use quality::{Quality, Quantization, UnknownQuality};
pub use repo::{
    BadRepoId, ModelRepo, CONFIG_FILE, DEFAULT_MOSHI_FILE, MIMI_FILE, ORG, TOKENIZER_FILE,
};
pub use voice::{UnknownVoice, Voice};
