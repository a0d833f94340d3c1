//! Repo ids and the standard file names of Kyutai's MLX repos.

use crate::{Quality, UnknownQuality, UnknownVoice, Voice};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The Hub organisation that publishes Moshi.
pub const ORG: &str = "kyutai";
/// Kyutai's per-repo configuration: the LM hyper-parameters and the names of the other files.
pub const CONFIG_FILE: &str = "config.json";
/// Mimi's weights in every `kyutai/moshi*-mlx-*` repo (`mimi_name` when config.json has none).
pub const MIMI_FILE: &str = "tokenizer-e351c8d8-checkpoint125.safetensors";
/// The SentencePiece text tokenizer (`tokenizer_name` when config.json has none).
pub const TOKENIZER_FILE: &str = "tokenizer_spm_32k_3.model";
/// The LM weights moshi_mlx's `run_inference.py` assumes when config.json has no `moshi_name`.
pub const DEFAULT_MOSHI_FILE: &str = "model.safetensors";

/// One of Kyutai's MLX model repos: `kyutai/{voice}-mlx-{quality}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ModelRepo {
    /// Who speaks.
    pub voice: Voice,
    /// The weight format.
    pub quality: Quality,
}

impl ModelRepo {
    /// The repo of `voice` in `quality`.
    pub fn new(voice: Voice, quality: Quality) -> Self {
        ModelRepo { voice, quality }
    }

    /// The Hub repo id, e.g. `kyutai/moshika-mlx-q8`.
    pub fn id(&self) -> String {
        format!("{ORG}/{}-mlx-{}", self.voice, self.quality)
    }
}

impl Quality {
    /// The Hub repository with Moshiko's weights in this quality
    /// (see [`ModelRepo`] for Moshika). Written here, next to the repo ids, so that
    /// `quality` does not have to name `repo`.
    pub fn repo(self) -> String {
        ModelRepo::new(Voice::Moshiko, self).id()
    }
}

impl fmt::Display for ModelRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// Why a repo id is not one of Kyutai's MLX Moshi repos.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRepoId {
    /// Not of the form `kyutai/{voice}-mlx-{quality}`.
    #[error("{0:?} is not a Kyutai MLX Moshi repo (expected kyutai/{{moshiko|moshika}}-mlx-{{bf16|q8|q4}})")]
    Shape(String),
    /// The voice part is unknown.
    #[error(transparent)]
    Voice(#[from] UnknownVoice),
    /// The quality part is unknown.
    #[error(transparent)]
    Quality(#[from] UnknownQuality),
}

impl FromStr for ModelRepo {
    type Err = BadRepoId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || BadRepoId::Shape(s.to_string());
        let name = s
            .trim()
            .strip_prefix(ORG)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(shape)?;
        let (voice, quality) = name.split_once("-mlx-").ok_or_else(shape)?;
        Ok(ModelRepo::new(voice.parse()?, quality.parse()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for voice in Voice::ALL {
            for quality in Quality::BEST_FIRST {
                let r = ModelRepo::new(voice, quality);
                assert_eq!(r.id().parse::<ModelRepo>(), Ok(r));
            }
        }
        assert_eq!(Quality::Q4.repo(), "kyutai/moshiko-mlx-q4");
        assert_eq!(
            ModelRepo::new(Voice::Moshika, Quality::Bf16).id(),
            "kyutai/moshika-mlx-bf16"
        );
    }

    #[test]
    fn bad_ids_say_why() {
        assert!(matches!(
            "kyutai/moshiko-q4".parse::<ModelRepo>(),
            Err(BadRepoId::Shape(_))
        ));
        assert!(matches!(
            "other/moshiko-mlx-q4".parse::<ModelRepo>(),
            Err(BadRepoId::Shape(_))
        ));
        assert!(matches!(
            "kyutai/moshiko-mlx-q2".parse::<ModelRepo>(),
            Err(BadRepoId::Quality(_))
        ));
        assert!(matches!(
            "kyutai/moshi-mlx-q4".parse::<ModelRepo>(),
            Err(BadRepoId::Voice(_))
        ));
    }
}
