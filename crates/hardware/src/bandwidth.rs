//! Memory bandwidth of each Apple Silicon chip, from Apple's published
//! specifications.
//!
//! Sources: Apple newsroom announcements and the "Tech Specs" pages of the Mac
//! models that carry each chip (support.apple.com/specs). Where one tier ships
//! in two bandwidths (binned parts with fewer cores, e.g. M3 Max with a 14-core
//! CPU at 300 GB/s vs 16-core at 400 GB/s, M4 Max 14-core at 410 GB/s vs
//! 16-core at 546 GB/s), the table keeps both and the lower one is used unless
//! the number of performance cores identifies the full part.
//!
//! | chip  | Base | Pro | Max       | Ultra |
//! |-------|------|-----|-----------|-------|
//! | M1    | 68   | 200 | 400       | 800   |
//! | M2    | 100  | 200 | 400       | 800   |
//! | M3    | 100  | 150 | 300 / 400 | 819   |
//! | M4    | 120  | 273 | 410 / 546 | –     |
//! | M5    | 153  | –   | –         | –     |
//!
//! Chips not in the table (a future tier or generation) are estimated from the
//! newest known chip of the same tier, and marked as estimated.

use crate::chip::{Chip, Tier};
use serde::Serialize;

/// The bandwidth of one chip, in GB/s (10^9 bytes per second).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bandwidth {
    /// The bandwidth used for planning (the lower one for binned parts).
    pub gbps: f64,
    /// The full part's bandwidth where a binned part exists.
    pub full_gbps: Option<f64>,
    /// Performance cores of the full part, to tell it from the binned one.
    pub full_part_performance_cores: Option<u32>,
    /// True when the chip is not in Apple's table and the figure is inferred.
    pub estimated: bool,
}

/// One row of Apple's table.
struct Row {
    generation: u8,
    tier: Tier,
    gbps: f64,
    /// The full part of a binned tier: (GB/s, performance cores).
    full: Option<(f64, u32)>,
}

const fn row(generation: u8, tier: Tier, gbps: f64) -> Row {
    Row {
        generation,
        tier,
        gbps,
        full: None,
    }
}

const fn binned(generation: u8, tier: Tier, gbps: f64, full: f64, cores: u32) -> Row {
    Row {
        generation,
        tier,
        gbps,
        full: Some((full, cores)),
    }
}

const TABLE: &[Row] = &[
    row(1, Tier::Base, 68.25),
    row(1, Tier::Pro, 200.0),
    row(1, Tier::Max, 400.0),
    row(1, Tier::Ultra, 800.0),
    row(2, Tier::Base, 100.0),
    row(2, Tier::Pro, 200.0),
    row(2, Tier::Max, 400.0),
    row(2, Tier::Ultra, 800.0),
    row(3, Tier::Base, 100.0),
    row(3, Tier::Pro, 150.0),
    binned(3, Tier::Max, 300.0, 400.0, 12),
    row(3, Tier::Ultra, 819.0),
    row(4, Tier::Base, 120.0),
    row(4, Tier::Pro, 273.0),
    binned(4, Tier::Max, 410.0, 546.0, 12),
    row(5, Tier::Base, 153.0),
];

/// Looks up the chip's bandwidth. `performance_cores`, when known, selects
/// the full part of a binned tier; otherwise the lower figure is used.
pub fn lookup(chip: &Chip, performance_cores: Option<u32>) -> Bandwidth {
    let exact = TABLE
        .iter()
        .find(|r| r.generation == chip.generation && r.tier == chip.tier);
    let (row, estimated) = match exact {
        Some(row) => (row, false),
        None => {
            // Newest known chip of the same tier, not newer than this one;
            // failing that, the oldest known chip of that tier.
            let same_tier = TABLE.iter().filter(|r| r.tier == chip.tier);
            let older = same_tier
                .clone()
                .filter(|r| r.generation <= chip.generation)
                .max_by_key(|r| r.generation);
            match older.or_else(|| same_tier.min_by_key(|r| r.generation)) {
                Some(row) => (row, true),
                None => (&TABLE[0], true),
            }
        }
    };
    let gbps = match (row.full, performance_cores) {
        (Some((full, need)), Some(have)) if have >= need => full,
        _ => row.gbps,
    };
    Bandwidth {
        gbps,
        full_gbps: row.full.map(|f| f.0),
        full_part_performance_cores: row.full.map(|f| f.1),
        estimated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binned_parts_take_the_lower_figure_unless_cores_say_otherwise() {
        let m4max = Chip::new(4, Tier::Max);
        assert_eq!(lookup(&m4max, None).gbps, 410.0);
        assert_eq!(lookup(&m4max, Some(10)).gbps, 410.0);
        assert_eq!(lookup(&m4max, Some(12)).gbps, 546.0);
    }

    #[test]
    fn unknown_chips_are_estimated_from_the_same_tier() {
        let m5max = lookup(&Chip::new(5, Tier::Max), None);
        assert!(m5max.estimated);
        assert_eq!(m5max.gbps, 410.0);
        let m4ultra = lookup(&Chip::new(4, Tier::Ultra), None);
        assert!(m4ultra.estimated);
        assert_eq!(m4ultra.gbps, 819.0);
        assert!(!lookup(&Chip::new(2, Tier::Pro), None).estimated);
    }
}
