//! Moshi's transformer stack (`moshi_mlx/modules/transformer.py`): pre-norm layers with
//! RMSNorm (eps 1e-8), packed `in_proj` attention with interleaved ("traditional") RoPE, and a
//! SiLU-gated MLP; no biases, no layer scale.

use super::kv::KvCache;
use crate::config::TransformerConfig;
use crate::error::EngineError;
use crate::nn::{CpuSplit, Matrix, RmsNorm, SplitMatrix, WeightFormat};
use crate::weights::WeightStore;
use mlx_rs::Array;

struct Attention {
    in_proj: SplitMatrix,
    out_proj: SplitMatrix,
    heads: i32,
    head_dim: i32,
    rope_base: Option<f32>,
    scale: f32,
}

impl Attention {
    fn forward(&self, x: &Array, cache: &mut KvCache) -> Result<Array, EngineError> {
        let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let qkv = self
            .in_proj
            .linear(x)?
            .reshape(&[b, t, 3, self.heads, self.head_dim])?;
        let parts = mlx_rs::ops::split_equal(&qkv, 3, 2)?;
        let pick = |i: usize| -> Result<Array, EngineError> {
            Ok(parts[i]
                .reshape(&[b, t, self.heads, self.head_dim])?
                .transpose_axes(&[0, 2, 1, 3])?)
        };
        let (mut q, mut k, v) = (pick(0)?, pick(1)?, pick(2)?);
        if let Some(base) = self.rope_base {
            let offset = cache.offset() as i32;
            q = mlx_rs::fast::rope(&q, self.head_dim, true, base, 1.0, offset, None)?;
            k = mlx_rs::fast::rope(&k, self.head_dim, true, base, 1.0, offset, None)?;
        }
        let (keys, values) = cache.update(&k, &v)?;
        let y =
            mlx_rs::fast::scaled_dot_product_attention(&q, &keys, &values, self.scale, None, None)?;
        let y = y.transpose_axes(&[0, 2, 1, 3])?.reshape(&[b, t, d])?;
        self.out_proj.linear(&y)
    }
}

struct Layer {
    norm1: RmsNorm,
    norm2: RmsNorm,
    attn: Attention,
    gate_in: SplitMatrix,
    gate_out: SplitMatrix,
    hidden: i32,
}

impl Layer {
    fn forward(&self, x: &Array, cache: &mut KvCache) -> Result<Array, EngineError> {
        let h = self.attn.forward(&self.norm1.forward(x)?, cache)?;
        let x = x.add(&h)?;
        let g = self.gate_in.linear(&self.norm2.forward(&x)?)?;
        let (b, t) = (g.shape()[0], g.shape()[1]);
        let g = g.reshape(&[b, t, 2, self.hidden])?;
        let parts = mlx_rs::ops::split_equal(&g, 2, 2)?;
        let a = parts[0].reshape(&[b, t, self.hidden])?;
        let c = parts[1].reshape(&[b, t, self.hidden])?;
        let silu = a.multiply(mlx_rs::ops::sigmoid(&a)?)?;
        let y = self.gate_out.linear(&silu.multiply(&c)?)?;
        Ok(x.add(&y)?)
    }
}

/// A stack of layers with its configuration.
pub struct Transformer {
    layers: Vec<Layer>,
    cfg: TransformerConfig,
}

impl Transformer {
    /// Loads `{prefix}.layers.{i}.*`.
    pub fn load(
        ws: &mut WeightStore,
        prefix: &str,
        cfg: &TransformerConfig,
        fmt: WeightFormat,
        split: &CpuSplit,
    ) -> Result<Transformer, EngineError> {
        let d = cfg.d_model;
        let hidden = cfg.gating_hidden();
        let mut layers = Vec::with_capacity(cfg.num_layers);
        let m = |ws: &mut WeightStore, name: String, out: usize, inp: usize| {
            SplitMatrix::new(Matrix::load(ws, &name, out, inp, fmt)?, split)
        };
        for i in 0..cfg.num_layers {
            let p = format!("{prefix}.layers.{i}");
            layers.push(Layer {
                norm1: RmsNorm::load(ws, &format!("{p}.norm1"), d, fmt)?,
                norm2: RmsNorm::load(ws, &format!("{p}.norm2"), d, fmt)?,
                attn: Attention {
                    in_proj: m(ws, format!("{p}.self_attn.in_proj"), 3 * d, d)?,
                    out_proj: m(ws, format!("{p}.self_attn.out_proj"), d, d)?,
                    heads: cfg.num_heads as i32,
                    head_dim: cfg.head_dim() as i32,
                    rope_base: cfg.rope().then_some(cfg.max_period as f32),
                    scale: (cfg.head_dim() as f32).powf(-0.5),
                },
                gate_in: m(ws, format!("{p}.gating.linear_in"), 2 * hidden, d)?,
                gate_out: m(ws, format!("{p}.gating.linear_out"), d, hidden)?,
                hidden: hidden as i32,
            });
        }
        Ok(Transformer {
            layers,
            cfg: cfg.clone(),
        })
    }

    /// Re-splits every matrix for `split` (see [`CpuSplit`]).
    pub fn set_cpu_split(&mut self, split: &CpuSplit) -> Result<(), EngineError> {
        for l in &mut self.layers {
            for m in [
                &mut l.attn.in_proj,
                &mut l.attn.out_proj,
                &mut l.gate_in,
                &mut l.gate_out,
            ] {
                m.resplit(split)?;
            }
        }
        Ok(())
    }

    /// One KV ring per layer (main transformer).
    pub fn ring_caches(&self) -> Vec<KvCache> {
        (0..self.layers.len())
            .map(|_| KvCache::ring(self.cfg.context))
            .collect()
    }

    /// One growing cache per layer (depformer).
    pub fn growing_caches(&self) -> Vec<KvCache> {
        (0..self.layers.len())
            .map(|_| KvCache::growing(self.cfg.context))
            .collect()
    }

    /// Runs `x` `(b, 1, d)` through every layer, appending to `caches`.
    pub fn forward(&self, x: &Array, caches: &mut [KvCache]) -> Result<Array, EngineError> {
        if caches.len() != self.layers.len() {
            return Err(EngineError::Shape(format!(
                "{} caches for {} layers",
                caches.len(),
                self.layers.len()
            )));
        }
        let mut x = x.clone();
        for (layer, cache) in self.layers.iter().zip(caches.iter_mut()) {
            x = layer.forward(&x, cache)?;
        }
        Ok(x)
    }
}

impl Transformer {
    /// Materializes every layer's parameters.
    pub fn eval_params(&self) -> Result<(), EngineError> {
        for l in &self.layers {
            let mut arrays: Vec<&Array> = vec![l.norm1.weight(), l.norm2.weight()];
            for m in [&l.attn.in_proj, &l.attn.out_proj, &l.gate_in, &l.gate_out] {
                arrays.extend(m.matrix().arrays());
            }
            mlx_rs::transforms::eval(arrays)?;
        }
        Ok(())
    }
}
