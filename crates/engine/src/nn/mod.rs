//! The few layers Moshi's LM needs, each either dense (fp32/bf16) or affine-quantized
//! (`nn.QuantizedLinear` / `nn.QuantizedEmbedding` semantics).

use crate::error::EngineError;
use crate::quant::QuantSpec;
use crate::weights::WeightStore;
use mlx_rs::{Array, Dtype};

/// How the checkpoint stores Linear and Embedding weights, and the activation dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// Dense weights, cast to this dtype (fp32 or bf16) at load time.
    Dense(Dtype),
    /// Affine-quantized weights (`*.weight` uint32, `*.scales`, `*.biases`), bf16 activations.
    Quantized(QuantSpec),
}

impl WeightFormat {
    /// The dtype activations (and norm weights) run in.
    pub fn activation_dtype(&self) -> Dtype {
        match self {
            WeightFormat::Dense(d) => *d,
            WeightFormat::Quantized(_) => Dtype::Bfloat16,
        }
    }
}

/// Weight matrix `(out, in)`, dense or quantized.
pub enum Matrix {
    /// Dense `(out, in)`.
    Dense(Array),
    /// Packed uint32 weights with per-group scales and biases.
    Quantized {
        /// `(out, in·bits/32)` uint32.
        w: Array,
        /// `(out, in/group)`.
        scales: Array,
        /// `(out, in/group)`.
        biases: Array,
        /// Bits and group size.
        spec: QuantSpec,
    },
}

impl Matrix {
    /// Loads `{prefix}.weight` (and `.scales` / `.biases` when quantized) of logical shape
    /// `(out, inp)`.
    pub fn load(
        ws: &mut WeightStore,
        prefix: &str,
        out: usize,
        inp: usize,
        fmt: WeightFormat,
    ) -> Result<Matrix, EngineError> {
        match fmt {
            WeightFormat::Dense(dtype) => {
                let w = ws.take_float(&format!("{prefix}.weight"), &[out, inp])?;
                Ok(Matrix::Dense(w.as_dtype(dtype)?))
            }
            WeightFormat::Quantized(spec) => {
                let bits = spec.bits as usize;
                let group = spec.group_size as usize;
                let name = format!("{prefix}.weight");
                if !inp.is_multiple_of(group) || !(inp * bits).is_multiple_of(32) {
                    return Err(EngineError::weights(
                        name,
                        format!("input dimension {inp} cannot be quantized with {spec:?}"),
                    ));
                }
                let w = ws.take(&name, &[out, inp * bits / 32], Some(Dtype::Uint32))?;
                let scales = ws.take_float(&format!("{prefix}.scales"), &[out, inp / group])?;
                let biases = ws.take_float(&format!("{prefix}.biases"), &[out, inp / group])?;
                Ok(Matrix::Quantized {
                    w,
                    scales,
                    biases,
                    spec,
                })
            }
        }
    }

    /// `x @ W.T` (a bias-free `nn.Linear` / `nn.QuantizedLinear`).
    pub fn linear(&self, x: &Array) -> Result<Array, EngineError> {
        Ok(match self {
            Matrix::Dense(w) => x.matmul(w.t())?,
            Matrix::Quantized {
                w,
                scales,
                biases,
                spec,
            } => mlx_rs::ops::quantized_matmul(
                x,
                w,
                scales,
                biases,
                true,
                spec.group_size,
                spec.bits,
            )?,
        })
    }

    /// Rows `ids` (any shape of int32 ids) -> `ids.shape + [in]` (`nn.Embedding` /
    /// `nn.QuantizedEmbedding`).
    pub fn embed(&self, ids: &Array) -> Result<Array, EngineError> {
        Ok(match self {
            Matrix::Dense(w) => w.take_axis(ids, 0)?,
            Matrix::Quantized {
                w,
                scales,
                biases,
                spec,
            } => mlx_rs::ops::dequantize(
                w.take_axis(ids, 0)?,
                scales.take_axis(ids, 0)?,
                &biases.take_axis(ids, 0)?,
                spec.group_size,
                spec.bits,
            )?,
        })
    }
}

/// RMSNorm with eps 1e-8 (Moshi's LM), weight in the activation dtype.
pub struct RmsNorm {
    weight: Array,
    eps: f32,
}

impl RmsNorm {
    /// Loads `{prefix}.weight` of shape `(dim,)`.
    pub fn load(
        ws: &mut WeightStore,
        prefix: &str,
        dim: usize,
        fmt: WeightFormat,
    ) -> Result<RmsNorm, EngineError> {
        let w = ws.take_float(&format!("{prefix}.weight"), &[dim])?;
        Ok(RmsNorm {
            weight: w.as_dtype(fmt.activation_dtype())?,
            eps: 1e-8,
        })
    }

    /// The scale vector.
    pub fn weight(&self) -> &Array {
        &self.weight
    }

    /// `mx.fast.rms_norm(x, weight, eps)`.
    pub fn forward(&self, x: &Array) -> Result<Array, EngineError> {
        Ok(mlx_rs::fast::rms_norm(x, Some(&self.weight), self.eps)?)
    }
}
