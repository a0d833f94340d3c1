//! A conversation far longer than the context: 5000 steps (past the tiny model's 8-step ring,
//! past moshi_mlx's 4096-slot rotating buffer, and longer than the 7B's 3000-step context),
//! sampled as in a live session. Every step's logits stay finite, the output keeps varying
//! (no collapse to one token, no frozen frames), and the cache stays at context + 1 steps.
//! Runs on the seed-0 fixture's LM, loaded through its Kyutai `config.json`.

use engine::SamplingConfig;
use engine::WeightFormat;
use engine::{Lm, LmGen};
use mlx_rs::Dtype;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const STEPS: usize = 5000;

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

#[test]
fn five_thousand_steps_stay_finite_and_varied() {
    let dir = seed0();
    let cfg = engine::read_repo_config(&dir.join("config.json"))
        .expect("config.json")
        .lm;
    let lm = Lm::load_file(
        &dir.join("lm.safetensors"),
        &cfg,
        WeightFormat::Dense(Dtype::Float32),
    )
    .expect("load");
    let card = cfg.audio_card() as u32;
    let mut gen = LmGen::new(lm, SamplingConfig::default()).expect("gen");
    gen.set_record_logits(true);
    let (mut text, mut audio0, mut frames) = (Vec::new(), Vec::new(), 0usize);
    let mut last_logits: Option<Vec<f32>> = None;
    let mut changed_logits = 0usize;
    let mut rng = 0x2545_f491_u64;
    for step in 0..STEPS {
        // A user who keeps talking: pseudo-random codes (xorshift).
        let user: Vec<u32> = (0..cfg.other_codebooks())
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng % u64::from(card)) as u32
            })
            .collect();
        let o = gen
            .step(&user)
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        let logits = o.text_logits.expect("recorded");
        assert!(
            logits.iter().all(|x| x.is_finite()),
            "step {step}: non-finite text logits"
        );
        for l in o.audio_logits.expect("recorded") {
            assert!(
                l.iter().all(|x| x.is_finite()),
                "step {step}: non-finite audio logits"
            );
        }
        if last_logits.as_ref().is_some_and(|p| *p != logits) {
            changed_logits += 1;
        }
        last_logits = Some(logits);
        assert!((o.text_token as usize) < cfg.text_out_vocab_size);
        text.push(o.text_token);
        if let Some(f) = o.frame {
            assert_eq!(f.len(), cfg.generated_codebooks());
            assert!(
                f.iter().all(|&c| c < card),
                "step {step}: code out of range"
            );
            audio0.push(f[0]);
            frames += 1;
        }
    }
    assert_eq!(gen.step_index(), STEPS);
    assert_eq!(gen.lm().cached_steps(), cfg.transformer.context + 1);
    assert_eq!(
        frames,
        STEPS - cfg.max_delay(),
        "one frame per step after the delays"
    );
    assert!(
        changed_logits >= STEPS - 2,
        "logits froze: only {changed_logits} of {STEPS} steps changed them"
    );
    // Non-degenerate: the last 1000 steps use many tokens, like the first 1000.
    let distinct = |v: &[u32]| v.iter().collect::<BTreeSet<_>>().len();
    let (t_first, t_last) = (distinct(&text[..1000]), distinct(&text[STEPS - 1000..]));
    let a_last = distinct(&audio0[audio0.len() - 1000..]);
    println!("distinct text tokens: first 1000 {t_first}, last 1000 {t_last}; audio codebook 0, last 1000: {a_last}");
    assert!(
        t_last >= 10 && t_last * 2 >= t_first,
        "text collapsed: {t_first} → {t_last}"
    );
    assert!(a_last >= 10, "audio collapsed to {a_last} codes");
}
