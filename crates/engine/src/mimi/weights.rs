//! Reading a PyTorch-named Mimi checkpoint into MLX layouts.
//!
//! Both the real `tokenizer-e351c8d8-checkpoint125.safetensors` and the fixtures'
//! `mimi.safetensors` use the PyTorch module names and layouts; this module converts them once at
//! load time so the forward pass never transposes weights.

use crate::error::EngineError;
use mlx_rs::{Array, Dtype};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The tensors of one checkpoint, handed out by name with shape checks.
///
/// Strict about what the model needs (a missing or misshaped tensor is an error naming it);
/// tensors nobody asks for (the unused codebooks, `_initialized` flags) are simply ignored.
pub(crate) struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Array>,
    used: HashSet<String>,
    /// Set for [`Weights::random`]: tensors are drawn on request instead of read.
    random: Option<Array>,
}

impl Weights {
    /// Opens a safetensors file.
    pub(crate) fn load(path: &Path) -> Result<Self, EngineError> {
        std::fs::metadata(path).map_err(|e| EngineError::io(path, e))?;
        let tensors =
            Array::load_safetensors(path).map_err(|e| EngineError::checkpoint(path, e))?;
        Ok(Weights {
            path: path.to_path_buf(),
            tensors,
            used: HashSet::new(),
            random: None,
        })
    }

    /// Random weights of whatever shape is asked for (the speed test: real sizes, no file).
    /// 1-D tensors (biases, norms, layer scales, cluster usage) are ones; the others
    /// N(0, 1/fan_in).
    pub(crate) fn random(seed: u64) -> Result<Self, EngineError> {
        Ok(Weights {
            path: PathBuf::from("<random>"),
            tensors: HashMap::new(),
            used: HashSet::new(),
            random: Some(mlx_rs::random::key(seed)?),
        })
    }

    fn draw(&mut self, name: &str, shape: &[usize]) -> Result<Array, EngineError> {
        let key = self
            .random
            .as_ref()
            .ok_or_else(|| EngineError::weights(name, "not a random checkpoint".to_string()))?;
        let parts = mlx_rs::random::split(key, 2)?;
        self.random = Some(parts.0);
        let dims: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        let a = if shape.len() == 1 {
            mlx_rs::ops::ones::<f32>(&dims)?
        } else {
            let fan_in: usize = shape[1..].iter().product();
            let scale = 1.0 / (fan_in.max(1) as f32).sqrt();
            mlx_rs::random::normal::<f32>(&dims[..], None, scale, &parts.1)?
        };
        a.eval()?;
        self.used.insert(name.to_string());
        Ok(a)
    }

    /// A tensor with exactly this shape, as float32.
    pub(crate) fn get(&mut self, name: &str, shape: &[usize]) -> Result<Array, EngineError> {
        if self.random.is_some() {
            return self.draw(name, shape);
        }
        let a = self.tensors.get(name).ok_or_else(|| {
            EngineError::weights(
                name,
                format!(
                    "missing from {} (expected shape {shape:?})",
                    self.path.display()
                ),
            )
        })?;
        let want: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        if a.shape() != want.as_slice() {
            return Err(EngineError::weights(
                name,
                format!(
                    "shape {:?} in {}, expected {shape:?}",
                    a.shape(),
                    self.path.display()
                ),
            ));
        }
        let a = if a.dtype() == Dtype::Float32 {
            a.clone()
        } else {
            a.as_dtype(Dtype::Float32)?
        };
        a.eval()?;
        self.used.insert(name.to_string());
        Ok(a)
    }

    /// A PyTorch `Conv1d` weight `(out, in/groups, k)` as MLX `(out, k, in/groups)`.
    pub(crate) fn conv(
        &mut self,
        name: &str,
        out_ch: usize,
        in_ch: usize,
        k: usize,
    ) -> Result<Array, EngineError> {
        let w = self.get(name, &[out_ch, in_ch, k])?;
        let w = w.swap_axes(1, 2)?.contiguous()?;
        w.eval()?;
        Ok(w)
    }

    /// A PyTorch `ConvTranspose1d` weight `(in, out, k)` as the `(in, k * out)` matrix that
    /// [`super::conv::StreamConvTr1d::dense`] multiplies by.
    pub(crate) fn convtr(
        &mut self,
        name: &str,
        in_ch: usize,
        out_ch: usize,
        k: usize,
    ) -> Result<Array, EngineError> {
        let w = self.get(name, &[in_ch, out_ch, k])?;
        let w = w
            .transpose_axes(&[0, 2, 1])?
            .reshape(&[in_ch as i32, (k * out_ch) as i32])?;
        w.eval()?;
        Ok(w)
    }

    /// How many tensors were read and how many were left aside (logged at load).
    pub(crate) fn usage(&self) -> (usize, usize) {
        (self.used.len(), self.tensors.len() - self.used.len())
    }
}
