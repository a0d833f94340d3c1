//! The planner's decision for every chip × tier × common RAM size.
//!
//! The expected grid is written out by hand from the rule (memory need ≤ 70 %
//! of the GPU budget, bandwidth need ≤ 80 % of the chip's) and the figures in
//! docs/moshi-architecture.md §5, so a change to the rule or the figures shows
//! up here as a diff a person can review.

use hardware::{plan, profile, PlanOptions, Quality, BANDWIDTH_FRACTION, MEMORY_FRACTION};

const RAM: [u64; 10] = [8, 16, 18, 24, 32, 36, 48, 64, 96, 128];

/// `-` means no quality runs in real time.
const EXPECTED: &[(&str, [&str; 10])] = &[
    ("m1", ["-", "-", "-", "-", "-", "-", "-", "-", "-", "-"]),
    (
        "m1-pro",
        ["-", "q4", "q4", "q8", "q8", "q8", "q8", "q8", "q8", "q8"],
    ),
    (
        "m1-max",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m1-ultra",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m2",
        ["-", "q4", "q4", "q4", "q4", "q4", "q4", "q4", "q4", "q4"],
    ),
    (
        "m2-pro",
        ["-", "q4", "q4", "q8", "q8", "q8", "q8", "q8", "q8", "q8"],
    ),
    (
        "m2-max",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m2-ultra",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m3",
        ["-", "q4", "q4", "q4", "q4", "q4", "q4", "q4", "q4", "q4"],
    ),
    (
        "m3-pro",
        ["-", "q4", "q4", "q8", "q8", "q8", "q8", "q8", "q8", "q8"],
    ),
    (
        "m3-max",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m3-ultra",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m4",
        ["-", "q4", "q4", "q4", "q4", "q4", "q4", "q4", "q4", "q4"],
    ),
    (
        "m4-pro",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m4-max",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m4-ultra",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m5",
        ["-", "q4", "q4", "q8", "q8", "q8", "q8", "q8", "q8", "q8"],
    ),
    (
        "m5-pro",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m5-max",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
    (
        "m5-ultra",
        [
            "-", "q4", "q4", "q8", "q8", "bf16", "bf16", "bf16", "bf16", "bf16",
        ],
    ),
];

#[test]
fn every_chip_and_ram_size_gets_the_expected_quality() {
    let mut mismatches = Vec::new();
    for (chip, row) in EXPECTED {
        for (ram, want) in RAM.iter().zip(row) {
            let name = format!("{chip}-{ram}");
            let hw = profile::parse(&name).expect("table profiles are valid");
            let p = plan(&hw, &PlanOptions::default());
            let got = if p.real_time { p.quality.as_str() } else { "-" };
            if got != *want {
                mismatches.push(format!("{name}: want {want}, got {got} ({})", p.reason));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_real_time_plan_never_exceeds_the_budgets() {
    for (chip, _) in EXPECTED {
        for ram in RAM {
            let hw = profile::parse(&format!("{chip}-{ram}")).expect("valid");
            let p = plan(&hw, &PlanOptions::default());
            if !p.real_time {
                assert_eq!(p.quality, Quality::Q4, "fallback is the fastest model");
                assert!(p.warning.is_some(), "{chip}-{ram}: no warning");
                continue;
            }
            assert!(p.warning.is_none());
            assert!(p.memory_bytes as f64 <= hw.gpu_budget_bytes as f64 * MEMORY_FRACTION);
            let bw = hw.bandwidth_gbps.expect("apple silicon has a bandwidth");
            assert!(p.bandwidth_needed_gbps <= bw * BANDWIDTH_FRACTION);
            // The next better quality must have failed one of the two tests.
            for better in Quality::BEST_FIRST.iter().filter(|q| **q > p.quality) {
                let alt = p
                    .alternatives
                    .iter()
                    .find(|a| a.quality == *better)
                    .expect("every other quality is listed");
                assert!(
                    !(alt.fits_memory && alt.fits_bandwidth),
                    "{chip}-{ram}: {better} fits"
                );
            }
        }
    }
}

#[test]
fn the_reason_names_the_machine_and_the_numbers() {
    let hw = profile::parse("m2-pro-16").expect("valid");
    let p = plan(&hw, &PlanOptions::default());
    assert_eq!(p.quality, Quality::Q4);
    assert!(p.reason.starts_with("M2 Pro, 16 GB: "), "{}", p.reason);
    assert!(
        p.reason.contains("q8 needs 10.5 GB of the 12.0 GB"),
        "{}",
        p.reason
    );
    assert!(
        p.reason.contains("77 GB/s of your 200 GB/s"),
        "{}",
        p.reason
    );
    assert_eq!(p.repo, "kyutai/moshiko-mlx-q4");
    assert_eq!(p.files[0].path, "model.q4.safetensors");
}

#[test]
fn hosts_that_are_not_apple_silicon_still_get_a_download_plan() {
    for prof in ["intel-16", "linux-24"] {
        let hw = profile::parse(prof).expect("valid");
        let p = plan(&hw, &PlanOptions::default());
        assert!(!p.real_time);
        assert!(
            p.reason.contains("not an Apple Silicon Mac"),
            "{}",
            p.reason
        );
        assert!(p.download_bytes > 4_000_000_000);
        assert!(p.warning.is_some());
    }
}

#[test]
fn an_override_is_kept_with_its_warning() {
    let hw = profile::parse("m2-16").expect("valid");
    let opts = PlanOptions {
        override_quality: Some(Quality::Bf16),
        ..Default::default()
    };
    let p = plan(&hw, &opts);
    assert_eq!(p.quality, Quality::Bf16);
    assert!(p.overridden);
    assert!(!p.real_time);
    let w = p
        .warning
        .expect("bf16 on a 16 GB M2 cannot run in real time");
    assert!(w.contains("bf16 needs 17.7 GB"), "{w}");
    assert_eq!(p.repo, "kyutai/moshiko-mlx-bf16");
}

#[test]
fn cached_bf16_is_quantized_instead_of_downloading_again() {
    let hw = profile::parse("m3-pro-24").expect("valid");
    let mut opts = PlanOptions::default();
    opts.cache.complete.insert(Quality::Bf16);
    let p = plan(&hw, &opts);
    assert_eq!(p.quality, Quality::Q8);
    assert_eq!(p.source, hardware::Source::QuantizeFromBf16);
    assert_eq!(p.download_bytes, 0);
    assert_eq!(p.repo, "kyutai/moshiko-mlx-bf16");
    assert!(
        p.reason.contains("quantized to q8 at load time"),
        "{}",
        p.reason
    );

    opts.cache.complete.insert(Quality::Q8);
    let p = plan(&hw, &opts);
    assert_eq!(p.source, hardware::Source::Cache);
    assert_eq!(p.repo, "kyutai/moshiko-mlx-q8");
}

#[test]
fn the_plan_serializes_in_the_ipc_shape() {
    let hw = profile::parse("m4-max-64-12p").expect("valid");
    let p = plan(&hw, &PlanOptions::default());
    let v = serde_json::to_value(&p).expect("serializable");
    for key in [
        "quality",
        "realTime",
        "overridden",
        "repo",
        "revision",
        "files",
        "downloadBytes",
        "memoryBytes",
        "bandwidthNeededGbps",
        "source",
        "reason",
        "warning",
        "alternatives",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["quality"], "bf16");
    assert_eq!(v["source"], "download");
    let h = serde_json::to_value(&hw).expect("serializable");
    assert_eq!(h["chip"]["tier"], "max");
    assert_eq!(h["bandwidthGbps"], 546.0);
    assert_eq!(h["gpuBudgetSource"], "estimate");
}

/// Without a repo config the plan names Kyutai's standard files; with one, the names come
/// from its `config.json` (`moshi_name`, `mimi_name`, `tokenizer_name`).
#[test]
fn the_file_list_comes_from_the_repos_config() {
    let hw = profile::parse("m2-pro-16").expect("valid");
    let p = plan(&hw, &PlanOptions::default());
    assert_eq!(p.quality, Quality::Q4);
    let names: Vec<&str> = p.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        names,
        [
            "model.q4.safetensors",
            hardware::MIMI_FILE,
            hardware::TOKENIZER_FILE
        ]
    );
    let text = r#"{"dim": 64, "num_heads": 4, "num_layers": 2, "causal": true,
        "layer_scale": null, "context": 8, "max_period": 10000,
        "positional_embedding": "rope", "depformer_dim": 64, "depformer_num_heads": 4,
        "depformer_num_layers": 2, "depformer_dim_feedforward": 96, "dep_q": 2,
        "depformer_pos_emb": "none", "text_card": 64, "card": 32, "n_q": 4,
        "delays": [0, 0, 1, 0, 1], "moshi_name": "lm-4bit.safetensors",
        "mimi_name": "codec.safetensors", "tokenizer_name": "spm.model"}"#;
    let cfg = hardware::moshi_repo::RepoConfig::from_json_str(text).expect("valid config");
    let before = p.download_bytes;
    let p = p.with_repo_config(&cfg);
    let names: Vec<&str> = p.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        names,
        ["lm-4bit.safetensors", "codec.safetensors", "spm.model"]
    );
    assert_eq!(p.download_bytes, before);
}

/// Quantizing from cached bf16 weights: the files are the bf16 repo's.
#[test]
fn quantizing_from_bf16_lists_the_bf16_files() {
    let hw = profile::parse("m2-pro-16").expect("valid");
    let mut opts = PlanOptions::default();
    opts.cache.complete.insert(Quality::Bf16);
    let p = plan(&hw, &opts).with_repo_config(&Default::default());
    assert_eq!(p.repo_quality(), Quality::Bf16);
    assert_eq!(p.files[0].path, "model.safetensors");
    assert_eq!(p.download_bytes, 0);
}
