//! Mimi parity checks against `mimi_io.safetensors` (variant `candle`).
//!
//! The fixture directory holds `mimi.safetensors` (PyTorch names), `mimi_reference.json`
//! (config and codebook counts) and `mimi_io.safetensors` (input and expected outputs). Every
//! expected value is read from those files; only the tolerances live here.

use super::Check;
use crate::error::EngineError;
use crate::mimi::{Mimi, MimiConfig};
use mlx_rs::{Array, Dtype};
use std::collections::HashMap;
use std::path::Path;

/// The variant whose semantics (causal + context mask, erf GELU) the port implements.
const VARIANT: &str = "candle";
/// Absolute tolerance for latents and PCM (fp32 kernel differences are ~1e-6).
const TOL: f32 = 1e-4;

/// Runs every Mimi check whose files exist in `dir`.
///
/// Returns nothing when the directory has no Mimi fixture, one failed `mimi/load` check when the
/// fixture is unreadable, and otherwise one line per compared output.
pub fn checks(dir: &Path) -> Vec<Check> {
    let weights = dir.join("mimi.safetensors");
    let io = dir.join("mimi_io.safetensors");
    let reference = dir.join("mimi_reference.json");
    if !weights.exists() || !io.exists() || !reference.exists() {
        return Vec::new();
    }
    match Fixture::load(dir) {
        Ok(fx) => fx.run(),
        Err(e) => vec![check("mimi/load", Err(e.to_string()))],
    }
}

fn check(name: &str, result: Result<String, String>) -> Check {
    Check {
        name: name.to_string(),
        result,
    }
}

/// One fixture directory, loaded.
struct Fixture {
    mimi: Mimi,
    io: HashMap<String, Array>,
    load_detail: String,
}

impl Fixture {
    fn load(dir: &Path) -> Result<Self, EngineError> {
        let ref_path = dir.join("mimi_reference.json");
        let text = std::fs::read_to_string(&ref_path).map_err(|e| EngineError::io(&ref_path, e))?;
        let reference: serde_json::Value = serde_json::from_str(&text)?;
        let cfg = MimiConfig::from_json(&reference)?;
        let io_path = dir.join("mimi_io.safetensors");
        let io =
            Array::load_safetensors(&io_path).map_err(|e| EngineError::checkpoint(&io_path, e))?;
        // The codebook count in use: the JSON says so; the recorded codes must agree.
        let codes_name = format!("{VARIANT}.batch_codes");
        let codes = io
            .get(&codes_name)
            .ok_or_else(|| EngineError::weights(&codes_name, "missing from mimi_io.safetensors"))?;
        let from_codes = codes.shape().get(1).copied().unwrap_or(0) as usize;
        let n = reference
            .get("used_codebooks")
            .and_then(serde_json::Value::as_u64)
            .map_or(from_codes, |n| n as usize);
        if n != from_codes {
            return Err(EngineError::Config(format!(
                "used_codebooks {n} but the recorded codes have {from_codes}"
            )));
        }
        let mimi = Mimi::load(&dir.join("mimi.safetensors"), &cfg, n)?;
        let load_detail = format!(
            "{} codebooks of {}, d {}, {} layers",
            n, cfg.quantizer_nq, cfg.seanet.dimension, cfg.transformer.num_layers
        );
        Ok(Fixture {
            mimi,
            io,
            load_detail,
        })
    }

    fn tensor(&self, name: &str) -> Result<&Array, String> {
        self.io
            .get(name)
            .ok_or_else(|| format!("mimi_io.safetensors has no `{name}`"))
    }

    fn f32s(&self, name: &str) -> Result<Vec<f32>, String> {
        let a = self.tensor(name)?;
        to_vec::<f32>(a, Dtype::Float32).map_err(|e| e.to_string())
    }

    /// Recorded codes `(1, n, t)` as `[codebook][frame]`.
    fn codes(&self, name: &str) -> Result<Vec<Vec<u32>>, String> {
        let a = self.tensor(name)?;
        let (n, t) = match a.shape() {
            [1, n, t] => (*n as usize, *t as usize),
            s => return Err(format!("`{name}` has shape {s:?}, expected (1, n, t)")),
        };
        let flat = to_vec::<i32>(a, Dtype::Int32).map_err(|e| e.to_string())?;
        let mut out = vec![Vec::with_capacity(t); n];
        for (i, book) in out.iter_mut().enumerate() {
            for &c in &flat[i * t..(i + 1) * t] {
                book.push(u32::try_from(c).map_err(|_| format!("negative code {c} in `{name}`"))?);
            }
        }
        Ok(out)
    }

    fn run(mut self) -> Vec<Check> {
        let mut out = vec![check("mimi/load", Ok(self.load_detail.clone()))];
        let v = VARIANT;
        let input = match self.f32s("input_pcm") {
            Ok(p) => p,
            Err(e) => {
                out.push(check("mimi/input", Err(e)));
                return out;
            }
        };
        let frame = self.mimi.frame_size();

        // Batch encode: intermediate stages and codes.
        let stages = self.mimi.encode_stages(&input).map_err(|e| e.to_string());
        for (name, pick) in [
            ("batch_encoder_out", 0),
            ("batch_encoder_transformer_out", 1),
            ("batch_latent", 2),
        ] {
            let result = stages.as_ref().map_err(Clone::clone).and_then(|s| {
                let got = match pick {
                    0 => &s.encoder_out,
                    1 => &s.encoder_transformer_out,
                    _ => &s.latent,
                };
                compare_f32(got, &self.f32s(&format!("{v}.{name}"))?)
            });
            out.push(check(&format!("mimi/{v}/{name}"), result));
        }
        let batch_codes = self.mimi.encode(&input).map_err(|e| e.to_string());
        let result = batch_codes
            .and_then(|got| compare_codes(&got, &self.codes(&format!("{v}.batch_codes"))?));
        out.push(check(&format!("mimi/{v}/batch_codes"), result));

        // Streaming encode, one frame per call.
        self.mimi.reset();
        let result = (|| {
            let mut frames = Vec::new();
            for chunk in input.chunks(frame) {
                frames.extend(self.mimi.encode_step(chunk).map_err(|e| e.to_string())?);
            }
            let by_book = transpose(&frames, self.mimi.num_codebooks());
            compare_codes(&by_book, &self.codes(&format!("{v}.stream_codes"))?)
        })();
        out.push(check(&format!("mimi/{v}/stream_codes"), result));

        // Decoding the recorded codes, batch and streaming.
        let result = (|| {
            let codes = self.codes(&format!("{v}.batch_codes"))?;
            let pcm = self.mimi.decode(&codes).map_err(|e| e.to_string())?;
            compare_f32(&pcm, &self.f32s(&format!("{v}.batch_decoded_pcm"))?)
        })();
        out.push(check(&format!("mimi/{v}/batch_decoded_pcm"), result));
        for (codes_name, pcm_name) in [
            ("batch_codes", "stream_decoded_pcm_from_batch_codes"),
            ("stream_codes", "stream_decoded_pcm"),
        ] {
            self.mimi.reset();
            let result = (|| {
                let codes = self.codes(&format!("{v}.{codes_name}"))?;
                let mut pcm = Vec::new();
                for frame in transpose(&codes, codes.len()) {
                    pcm.extend(self.mimi.decode_step(&frame).map_err(|e| e.to_string())?);
                }
                compare_f32(&pcm, &self.f32s(&format!("{v}.{pcm_name}"))?)
            })();
            out.push(check(&format!("mimi/{v}/{pcm_name}"), result));
        }
        self.mimi.reset();
        out
    }
}

/// Copies an array out as `T` after a cast.
fn to_vec<T: mlx_rs::ArrayElement + Clone>(a: &Array, dtype: Dtype) -> Result<Vec<T>, EngineError> {
    let flat = a.as_dtype(dtype)?.reshape(&[-1])?;
    flat.eval()?;
    Ok(flat.try_as_slice::<T>()?.to_vec())
}

/// Max absolute difference within [`TOL`], same length.
fn compare_f32(got: &[f32], want: &[f32]) -> Result<String, String> {
    if got.len() != want.len() {
        return Err(format!("length {} != expected {}", got.len(), want.len()));
    }
    let max = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, |m, d| if d.is_nan() || d > m { d } else { m });
    let detail = format!(
        "max |diff| {max:.3e} over {} values (tol {TOL:.0e})",
        got.len()
    );
    if max <= TOL {
        Ok(detail)
    } else {
        Err(detail)
    }
}

/// Exact equality of `[codebook][frame]` codes.
fn compare_codes(got: &[Vec<u32>], want: &[Vec<u32>]) -> Result<String, String> {
    let shape = |c: &[Vec<u32>]| (c.len(), c.first().map_or(0, Vec::len));
    if shape(got) != shape(want) {
        return Err(format!(
            "shape {:?} != expected {:?}",
            shape(got),
            shape(want)
        ));
    }
    let total = got.iter().map(Vec::len).sum::<usize>();
    let wrong: Vec<(usize, usize)> = got
        .iter()
        .zip(want)
        .enumerate()
        .flat_map(|(b, (g, w))| {
            g.iter()
                .zip(w)
                .enumerate()
                .filter(|(_, (x, y))| x != y)
                .map(move |(f, _)| (b, f))
        })
        .collect();
    if wrong.is_empty() {
        Ok(format!("{total} codes equal"))
    } else {
        Err(format!(
            "{} of {total} codes differ, first at (codebook, frame) {:?}",
            wrong.len(),
            wrong[0]
        ))
    }
}

/// `[frame][codebook]` <-> `[codebook][frame]`.
fn transpose(rows: &[Vec<u32>], inner: usize) -> Vec<Vec<u32>> {
    let cols = rows.first().map_or(inner, Vec::len);
    (0..cols)
        .map(|j| rows.iter().map(|r| r[j]).collect())
        .collect()
}
