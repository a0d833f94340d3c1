//! Kyutai's candle Mimi (the `moshi` crate, CPU), used exactly as rustymimi's `Tokenizer`
//! uses it: the checkpoint's PyTorch names through a `VarBuilder` in f32 on the CPU,
//! `Mimi::encode_step` / `decode_step` on `(1, 1, samples)` and `(1, codebooks, 1)` tensors
//! with an empty stream mask, `reset_state` between conversations.

use super::MimiCodec;
use crate::error::EngineError;
use crate::mimi::MimiConfig;
use moshi::candle::{DType, Device, Tensor};
use moshi::candle_nn::{Activation, VarBuilder};
use moshi::{conv, mimi, seanet, transformer, NormType, StreamMask, StreamTensor};
use std::collections::HashMap;
use std::path::Path;

/// Kyutai's Mimi on the CPU, with its streaming state.
///
/// `Send`: the tensors are plain CPU buffers, so it can be loaded on one thread and run on
/// another (the pipelined frame runs it on its Mimi thread).
pub struct CandleMimi {
    mimi: mimi::Mimi,
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
        let mimi = mimi::Mimi::new(kyutai_config(cfg, num_codebooks), vb)
            .map_err(candle_err("building Mimi"))?;
        Ok(CandleMimi {
            mimi,
            num_codebooks,
            frame_size: cfg.frame_size(),
            bins: cfg.quantizer_bins,
        })
    }
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
            let codes = self
                .mimi
                .encode_step(&StreamTensor::from_tensor(x), &StreamMask::empty())?;
            codes.as_option().map(|c| c.to_vec3::<u32>()).transpose()
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
            let c = Tensor::from_slice(codes, (1, n, 1), &Device::Cpu)?;
            let pcm = self
                .mimi
                .decode_step(&StreamTensor::from_tensor(c), &StreamMask::empty())?;
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
        self.mimi.reset_state();
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
