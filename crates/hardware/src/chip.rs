//! Apple Silicon chips as typed values, parsed from the CPU brand string.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The tier of an Apple Silicon chip within one generation. Tiers differ in
/// memory bandwidth by 2× or more, which is what decides real-time quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Tier {
    /// The plain chip (M1, M2, …).
    Base,
    /// The "Pro" chip.
    Pro,
    /// The "Max" chip.
    Max,
    /// Two Max dies joined ("Ultra").
    Ultra,
}

impl Tier {
    /// All tiers, lowest first; used by tables and tests.
    pub const ALL: [Tier; 4] = [Tier::Base, Tier::Pro, Tier::Max, Tier::Ultra];

    /// The suffix Apple uses in marketing names ("" for the base chip).
    pub fn suffix(self) -> &'static str {
        match self {
            Tier::Base => "",
            Tier::Pro => " Pro",
            Tier::Max => " Max",
            Tier::Ultra => " Ultra",
        }
    }
}

/// An Apple Silicon chip: generation (1 for M1 … 5 for M5) and tier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Chip {
    /// 1 for M1, 2 for M2, and so on.
    pub generation: u8,
    /// Base, Pro, Max or Ultra.
    pub tier: Tier,
    /// Marketing name, e.g. `M2 Pro`.
    pub name: String,
}

impl Chip {
    /// Builds a chip and its display name.
    pub fn new(generation: u8, tier: Tier) -> Self {
        Chip {
            generation,
            tier,
            name: format!("M{generation}{}", tier.suffix()),
        }
    }
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Parses a CPU brand string as `sysinfo` reports it on macOS, such as
/// `Apple M1`, `Apple M2 Pro`, `Apple M3 Max` or `Apple M1 Ultra (Virtual)`.
/// Returns `None` for anything that is not an Apple M-series chip (Intel
/// Macs, Linux machines, future names we do not know), so callers can give a
/// "not supported for real time" verdict instead of guessing.
pub fn parse_brand(brand: &str) -> Option<Chip> {
    let mut words = brand.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("apple") {
        return None;
    }
    let model = words.next()?;
    let digits = model
        .strip_prefix('M')
        .or_else(|| model.strip_prefix('m'))?;
    let generation: u8 = digits.parse().ok()?;
    if generation == 0 {
        return None;
    }
    let tier = match words.next() {
        None => Tier::Base,
        Some(w) if w.starts_with('(') => Tier::Base,
        Some(w) => match w.to_ascii_lowercase().as_str() {
            "pro" => Tier::Pro,
            "max" => Tier::Max,
            "ultra" => Tier::Ultra,
            _ => return None,
        },
    };
    Some(Chip::new(generation, tier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(Chip::new(3, Tier::Max).to_string(), "M3 Max");
        assert_eq!(Chip::new(1, Tier::Base).to_string(), "M1");
    }
}
