//! Key/value caches.
//!
//! The main transformer uses a fixed ring of `context + 1` slots: each step overwrites the
//! oldest position, so memory stays flat however long the session runs, and the ring always
//! holds exactly the chronologically last `context + 1` positions (moshi_mlx's 4096-slot
//! rotating buffer stops doing that after 4096 steps). Attention has no mask and RoPE is
//! applied before caching, so attending over the ring's slots in storage order is the same
//! computation as in time order (up to float summation order).
//!
//! The depformer uses a small growing cache that is cleared every step.

use crate::error::EngineError;
use mlx_rs::ops::indexing::{TryIndexMutOp, TryIndexOp};
use mlx_rs::Array;

/// One layer's cache.
pub struct KvCache {
    keys: Option<Array>,
    values: Option<Array>,
    /// Slots (`context + 1`).
    capacity: usize,
    /// Valid slots.
    len: usize,
    /// Positions written since the last reset (the RoPE offset of the next token).
    offset: usize,
    /// Ring (preallocated, overwrite oldest) or grow-and-trim (depformer).
    ring: bool,
}

impl KvCache {
    /// A ring of `context + 1` slots (main transformer).
    pub fn ring(context: usize) -> KvCache {
        KvCache {
            keys: None,
            values: None,
            capacity: context + 1,
            len: 0,
            offset: 0,
            ring: true,
        }
    }

    /// A cache that grows by concatenation and keeps the last `context + 1` positions
    /// (the depformer's per-step cache, at most `num_slices` long).
    pub fn growing(context: usize) -> KvCache {
        KvCache {
            ring: false,
            ..KvCache::ring(context)
        }
    }

    /// Absolute position of the next token.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Positions currently held (≤ context + 1).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Forgets everything (new session, or the depformer's next step).
    pub fn reset(&mut self) {
        self.keys = None;
        self.values = None;
        self.len = 0;
        self.offset = 0;
    }

    /// Appends one step of `k`, `v` (`(b, heads, 1, head_dim)`) and returns all cached keys and
    /// values to attend over.
    pub fn update(&mut self, k: &Array, v: &Array) -> Result<(Array, Array), EngineError> {
        if k.shape()[2] != 1 {
            return Err(EngineError::Shape(format!(
                "KV cache takes one step at a time, got {:?}",
                k.shape()
            )));
        }
        self.offset += 1;
        if self.ring {
            self.update_ring(k, v)
        } else {
            self.update_growing(k, v)
        }
    }

    fn update_ring(&mut self, k: &Array, v: &Array) -> Result<(Array, Array), EngineError> {
        let cap = self.capacity as i32;
        if self.keys.is_none() {
            let mut shape = k.shape().to_vec();
            shape[2] = cap;
            self.keys = Some(mlx_rs::ops::zeros_dtype(&shape, k.dtype())?);
            self.values = Some(mlx_rs::ops::zeros_dtype(&shape, v.dtype())?);
        }
        let slot = ((self.offset - 1) % self.capacity) as i32;
        let (Some(keys), Some(values)) = (self.keys.as_mut(), self.values.as_mut()) else {
            return Err(EngineError::Shape("KV ring not allocated".into()));
        };
        keys.try_index_mut((.., .., slot..slot + 1, ..), k)?;
        values.try_index_mut((.., .., slot..slot + 1, ..), v)?;
        self.len = (self.len + 1).min(self.capacity);
        if self.len < self.capacity {
            let n = self.len as i32;
            Ok((
                keys.try_index((.., .., 0..n, ..))?,
                values.try_index((.., .., 0..n, ..))?,
            ))
        } else {
            Ok((keys.clone(), values.clone()))
        }
    }

    fn update_growing(&mut self, k: &Array, v: &Array) -> Result<(Array, Array), EngineError> {
        let (mut keys, mut values) = match (self.keys.take(), self.values.take()) {
            (Some(pk), Some(pv)) => (
                mlx_rs::ops::concatenate(&[&pk, k], 2)?,
                mlx_rs::ops::concatenate(&[&pv, v], 2)?,
            ),
            _ => (k.clone(), v.clone()),
        };
        let n = keys.shape()[2] as usize;
        if n > self.capacity {
            let start = (n - self.capacity) as i32;
            keys = keys.try_index((.., .., start.., ..))?;
            values = values.try_index((.., .., start.., ..))?;
        }
        self.len = keys.shape()[2] as usize;
        self.keys = Some(keys.clone());
        self.values = Some(values.clone());
        Ok((keys, values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Address of the ring's key buffer (valid after an eval).
    fn keys_ptr(c: &KvCache) -> usize {
        let k = c.keys.as_ref().expect("allocated");
        k.eval().expect("eval");
        k.as_slice::<f32>().as_ptr() as usize
    }

    /// The ring is written in place: after the first write (which materialises the zeros),
    /// every update reuses the same buffer, before and after it wraps, so a step costs the
    /// same with 64 slots as with 3001 (MLX donates the buffer to the slice update only when
    /// nothing else holds it; a copy per step would be 12 MB per layer for the 7B).
    #[test]
    fn ring_updates_in_place() {
        let mut c = KvCache::ring(63);
        let shape = [1, 2, 1, 4];
        let mut first = None;
        for step in 0..200 {
            let k = mlx_rs::ops::full::<f32>(&shape, Array::from_f32(step as f32)).expect("full");
            let (keys, values) = c.update(&k, &k).expect("update");
            mlx_rs::transforms::eval([&keys, &values]).expect("eval");
            drop((keys, values));
            let p = keys_ptr(&c);
            match first {
                None => first = Some(p),
                Some(f) => assert_eq!(p, f, "ring buffer moved at step {step}: a copy per update"),
            }
        }
        assert_eq!(c.len(), 64);
        // The ring holds the last 64 steps (136..=199), each in its slot.
        let k = c.keys.as_ref().expect("allocated");
        let slot = |s: usize| -> f32 {
            let v = k.try_index((0, 0, (s % 64) as i32, 0)).expect("index");
            v.eval().expect("eval");
            v.try_as_slice::<f32>().expect("f32")[0]
        };
        assert_eq!(slot(199), 199.0);
        assert_eq!(slot(136), 136.0);
    }
}
