//! Both Mimi backends against **rustymimi** itself (PyPI `rustymimi` 0.4, Kyutai's candle
//! Mimi), on a real-size random Mimi in the PyTorch layout and 320 frames of espeak-ng speech:
//! past the 250-step attention context of both transformers, so the streaming caches wrap.
//! The MLX port ([`engine::Mimi`], the default backend) must be identical on every frame;
//! so must the candle backend ([`engine::CandleMimi`], Kyutai's `moshi` 0.6 crate's modules);
//! a candle Mimi with one encoder and one decoder weight scaled by 1.01 must fail the
//! comparison.
//!
//! Fixture: `<workspace>/.cache/fixtures/mimi-rustymimi-seed0/` (or `$MOSHIBAR_RUSTYMIMI_REF`),
//! written by `scripts/reference/make_rustymimi_reference.py` from `scripts/make-fixtures.sh`.
//! A missing fixture fails the test; it never skips.
//!
//! - encode: our streaming `encode_step`, one 1920-sample frame at a time, must give exactly
//!   rustymimi's codes on every frame;
//! - decode: our `decode_step` of rustymimi's codes must match rustymimi's `decode_step` output
//!   within 1e-4 on every sample.

use engine::{CandleMimi, MimiCodec};
use engine::{Mimi, MimiConfig};
use mlx_rs::Array;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const CHECKPOINT: &str = "tokenizer-e351c8d8-checkpoint125.safetensors";
/// Largest allowed |ours − rustymimi| per decoded sample.
const DECODE_TOLERANCE: f32 = 1e-4;
/// The attention context of `mimi_202407` in 25 Hz steps; the fixture must go past it.
const CONTEXT_FRAMES: usize = 125;

fn fixture_dir() -> PathBuf {
    match std::env::var_os("MOSHIBAR_RUSTYMIMI_REF") {
        Some(p) => PathBuf::from(p),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/fixtures/mimi-rustymimi-seed0")
        }
    }
}

struct Reference {
    pcm: Vec<f32>,
    /// `[frame][codebook]`
    codes: Vec<Vec<u32>>,
    decoded: Vec<f32>,
    codebooks: usize,
}

fn tensor<'a>(t: &'a HashMap<String, Array>, name: &str) -> &'a Array {
    let a = t
        .get(name)
        .unwrap_or_else(|| panic!("rustymimi_io.safetensors has no `{name}`"));
    a.eval().expect("eval");
    a
}

fn load_reference(dir: &Path) -> Reference {
    let io = dir.join("rustymimi_io.safetensors");
    assert!(
        io.exists() && dir.join(CHECKPOINT).exists(),
        "rustymimi fixture missing in {}: run scripts/make-fixtures.sh",
        dir.display()
    );
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("rustymimi_reference.json")).expect("reference JSON"),
    )
    .expect("reference JSON parses");
    let codebooks = meta["codebooks"].as_u64().expect("codebooks") as usize;
    let frames = meta["frames"].as_u64().expect("frames") as usize;
    let t = Array::load_safetensors(&io).expect("rustymimi_io loads");
    let pcm = tensor(&t, "input_pcm").as_slice::<f32>().to_vec();
    let decoded = tensor(&t, "decoded_pcm").as_slice::<f32>().to_vec();
    let c = tensor(&t, "codes");
    assert_eq!(c.shape(), &[frames as i32, codebooks as i32], "codes shape");
    let codes = c
        .as_slice::<u32>()
        .chunks(codebooks)
        .map(<[u32]>::to_vec)
        .collect::<Vec<_>>();
    assert_eq!(pcm.len(), frames * 1920, "input length");
    assert_eq!(decoded.len(), frames * 1920, "decoded length");
    Reference {
        pcm,
        codes,
        decoded,
        codebooks,
    }
}

/// How a codec's streaming encode and decode compare with rustymimi's on `frames` frames.
struct Report {
    frames: usize,
    /// Frames whose codes differ from rustymimi's.
    bad: Vec<usize>,
    /// Codes (of `frames × codebooks`) equal to rustymimi's.
    codes_equal: usize,
    /// Largest |ours − rustymimi| over the decoded samples, and where.
    worst: (f32, usize),
}

/// Encodes the reference speech frame by frame, then decodes rustymimi's codes frame by
/// frame, with `codec`'s streaming calls.
fn compare(name: &str, codec: &mut dyn MimiCodec, r: &Reference, frames: usize) -> Report {
    let fs = codec.frame_size();
    assert_eq!(fs, 1920, "frame size");
    assert_eq!(codec.num_codebooks(), r.codebooks, "codebooks");
    let mut ours = Vec::with_capacity(frames);
    for chunk in r.pcm.chunks(fs).take(frames) {
        let out = codec.encode_step(chunk).expect("encode_step");
        assert_eq!(out.len(), 1, "one code frame per 1920 samples");
        ours.extend(out);
    }
    assert_eq!(ours.len(), frames, "code frame count");
    let bad: Vec<usize> = (0..frames).filter(|&f| ours[f] != r.codes[f]).collect();
    let codes_equal = r.codes[..frames]
        .iter()
        .flatten()
        .zip(ours.iter().flatten())
        .filter(|(a, b)| a == b)
        .count();
    if let Some(&f) = bad.first() {
        println!(
            "{name}: first differing frame {f}: ours {:?}, rustymimi {:?}",
            ours[f], r.codes[f]
        );
    }

    let mut worst = (0f32, 0usize);
    for (f, codes) in r.codes.iter().take(frames).enumerate() {
        let pcm = codec.decode_step(codes).expect("decode_step");
        assert_eq!(pcm.len(), fs, "frame {f} length");
        let want = &r.decoded[f * fs..(f + 1) * fs];
        for (i, (a, b)) in pcm.iter().zip(want).enumerate() {
            let d = (a - b).abs();
            if d > worst.0 || d.is_nan() {
                worst = (if d.is_nan() { f32::INFINITY } else { d }, f * fs + i);
            }
        }
    }
    let peak = r.decoded.iter().fold(0f32, |m, x| m.max(x.abs()));
    println!(
        "{name}: encode {}/{frames} frames identical, {codes_equal}/{} codes; decode max |ours - rustymimi| = {:.3e} at sample {} (frame {}), peak |rustymimi| = {peak:.3}",
        frames - bad.len(),
        frames * r.codebooks,
        worst.0,
        worst.1,
        worst.1 / fs
    );
    Report {
        frames,
        bad,
        codes_equal,
        worst,
    }
}

/// The checks both backends must pass on every frame of the fixture.
fn assert_matches(name: &str, rep: &Report, r: &Reference) {
    assert!(
        rep.bad.is_empty(),
        "{name}: {} of {} frames differ from rustymimi (first {:?}); {}/{} codes equal",
        rep.bad.len(),
        rep.frames,
        &rep.bad[..rep.bad.len().min(8)],
        rep.codes_equal,
        rep.frames * r.codebooks
    );
    assert!(
        rep.worst.0 <= DECODE_TOLERANCE,
        "{name}: decoded audio differs from rustymimi by {:.3e} > {DECODE_TOLERANCE:e} (sample {})",
        rep.worst.0,
        rep.worst.1
    );
}

/// The fixture itself must be worth testing on: past the context, codes that vary.
fn check_fixture(r: &Reference) -> usize {
    let frames = r.codes.len();
    assert!(
        frames > 2 * CONTEXT_FRAMES,
        "the fixture has {frames} frames; it must go past the attention context"
    );
    // A fixture whose codes barely change would not test much.
    let distinct: std::collections::HashSet<&Vec<u32>> = r.codes.iter().collect();
    assert!(
        distinct.len() > frames / 4,
        "only {} distinct code frames",
        distinct.len()
    );
    frames
}

/// Kyutai's `moshi` 0.6 modules, assembled by [`CandleMimi`] with a `context + 1` cache and one
/// transformer step per call, are rustymimi 0.4.1 code for code past the context. (Built as
/// `moshi::mimi::Mimi` builds them, with its `context`-slot cache and two steps per call, 3 of
/// 320 frames differed, first at frame 128, decode 3.0e-3: see `codec/candle.rs`.)
#[test]
fn candle_mimi_matches_rustymimi_past_the_context() {
    let dir = fixture_dir();
    let r = load_reference(&dir);
    let frames = check_fixture(&r);
    let mut mimi = CandleMimi::load(&dir.join(CHECKPOINT), &MimiConfig::v0_1(), r.codebooks)
        .expect("candle Mimi loads");
    let rep = compare("candle", &mut mimi, &r, frames);
    assert_matches("candle", &rep, &r);
}

/// Frames the perturbed-weight check runs (it only has to show a difference).
const PERTURBED_FRAMES: usize = 64;

#[test]
fn candle_mimi_with_a_perturbed_weight_fails_the_comparison() {
    let dir = fixture_dir();
    let r = load_reference(&dir);
    let mut tensors =
        moshi::candle::safetensors::load(dir.join(CHECKPOINT), &moshi::candle::Device::Cpu)
            .expect("checkpoint reads");
    // The last SEANet conv of each direction, scaled by 1.01.
    for name in [
        "encoder.model.14.conv.conv.weight",
        "decoder.model.14.conv.conv.weight",
    ] {
        let t = tensors
            .get(name)
            .unwrap_or_else(|| panic!("checkpoint has no `{name}`"));
        let scaled = t.affine(1.01, 0.0).expect("scale");
        tensors.insert(name.to_string(), scaled);
    }
    let mut mimi = CandleMimi::from_tensors(tensors, &MimiConfig::v0_1(), r.codebooks)
        .expect("perturbed candle Mimi builds");
    let rep = compare("candle, perturbed", &mut mimi, &r, PERTURBED_FRAMES);
    assert!(
        !rep.bad.is_empty(),
        "an encoder weight scaled by 1.01 still gives rustymimi's codes on all {PERTURBED_FRAMES} frames"
    );
    assert!(
        rep.worst.0 > DECODE_TOLERANCE,
        "a decoder weight scaled by 1.01 still decodes within {DECODE_TOLERANCE:e} ({:.3e})",
        rep.worst.0
    );
}

#[test]
fn mlx_mimi_matches_rustymimi_past_the_context() {
    let dir = fixture_dir();
    let r = load_reference(&dir);
    let frames = check_fixture(&r);
    let cfg = MimiConfig::v0_1();
    let mut mimi = Mimi::load(&dir.join(CHECKPOINT), &cfg, r.codebooks).expect("Mimi loads");
    let rep = compare("mlx", &mut mimi, &r, frames);
    let (enc_held, dec_held) = mimi.cached_steps();
    assert!(enc_held <= cfg.transformer.context && dec_held <= cfg.transformer.context);
    assert_matches("mlx", &rep, &r);
}
