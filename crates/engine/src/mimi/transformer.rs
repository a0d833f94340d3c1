//! The Mimi encoder/decoder transformers with candle semantics: causal + context mask, exact erf
//! GELU, and a bounded key/value cache.
//!
//! `moshi_mlx` ships these transformers without a mask (bidirectional inside each call) and with
//! tanh GELU; candle/rustymimi and PyTorch mask, which is what makes batch and streaming agree.
//! A query at absolute step `q` sees keys `q - context ..= q`, so the cache keeps the last
//! `context` steps (a ring of 250) and each call attends over cache + new keys.

use super::config::TransformerConfig;
use super::weights::Weights;
use crate::error::EngineError;
use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::ops::{self};
use mlx_rs::{fast, Array};

/// `x @ w.T (+ b)`.
struct Linear {
    weight: Array,
    bias: Option<Array>,
}

impl Linear {
    fn load(
        w: &mut Weights,
        weight: &str,
        bias: Option<&str>,
        out_d: usize,
        in_d: usize,
    ) -> Result<Self, EngineError> {
        let weight = w.get(weight, &[out_d, in_d])?;
        let bias = match bias {
            Some(b) => Some(w.get(b, &[out_d])?),
            None => None,
        };
        Ok(Linear { weight, bias })
    }

    fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        let y = ops::matmul(x, &self.weight.transpose()?)?;
        Ok(match &self.bias {
            Some(b) => y.add(b)?,
            None => y,
        })
    }
}

/// LayerNorm with weight and bias, eps 1e-5.
struct LayerNorm {
    weight: Array,
    bias: Array,
}

impl LayerNorm {
    fn load(w: &mut Weights, prefix: &str, d: usize) -> Result<Self, EngineError> {
        Ok(LayerNorm {
            weight: w.get(&format!("{prefix}.weight"), &[d])?,
            bias: w.get(&format!("{prefix}.bias"), &[d])?,
        })
    }

    fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        Ok(fast::layer_norm(x, &self.weight, &self.bias, 1e-5)?)
    }
}

/// The exact GELU, `x * (1 + erf(x / sqrt 2)) / 2` (candle's `gelu_erf`).
fn gelu_erf(x: &Array) -> Result<Array, EngineError> {
    let e = ops::erf(x.divide(Array::from_f32(std::f32::consts::SQRT_2))?)?;
    Ok(x.multiply(e.add(Array::from_f32(1.0))?)?
        .divide(Array::from_f32(2.0))?)
}

/// Keys/values of the last `context` steps of one layer, already rotated (RoPE).
#[derive(Default)]
pub(crate) struct LayerCache {
    /// `(b, heads, len, head_dim)` with `len <= context`.
    k: Option<Array>,
    v: Option<Array>,
    /// Absolute position of the next step (the RoPE offset).
    pos: usize,
}

impl LayerCache {
    fn len(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.shape()[2].max(0) as usize)
    }
}

/// The streaming state of a whole transformer: one [`LayerCache`] per layer.
pub(crate) struct TransformerCache {
    layers: Vec<LayerCache>,
}

impl TransformerCache {
    /// Forgets every key and value and restarts positions at 0.
    pub(crate) fn reset(&mut self) {
        self.layers
            .iter_mut()
            .for_each(|c| *c = LayerCache::default());
    }

    /// The steps currently held by the first layer (bounded by the context).
    pub(crate) fn held_steps(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }
}

struct Attention {
    in_proj: Linear,
    out_proj: Linear,
    heads: usize,
    head_dim: usize,
    context: usize,
    rope_base: Option<f32>,
}

impl Attention {
    fn forward(&self, x: &Array, cache: &mut LayerCache) -> Result<Array, EngineError> {
        let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let (h, hd) = (self.heads as i32, self.head_dim as i32);
        let qkv = self.in_proj.forward(x)?.reshape(&[b, t, 3, h, hd])?;
        let q = qkv.try_index((.., .., 0))?.transpose_axes(&[0, 2, 1, 3])?;
        let k = qkv.try_index((.., .., 1))?.transpose_axes(&[0, 2, 1, 3])?;
        let v = qkv.try_index((.., .., 2))?.transpose_axes(&[0, 2, 1, 3])?;
        let pos = cache.pos;
        let (q, k) = match self.rope_base {
            Some(base) => (
                fast::rope(&q, hd, true, base, 1.0, pos as i32, None)?,
                fast::rope(&k, hd, true, base, 1.0, pos as i32, None)?,
            ),
            None => (q, k),
        };
        let held = cache.len();
        let (k, v) = match (cache.k.take(), cache.v.take()) {
            (Some(ck), Some(cv)) => (
                ops::concatenate(&[&ck, &k], 2)?,
                ops::concatenate(&[&cv, &v], 2)?,
            ),
            _ => (k, v),
        };
        let total = held + t as usize;
        let scale = (self.head_dim as f32).powf(-0.5);
        let out = if t > 1 {
            // Key j sits at absolute step pos - held + j, query i at pos + i.
            let mut keep = Vec::with_capacity(t as usize * total);
            for i in 0..t as usize {
                let qp = held + i;
                for kp in 0..total {
                    keep.push(kp <= qp && kp + self.context >= qp);
                }
            }
            let mask = Array::from_slice(&keep, &[t, total as i32]);
            fast::scaled_dot_product_attention(&q, &k, &v, scale, &mask, None)?
        } else {
            fast::scaled_dot_product_attention(&q, &k, &v, scale, None, None)?
        };
        let keep_from = total.saturating_sub(self.context);
        cache.k = Some(k.try_index((.., .., keep_from as i32.., ..))?);
        cache.v = Some(v.try_index((.., .., keep_from as i32.., ..))?);
        cache.pos = pos + t as usize;
        let out = out.transpose_axes(&[0, 2, 1, 3])?.reshape(&[b, t, d])?;
        self.out_proj.forward(&out)
    }
}

struct Layer {
    norm1: LayerNorm,
    attn: Attention,
    scale1: Option<Array>,
    norm2: LayerNorm,
    linear1: Linear,
    linear2: Linear,
    scale2: Option<Array>,
}

impl Layer {
    fn load(w: &mut Weights, p: &str, cfg: &TransformerConfig) -> Result<Self, EngineError> {
        let d = cfg.d_model;
        let ff = cfg.dim_feedforward;
        let opt = |on: bool, name: String| on.then_some(name);
        let in_bias = opt(cfg.bias_attn, format!("{p}.self_attn.in_proj_bias"));
        let out_bias = opt(cfg.bias_attn, format!("{p}.self_attn.out_proj.bias"));
        let attn = Attention {
            in_proj: Linear::load(
                w,
                &format!("{p}.self_attn.in_proj_weight"),
                in_bias.as_deref(),
                3 * d,
                d,
            )?,
            out_proj: Linear::load(
                w,
                &format!("{p}.self_attn.out_proj.weight"),
                out_bias.as_deref(),
                d,
                d,
            )?,
            heads: cfg.num_heads,
            head_dim: d / cfg.num_heads,
            context: cfg.context,
            rope_base: (cfg.positional_embedding == "rope").then_some(cfg.max_period as f32),
        };
        let (scale1, scale2) = if cfg.layer_scale.is_some() {
            (
                Some(w.get(&format!("{p}.layer_scale_1.scale"), &[d])?),
                Some(w.get(&format!("{p}.layer_scale_2.scale"), &[d])?),
            )
        } else {
            (None, None)
        };
        let b1 = opt(cfg.bias_ff, format!("{p}.linear1.bias"));
        let b2 = opt(cfg.bias_ff, format!("{p}.linear2.bias"));
        Ok(Layer {
            norm1: LayerNorm::load(w, &format!("{p}.norm1"), d)?,
            attn,
            scale1,
            norm2: LayerNorm::load(w, &format!("{p}.norm2"), d)?,
            linear1: Linear::load(w, &format!("{p}.linear1.weight"), b1.as_deref(), ff, d)?,
            linear2: Linear::load(w, &format!("{p}.linear2.weight"), b2.as_deref(), d, ff)?,
            scale2,
        })
    }

    fn forward(&self, x: &Array, cache: &mut LayerCache) -> Result<Array, EngineError> {
        let a = self.attn.forward(&self.norm1.forward(x)?, cache)?;
        let a = match &self.scale1 {
            Some(s) => a.multiply(s)?,
            None => a,
        };
        let x = x.add(&a)?;
        let m = self
            .linear2
            .forward(&gelu_erf(&self.linear1.forward(&self.norm2.forward(&x)?)?)?)?;
        let m = match &self.scale2 {
            Some(s) => m.multiply(s)?,
            None => m,
        };
        Ok(x.add(&m)?)
    }
}

/// A pre-norm transformer over `(b, t, d_model)` (Mimi's `ProjectedTransformer` without
/// projections, since its input and output widths equal `d_model`).
pub(crate) struct Transformer {
    layers: Vec<Layer>,
}

impl Transformer {
    /// Loads `{prefix}.transformer.layers.N.*` (PyTorch names).
    pub(crate) fn load(
        w: &mut Weights,
        prefix: &str,
        cfg: &TransformerConfig,
    ) -> Result<Self, EngineError> {
        let layers = (0..cfg.num_layers)
            .map(|i| Layer::load(w, &format!("{prefix}.transformer.layers.{i}"), cfg))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Transformer { layers })
    }

    /// A fresh (empty) streaming state.
    pub(crate) fn new_cache(&self) -> TransformerCache {
        TransformerCache {
            layers: self.layers.iter().map(|_| LayerCache::default()).collect(),
        }
    }

    /// Runs `t` new steps, attending to what `cache` holds, and appends them to it.
    pub(crate) fn forward(
        &self,
        x: &Array,
        cache: &mut TransformerCache,
    ) -> Result<Array, EngineError> {
        if x.shape().get(1).copied().unwrap_or(0) == 0 {
            return Ok(x.clone());
        }
        let mut x = x.clone();
        for (layer, c) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = layer.forward(&x, c)?;
        }
        Ok(x)
    }
}
