//! The on-device speed test: how long one Moshi frame takes on this machine, per quality,
//! before anything is downloaded.
//!
//! The real 7B architecture (`LmConfig::moshi_7b`: d 4096, 32 layers, full depformer, real
//! vocabularies) is built with random weights, but with only `k` temporal layers for a few
//! `k`; the step time (temporal layers + embeddings + text head + depformer, with sampling)
//! is linear in `k`, so a least-squares line through the points gives the full 32-layer step
//! ([`Fit`]). A real-size random Mimi is timed too (encode + decode of one frame). The
//! predicted frame is `fixed + 32 × per_layer + mimi`, in sequence (conservative: the voice
//! session may overlap Mimi with the LM).
//!
//! Random weights are windows of one pool of N(0, 1) values drawn once (drawing billions of
//! independent normals would take longer than the test), scaled by `1/sqrt(fan_in)`, in the
//! checkpoint's own names, then loaded by the same [`Lm::load`] as a real checkpoint (q8/q4:
//! quantized by [`crate::quant::quantize_checkpoint`], as a bf16 file is at load time).
//!
//! ```no_run
//! use engine::speedtest::{run, SpeedTestOptions};
//! let results = run(&SpeedTestOptions::default(), |line| eprintln!("{line}")).unwrap();
//! for r in &results.qualities {
//!     println!("{}: {:.0} ms per frame", r.quality, r.frame_ms());
//! }
//! ```

use crate::config::LmConfig;
use crate::error::EngineError;
use crate::lm::{Lm, LmGen};
use crate::mimi::{Mimi, MimiConfig};
use crate::nn::WeightFormat;
use crate::quant::QuantSpec;
use crate::sampling::SamplingConfig;
use crate::weights::WeightStore;
use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::{Array, Dtype};
use moshi_repo::Quality;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// What to time.
#[derive(Debug, Clone)]
pub struct SpeedTestOptions {
    /// Qualities to time, in order.
    pub qualities: Vec<Quality>,
    /// Temporal layer counts to time (at least two distinct ones for the fit).
    pub layers: Vec<usize>,
    /// Timed LM steps per point (the median is used).
    pub steps: usize,
    /// Untimed steps before them (kernel compilation, allocator warm-up).
    pub warmup: usize,
    /// Timed Mimi frames (encode + decode; the median is used).
    pub mimi_frames: usize,
    /// The architecture; the temporal layer count is replaced by each of `layers`.
    pub config: LmConfig,
}

impl Default for SpeedTestOptions {
    /// All three qualities, 1, 2 and 4 layers, 3 timed steps after 1 warm-up, 5 Mimi frames,
    /// the 7B.
    fn default() -> Self {
        SpeedTestOptions {
            qualities: Quality::BEST_FIRST.to_vec(),
            layers: vec![1, 2, 4],
            steps: 3,
            warmup: 1,
            mimi_frames: 5,
            config: LmConfig::moshi_7b(),
        }
    }
}

/// A least-squares line `step_ms = fixed_ms + per_layer_ms × layers`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// The intercept: what does not depend on the layer count.
    pub fixed_ms: f64,
    /// The slope: one temporal layer.
    pub per_layer_ms: f64,
}

impl Fit {
    /// Fits `points` of `(layers, ms)`; needs two distinct layer counts.
    pub fn least_squares(points: &[(usize, f64)]) -> Result<Fit, EngineError> {
        let n = points.len() as f64;
        let mx = points.iter().map(|p| p.0 as f64).sum::<f64>() / n;
        let my = points.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = points.iter().map(|p| (p.0 as f64 - mx).powi(2)).sum();
        if points.len() < 2 || sxx == 0.0 {
            return Err(EngineError::Input(
                "the speed test needs at least two distinct layer counts".into(),
            ));
        }
        let sxy: f64 = points.iter().map(|p| (p.0 as f64 - mx) * (p.1 - my)).sum();
        // Noise on a loaded machine can tilt the line below zero (a layer never costs less
        // than nothing, and a frame never takes negative time): clamp both to zero, which
        // then keeps the prediction at or above the mean of the measured points.
        let per_layer_ms = (sxy / sxx).max(0.0);
        Ok(Fit {
            fixed_ms: (my - per_layer_ms * mx).max(0.0),
            per_layer_ms,
        })
    }

    /// The predicted step time with `layers` temporal layers.
    pub fn predict(&self, layers: usize) -> f64 {
        self.fixed_ms + self.per_layer_ms * layers as f64
    }
}

/// The timings of one quality.
#[derive(Debug, Clone)]
pub struct QualityTiming {
    /// The quality.
    pub quality: Quality,
    /// `(layers, median step ms)` for each timed layer count.
    pub points: Vec<(usize, f64)>,
    /// The line through them.
    pub fit: Fit,
    /// Layers of the full model.
    pub full_layers: usize,
    /// Mimi encode + decode of one frame (median), shared by all qualities.
    pub mimi_ms: f64,
}

impl QualityTiming {
    /// The predicted full-model LM step.
    pub fn lm_ms(&self) -> f64 {
        self.fit.predict(self.full_layers)
    }

    /// The predicted frame: LM step + Mimi.
    pub fn frame_ms(&self) -> f64 {
        self.lm_ms() + self.mimi_ms
    }

    /// As the planner's [`hardware::QualitySpeed`].
    pub fn to_speed(&self) -> hardware::QualitySpeed {
        hardware::QualitySpeed {
            quality: self.quality,
            frame_ms: self.frame_ms(),
            per_layer_ms: self.fit.per_layer_ms,
            fixed_ms: self.fit.fixed_ms,
            mimi_ms: self.mimi_ms,
            layers_timed: self.points.iter().map(|p| p.0).collect(),
            full_layers: self.full_layers,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct SpeedTestResult {
    /// One entry per quality.
    pub qualities: Vec<QualityTiming>,
    /// Mimi encode + decode per frame (median).
    pub mimi_ms: f64,
    /// Wall time of the whole test.
    pub seconds: f64,
}

/// Runs the speed test; `progress` gets one line per measurement.
pub fn run(
    opts: &SpeedTestOptions,
    mut progress: impl FnMut(&str),
) -> Result<SpeedTestResult, EngineError> {
    let t0 = Instant::now();
    let max_layers = *opts
        .layers
        .iter()
        .max()
        .ok_or_else(|| EngineError::Input("no layer counts to time".into()))?;
    let mimi_ms = time_mimi(opts.mimi_frames.max(1), opts.warmup)?;
    progress(&format!(
        "mimi: {mimi_ms:.1} ms per frame (encode + decode)"
    ));
    let mut pool = Pool::new(0)?;
    let dense = random_lm_tensors(&opts.config, max_layers, &mut pool)?;
    drop(pool);
    progress(&format!(
        "weights: {max_layers} layers generated ({:.1} s)",
        t0.elapsed().as_secs_f64()
    ));
    let mut qualities = Vec::with_capacity(opts.qualities.len());
    for &quality in &opts.qualities {
        let (tensors, fmt) = match quant_spec(quality) {
            None => (dense.clone(), WeightFormat::Dense(Dtype::Bfloat16)),
            Some(spec) => (
                crate::quant::quantize_checkpoint(dense.clone(), spec)?,
                WeightFormat::Quantized(spec),
            ),
        };
        let mut points = Vec::with_capacity(opts.layers.len());
        for &k in &opts.layers {
            let ms = time_lm(&opts.config, k, &tensors, fmt, opts.warmup, opts.steps)?;
            progress(&format!("{quality}: {k} layers: {ms:.1} ms per step"));
            points.push((k, ms));
        }
        let fit = Fit::least_squares(&points)?;
        let timing = QualityTiming {
            quality,
            points,
            fit,
            full_layers: opts.config.transformer.num_layers,
            mimi_ms,
        };
        progress(&format!(
            "{quality}: predicted {:.1} ms per frame ({:.1} fixed + {} × {:.1} per layer + {mimi_ms:.1} Mimi)",
            timing.frame_ms(),
            fit.fixed_ms,
            timing.full_layers,
            fit.per_layer_ms
        ));
        qualities.push(timing);
    }
    Ok(SpeedTestResult {
        qualities,
        mimi_ms,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Generates and times the `layers`-layer model of `quality` on its own (the check of the
/// extrapolation: compare with [`Fit::predict`]). Returns the median step in ms.
pub fn time_quality_layers(
    opts: &SpeedTestOptions,
    quality: Quality,
    layers: usize,
) -> Result<f64, EngineError> {
    let mut pool = Pool::new(1)?;
    let dense = random_lm_tensors(&opts.config, layers, &mut pool)?;
    drop(pool);
    let (tensors, fmt) = match quant_spec(quality) {
        None => (dense, WeightFormat::Dense(Dtype::Bfloat16)),
        Some(spec) => (
            crate::quant::quantize_checkpoint(dense, spec)?,
            WeightFormat::Quantized(spec),
        ),
    };
    time_lm(&opts.config, layers, &tensors, fmt, opts.warmup, opts.steps)
}

fn quant_spec(q: Quality) -> Option<QuantSpec> {
    match q {
        Quality::Bf16 => None,
        Quality::Q8 => Some(QuantSpec::Q8),
        Quality::Q4 => Some(QuantSpec::Q4),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median `LmGen::step` time (ms) of the architecture with `layers` temporal layers, built from
/// the first `layers` layers of `tensors`.
pub fn time_lm(
    cfg: &LmConfig,
    layers: usize,
    tensors: &HashMap<String, Array>,
    fmt: WeightFormat,
    warmup: usize,
    steps: usize,
) -> Result<f64, EngineError> {
    let mut cfg = cfg.clone();
    cfg.transformer.num_layers = layers;
    let keep = |name: &str| match name.strip_prefix("transformer.layers.") {
        Some(rest) => rest
            .split('.')
            .next()
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i < layers),
        None => true,
    };
    let subset: HashMap<String, Array> = tensors
        .iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let lm = Lm::load(
        WeightStore::from_map(Path::new("<speed test>"), subset),
        &cfg,
        fmt,
    )?;
    let mut gen = LmGen::new(lm, SamplingConfig::default())?;
    let user = vec![0u32; cfg.other_codebooks()];
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps.max(1) {
        let t = Instant::now();
        gen.step(&user)?;
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(median(&mut times))
}

/// Median encode + decode time (ms) of one frame of a real-size random Mimi (8 codebooks).
pub fn time_mimi(frames: usize, warmup: usize) -> Result<f64, EngineError> {
    let cfg = MimiConfig::v0_1();
    let mut mimi = Mimi::random(&cfg, 8, 1)?;
    let fs = mimi.frame_size();
    let pcm: Vec<f32> = (0..fs)
        .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 24000.0).sin())
        .collect();
    let mut times = Vec::with_capacity(frames);
    for i in 0..warmup + frames {
        let t = Instant::now();
        for codes in mimi.encode_step(&pcm)? {
            mimi.decode_step(&codes)?;
        }
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(median(&mut times))
}

/// Windows of one pool of N(0, 1) values at pseudo-random offsets.
struct Pool {
    values: Array,
    state: u64,
}

/// Large enough for the largest 7B tensor (`text_emb`: 32001 × 4096).
const POOL_SIZE: i32 = 1 << 27;

impl Pool {
    fn new(seed: u64) -> Result<Pool, EngineError> {
        let key = mlx_rs::random::key(seed)?;
        let values = mlx_rs::random::normal::<f32>(&[POOL_SIZE], None, None, &key)?;
        values.eval()?;
        Ok(Pool {
            values,
            state: seed.wrapping_mul(6364136223846793005).wrapping_add(1),
        })
    }

    /// A bf16 tensor of `shape`: a pool window times `scale`.
    fn take(&mut self, shape: &[usize], scale: f32) -> Result<Array, EngineError> {
        let n: usize = shape.iter().product();
        if n > POOL_SIZE as usize {
            return Err(EngineError::Shape(format!(
                "tensor {shape:?} is larger than the speed test's pool"
            )));
        }
        // xorshift for the offset
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let off = (self.state % (POOL_SIZE as u64 - n as u64 + 1)) as i32;
        let dims: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        let w = self
            .values
            .try_index(off..off + n as i32)?
            .reshape(&dims)?
            .multiply(Array::from_f32(scale))?
            .as_dtype(Dtype::Bfloat16)?;
        w.eval()?;
        Ok(w)
    }
}

/// Collects named random tensors.
struct Generator<'a> {
    pool: &'a mut Pool,
    out: HashMap<String, Array>,
}

impl Generator<'_> {
    /// Norm weights are ones, embeddings N(0, 1), projections N(0, 1/fan_in).
    fn put(&mut self, name: String, shape: &[usize]) -> Result<(), EngineError> {
        let w = if shape.len() == 1 {
            mlx_rs::ops::ones::<f32>(&[shape[0] as i32])?.as_dtype(Dtype::Bfloat16)?
        } else if name.contains("emb") {
            self.pool.take(shape, 1.0)?
        } else {
            self.pool.take(shape, 1.0 / (shape[1] as f32).sqrt())?
        };
        self.out.insert(name, w);
        Ok(())
    }

    /// `{prefix}.layers.{i}.*` for `n` layers of `t`.
    fn stack(
        &mut self,
        prefix: &str,
        t: &crate::config::TransformerConfig,
        n: usize,
    ) -> Result<(), EngineError> {
        let d = t.d_model;
        let h = t.gating_hidden();
        for i in 0..n {
            let p = format!("{prefix}.layers.{i}");
            self.put(format!("{p}.norm1.weight"), &[d])?;
            self.put(format!("{p}.norm2.weight"), &[d])?;
            self.put(format!("{p}.self_attn.in_proj.weight"), &[3 * d, d])?;
            self.put(format!("{p}.self_attn.out_proj.weight"), &[d, d])?;
            self.put(format!("{p}.gating.linear_in.weight"), &[2 * h, d])?;
            self.put(format!("{p}.gating.linear_out.weight"), &[d, h])?;
        }
        Ok(())
    }
}

/// Every tensor of a bf16 checkpoint of `cfg` with `layers` temporal layers, under the
/// checkpoint's names (those [`Lm::load`] reads).
fn random_lm_tensors(
    cfg: &LmConfig,
    layers: usize,
    pool: &mut Pool,
) -> Result<HashMap<String, Array>, EngineError> {
    let d = cfg.transformer.d_model;
    let dd = cfg.depformer.transformer.d_model;
    let mut g = Generator {
        pool,
        out: HashMap::new(),
    };
    g.stack("transformer", &cfg.transformer, layers)?;
    g.put("out_norm.weight".into(), &[d])?;
    g.put("text_emb.weight".into(), &[cfg.text_in_vocab_size, d])?;
    g.put("text_linear.weight".into(), &[cfg.text_out_vocab_size, d])?;
    for i in 0..cfg.audio_codebooks {
        g.put(format!("audio_embs.{i}.weight"), &[cfg.audio_vocab_size, d])?;
    }
    for i in 0..cfg.depformer.num_slices {
        let p = format!("depformer.slices.{i}");
        let in_vocab = if i == 0 {
            cfg.text_in_vocab_size
        } else {
            cfg.audio_vocab_size
        };
        g.put(format!("{p}.emb.weight"), &[in_vocab, dd])?;
        g.put(format!("{p}.linear_in.weight"), &[dd, d])?;
        g.put(format!("{p}.linear_out.weight"), &[cfg.audio_card(), dd])?;
        g.stack(
            &format!("{p}.transformer"),
            &cfg.depformer.transformer,
            cfg.depformer.transformer.num_layers,
        )?;
    }
    Ok(g.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_line() {
        let f = Fit::least_squares(&[(1, 12.0), (2, 14.0), (4, 18.0)]).expect("fit");
        assert!((f.per_layer_ms - 2.0).abs() < 1e-12, "{f:?}");
        assert!((f.fixed_ms - 10.0).abs() < 1e-12, "{f:?}");
        assert!((f.predict(32) - 74.0).abs() < 1e-9);
        assert!(Fit::least_squares(&[(2, 1.0), (2, 2.0)]).is_err());
        // Noise that tilts the line down (seen on this loaded CPU at q8) never predicts a
        // negative or shrinking step.
        let f = Fit::least_squares(&[(1, 29_308.0), (2, 23_379.0)]).expect("fit");
        assert_eq!(f.per_layer_ms, 0.0);
        assert!(f.predict(32) >= 23_379.0, "{f:?}");
        let f = Fit::least_squares(&[(1, 1.0), (2, 30.0)]).expect("fit");
        assert!(f.fixed_ms >= 0.0 && f.predict(1) >= 0.0, "{f:?}");
        assert!(Fit::least_squares(&[(2, 1.0)]).is_err());
    }

    /// The generated tensors are exactly what `Lm::load` (strict) reads, for a small config.
    #[test]
    fn random_weights_load_as_a_checkpoint() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.cache/fixtures/pipeline-tiny/config.json"),
        )
        .expect("pipeline-tiny fixture (scripts/make-fixtures.sh)");
        let cfg = moshi_repo::RepoConfig::from_json_str(&text)
            .expect("Kyutai config")
            .lm;
        let mut pool = Pool::new(3).expect("pool");
        let t = random_lm_tensors(&cfg, 2, &mut pool).expect("tensors");
        for fmt in [
            WeightFormat::Dense(Dtype::Bfloat16),
            WeightFormat::Quantized(QuantSpec::Q4),
        ] {
            let tensors = match fmt {
                WeightFormat::Quantized(s) => {
                    crate::quant::quantize_checkpoint(t.clone(), s).expect("quantize")
                }
                WeightFormat::Dense(_) => t.clone(),
            };
            for k in [1, 2] {
                let ms = time_lm(&cfg, k, &tensors, fmt, 0, 1).expect("loads and steps");
                assert!(ms > 0.0);
            }
        }
    }

    /// The random real-size Mimi runs a frame through and gives finite audio.
    #[test]
    fn a_random_mimi_is_timed() {
        let ms = time_mimi(1, 0).expect("random Mimi encodes and decodes");
        assert!(ms > 0.0);
        let mut mimi = Mimi::random(&MimiConfig::v0_1(), 8, 2).expect("random Mimi");
        let codes = mimi.encode_step(&vec![0.1f32; 1920]).expect("encode");
        assert_eq!(codes.len(), 1);
        assert_eq!(codes[0].len(), 8);
        let pcm = mimi.decode_step(&codes[0]).expect("decode");
        assert_eq!(pcm.len(), 1920);
        assert!(pcm.iter().all(|x| x.is_finite()));
        assert!(Mimi::random(&MimiConfig::v0_1(), 33, 2).is_err());
    }
}
