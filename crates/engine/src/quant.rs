//! Affine quantization as `mlx.nn.quantize` does it (MLX's own `quantize` op), so a bf16
//! checkpoint quantized at load time gives the same tensors as Kyutai's q8/q4 files.

use crate::error::EngineError;
use mlx_rs::{Array, Dtype};
use std::collections::HashMap;

/// Bits and group size of an affine-quantized checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantSpec {
    /// Bits per weight (4 or 8).
    pub bits: i32,
    /// Weights sharing one scale and bias.
    pub group_size: i32,
}

impl QuantSpec {
    /// `moshi_mlx/local.py -q 8`: 8 bits, group 64.
    pub const Q8: QuantSpec = QuantSpec {
        bits: 8,
        group_size: 64,
    };
    /// `moshi_mlx/local.py -q 4`: 4 bits, group 32.
    pub const Q4: QuantSpec = QuantSpec {
        bits: 4,
        group_size: 32,
    };
}

/// Quantizes one `(out, in)` weight matrix: `(weight uint32, scales, biases)` in the dtype of
/// `w` (bf16 for Moshi checkpoints).
pub fn quantize(w: &Array, spec: QuantSpec) -> Result<(Array, Array, Array), EngineError> {
    Ok(mlx_rs::ops::quantize(w, spec.group_size, spec.bits)?)
}

/// Quantizes a whole bf16 checkpoint the way `nn.quantize(model, bits, group_size)` followed by
/// saving the parameters does: every 2-D `*.weight` (all Linear and Embedding layers) becomes
/// `*.weight` / `*.scales` / `*.biases`; 1-D tensors (the RMSNorm weights) stay as they are.
pub fn quantize_checkpoint(
    tensors: HashMap<String, Array>,
    spec: QuantSpec,
) -> Result<HashMap<String, Array>, EngineError> {
    let mut out = HashMap::with_capacity(tensors.len() * 3);
    for (name, w) in tensors {
        let is_matrix = w.ndim() == 2 && name.ends_with(".weight");
        if !is_matrix {
            out.insert(name, w);
            continue;
        }
        if w.shape()[1] % spec.group_size != 0 {
            return Err(EngineError::weights(
                &name,
                format!(
                    "input dimension {} is not a multiple of the group size {}",
                    w.shape()[1],
                    spec.group_size
                ),
            ));
        }
        let w = if w.dtype() == Dtype::Bfloat16 {
            w
        } else {
            w.as_dtype(Dtype::Bfloat16)?
        };
        let (q, s, b) = quantize(&w, spec)?;
        q.eval()?;
        s.eval()?;
        b.eval()?;
        let stem = name.trim_end_matches(".weight").to_string();
        out.insert(format!("{stem}.scales"), s);
        out.insert(format!("{stem}.biases"), b);
        out.insert(name, q);
    }
    Ok(out)
}
