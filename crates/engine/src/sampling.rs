//! Token samplers, as `moshi_mlx/utils/sampling.py` `Sampler`: argmax at temperature 0,
//! otherwise top-k if set, else top-p, else plain categorical, drawing from MLX's
//! threefry PRNG so a seeded run follows the same random sequence as `moshi_mlx` on the same
//! backend (one `categorical` per text sample and per depformer slice).

use crate::error::EngineError;
use mlx_rs::random::RandomState;
use mlx_rs::{Array, Dtype};
use serde::{Deserialize, Serialize};

/// How to pick a token from logits. `Default` is `moshi_mlx/local.py`'s `Sampler()`:
/// temperature 0.8, top-p 0.95.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sampler {
    /// 0 = argmax. (f64 like Python floats, so derived constants round the same way.)
    pub temp: f64,
    /// Nucleus threshold (used when `top_k` is unset and 0 < top_p < 1).
    pub top_p: f64,
    /// Keep the k most likely tokens (takes precedence over top-p).
    pub top_k: Option<u32>,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler {
            temp: 0.8,
            top_p: 0.95,
            top_k: None,
        }
    }
}

impl Sampler {
    /// Greedy decoding.
    pub const ARGMAX: Sampler = Sampler {
        temp: 0.0,
        top_p: 0.95,
        top_k: None,
    };

    /// Picks a token from `logits` `(..., vocab)`; returns int32 ids of shape `(...)`, lazily.
    pub fn sample(&self, logits: &Array, rng: &mut RandomState) -> Result<Array, EngineError> {
        let token = if self.temp == 0.0 {
            mlx_rs::ops::indexing::argmax_axis(logits, -1, None)?
        } else {
            let inv_t = scalar(1.0 / self.temp, logits.dtype())?;
            match self.top_k {
                Some(k) if k > 0 && (k as i32) < last_dim(logits) => {
                    top_k(logits, k as i32, &inv_t, rng)?
                }
                _ if self.top_p > 0.0 && self.top_p < 1.0 => {
                    top_p(logits, self.top_p, &inv_t, rng)?
                }
                _ => {
                    let key = rng.next_key()?;
                    mlx_rs::random::categorical(logits.multiply(&inv_t)?, -1, None, &key)?
                }
            }
        };
        Ok(token.as_dtype(Dtype::Int32)?)
    }
}

/// A scalar in `dtype`, as MLX's weakly typed Python scalars behave.
fn scalar(v: f64, dtype: Dtype) -> Result<Array, EngineError> {
    Ok(Array::from_f32(v as f32).as_dtype(dtype)?)
}

fn last_dim(a: &Array) -> i32 {
    a.shape().last().copied().unwrap_or(0)
}

/// `top_p_sampling`: sort by probability, keep the tail whose cumulative mass exceeds
/// 1 − top_p, sample among it.
fn top_p(
    logits: &Array,
    p: f64,
    inv_t: &Array,
    rng: &mut RandomState,
) -> Result<Array, EngineError> {
    let probs = mlx_rs::ops::softmax_axis(logits.multiply(inv_t)?, -1, None)?;
    let sorted_idx = mlx_rs::ops::argsort_axis(&probs, -1)?;
    let sorted = probs.take_along_axis(&sorted_idx, -1)?;
    let cum = mlx_rs::ops::cumsum(&sorted, -1, None, None)?;
    let thresh = scalar(1.0 - p, probs.dtype())?;
    let keep = mlx_rs::ops::select(cum.gt(&thresh)?, &sorted, scalar(0.0, sorted.dtype())?)?;
    let key = rng.next_key()?;
    let choice = mlx_rs::random::categorical(mlx_rs::ops::log(&keep)?, -1, None, &key)?;
    let choice = mlx_rs::ops::expand_dims(&choice, -1)?;
    let tok = sorted_idx.take_along_axis(&choice, -1)?;
    Ok(tok.squeeze_axes(&[-1])?)
}

/// `top_k_sampling`: mask everything but the k largest scaled logits, sample.
fn top_k(
    logits: &Array,
    k: i32,
    inv_t: &Array,
    rng: &mut RandomState,
) -> Result<Array, EngineError> {
    use mlx_rs::ops::indexing::TryIndexOp;
    let scaled = logits.multiply(inv_t)?;
    let part = mlx_rs::ops::argpartition_axis(scaled.negative()?, k - 1, -1)?;
    let nd = part.ndim();
    let mask_idx = match nd {
        1 => part.try_index(k..)?,
        2 => part.try_index((.., k..))?,
        3 => part.try_index((.., .., k..))?,
        _ => return Err(EngineError::Shape(format!("logits of rank {nd}"))),
    };
    let neg_inf = Array::from_f32(f32::NEG_INFINITY).as_dtype(scaled.dtype())?;
    let neg = mlx_rs::ops::broadcast_to(&neg_inf, mask_idx.shape())?;
    let masked = scaled.put_along_axis(&mask_idx, &neg, -1)?;
    let key = rng.next_key()?;
    Ok(mlx_rs::random::categorical(&masked, -1, None, &key)?)
}

/// Sampling settings of a session: one sampler for text, one for audio, and the PRNG seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamplingConfig {
    /// Text token sampler.
    pub text: Sampler,
    /// Depformer (audio) sampler.
    pub audio: Sampler,
    /// `mx.random.seed` equivalent (moshi_mlx's server uses 299792458).
    pub seed: u64,
}

impl Default for SamplingConfig {
    /// `moshi_mlx/local.py`: `Sampler()` for both streams, seed 299792458.
    fn default() -> Self {
        SamplingConfig {
            text: Sampler::default(),
            audio: Sampler::default(),
            seed: 299_792_458,
        }
    }
}

impl SamplingConfig {
    /// Greedy text and audio (deterministic; what the parity checks use).
    pub fn argmax() -> Self {
        SamplingConfig {
            text: Sampler::ARGMAX,
            audio: Sampler::ARGMAX,
            seed: 0,
        }
    }
}
