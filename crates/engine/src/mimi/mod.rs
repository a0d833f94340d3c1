//! The Mimi neural audio codec (24 kHz mono <-> 12.5 Hz codes) on MLX, with candle semantics.
//!
//! Moshi hears and speaks through Mimi: 1920-sample (80 ms) frames to `num_codebooks` codes per
//! frame and back. The pipeline is SEANet encoder -> encoder transformer -> downsample -> split
//! RVQ, and split RVQ decode -> upsample -> decoder transformer -> SEANet decoder. Streaming
//! (`encode_step` / `decode_step`) and batch (`encode` / `decode`) give the same results.

mod config;
mod conv;
mod quantizer;
mod seanet;
mod transformer;
mod weights;

pub use config::{MimiConfig, SeanetConfig, TransformerConfig};

use crate::error::EngineError;
use conv::{time_len, Conv1d, Pad, StreamConv1d, StreamConvTr1d};
use mlx_rs::{Array, Dtype};
use quantizer::SplitRvq;
use seanet::{SeanetDecoder, SeanetEncoder};
use std::path::Path;
use transformer::{Transformer, TransformerCache};
use weights::Weights;

/// Intermediate batch outputs, exposed for the parity checks. Each is `(channels, steps)`
/// flattened row-major, the PyTorch `(1, C, T)` layout of the fixtures.
#[derive(Debug, Clone)]
pub struct EncodeStages {
    /// SEANet encoder output (25 Hz).
    pub encoder_out: Vec<f32>,
    /// Encoder transformer output (25 Hz).
    pub encoder_transformer_out: Vec<f32>,
    /// Downsampled latent fed to the quantizer (12.5 Hz).
    pub latent: Vec<f32>,
    /// Channels of each stage (`seanet.dimension`).
    pub channels: usize,
    /// Code frames (the latent's time length).
    pub frames: usize,
}

/// A loaded Mimi with its streaming state.
///
/// The streaming state (conv tails, transposed-conv overlaps, transformer caches bounded to the
/// attention context) only changes in `encode_step` / `decode_step` and is cleared by `reset`;
/// batch `encode` / `decode` are independent of it.
pub struct Mimi {
    cfg: MimiConfig,
    encoder: SeanetEncoder,
    encoder_transformer: Transformer,
    downsample: StreamConv1d,
    quantizer: SplitRvq,
    upsample: StreamConvTr1d,
    decoder_transformer: Transformer,
    decoder: SeanetDecoder,
    encoder_cache: TransformerCache,
    decoder_cache: TransformerCache,
}

impl Mimi {
    /// Loads a PyTorch-named checkpoint (the real `tokenizer-e351c8d8-checkpoint125.safetensors`
    /// or a fixture's `mimi.safetensors`) using its first `num_codebooks` codebooks.
    pub fn load(path: &Path, cfg: &MimiConfig, num_codebooks: usize) -> Result<Mimi, EngineError> {
        cfg.validate()?;
        if num_codebooks == 0 || num_codebooks > cfg.quantizer_nq {
            return Err(EngineError::Config(format!(
                "num_codebooks must be in 1..={}, got {num_codebooks}",
                cfg.quantizer_nq
            )));
        }
        let mut w = Weights::load(path)?;
        let mimi = Self::from_weights(&mut w, cfg, num_codebooks)?;
        let (used, ignored) = w.usage();
        tracing::info!(
            path = %path.display(),
            used,
            ignored,
            num_codebooks,
            "loaded Mimi"
        );
        Ok(mimi)
    }

    /// A real-size (or any-size) Mimi with random weights, for the speed test: same
    /// architecture and cost as a checkpoint, nothing to read.
    pub fn random(cfg: &MimiConfig, num_codebooks: usize, seed: u64) -> Result<Mimi, EngineError> {
        cfg.validate()?;
        if num_codebooks == 0 || num_codebooks > cfg.quantizer_nq {
            return Err(EngineError::Config(format!(
                "num_codebooks must be in 1..={}, got {num_codebooks}",
                cfg.quantizer_nq
            )));
        }
        Self::from_weights(&mut Weights::random(seed)?, cfg, num_codebooks)
    }

    fn from_weights(
        w: &mut Weights,
        cfg: &MimiConfig,
        num_codebooks: usize,
    ) -> Result<Mimi, EngineError> {
        let dim = cfg.seanet.dimension;
        let stride = cfg.downsample_stride();
        let encoder = SeanetEncoder::load(w, &cfg.seanet)?;
        let decoder = SeanetDecoder::load(w, &cfg.seanet)?;
        let encoder_transformer = Transformer::load(w, "encoder_transformer", &cfg.transformer)?;
        let decoder_transformer = Transformer::load(w, "decoder_transformer", &cfg.transformer)?;
        let down_w = w.conv("downsample.conv.conv.conv.weight", dim, dim, 2 * stride)?;
        let downsample = StreamConv1d::new(Conv1d::new(down_w, None, stride, 1, 1), Pad::Edge);
        let up = w.get(
            "upsample.convtr.convtr.convtr.weight",
            &[dim, 1, 2 * stride],
        )?;
        let taps = up
            .reshape(&[dim as i32, 2 * stride as i32])?
            .transpose()?
            .contiguous()?;
        taps.eval()?;
        let upsample = StreamConvTr1d::depthwise(taps, None, stride)?;
        let quantizer =
            SplitRvq::load(w, num_codebooks, dim, cfg.quantizer_dim, cfg.quantizer_bins)?;
        let encoder_cache = encoder_transformer.new_cache();
        let decoder_cache = decoder_transformer.new_cache();
        Ok(Mimi {
            cfg: cfg.clone(),
            encoder,
            encoder_transformer,
            downsample,
            quantizer,
            upsample,
            decoder_transformer,
            decoder,
            encoder_cache,
            decoder_cache,
        })
    }

    /// The configuration this model was built from.
    pub fn config(&self) -> &MimiConfig {
        &self.cfg
    }

    /// Codes per frame.
    pub fn num_codebooks(&self) -> usize {
        self.quantizer.num_codebooks()
    }

    /// Samples per frame (1920).
    pub fn frame_size(&self) -> usize {
        self.cfg.frame_size()
    }

    /// Streaming encode: appends `pcm` (24 kHz mono, any length) and returns one Vec of
    /// `num_codebooks` codes for each 1920-sample frame completed so far.
    pub fn encode_step(&mut self, pcm: &[f32]) -> Result<Vec<Vec<u32>>, EngineError> {
        if pcm.is_empty() {
            return Ok(Vec::new());
        }
        let x = pcm_array(pcm)?;
        let x = self.encoder.step(&x)?;
        let x = self
            .encoder_transformer
            .forward(&x, &mut self.encoder_cache)?;
        let x = self.downsample.step(&x)?;
        if time_len(&x) == 0 {
            return Ok(Vec::new());
        }
        let codes = self.quantizer.encode(&x)?;
        let by_book = codes_to_vecs(&codes)?;
        Ok(transpose(&by_book))
    }

    /// Streaming decode of one frame of `num_codebooks` codes into 1920 samples.
    pub fn decode_step(&mut self, codes: &[u32]) -> Result<Vec<f32>, EngineError> {
        let n = self.num_codebooks();
        if codes.len() != n {
            return Err(EngineError::Input(format!(
                "decode_step expects {n} codes, got {}",
                codes.len()
            )));
        }
        self.check_codes(codes)?;
        let c = Array::from_slice(codes, &[1, n as i32, 1]);
        let x = self.quantizer.decode(&c)?;
        let x = self.upsample.step(&x)?;
        let x = self
            .decoder_transformer
            .forward(&x, &mut self.decoder_cache)?;
        let y = self.decoder.step(&x)?;
        array_to_vec(&y)
    }

    /// Batch encode of a whole signal into codes `[codebook][frame]`; a partial last frame is
    /// padded like PyTorch does. Independent of the streaming state.
    pub fn encode(&mut self, pcm: &[f32]) -> Result<Vec<Vec<u32>>, EngineError> {
        if pcm.is_empty() {
            return Ok(vec![Vec::new(); self.num_codebooks()]);
        }
        let latent = self.batch_latent(pcm)?.2;
        let codes = self.quantizer.encode(&latent)?;
        codes_to_vecs(&codes)
    }

    /// Batch decode of codes `[codebook][frame]` into `1920 × frames` samples. Independent of
    /// the streaming state.
    pub fn decode(&mut self, codes: &[Vec<u32>]) -> Result<Vec<f32>, EngineError> {
        let n = self.num_codebooks();
        if codes.len() != n {
            return Err(EngineError::Input(format!(
                "decode expects {n} codebooks, got {}",
                codes.len()
            )));
        }
        let frames = codes[0].len();
        if codes.iter().any(|c| c.len() != frames) {
            return Err(EngineError::Input(
                "codebooks have different lengths".into(),
            ));
        }
        if frames == 0 {
            return Ok(Vec::new());
        }
        let flat: Vec<u32> = codes.iter().flatten().copied().collect();
        self.check_codes(&flat)?;
        let c = Array::from_slice(&flat, &[1, n as i32, frames as i32]);
        let x = self.quantizer.decode(&c)?;
        let x = self.upsample.forward(&x)?;
        let mut cache = self.decoder_transformer.new_cache();
        let x = self.decoder_transformer.forward(&x, &mut cache)?;
        let y = self.decoder.forward(&x)?;
        array_to_vec(&y)
    }

    /// The batch intermediate outputs (SEANet, transformer, latent) for parity checks.
    pub fn encode_stages(&mut self, pcm: &[f32]) -> Result<EncodeStages, EngineError> {
        if pcm.is_empty() {
            return Err(EngineError::Input("empty input".into()));
        }
        let (enc, tr, latent) = self.batch_latent(pcm)?;
        let frames = time_len(&latent);
        Ok(EncodeStages {
            encoder_out: channels_first(&enc)?,
            encoder_transformer_out: channels_first(&tr)?,
            latent: channels_first(&latent)?,
            channels: self.cfg.seanet.dimension,
            frames,
        })
    }

    /// Clears the streaming state (conv buffers and transformer caches) of both directions.
    pub fn reset(&mut self) {
        self.encoder.reset();
        self.downsample.reset();
        self.encoder_cache.reset();
        self.upsample.reset();
        self.decoder.reset();
        self.decoder_cache.reset();
    }

    /// Steps held by the streaming transformer caches (encoder, decoder); bounded by the
    /// attention context, which the streaming tests check.
    pub fn cached_steps(&self) -> (usize, usize) {
        (
            self.encoder_cache.held_steps(),
            self.decoder_cache.held_steps(),
        )
    }

    fn batch_latent(&self, pcm: &[f32]) -> Result<(Array, Array, Array), EngineError> {
        let x = pcm_array(pcm)?;
        let enc = self.encoder.forward(&x)?;
        let mut cache = self.encoder_transformer.new_cache();
        let tr = self.encoder_transformer.forward(&enc, &mut cache)?;
        let latent = self.downsample.forward(&tr)?;
        Ok((enc, tr, latent))
    }

    fn check_codes(&self, codes: &[u32]) -> Result<(), EngineError> {
        let bins = self.cfg.quantizer_bins;
        match codes.iter().find(|&&c| c as usize >= bins) {
            Some(c) => Err(EngineError::Input(format!(
                "code {c} out of range 0..{bins}"
            ))),
            None => Ok(()),
        }
    }
}

/// Samples as a `(1, t, 1)` array.
fn pcm_array(pcm: &[f32]) -> Result<Array, EngineError> {
    let len = i32::try_from(pcm.len())
        .map_err(|_| EngineError::Input(format!("input too long: {} samples", pcm.len())))?;
    Ok(Array::from_slice(pcm, &[1, len, 1]))
}

/// Evaluates an array and copies it out in row-major order.
fn array_to_vec(a: &Array) -> Result<Vec<f32>, EngineError> {
    let flat = a.as_dtype(Dtype::Float32)?.reshape(&[-1])?;
    flat.eval()?;
    Ok(flat.try_as_slice::<f32>()?.to_vec())
}

/// `(1, t, c)` -> `c × t` row-major (PyTorch layout).
fn channels_first(a: &Array) -> Result<Vec<f32>, EngineError> {
    array_to_vec(&a.transpose_axes(&[0, 2, 1])?)
}

/// Codes `(1, n, t)` -> `[codebook][frame]`.
fn codes_to_vecs(codes: &Array) -> Result<Vec<Vec<u32>>, EngineError> {
    let (n, t) = (codes.shape()[1] as usize, codes.shape()[2] as usize);
    let flat = codes.reshape(&[-1])?;
    flat.eval()?;
    let data = flat.try_as_slice::<u32>()?;
    Ok((0..n).map(|i| data[i * t..(i + 1) * t].to_vec()).collect())
}

/// `[codebook][frame]` -> `[frame][codebook]`.
fn transpose(by_book: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let frames = by_book.first().map_or(0, Vec::len);
    (0..frames)
        .map(|f| by_book.iter().map(|b| b[f]).collect())
        .collect()
}

#[cfg(test)]
mod profile {
    use super::*;
    use std::time::Instant;

    /// Where a real-size frame's time goes (run by hand: `--ignored --nocapture`).
    #[test]
    #[ignore = "a profile, not a check"]
    fn stage_times() {
        let cfg = MimiConfig::v0_1();
        let mut m = Mimi::random(&cfg, 8, 0).expect("random Mimi");
        let pcm = vec![0.1f32; 1920];
        let mut t = [0f64; 8];
        for i in 0..8 {
            let time = |f: &mut dyn FnMut() -> Array| {
                let s = Instant::now();
                let a = f();
                a.eval().expect("eval");
                (a, s.elapsed().as_secs_f64() * 1e3)
            };
            let (x, a) = time(&mut || {
                m.encoder
                    .step(&pcm_array(&pcm).expect("stage"))
                    .expect("stage")
            });
            let (x, b) = time(&mut || {
                m.encoder_transformer
                    .forward(&x, &mut m.encoder_cache)
                    .expect("stage")
            });
            let (x, c) = time(&mut || m.downsample.step(&x).expect("stage"));
            let (codes, d) = time(&mut || m.quantizer.encode(&x).expect("stage"));
            let (x, e) = time(&mut || m.quantizer.decode(&codes).expect("stage"));
            let (x, f) = time(&mut || m.upsample.step(&x).expect("stage"));
            let (x, g) = time(&mut || {
                m.decoder_transformer
                    .forward(&x, &mut m.decoder_cache)
                    .expect("stage")
            });
            let (_, h) = time(&mut || m.decoder.step(&x).expect("stage"));
            if i >= 2 {
                for (acc, v) in t.iter_mut().zip([a, b, c, d, e, f, g, h]) {
                    *acc += v / 6.0;
                }
            }
        }
        println!("seanet enc {:.1} | enc tr {:.1} | down {:.1} | rvq enc {:.1} | rvq dec {:.1} | up {:.1} | dec tr {:.1} | seanet dec {:.1} ms", t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
    }
}
