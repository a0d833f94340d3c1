//! The `async_eval` lookahead (`LmGen::submit` of step t+1 before `LmGen::collect` of step t)
//! gives exactly the serial `LmGen::step` output: the same text tokens, depformer tokens and
//! frames, and bit-identical logits, with the seeded top-p sampler of a live session, past the
//! tiny model's 8-step KV ring, and again after a reset. Runs on the seed-0 fixture's LM
//! (`scripts/make-fixtures.sh`), in fp32 and bf16.

use engine::SamplingConfig;
use engine::WeightFormat;
use engine::{Lm, LmGen, StepOutput};
use mlx_rs::Dtype;
use std::path::{Path, PathBuf};

const STEPS: usize = 40;

fn seed0() -> PathBuf {
    let root = std::env::var_os("MOSHIBAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/fixtures"));
    let d = root.join("moshi-tiny-seed0");
    assert!(
        d.join("config.json").exists(),
        "{} missing: run scripts/make-fixtures.sh",
        d.display()
    );
    d
}

fn load(fmt: WeightFormat) -> LmGen {
    let dir = seed0();
    let cfg = engine::read_repo_config(&dir.join("config.json"))
        .expect("config.json")
        .lm;
    let lm = Lm::load_file(&dir.join("lm.safetensors"), &cfg, fmt).expect("load");
    let mut gen = LmGen::new(lm, SamplingConfig::default()).expect("gen");
    gen.set_record_logits(true);
    gen
}

/// Pseudo-random user codes (a user who keeps talking), the same for both runs.
fn user_codes(gen: &LmGen) -> Vec<Vec<u32>> {
    let cfg = gen.lm().config();
    let card = cfg.audio_card() as u64;
    let mut rng = 0x2545_f491_u64;
    (0..STEPS)
        .map(|_| {
            (0..cfg.other_codebooks())
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % card) as u32
                })
                .collect()
        })
        .collect()
}

fn serial(gen: &mut LmGen, codes: &[Vec<u32>]) -> Vec<StepOutput> {
    codes
        .iter()
        .map(|c| gen.step(c).expect("serial step"))
        .collect()
}

/// Step t+1 is submitted while step t is still in flight, then t is collected.
fn lookahead(gen: &mut LmGen, codes: &[Vec<u32>]) -> Vec<StepOutput> {
    let mut out = Vec::with_capacity(codes.len());
    gen.submit(&codes[0]).expect("submit 0");
    for t in 0..codes.len() {
        if t + 1 < codes.len() {
            gen.submit(&codes[t + 1]).expect("submit t+1");
            assert_eq!(gen.in_flight(), 2);
        }
        out.push(gen.collect().expect("collect t"));
    }
    assert_eq!(gen.in_flight(), 0);
    out
}

fn assert_same(a: &[StepOutput], b: &[StepOutput], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: step counts");
    for (t, (x, y)) in a.iter().zip(b).enumerate() {
        // Bit-identical: StepOutput's PartialEq compares the f32 logits exactly.
        assert_eq!(x, y, "{what}: step {t} differs");
    }
}

#[test]
fn lookahead_is_bit_identical_to_serial() {
    for fmt in [
        WeightFormat::Dense(Dtype::Float32),
        WeightFormat::Dense(Dtype::Bfloat16),
    ] {
        let mut gen = load(fmt);
        let codes = user_codes(&gen);
        let reference = serial(&mut gen, &codes);
        // The run must exercise what it claims: varied sampled tokens and real frames.
        let texts: std::collections::BTreeSet<u32> =
            reference.iter().map(|o| o.text_token).collect();
        assert!(texts.len() > 3, "{fmt:?}: degenerate text {texts:?}");
        assert!(
            reference.iter().filter(|o| o.frame.is_some()).count() >= STEPS - 3,
            "{fmt:?}: too few frames"
        );

        gen.reset().expect("reset");
        let ahead = lookahead(&mut gen, &codes);
        assert_same(&reference, &ahead, &format!("{fmt:?} lookahead"));
        assert_eq!(gen.step_index(), STEPS);

        // After a reset with a step still in flight, the next run starts clean.
        gen.reset().expect("reset");
        gen.submit(&codes[0]).expect("submit");
        gen.reset().expect("reset in flight");
        assert_eq!(gen.in_flight(), 0);
        let again = lookahead(&mut gen, &codes);
        assert_same(&reference, &again, &format!("{fmt:?} after reset"));
    }
}

#[test]
fn misuse_is_an_error() {
    let mut gen = load(WeightFormat::Dense(Dtype::Float32));
    let codes = user_codes(&gen);
    assert!(gen.collect().is_err(), "collect with nothing in flight");
    gen.submit(&codes[0]).expect("submit");
    assert!(gen.step(&codes[1]).is_err(), "step() with a step in flight");
    gen.submit(&codes[1]).expect("second in flight");
    assert!(gen.submit(&codes[2]).is_err(), "a third in flight");
    assert!(gen.submit(&codes[2][1..]).is_err());
    gen.collect().expect("collect 0");
    gen.collect().expect("collect 1");
    assert_eq!(gen.step_index(), 2);
}
