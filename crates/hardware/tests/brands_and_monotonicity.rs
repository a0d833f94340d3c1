//! Brand-string parsing and the planner's monotonicity.

use hardware::{parse_brand, plan, Hardware, PlanOptions, Tier};
use proptest::prelude::*;

#[test]
fn parses_real_sysinfo_brand_strings() {
    let cases: &[(&str, Option<(u8, Tier)>)] = &[
        ("Apple M1", Some((1, Tier::Base))),
        ("Apple M1 Pro", Some((1, Tier::Pro))),
        ("Apple M1 Max", Some((1, Tier::Max))),
        ("Apple M1 Ultra", Some((1, Tier::Ultra))),
        ("Apple M2", Some((2, Tier::Base))),
        ("Apple M2 Max", Some((2, Tier::Max))),
        ("Apple M3 Pro", Some((3, Tier::Pro))),
        ("Apple M4 Max", Some((4, Tier::Max))),
        ("Apple M5", Some((5, Tier::Base))),
        ("Apple M2 (Virtual)", Some((2, Tier::Base))),
        ("  Apple M3 Ultra  ", Some((3, Tier::Ultra))),
        ("Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz", None),
        ("VirtualApple @ 2.50GHz", None),
        ("Apple A14 Bionic", None),
        ("Apple M2 Turbo", None),
        ("", None),
    ];
    for (brand, want) in cases {
        let got = parse_brand(brand).map(|c| (c.generation, c.tier));
        assert_eq!(got, *want, "{brand:?}");
    }
}

fn mac(generation: u8, tier: Tier, memory_gb: u64) -> Hardware {
    let brand = format!("Apple M{generation}{}", tier.suffix());
    Hardware::from_facts(&brand, memory_gb << 30, None, "macOS 15.1", "aarch64", None)
}

fn score(hw: &Hardware) -> (bool, hardware::Quality) {
    let p = plan(hw, &PlanOptions::default());
    (p.real_time, p.quality)
}

proptest! {
    #[test]
    fn more_memory_never_lowers_the_quality(
        generation in 1u8..=5, tier in 0usize..4, gb in 4u64..200, extra in 1u64..128,
    ) {
        let tier = Tier::ALL[tier];
        let small = score(&mac(generation, tier, gb));
        let big = score(&mac(generation, tier, gb + extra));
        prop_assert!(big >= small, "{gb} GB → {small:?}, {} GB → {big:?}", gb + extra);
    }

    #[test]
    fn more_bandwidth_never_lowers_the_quality(
        gb in 4u64..200, bw in 20.0f64..900.0, extra in 1.0f64..500.0,
    ) {
        let mut slow = mac(2, Tier::Pro, gb);
        slow.bandwidth_gbps = Some(bw);
        let mut fast = slow.clone();
        fast.bandwidth_gbps = Some(bw + extra);
        prop_assert!(score(&fast) >= score(&slow));
    }

    #[test]
    fn more_gpu_budget_never_lowers_the_quality(
        gb in 4u64..200, budget in 1u64..200, extra in 1u64..100,
    ) {
        let mut tight = mac(4, Tier::Max, gb);
        tight.gpu_budget_bytes = budget << 30;
        let mut roomy = tight.clone();
        roomy.gpu_budget_bytes = (budget + extra) << 30;
        prop_assert!(score(&roomy) >= score(&tight));
    }
}
