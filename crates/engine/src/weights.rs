//! Strict safetensors loading: every tensor the model asks for must exist with the right
//! shape and dtype, and every tensor in the file must be used (like `load_weights(strict=True)`
//! in `moshi_mlx`), so a wrong or truncated checkpoint fails at load time naming the tensor.

use crate::error::EngineError;
use mlx_rs::{Array, Dtype};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The tensors of one checkpoint, consumed by name while building a model.
pub struct WeightStore {
    path: PathBuf,
    tensors: HashMap<String, Array>,
}

impl WeightStore {
    /// Reads every tensor of a safetensors file (lazily mapped by MLX).
    pub fn load(path: &Path) -> Result<WeightStore, EngineError> {
        std::fs::metadata(path).map_err(|e| EngineError::io(path, e))?;
        let tensors =
            Array::load_safetensors(path).map_err(|e| EngineError::checkpoint(path, e))?;
        Ok(WeightStore {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Wraps tensors that are already in memory (e.g. produced by runtime quantization).
    pub fn from_map(path: &Path, tensors: HashMap<String, Array>) -> WeightStore {
        WeightStore {
            path: path.to_path_buf(),
            tensors,
        }
    }

    /// The file the tensors came from (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a tensor is present (and not yet taken).
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Removes and returns `name`, checking its shape and (optionally) dtype.
    pub fn take(
        &mut self,
        name: &str,
        shape: &[usize],
        dtype: Option<Dtype>,
    ) -> Result<Array, EngineError> {
        let a = self.tensors.remove(name).ok_or_else(|| {
            EngineError::weights(name, format!("missing from {}", self.path.display()))
        })?;
        let got: Vec<usize> = a.shape().iter().map(|&d| d as usize).collect();
        if got != shape {
            return Err(EngineError::weights(
                name,
                format!(
                    "shape {got:?}, expected {shape:?} ({})",
                    self.path.display()
                ),
            ));
        }
        if let Some(d) = dtype {
            if a.dtype() != d {
                return Err(EngineError::weights(
                    name,
                    format!("dtype {:?}, expected {d:?}", a.dtype()),
                ));
            }
        }
        Ok(a)
    }

    /// Removes and returns `name` if it is a floating-point tensor of `shape`.
    pub fn take_float(&mut self, name: &str, shape: &[usize]) -> Result<Array, EngineError> {
        let a = self.take(name, shape, None)?;
        if !matches!(a.dtype(), Dtype::Float32 | Dtype::Bfloat16 | Dtype::Float16) {
            return Err(EngineError::weights(
                name,
                format!("dtype {:?}, expected a float type", a.dtype()),
            ));
        }
        Ok(a)
    }

    /// Fails if tensors are left over: the checkpoint does not belong to this config.
    pub fn finish(self) -> Result<(), EngineError> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        let left: BTreeSet<&String> = self.tensors.keys().collect();
        let first = left.iter().next().map(|s| s.as_str()).unwrap_or_default();
        Err(EngineError::weights(
            first,
            format!(
                "unexpected tensor in {} ({} unused, e.g. {:?})",
                self.path.display(),
                left.len(),
                left.iter().take(3).collect::<Vec<_>>()
            ),
        ))
    }

    /// Gives the remaining tensors back (used by runtime quantization).
    pub fn into_map(self) -> HashMap<String, Array> {
        self.tensors
    }
}
