//! The split residual vector quantizer: one semantic codebook (`rvq_first`) plus `n - 1`
//! acoustic codebooks (`rvq_rest`), each part with its own 1×1 input/output projections.
//! Both parts quantize the *same* latent; decoding sums the two reconstructions.

use super::weights::Weights;
use crate::error::EngineError;
use mlx_rs::ops::indexing::{argmin_axis, TryIndexOp};
use mlx_rs::ops::{self};
use mlx_rs::Array;

/// One codebook: `embedding = embedding_sum / max(cluster_usage, 1e-5)`.
struct Codebook {
    /// `(bins, dim)`.
    embedding: Array,
    /// `(dim, bins)`, pre-transposed for the distance matmul.
    embedding_t: Array,
    /// `‖e‖² / 2` per entry, `(bins,)`.
    half_norm: Array,
}

impl Codebook {
    fn load(w: &mut Weights, prefix: &str, bins: usize, dim: usize) -> Result<Self, EngineError> {
        let sum = w.get(&format!("{prefix}._codebook.embedding_sum"), &[bins, dim])?;
        let usage = w.get(&format!("{prefix}._codebook.cluster_usage"), &[bins])?;
        let usage = ops::maximum(&usage, Array::from_f32(1e-5))?.expand_dims(1)?;
        let embedding = sum.divide(&usage)?;
        let half_norm = embedding
            .square()?
            .sum_axis(-1, false)?
            .divide(Array::from_f32(2.0))?;
        let embedding_t = embedding.transpose()?.contiguous()?;
        mlx_rs::transforms::eval([&embedding, &embedding_t, &half_norm])?;
        Ok(Codebook {
            embedding,
            embedding_t,
            half_norm,
        })
    }

    /// Nearest entry of each row of `x` `(n, dim)`: argmin of `‖e‖²/2 − x·e`.
    fn encode(&self, x: &Array) -> Result<Array, EngineError> {
        let dist = self
            .half_norm
            .subtract(ops::matmul(x, &self.embedding_t)?)?;
        Ok(argmin_axis(&dist, -1, false)?)
    }

    /// The entries for codes `(n,)` -> `(n, dim)`.
    fn decode(&self, codes: &Array) -> Result<Array, EngineError> {
        Ok(self.embedding.take_axis(codes, 0)?)
    }
}

/// A residual VQ with its projections (PyTorch `ResidualVectorQuantizer`).
struct Rvq {
    /// `(in, dim)` for `x @ w` (from the 1×1 conv weight `(dim, in, 1)`).
    input_proj: Array,
    /// `(dim, out)`.
    output_proj: Array,
    codebooks: Vec<Codebook>,
}

impl Rvq {
    fn load(
        w: &mut Weights,
        prefix: &str,
        n: usize,
        latent: usize,
        dim: usize,
        bins: usize,
    ) -> Result<Self, EngineError> {
        let input_proj = w
            .get(&format!("{prefix}.input_proj.weight"), &[dim, latent, 1])?
            .reshape(&[dim as i32, latent as i32])?
            .transpose()?
            .contiguous()?;
        let output_proj = w
            .get(&format!("{prefix}.output_proj.weight"), &[latent, dim, 1])?
            .reshape(&[latent as i32, dim as i32])?
            .transpose()?
            .contiguous()?;
        mlx_rs::transforms::eval([&input_proj, &output_proj])?;
        let codebooks = (0..n)
            .map(|i| Codebook::load(w, &format!("{prefix}.vq.layers.{i}"), bins, dim))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rvq {
            input_proj,
            output_proj,
            codebooks,
        })
    }

    /// Latents `(n, latent)` -> codes `(codebooks, n)`.
    fn encode(&self, x: &Array) -> Result<Vec<Array>, EngineError> {
        let mut residual = ops::matmul(x, &self.input_proj)?;
        let mut codes = Vec::with_capacity(self.codebooks.len());
        for cb in &self.codebooks {
            let idx = cb.encode(&residual)?;
            residual = residual.subtract(cb.decode(&idx)?)?;
            codes.push(idx);
        }
        Ok(codes)
    }

    /// Codes (one `(n,)` array per codebook) -> latents `(n, latent)`.
    fn decode(&self, codes: &[Array]) -> Result<Array, EngineError> {
        let mut acc: Option<Array> = None;
        for (cb, c) in self.codebooks.iter().zip(codes) {
            let e = cb.decode(c)?;
            acc = Some(match acc {
                Some(a) => a.add(&e)?,
                None => e,
            });
        }
        let acc = acc.ok_or_else(|| EngineError::Config("empty residual quantizer".into()))?;
        Ok(ops::matmul(&acc, &self.output_proj)?)
    }
}

/// The split RVQ of Mimi using the first `n` codebooks of the checkpoint.
pub(crate) struct SplitRvq {
    first: Rvq,
    rest: Option<Rvq>,
    n: usize,
}

impl SplitRvq {
    /// Loads `quantizer.rvq_first.*` and the first `n - 1` layers of `quantizer.rvq_rest.*`.
    pub(crate) fn load(
        w: &mut Weights,
        n: usize,
        latent: usize,
        dim: usize,
        bins: usize,
    ) -> Result<Self, EngineError> {
        let first = Rvq::load(w, "quantizer.rvq_first", 1, latent, dim, bins)?;
        let rest = if n > 1 {
            Some(Rvq::load(
                w,
                "quantizer.rvq_rest",
                n - 1,
                latent,
                dim,
                bins,
            )?)
        } else {
            None
        };
        Ok(SplitRvq { first, rest, n })
    }

    /// Codebooks in use.
    pub(crate) fn num_codebooks(&self) -> usize {
        self.n
    }

    /// Latents `(b, t, latent)` -> codes `(b, codebooks, t)` as uint32.
    pub(crate) fn encode(&self, x: &Array) -> Result<Array, EngineError> {
        let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let flat = x.reshape(&[b * t, c])?;
        let mut codes = self.first.encode(&flat)?;
        if let Some(rest) = &self.rest {
            codes.extend(rest.encode(&flat)?);
        }
        // (n, b*t) -> (b, n, t)
        let stacked = ops::stack(&codes, 0)?
            .reshape(&[self.n as i32, b, t])?
            .transpose_axes(&[1, 0, 2])?;
        Ok(stacked.as_dtype(mlx_rs::Dtype::Uint32)?)
    }

    /// Codes `(b, codebooks, t)` (any integer dtype) -> latents `(b, t, latent)`.
    pub(crate) fn decode(&self, codes: &Array) -> Result<Array, EngineError> {
        let (b, n, t) = (codes.shape()[0], codes.shape()[1], codes.shape()[2]);
        if n as usize != self.n {
            return Err(EngineError::Input(format!(
                "expected {} codebooks, got {n}",
                self.n
            )));
        }
        let codes = codes.as_dtype(mlx_rs::Dtype::Int32)?;
        let per_book = (0..n)
            .map(|i| Ok(codes.try_index((.., i, ..))?.reshape(&[b * t])?))
            .collect::<Result<Vec<_>, EngineError>>()?;
        let mut y = self.first.decode(&per_book[..1])?;
        if let Some(rest) = &self.rest {
            y = y.add(rest.decode(&per_book[1..])?)?;
        }
        let latent = y.shape()[1];
        Ok(y.reshape(&[b, t, latent])?)
    }
}
