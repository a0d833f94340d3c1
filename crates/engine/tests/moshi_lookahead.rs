//! `Moshi::set_lookahead` (LM step t+1 submitted with `async_eval` on step t's lazy tokens
//! before step t is read back) gives exactly the output without it, one frame later: the same
//! audio codes, text tokens, text pieces and samples, bit for bit, for 24 frames with the
//! seeded top-p sampler of a live session, serially and pipelined (Mimi on its thread), and
//! again after a reset. Runs on the matched tiny repo (`.cache/fixtures/pipeline-tiny`, from
//! `scripts/make-fixtures.sh`); a missing fixture fails the test.

use engine::{FrameOutput, LmGen, LoadOptions, Moshi, MoshiPaths, Quality, FRAME_SAMPLES};
use std::path::{Path, PathBuf};

const FRAMES: usize = 24;

fn pipeline_dir() -> PathBuf {
    let root = std::env::var_os("MOSHIBAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/fixtures"));
    let d = root.join("pipeline-tiny");
    assert!(
        d.join("config.json").exists(),
        "{} missing: run scripts/make-fixtures.sh",
        d.display()
    );
    d
}

/// A deterministic, speech-like input: harmonics with a slow envelope plus a little noise.
fn input() -> Vec<Vec<f32>> {
    let mut rng = 0x9e37_79b9_u32;
    (0..FRAMES)
        .map(|i| {
            (0..FRAME_SAMPLES)
                .map(|k| {
                    let t = (i * FRAME_SAMPLES + k) as f32 / 24_000.0;
                    let env = 0.5 + 0.5 * (t * 3.0).sin();
                    rng ^= rng << 13;
                    rng ^= rng >> 17;
                    rng ^= rng << 5;
                    let noise = (rng as f32 / u32::MAX as f32 - 0.5) * 0.05;
                    0.2 * env * (t * 180.0 * std::f32::consts::TAU).sin() + noise
                })
                .collect()
        })
        .collect()
}

fn run(m: &mut Moshi, frames: &[Vec<f32>], tail: usize) -> Vec<FrameOutput> {
    let silence = vec![0.0f32; FRAME_SAMPLES];
    frames
        .iter()
        .chain(std::iter::repeat_n(&silence, tail))
        .map(|f| {
            let o = m.step_frame(f).expect("step");
            assert!(
                m.lm_gen().in_flight() < LmGen::MAX_IN_FLIGHT,
                "{} LM steps left in flight",
                m.lm_gen().in_flight()
            );
            o
        })
        .collect()
}

fn assert_same_later(what: &str, got: &[FrameOutput], want: &[FrameOutput], later: usize) {
    assert_eq!(got.len(), want.len() + later, "{what}");
    for (i, o) in got[..later].iter().enumerate() {
        assert!(o.codes.is_empty(), "{what}: frame {i} has codes");
        assert!(
            o.pcm.iter().all(|&s| s == 0.0),
            "{what}: frame {i} not silent"
        );
        assert_eq!(o.text, None, "{what}: frame {i}");
    }
    for (i, (g, w)) in got[later..].iter().zip(want).enumerate() {
        assert_eq!(g.codes, w.codes, "{what}: frame {i}: audio codes differ");
        assert_eq!(g.text_token, w.text_token, "{what}: frame {i}: text token");
        assert_eq!(g.text, w.text, "{what}: frame {i}: text");
        assert!(g.pcm == w.pcm, "{what}: frame {i}: samples differ");
    }
}

#[test]
fn lookahead_is_the_same_output_one_frame_later() {
    let dir = pipeline_dir();
    let paths = MoshiPaths::from_dir(&dir, Quality::Bf16).expect("paths");
    let mut m = Moshi::load(
        &paths,
        &LoadOptions {
            quality: Quality::Bf16,
            ..LoadOptions::default()
        },
    )
    .expect("load");
    let frames = input();
    m.warmup().expect("warmup");
    let serial = run(&mut m, &frames, 0);
    // The comparison has power: Moshi spoke (codes from the second step on), and the
    // sampler's text tokens and codes vary.
    let coded = serial.iter().filter(|o| !o.codes.is_empty()).count();
    assert!(coded >= FRAMES - 2, "{coded} frames with codes");
    let mut distinct: Vec<_> = serial.iter().flat_map(|o| o.codes.concat()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 10, "{} distinct codes", distinct.len());
    assert!(
        serial.iter().any(|o| o.pcm.iter().any(|&s| s != 0.0)),
        "no audio"
    );

    m.set_lookahead(true);
    assert!(m.is_lookahead());
    m.warmup().expect("lookahead warmup");
    for pass in 0..2 {
        let got = run(&mut m, &frames, 1);
        assert_same_later(&format!("serial lookahead, pass {pass}"), &got, &serial, 1);
        m.reset();
    }

    // Pipelined: two frames later already; lookahead adds one.
    m.set_pipelined(true).expect("pipelined");
    assert!(m.is_lookahead(), "set_pipelined keeps the lookahead mode");
    m.warmup().expect("pipelined warmup");
    for pass in 0..2 {
        let got = run(&mut m, &frames, 3);
        assert_same_later(
            &format!("pipelined lookahead, pass {pass}"),
            &got,
            &serial,
            3,
        );
        m.reset();
    }
    m.set_lookahead(false);
    let got = run(&mut m, &frames, 2);
    assert_same_later("pipelined", &got, &serial, 2);
}
