//! [`Voice`]: which of Kyutai's two Moshi fine-tunes speaks.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The voice of Moshi: Kyutai publishes the same model fine-tuned on two synthetic voices.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Voice {
    /// The male voice (`kyutai/moshiko-*`), the default.
    #[default]
    Moshiko,
    /// The female voice (`kyutai/moshika-*`).
    Moshika,
}

impl Voice {
    /// Both voices, the default first.
    pub const ALL: [Voice; 2] = [Voice::Moshiko, Voice::Moshika];

    /// The lower-case name used in repo ids and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Voice::Moshiko => "moshiko",
            Voice::Moshika => "moshika",
        }
    }
}

impl fmt::Display for Voice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a voice name that is not `moshiko` or `moshika`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown voice {0:?}: expected moshiko or moshika")]
pub struct UnknownVoice(pub String);

impl FromStr for Voice {
    type Err = UnknownVoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "moshiko" => Ok(Voice::Moshiko),
            "moshika" => Ok(Voice::Moshika),
            other => Err(UnknownVoice(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in Voice::ALL {
            assert_eq!(v.as_str().parse::<Voice>(), Ok(v));
        }
        assert_eq!(Voice::default(), Voice::Moshiko);
        assert!("moshi".parse::<Voice>().is_err());
    }
}
