//! Causal streamable convolutions (`StreamableConv1d`, `StreamableConvTranspose1d`).
//!
//! Activations are `(batch, time, channels)` (MLX's native layout) everywhere in Mimi, so time is
//! axis 1. Each conv has a stateless batch `forward` (the whole signal, padded like PyTorch's
//! `StreamableConv1d.forward`) and a stateful `step` that consumes chunks of any length and emits
//! exactly the samples the batch forward would have produced for them, so batch and streaming agree.

use crate::error::EngineError;
use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::ops::{self, PadMode};
use mlx_rs::Array;

/// How the SEANet pads the left edge of a causal conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pad {
    /// Zeros (the SEANet convs).
    Zeros,
    /// Replicates the first/last sample (the downsample conv).
    Edge,
}

impl Pad {
    /// Parses `constant` / `edge` as written in the config.
    pub(crate) fn parse(s: &str) -> Result<Self, EngineError> {
        match s {
            "constant" => Ok(Pad::Zeros),
            "edge" => Ok(Pad::Edge),
            other => Err(EngineError::Config(format!("unknown pad mode `{other}`"))),
        }
    }
}

/// Length of the time axis.
pub(crate) fn time_len(x: &Array) -> usize {
    x.shape().get(1).map_or(0, |&t| t.max(0) as usize)
}

/// `x[:, start..end, :]`.
pub(crate) fn slice_time(x: &Array, start: usize, end: usize) -> Result<Array, EngineError> {
    Ok(x.try_index((.., start as i32..end as i32, ..))?)
}

/// Concatenates along time, skipping a missing head.
pub(crate) fn cat_time(head: Option<&Array>, tail: &Array) -> Result<Array, EngineError> {
    match head {
        Some(h) if time_len(h) > 0 => Ok(ops::concatenate(&[h, tail], 1)?),
        _ => Ok(tail.clone()),
    }
}

/// Pads the time axis.
pub(crate) fn pad_time(
    x: &Array,
    left: usize,
    right: usize,
    mode: Pad,
) -> Result<Array, EngineError> {
    if left == 0 && right == 0 {
        return Ok(x.clone());
    }
    let widths = [(0, 0), (left as i32, right as i32), (0, 0)];
    let mode = match mode {
        Pad::Zeros => PadMode::Constant,
        Pad::Edge => PadMode::Edge,
    };
    Ok(ops::pad(x, &widths, None, mode)?)
}

/// An empty `(batch, 0, channels)` array, the output of a step that completed no frame.
pub(crate) fn empty(batch: i32, channels: usize) -> Result<Array, EngineError> {
    Ok(ops::zeros::<f32>(&[batch, 0, channels as i32])?)
}

/// A plain 1-D convolution with an optional bias (weights already in MLX layout).
pub(crate) struct Conv1d {
    /// `(out, k, in / groups)`.
    weight: Array,
    bias: Option<Array>,
    stride: usize,
    dilation: usize,
    groups: usize,
}

impl Conv1d {
    /// Wraps loaded weights.
    pub(crate) fn new(
        weight: Array,
        bias: Option<Array>,
        stride: usize,
        dilation: usize,
        groups: usize,
    ) -> Self {
        Conv1d {
            weight,
            bias,
            stride,
            dilation,
            groups,
        }
    }

    /// Output channels.
    pub(crate) fn out_channels(&self) -> usize {
        self.weight.shape()[0] as usize
    }

    /// Kernel size.
    pub(crate) fn ksize(&self) -> usize {
        self.weight.shape()[1] as usize
    }

    /// Unpadded convolution of `(b, t, in)`.
    pub(crate) fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        let y = ops::conv1d(
            x,
            &self.weight,
            self.stride as i32,
            0,
            self.dilation as i32,
            self.groups as i32,
        )?;
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }
}

/// PyTorch/moshi `StreamableConv1d` (causal): left padding `k_eff - stride`, extra right padding
/// in batch mode to complete the last frame, and a tail buffer when streaming.
pub(crate) struct StreamConv1d {
    conv: Conv1d,
    pad: Pad,
    /// Unconsumed input kept between steps.
    prev: Option<Array>,
    left_pad_applied: bool,
}

impl StreamConv1d {
    /// Wraps a conv with its padding mode.
    pub(crate) fn new(conv: Conv1d, pad: Pad) -> Self {
        StreamConv1d {
            conv,
            pad,
            prev: None,
            left_pad_applied: false,
        }
    }

    fn k_eff(&self) -> usize {
        (self.conv.ksize() - 1) * self.conv.dilation + 1
    }

    /// Whole-signal forward, independent of the streaming state.
    pub(crate) fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        let k = self.k_eff();
        let s = self.conv.stride;
        let pad_total = k - s;
        let len = time_len(x);
        // Same arithmetic as moshi's `get_extra_padding_for_conv1d`.
        let n_frames = ((len + pad_total).saturating_sub(k)) as f64 / s as f64 + 1.0;
        let ideal = (n_frames.ceil() as usize - 1) * s + k - pad_total;
        let extra = ideal.saturating_sub(len);
        let x = pad_time(x, pad_total, extra, self.pad)?;
        self.conv.forward(&x)
    }

    /// Consumes a chunk and returns the frames it completed (possibly none).
    pub(crate) fn step(&mut self, x: &Array) -> Result<Array, EngineError> {
        let batch = x.shape()[0];
        if time_len(x) == 0 {
            return empty(batch, self.conv.out_channels());
        }
        let k = self.k_eff();
        let s = self.conv.stride;
        let mut x = x.clone();
        if !self.left_pad_applied {
            self.left_pad_applied = true;
            x = pad_time(&x, k - s, 0, self.pad)?;
        }
        let x = cat_time(self.prev.as_ref(), &x)?;
        let len = time_len(&x);
        let n_frames = (len + s).saturating_sub(k) / s;
        if n_frames == 0 {
            self.prev = Some(x);
            return empty(batch, self.conv.out_channels());
        }
        let offset = n_frames * s;
        self.prev = Some(slice_time(&x, offset, len)?);
        let used = (n_frames - 1) * s + k;
        self.conv.forward(&slice_time(&x, 0, used)?)
    }

    /// Forgets the streaming state.
    pub(crate) fn reset(&mut self) {
        self.prev = None;
        self.left_pad_applied = false;
    }
}

/// The kernel of a transposed conv: dense (SEANet decoder) or depthwise (the upsample).
///
/// Both are applied as a matmul (or per-channel product) followed by an overlap-add of the
/// `k / stride` output blocks: MLX's CPU `conv_transpose1d` is several times slower than that,
/// and MLX has no grouped transposed conv.
enum ConvTrKernel {
    /// `(in, k * out)`: one matmul gives every tap's contribution.
    Dense(Array),
    /// Per-channel taps `(k, channels)`.
    Depthwise(Array),
}

/// PyTorch/moshi `StreamableConvTranspose1d` (causal): trims `k - stride` samples on the right in
/// batch mode; when streaming, holds them back and overlap-adds them (minus the bias) next step.
pub(crate) struct StreamConvTr1d {
    kernel: ConvTrKernel,
    bias: Option<Array>,
    ksize: usize,
    stride: usize,
    out_channels: usize,
    /// The partial outputs held back for the next step.
    prev: Option<Array>,
}

impl StreamConvTr1d {
    /// A dense transposed conv from its `(in, k * out)` matrix (see [`super::weights`]).
    pub(crate) fn dense(
        matrix: Array,
        bias: Option<Array>,
        ksize: usize,
        stride: usize,
    ) -> Result<Self, EngineError> {
        let out_channels = matrix.shape()[1] as usize / ksize.max(1);
        if stride == 0 || !ksize.is_multiple_of(stride) {
            return Err(EngineError::Config(format!(
                "transposed conv needs a kernel ({ksize}) multiple of its stride ({stride})"
            )));
        }
        Ok(StreamConvTr1d {
            kernel: ConvTrKernel::Dense(matrix),
            bias,
            ksize,
            stride,
            out_channels,
            prev: None,
        })
    }

    /// A depthwise transposed conv with taps `(k, channels)`.
    pub(crate) fn depthwise(
        taps: Array,
        bias: Option<Array>,
        stride: usize,
    ) -> Result<Self, EngineError> {
        let ksize = taps.shape()[0] as usize;
        let out_channels = taps.shape()[1] as usize;
        if stride == 0 || !ksize.is_multiple_of(stride) {
            return Err(EngineError::Config(format!(
                "depthwise transposed conv needs a kernel ({ksize}) multiple of its stride ({stride})"
            )));
        }
        Ok(StreamConvTr1d {
            kernel: ConvTrKernel::Depthwise(taps),
            bias,
            ksize,
            stride,
            out_channels,
            prev: None,
        })
    }

    /// The raw transposed conv: `(t - 1) * stride + k` outputs, bias included.
    fn convtr(&self, x: &Array) -> Result<Array, EngineError> {
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let c = self.out_channels as i32;
        let s = self.stride as i32;
        let m = (self.ksize / self.stride) as i32;
        // prod[b, t, j, c] = contribution of input step t to output t*s + j.
        let prod = match &self.kernel {
            ConvTrKernel::Dense(w) => ops::matmul(x, w)?,
            ConvTrKernel::Depthwise(taps) => x.expand_dims(2)?.multiply(taps)?,
        };
        let prod = prod.reshape(&[b, t, m, s, c])?;
        // Tap block i (taps i*s .. (i+1)*s) lands shifted by i*s.
        let mut acc: Option<Array> = None;
        for i in 0..m {
            let block = prod
                .try_index((.., .., i, .., ..))?
                .reshape(&[b, t * s, c])?;
            let block = pad_time(
                &block,
                (i * s) as usize,
                ((m - 1 - i) * s) as usize,
                Pad::Zeros,
            )?;
            acc = Some(match acc {
                Some(a) => a.add(&block)?,
                None => block,
            });
        }
        let y = acc.ok_or_else(|| EngineError::Config("empty transposed conv kernel".into()))?;
        Ok(match &self.bias {
            Some(bias) => y.add(bias)?,
            None => y,
        })
    }

    /// Whole-signal forward, independent of the streaming state.
    pub(crate) fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        let y = self.convtr(x)?;
        let trim = self.ksize.saturating_sub(self.stride);
        let len = time_len(&y);
        slice_time(&y, 0, len - trim)
    }

    /// Consumes a chunk and returns the outputs that are final.
    pub(crate) fn step(&mut self, x: &Array) -> Result<Array, EngineError> {
        let batch = x.shape()[0];
        if time_len(x) == 0 {
            return empty(batch, self.out_channels);
        }
        let mut y = self.convtr(x)?;
        let len = time_len(&y);
        if let Some(prev) = self.prev.take() {
            let pt = time_len(&prev);
            let prev = match &self.bias {
                Some(bias) => prev.subtract(bias)?,
                None => prev,
            };
            let head = slice_time(&y, 0, pt)?.add(&prev)?;
            y = cat_time(Some(&head), &slice_time(&y, pt, len)?)?;
        }
        let invalid = self.ksize - self.stride;
        self.prev = Some(slice_time(&y, len - invalid, len)?);
        slice_time(&y, 0, len - invalid)
    }

    /// Forgets the streaming state.
    pub(crate) fn reset(&mut self) {
        self.prev = None;
    }
}

/// ELU with alpha 1: `x > 0 ? x : exp(x) - 1`.
pub(crate) fn elu(x: &Array) -> Result<Array, EngineError> {
    let neg = ops::exp(x)?.subtract(Array::from_f32(1.0))?;
    Ok(ops::select(&x.gt(Array::from_f32(0.0))?, x, &neg)?)
}

/// Adds two streams whose chunks may have different lengths, carrying the excess over
/// (moshi's `StreamingAdd`); the residual branches of the SEANet use it when streaming.
#[derive(Default)]
pub(crate) struct StreamingAdd {
    lhs: Option<Array>,
    rhs: Option<Array>,
}

impl StreamingAdd {
    /// Adds the common prefix and keeps the rest of the longer side.
    pub(crate) fn step(&mut self, lhs: &Array, rhs: &Array) -> Result<Array, EngineError> {
        let lhs = cat_time(self.lhs.take().as_ref(), lhs)?;
        let rhs = cat_time(self.rhs.take().as_ref(), rhs)?;
        let (l, r) = (time_len(&lhs), time_len(&rhs));
        if l == r {
            Ok(lhs.add(&rhs)?)
        } else if l < r {
            self.rhs = Some(slice_time(&rhs, l, r)?);
            Ok(lhs.add(&slice_time(&rhs, 0, l)?)?)
        } else {
            self.lhs = Some(slice_time(&lhs, r, l)?);
            Ok(slice_time(&lhs, 0, r)?.add(&rhs)?)
        }
    }

    /// Forgets the carried samples.
    pub(crate) fn reset(&mut self) {
        self.lhs = None;
        self.rhs = None;
    }
}
