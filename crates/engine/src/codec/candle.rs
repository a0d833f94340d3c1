//! Kyutai's candle Mimi (the `moshi` crate, CPU), loaded as rustymimi's `Tokenizer` loads it:
//! the checkpoint's PyTorch names through a `VarBuilder` in f32 on the CPU, and the crate's own
//! modules (SEANet, streaming transformers, downsample/upsample, split RVQ) run in
//! `moshi::mimi::Mimi::encode_step` / `decode_step` order, with one difference that makes it
//! rustymimi's codec past the attention context (see [`CandleMimi`]).
//!
//! **Which context is right.** Kyutai's config says `context: 250`. In Kyutai's PyTorch
//! reference (`moshi/modules/transformer.py`) a query sees keys with `0 <= delta < context`
//! (250 keys, itself included) from a ring of `context` slots. rustymimi 0.4.1 (PyPI, built
//! from the `moshi` crate 0.4.1, the codec `moshi_mlx/local.py` runs) lets a query see
//! `0 <= delta <= context`: **251** keys (a growing cache trimmed to `t + context`). The
//! `moshi` 0.6 crate keeps that mask but a rotating cache of only `context` slots, so in a
//! 2-step chunk the first query loses its oldest key (249/250 keys, as PyTorch streaming):
//! identical to rustymimi for the first 250 steps, 3 of 320 frames different after. Our MLX
//! port and this backend follow rustymimi 0.4.1, the codec Kyutai's MLX app actually ships,
//! because the target is code-for-code rustymimi.

use super::MimiCodec;
use crate::error::EngineError;
use crate::mimi::MimiConfig;
use moshi::candle::{DType, Device, Tensor};
use moshi::candle_nn::{Activation, VarBuilder};
use moshi::{
    conv, mimi, quantization, seanet, transformer, NormType, StreamMask, StreamTensor,
    StreamingModule,
};
use std::collections::HashMap;
use std::path::Path;

/// Kyutai's Mimi on the CPU, with its streaming state.
///
/// The `moshi` crate's modules, assembled as `moshi::mimi::Mimi::new` does, except that both
/// transformers get a rotating cache of `context + 1` slots and are stepped **one 25 Hz step
/// at a time** (a 12.5 Hz frame is two). Then every query attends over exactly rustymimi
/// 0.4.1's keys, positions `q - context ..= q` (251), where `moshi::mimi::Mimi` (a cache of
/// `context` slots, two steps per call) gives the first step of each frame only 249 once the
/// cache wraps. `tests/mimi_rustymimi.rs` checks it code for code on 320 frames.
///
/// `Send`: the tensors are plain CPU buffers, so it can be loaded on one thread and run on
/// another (the pipelined frame runs it on its Mimi thread).
pub struct CandleMimi {
    encoder: seanet::SeaNetEncoder,
    decoder: seanet::SeaNetDecoder,
    encoder_transformer: transformer::Transformer,
    decoder_transformer: transformer::Transformer,
    quantizer: quantization::SplitResidualVectorQuantizer,
    downsample: conv::ConvDownsample1d,
    upsample: conv::ConvTrUpsample1d,
    num_codebooks: usize,
    frame_size: usize,
    bins: usize,
}

impl CandleMimi {
    /// Loads a PyTorch-named checkpoint (the real `tokenizer-e351c8d8-checkpoint125.safetensors`
    /// or a fixture's) with the architecture `cfg` (`MimiConfig::v0_1()` for every Kyutai
    /// repo), using its first `num_codebooks` codebooks.
    pub fn load(
        path: &Path,
        cfg: &MimiConfig,
        num_codebooks: usize,
    ) -> Result<CandleMimi, EngineError> {
        cfg.validate()?;
        // rustymimi memory-maps the file; reading it keeps this safe code (same tensors).
        let tensors = moshi::candle::safetensors::load(path, &Device::Cpu)
            .map_err(candle_err(&format!("reading {}", path.display())))?;
        let mimi = Self::from_tensors(tensors, cfg, num_codebooks).map_err(|e| match e {
            EngineError::Candle { what, source } => EngineError::Candle {
                what: format!("{what} from {}", path.display()),
                source,
            },
            other => other,
        })?;
        tracing::info!(path = %path.display(), num_codebooks, "loaded candle Mimi");
        Ok(mimi)
    }

    /// Builds from checkpoint tensors already in memory (PyTorch names, any float dtype),
    /// e.g. to check that a perturbed weight changes the codes.
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        cfg: &MimiConfig,
        num_codebooks: usize,
    ) -> Result<CandleMimi, EngineError> {
        cfg.validate()?;
        if num_codebooks == 0 || num_codebooks > cfg.quantizer_nq {
            return Err(EngineError::Config(format!(
                "num_codebooks must be in 1..={}, got {num_codebooks}",
                cfg.quantizer_nq
            )));
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let kcfg = kyutai_config(cfg, num_codebooks);
        let dim = kcfg.seanet.dimension;
        // rustymimi's keys: `context + 1` of them (see the type's docs).
        let tcfg = transformer::Config {
            context: kcfg.transformer.context + 1,
            ..kcfg.transformer.clone()
        };
        let stride = (kcfg.sample_rate
            / kcfg.seanet.ratios.iter().product::<usize>() as f64
            / kcfg.frame_rate) as usize;
        let build = || -> moshi::candle::Result<CandleMimi> {
            Ok(CandleMimi {
                encoder: seanet::SeaNetEncoder::new(&kcfg.seanet, vb.pp("encoder"))?,
                decoder: seanet::SeaNetDecoder::new(&kcfg.seanet, vb.pp("decoder"))?,
                encoder_transformer: transformer::Transformer::new(
                    None,
                    dim,
                    &tcfg,
                    vb.pp("encoder_transformer"),
                )?,
                decoder_transformer: transformer::Transformer::new(
                    None,
                    dim,
                    &tcfg,
                    vb.pp("decoder_transformer"),
                )?,
                quantizer: quantization::SplitResidualVectorQuantizer::new(
                    kcfg.quantizer_dim,
                    Some(dim),
                    Some(dim),
                    kcfg.quantizer_n_q,
                    kcfg.quantizer_bins,
                    vb.pp("quantizer"),
                )?,
                downsample: conv::ConvDownsample1d::new(
                    stride,
                    dim,
                    true,
                    true,
                    vb.pp("downsample"),
                )?,
                upsample: conv::ConvTrUpsample1d::new(stride, dim, true, true, vb.pp("upsample"))?,
                num_codebooks,
                frame_size: cfg.frame_size(),
                bins: cfg.quantizer_bins,
            })
        };
        build().map_err(candle_err("building Mimi"))
    }
}

/// `t.step` on `xs` (conv layout `(b, d, steps)`) one step at a time, outputs concatenated.
fn step_one_at_a_time(
    t: &mut transformer::Transformer,
    xs: &StreamTensor,
    m: &StreamMask,
) -> moshi::candle::Result<StreamTensor> {
    let Some(x) = xs.as_option() else {
        return Ok(StreamTensor::empty());
    };
    let steps = x.dim(2)?;
    if steps <= 1 {
        return t.step(xs, m);
    }
    let mut ys = Vec::with_capacity(steps);
    for i in 0..steps {
        let y = t.step(&StreamTensor::from_tensor(x.narrow(2, i, 1)?), m)?;
        ys.extend(y.as_option().cloned());
    }
    Ok(StreamTensor::from_tensor(Tensor::cat(&ys, 2)?))
}

/// `cfg` in the `moshi` crate's terms; for `MimiConfig::v0_1()` this is field for field
/// rustymimi's `mimi_cfg` (and `moshi::mimi::Config::v0_1`).
fn kyutai_config(cfg: &MimiConfig, num_codebooks: usize) -> mimi::Config {
    let s = &cfg.seanet;
    let t = &cfg.transformer;
    let seanet = seanet::Config {
        dimension: s.dimension,
        channels: s.channels,
        causal: s.causal,
        n_filters: s.nfilters,
        n_residual_layers: s.nresidual_layers,
        activation: Activation::Elu(1.),
        compress: s.compress,
        dilation_base: s.dilation_base,
        disable_norm_outer_blocks: 0,
        final_activation: None,
        kernel_size: s.ksize,
        residual_kernel_size: s.residual_ksize,
        last_kernel_size: s.last_ksize,
        lstm: 0,
        norm: conv::Norm::WeightNorm,
        pad_mode: if s.pad_mode == "edge" {
            conv::PadMode::Replicate
        } else {
            conv::PadMode::Constant
        },
        ratios: s.ratios.clone(),
        true_skip: s.true_skip,
    };
    let transformer = transformer::Config {
        d_model: t.d_model,
        num_heads: t.num_heads,
        num_layers: t.num_layers,
        causal: t.causal,
        norm_first: t.norm_first,
        bias_ff: t.bias_ff,
        bias_attn: t.bias_attn,
        layer_scale: t.layer_scale,
        context: t.context,
        conv_kernel_size: 5,
        use_conv_bias: true,
        use_conv_block: false,
        max_period: t.max_period as usize,
        positional_embedding: if t.positional_embedding == "none" {
            transformer::PositionalEmbedding::None
        } else {
            transformer::PositionalEmbedding::Rope
        },
        gating: None,
        norm: NormType::LayerNorm,
        dim_feedforward: t.dim_feedforward,
        kv_repeat: t.kv_repeat,
        conv_layout: true,
        cross_attention: None,
        shared_cross_attn: false,
        // Unused by the streaming transformer (RoPE is computed per position; the KV cache is
        // a ring of `context` steps); rustymimi's default.
        max_seq_len: 8192,
    };
    mimi::Config {
        channels: cfg.channels,
        sample_rate: cfg.sample_rate,
        frame_rate: cfg.frame_rate,
        renormalize: true,
        resample_method: mimi::ResampleMethod::Conv,
        seanet,
        transformer,
        quantizer_n_q: num_codebooks,
        quantizer_bins: cfg.quantizer_bins,
        quantizer_dim: cfg.quantizer_dim,
    }
}

fn candle_err(what: &str) -> impl FnOnce(moshi::candle::Error) -> EngineError + '_ {
    move |source| EngineError::Candle {
        what: what.to_string(),
        source,
    }
}

impl MimiCodec for CandleMimi {
    fn encode_step(&mut self, pcm: &[f32]) -> Result<Vec<Vec<u32>>, EngineError> {
        if pcm.is_empty() {
            return Ok(Vec::new());
        }
        let codes = (|| {
            let x = Tensor::from_slice(pcm, (1, 1, pcm.len()), &Device::Cpu)?;
            let m = StreamMask::empty();
            let xs = self.encoder.step(&StreamTensor::from_tensor(x), &m)?;
            let xs = step_one_at_a_time(&mut self.encoder_transformer, &xs, &m)?;
            let xs = self.downsample.step(&xs, &m)?;
            xs.as_option()
                .map(|xs| self.quantizer.encode(xs)?.to_vec3::<u32>())
                .transpose()
        })()
        .map_err(candle_err("Mimi encode_step"))?;
        // (1, codebooks, frames) -> [frame][codebook]
        let Some(mut by_book) = codes.and_then(|mut b| b.pop()) else {
            return Ok(Vec::new());
        };
        let frames = by_book.first().map_or(0, Vec::len);
        if by_book.len() != self.num_codebooks || by_book.iter().any(|b| b.len() != frames) {
            return Err(EngineError::Shape(format!(
                "candle Mimi encode_step gave {} codebooks, expected {}",
                by_book.len(),
                self.num_codebooks
            )));
        }
        let mut out = vec![Vec::with_capacity(self.num_codebooks); frames];
        for book in by_book.iter_mut() {
            for (frame, code) in out.iter_mut().zip(book.drain(..)) {
                frame.push(code);
            }
        }
        Ok(out)
    }

    fn decode_step(&mut self, codes: &[u32]) -> Result<Vec<f32>, EngineError> {
        let n = self.num_codebooks;
        if codes.len() != n {
            return Err(EngineError::Input(format!(
                "decode_step expects {n} codes, got {}",
                codes.len()
            )));
        }
        if let Some(c) = codes.iter().find(|&&c| c as usize >= self.bins) {
            return Err(EngineError::Input(format!(
                "code {c} out of range 0..{}",
                self.bins
            )));
        }
        let pcm = (|| {
            let m = StreamMask::empty();
            let c = Tensor::from_slice(codes, (1, n, 1), &Device::Cpu)?;
            let emb = StreamTensor::from_tensor(self.quantizer.decode(&c)?);
            let emb = self.upsample.step(&emb, &m)?;
            let out = step_one_at_a_time(&mut self.decoder_transformer, &emb, &m)?;
            let pcm = self.decoder.step(&out, &m)?;
            pcm.as_option()
                .map(|p| p.flatten_all()?.to_vec1::<f32>())
                .transpose()
        })()
        .map_err(candle_err("Mimi decode_step"))?;
        let pcm = pcm.unwrap_or_default();
        if pcm.len() != self.frame_size {
            return Err(EngineError::Shape(format!(
                "candle Mimi decode_step gave {} samples, expected {}",
                pcm.len(),
                self.frame_size
            )));
        }
        Ok(pcm)
    }

    fn reset(&mut self) {
        self.encoder.reset_state();
        self.encoder_transformer.reset_state();
        self.decoder.reset_state();
        self.decoder_transformer.reset_state();
        self.upsample.reset_state();
        self.downsample.reset_state();
    }

    fn num_codebooks(&self) -> usize {
        self.num_codebooks
    }

    fn frame_size(&self) -> usize {
        self.frame_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_config_is_kyutais_v0_1() {
        let ours = kyutai_config(&MimiConfig::v0_1(), 8);
        let theirs = mimi::Config::v0_1(Some(8));
        // The moshi crate's configs are not PartialEq; their Debug text lists every field.
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
    }

    #[test]
    fn candle_mimi_is_send() {
        fn send<T: Send>() {}
        send::<CandleMimi>();
    }
}
