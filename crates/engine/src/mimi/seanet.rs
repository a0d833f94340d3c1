//! The SEANet convolutional encoder (24 kHz audio -> 25 Hz latents) and its mirrored decoder.
//!
//! Loaded from the PyTorch `nn.Sequential` names: `encoder.model.N...` / `decoder.model.N...`,
//! where N counts every module of the sequence (ELUs included), so the indices are computed
//! from the config rather than hard-coded.

use super::config::SeanetConfig;
use super::conv::{elu, Conv1d, Pad, StreamConv1d, StreamConvTr1d, StreamingAdd};
use super::weights::Weights;
use crate::error::EngineError;
use mlx_rs::Array;

/// The shape of one conv of the SEANet.
#[derive(Clone, Copy)]
struct ConvSpec {
    in_ch: usize,
    out_ch: usize,
    k: usize,
    stride: usize,
    dilation: usize,
}

impl ConvSpec {
    /// A stride-1, undilated conv.
    fn plain(in_ch: usize, out_ch: usize, k: usize) -> Self {
        ConvSpec {
            in_ch,
            out_ch,
            k,
            stride: 1,
            dilation: 1,
        }
    }
}

/// Loads a `StreamableConv1d` stored as `{prefix}.conv.conv.{weight,bias}`.
fn load_conv(
    w: &mut Weights,
    prefix: &str,
    spec: ConvSpec,
    pad: Pad,
) -> Result<StreamConv1d, EngineError> {
    let weight = w.conv(
        &format!("{prefix}.conv.conv.weight"),
        spec.out_ch,
        spec.in_ch,
        spec.k,
    )?;
    let bias = w.get(&format!("{prefix}.conv.conv.bias"), &[spec.out_ch])?;
    let conv = Conv1d::new(weight, Some(bias), spec.stride, spec.dilation, 1);
    Ok(StreamConv1d::new(conv, pad))
}

/// A residual block: (ELU, conv k3 dim->dim/2, ELU, conv k1 -> dim) plus a skip.
struct ResBlock {
    convs: Vec<StreamConv1d>,
    /// A 1×1 conv when `true_skip` is off; identity otherwise.
    shortcut: Option<StreamConv1d>,
    add: StreamingAdd,
}

impl ResBlock {
    fn load(
        w: &mut Weights,
        prefix: &str,
        cfg: &SeanetConfig,
        dim: usize,
        dilation: usize,
    ) -> Result<Self, EngineError> {
        let pad = Pad::parse(&cfg.pad_mode)?;
        let hidden = dim / cfg.compress;
        let kd = [(cfg.residual_ksize, dilation), (1, 1)];
        let mut convs = Vec::with_capacity(kd.len());
        for (i, &(k, d)) in kd.iter().enumerate() {
            let in_ch = if i == 0 { dim } else { hidden };
            let out_ch = if i == kd.len() - 1 { dim } else { hidden };
            let name = format!("{prefix}.block.{}", 2 * i + 1);
            let spec = ConvSpec {
                in_ch,
                out_ch,
                k,
                stride: 1,
                dilation: d,
            };
            convs.push(load_conv(w, &name, spec, pad)?);
        }
        let shortcut = if cfg.true_skip {
            None
        } else {
            Some(load_conv(
                w,
                &format!("{prefix}.shortcut"),
                ConvSpec::plain(dim, dim, 1),
                pad,
            )?)
        };
        Ok(ResBlock {
            convs,
            shortcut,
            add: StreamingAdd::default(),
        })
    }

    fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        let mut y = x.clone();
        for c in &self.convs {
            y = c.forward(&elu(&y)?)?;
        }
        let skip = match &self.shortcut {
            Some(s) => s.forward(x)?,
            None => x.clone(),
        };
        Ok(y.add(&skip)?)
    }

    fn step(&mut self, x: &Array) -> Result<Array, EngineError> {
        let mut y = x.clone();
        for c in &mut self.convs {
            y = c.step(&elu(&y)?)?;
        }
        let skip = match &mut self.shortcut {
            Some(s) => s.step(x)?,
            None => x.clone(),
        };
        self.add.step(&y, &skip)
    }

    fn reset(&mut self) {
        self.convs.iter_mut().for_each(StreamConv1d::reset);
        if let Some(s) = &mut self.shortcut {
            s.reset();
        }
        self.add.reset();
    }
}

/// Dilations of the residual blocks of one layer: 1, base, base², ...
fn dilations(cfg: &SeanetConfig) -> Vec<usize> {
    let mut d = 1;
    (0..cfg.nresidual_layers)
        .map(|_| {
            let cur = d;
            d *= cfg.dilation_base;
            cur
        })
        .collect()
}

/// One encoder stage: residual blocks, then ELU and a strided conv doubling the channels.
struct EncoderLayer {
    residuals: Vec<ResBlock>,
    downsample: StreamConv1d,
}

/// The SEANet encoder: audio `(b, t, 1)` to latents `(b, t / hop, dimension)`.
pub(crate) struct SeanetEncoder {
    init: StreamConv1d,
    layers: Vec<EncoderLayer>,
    last: StreamConv1d,
}

impl SeanetEncoder {
    /// Loads `encoder.model.*`.
    pub(crate) fn load(w: &mut Weights, cfg: &SeanetConfig) -> Result<Self, EngineError> {
        let pad = Pad::parse(&cfg.pad_mode)?;
        let p = "encoder.model";
        let mut mult = 1;
        let spec = ConvSpec::plain(cfg.channels, cfg.nfilters, cfg.ksize);
        let init = load_conv(w, &format!("{p}.0"), spec, pad)?;
        let mut idx = 1;
        let mut layers = Vec::with_capacity(cfg.ratios.len());
        for &ratio in cfg.ratios.iter().rev() {
            let dim = mult * cfg.nfilters;
            let mut residuals = Vec::new();
            for d in dilations(cfg) {
                residuals.push(ResBlock::load(w, &format!("{p}.{idx}"), cfg, dim, d)?);
                idx += 1;
            }
            idx += 1; // ELU
            let spec = ConvSpec {
                in_ch: dim,
                out_ch: dim * 2,
                k: ratio * 2,
                stride: ratio,
                dilation: 1,
            };
            let downsample = load_conv(w, &format!("{p}.{idx}"), spec, pad)?;
            idx += 1;
            layers.push(EncoderLayer {
                residuals,
                downsample,
            });
            mult *= 2;
        }
        idx += 1; // ELU
        let spec = ConvSpec::plain(mult * cfg.nfilters, cfg.dimension, cfg.last_ksize);
        let last = load_conv(w, &format!("{p}.{idx}"), spec, pad)?;
        Ok(SeanetEncoder { init, layers, last })
    }

    /// Whole-signal encoding (stateless).
    pub(crate) fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        let mut x = self.init.forward(x)?;
        for l in &self.layers {
            for r in &l.residuals {
                x = r.forward(&x)?;
            }
            x = l.downsample.forward(&elu(&x)?)?;
        }
        self.last.forward(&elu(&x)?)
    }

    /// Streaming encoding of one chunk.
    pub(crate) fn step(&mut self, x: &Array) -> Result<Array, EngineError> {
        let mut x = self.init.step(x)?;
        for l in &mut self.layers {
            for r in &mut l.residuals {
                x = r.step(&x)?;
            }
            x = l.downsample.step(&elu(&x)?)?;
        }
        self.last.step(&elu(&x)?)
    }

    /// Forgets the streaming state.
    pub(crate) fn reset(&mut self) {
        self.init.reset();
        for l in &mut self.layers {
            l.residuals.iter_mut().for_each(ResBlock::reset);
            l.downsample.reset();
        }
        self.last.reset();
    }
}

/// One decoder stage: ELU and a transposed conv halving the channels, then residual blocks.
struct DecoderLayer {
    upsample: StreamConvTr1d,
    residuals: Vec<ResBlock>,
}

/// The SEANet decoder: latents `(b, t, dimension)` to audio `(b, t * hop, 1)`.
pub(crate) struct SeanetDecoder {
    init: StreamConv1d,
    layers: Vec<DecoderLayer>,
    last: StreamConv1d,
}

impl SeanetDecoder {
    /// Loads `decoder.model.*`.
    pub(crate) fn load(w: &mut Weights, cfg: &SeanetConfig) -> Result<Self, EngineError> {
        let pad = Pad::parse(&cfg.pad_mode)?;
        let p = "decoder.model";
        let mut mult = 1usize << cfg.ratios.len();
        let spec = ConvSpec::plain(cfg.dimension, mult * cfg.nfilters, cfg.ksize);
        let init = load_conv(w, &format!("{p}.0"), spec, pad)?;
        let mut idx = 1;
        let mut layers = Vec::with_capacity(cfg.ratios.len());
        for &ratio in &cfg.ratios {
            let dim = mult * cfg.nfilters;
            idx += 1; // ELU
            let name = format!("{p}.{idx}.convtr.convtr");
            let weight = w.convtr(&format!("{name}.weight"), dim, dim / 2, ratio * 2)?;
            let bias = w.get(&format!("{name}.bias"), &[dim / 2])?;
            let upsample = StreamConvTr1d::dense(weight, Some(bias), ratio * 2, ratio)?;
            idx += 1;
            let mut residuals = Vec::new();
            for d in dilations(cfg) {
                residuals.push(ResBlock::load(w, &format!("{p}.{idx}"), cfg, dim / 2, d)?);
                idx += 1;
            }
            layers.push(DecoderLayer {
                upsample,
                residuals,
            });
            mult /= 2;
        }
        idx += 1; // ELU
        let spec = ConvSpec::plain(cfg.nfilters, cfg.channels, cfg.last_ksize);
        let last = load_conv(w, &format!("{p}.{idx}"), spec, pad)?;
        Ok(SeanetDecoder { init, layers, last })
    }

    /// Whole-signal decoding (stateless).
    pub(crate) fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        let mut x = self.init.forward(x)?;
        for l in &self.layers {
            x = l.upsample.forward(&elu(&x)?)?;
            for r in &l.residuals {
                x = r.forward(&x)?;
            }
        }
        self.last.forward(&elu(&x)?)
    }

    /// Streaming decoding of one chunk.
    pub(crate) fn step(&mut self, x: &Array) -> Result<Array, EngineError> {
        let mut x = self.init.step(x)?;
        for l in &mut self.layers {
            x = l.upsample.step(&elu(&x)?)?;
            for r in &mut l.residuals {
                x = r.step(&x)?;
            }
        }
        self.last.step(&elu(&x)?)
    }

    /// Forgets the streaming state.
    pub(crate) fn reset(&mut self) {
        self.init.reset();
        for l in &mut self.layers {
            l.upsample.reset();
            l.residuals.iter_mut().for_each(ResBlock::reset);
        }
        self.last.reset();
    }
}
