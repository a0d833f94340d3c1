//! Simulated hardware profiles, so the planner can be shown and tested for
//! any Mac from any machine (`--profile m2-pro-16` or
//! `MOSHIBAR_HARDWARE_PROFILE=m2-pro-16`).

use crate::host::Hardware;

/// A profile string that could not be understood.
#[derive(Debug, thiserror::Error)]
#[error(
    "bad hardware profile {0:?}: expected e.g. m1-16, m2-pro-32, m4-max-48-12p (12 performance \
     cores), intel-16 or linux-24"
)]
pub struct BadProfile(pub String);

/// Parses a profile: `m{generation}[-pro|-max|-ultra]-{RAM in GB}[-{N}p]`,
/// or `intel-{RAM}` / `linux-{RAM}` for hosts that are not Apple Silicon.
pub fn parse(profile: &str) -> Result<Hardware, BadProfile> {
    let bad = || BadProfile(profile.to_string());
    let parts: Vec<&str> = profile.trim().split('-').collect();
    let first = parts.first().ok_or_else(bad)?.to_ascii_lowercase();
    let ram_gb = |s: &str| -> Result<u64, BadProfile> {
        let gb: u64 = s.trim_end_matches("gb").parse().map_err(|_| bad())?;
        if gb == 0 || gb > 4096 {
            return Err(bad());
        }
        Ok(gb << 30)
    };
    match first.as_str() {
        "intel" | "linux" => {
            let [_, ram] = parts.as_slice() else {
                return Err(bad());
            };
            let (brand, os, arch) = if first == "intel" {
                (
                    "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz",
                    "macOS 13.6 (simulated)",
                    "x86_64",
                )
            } else {
                ("AMD EPYC 7B13", "Linux (simulated)", "x86_64")
            };
            Ok(Hardware::from_facts(
                brand,
                ram_gb(ram)?,
                None,
                os,
                arch,
                None,
            ))
        }
        m if m.starts_with('m') => {
            let generation: u8 = m[1..].parse().map_err(|_| bad())?;
            if generation == 0 {
                return Err(bad());
            }
            let mut rest = &parts[1..];
            let mut tier = "";
            if let Some(t) = rest.first() {
                if let Ok(name) = tier_name(t) {
                    tier = name;
                    rest = &rest[1..];
                }
            }
            let (ram, cores) = match rest {
                [ram] => (ram_gb(ram)?, None),
                [ram, cores] => {
                    let n: u32 = cores
                        .strip_suffix('p')
                        .and_then(|c| c.parse().ok())
                        .ok_or_else(bad)?;
                    (ram_gb(ram)?, Some(n))
                }
                _ => return Err(bad()),
            };
            let brand = format!("Apple M{generation}{tier}");
            Ok(Hardware::from_facts(
                &brand,
                ram,
                None,
                "macOS (simulated)",
                "aarch64",
                cores,
            ))
        }
        _ => Err(bad()),
    }
}

fn tier_name(s: &str) -> Result<&'static str, ()> {
    match s.to_ascii_lowercase().as_str() {
        "base" => Ok(""),
        "pro" => Ok(" Pro"),
        "max" => Ok(" Max"),
        "ultra" => Ok(" Ultra"),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::Tier;

    #[test]
    fn parses_apple_profiles() -> Result<(), BadProfile> {
        let hw = parse("m2-pro-16")?;
        let chip = hw
            .chip
            .clone()
            .ok_or_else(|| BadProfile("no chip".into()))?;
        assert_eq!((chip.generation, chip.tier), (2, Tier::Pro));
        assert_eq!(hw.memory_bytes, 16 << 30);
        assert!(hw.apple_silicon);
        assert_eq!(hw.bandwidth_gbps, Some(200.0));
        let hw = parse("m4-max-64-12p")?;
        assert_eq!(hw.bandwidth_gbps, Some(546.0));
        assert_eq!(parse("m1-8")?.bandwidth_gbps, Some(68.25));
        Ok(())
    }

    #[test]
    fn parses_other_hosts() -> Result<(), BadProfile> {
        assert!(!parse("intel-16")?.apple_silicon);
        assert!(!parse("linux-24")?.apple_silicon);
        Ok(())
    }

    #[test]
    fn rejects_nonsense() {
        for p in [
            "",
            "m2",
            "m2-pro",
            "m2-huge-16",
            "x-16",
            "m2-16-7",
            "m0-16",
            "m2-0",
        ] {
            assert!(parse(p).is_err(), "{p} should be rejected");
        }
    }
}
