//! Mimi against **rustymimi** itself (PyPI `rustymimi` 0.4, Kyutai's candle Mimi), on a
//! real-size random Mimi in the PyTorch layout and 320 frames of espeak-ng speech: past the
//! 250-step attention context of both transformers, so the streaming caches wrap.
//!
//! Fixture: `<workspace>/.cache/fixtures/mimi-rustymimi-seed0/` (or `$MOSHIBAR_RUSTYMIMI_REF`),
//! written by `scripts/reference/make_rustymimi_reference.py` from `scripts/make-fixtures.sh`.
//! A missing fixture fails the test; it never skips.
//!
//! - encode: our streaming `encode_step`, one 1920-sample frame at a time, must give exactly
//!   rustymimi's codes on every frame;
//! - decode: our `decode_step` of rustymimi's codes must match rustymimi's `decode_step` output
//!   within 1e-4 on every sample.

use engine::mimi::{Mimi, MimiConfig};
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

#[test]
fn codes_and_audio_match_rustymimi_past_the_context() {
    let dir = fixture_dir();
    let r = load_reference(&dir);
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

    let cfg = MimiConfig::v0_1();
    let mut mimi = Mimi::load(&dir.join(CHECKPOINT), &cfg, r.codebooks).expect("Mimi loads");
    let fs = mimi.frame_size();

    let mut ours = Vec::with_capacity(frames);
    for chunk in r.pcm.chunks(fs) {
        let out = mimi.encode_step(chunk).expect("encode_step");
        assert_eq!(out.len(), 1, "one code frame per 1920 samples");
        ours.extend(out);
    }
    assert_eq!(ours.len(), r.codes.len(), "code frame count");
    let bad: Vec<usize> = (0..frames).filter(|&f| ours[f] != r.codes[f]).collect();
    let codes_equal = r
        .codes
        .iter()
        .flatten()
        .zip(ours.iter().flatten())
        .filter(|(a, b)| a == b)
        .count();
    println!(
        "encode: {}/{} frames identical, {codes_equal}/{} codes",
        frames - bad.len(),
        frames,
        frames * r.codebooks
    );

    let mut worst = (0f32, 0usize);
    for (f, codes) in r.codes.iter().enumerate() {
        let pcm = mimi.decode_step(codes).expect("decode_step");
        assert_eq!(pcm.len(), fs, "frame {f} length");
        let want = &r.decoded[f * fs..(f + 1) * fs];
        for (i, (a, b)) in pcm.iter().zip(want).enumerate() {
            let d = (a - b).abs();
            if d > worst.0 || d.is_nan() {
                worst = (d, f * fs + i);
            }
        }
    }
    let peak = r.decoded.iter().fold(0f32, |m, x| m.max(x.abs()));
    println!(
        "decode: max |ours - rustymimi| = {:.3e} at sample {} (frame {}), peak |rustymimi| = {peak:.3}",
        worst.0,
        worst.1,
        worst.1 / fs
    );
    let (enc_held, dec_held) = mimi.cached_steps();
    assert!(enc_held <= cfg.transformer.context && dec_held <= cfg.transformer.context);

    assert!(
        bad.is_empty(),
        "{} of {frames} frames differ from rustymimi; first {:?}: ours {:?}, rustymimi {:?}",
        bad.len(),
        &bad[..bad.len().min(8)],
        ours[bad[0]],
        r.codes[bad[0]]
    );
    assert!(
        worst.0 <= DECODE_TOLERANCE,
        "decoded audio differs from rustymimi by {:.3e} > {DECODE_TOLERANCE:e} (sample {})",
        worst.0,
        worst.1
    );
}
