//! The LM proper (`moshi_mlx/models/lm.py` `Lm`): embeddings, the temporal transformer with
//! `out_norm` and `text_linear`, and the depformer slices.

use super::kv::KvCache;
use super::transformer::Transformer;
use crate::config::LmConfig;
use crate::error::EngineError;
use crate::nn::{CpuSplit, Matrix, RmsNorm, SplitMatrix, WeightFormat};
use crate::sampling::Sampler;
use crate::weights::WeightStore;
use mlx_rs::random::RandomState;
use mlx_rs::{Array, Dtype};

struct Slice {
    emb: Matrix,
    linear_out: SplitMatrix,
    transformer: Transformer,
}

/// Outputs of the temporal transformer for one step (lazy MLX arrays).
pub struct MainOut {
    /// `out_norm(transformer(x))`, `(1, 1, d_model)`: the depformer's input.
    pub transformer_out: Array,
    /// `(1, 1, text_out_vocab)`.
    pub text_logits: Array,
}

/// Depformer outputs for one step (lazy MLX arrays).
pub struct DepOut {
    /// One int32 `(1, 1)` token per slice.
    pub tokens: Vec<Array>,
    /// One `(1, 1, card)` logits array per slice.
    pub logits: Vec<Array>,
}

/// Moshi's LM with its caches.
pub struct Lm {
    cfg: LmConfig,
    fmt: WeightFormat,
    transformer: Transformer,
    out_norm: RmsNorm,
    text_emb: Matrix,
    text_linear: SplitMatrix,
    audio_embs: Vec<Matrix>,
    /// Every slice's `linear_in` stacked by rows: one matmul gives all slices' inputs.
    dep_in: SplitMatrix,
    slices: Vec<Slice>,
    split: CpuSplit,
    main_cache: Vec<KvCache>,
    dep_cache: Vec<KvCache>,
}

impl Lm {
    /// Builds the model from a checkpoint's tensors (strict: missing, misshaped and unused
    /// tensors are errors naming the tensor).
    pub fn load(mut ws: WeightStore, cfg: &LmConfig, fmt: WeightFormat) -> Result<Lm, EngineError> {
        crate::config::validate(cfg)?;
        let split = CpuSplit::auto();
        let d = cfg.transformer.d_model;
        let dd = cfg.depformer.transformer.d_model;
        let transformer = Transformer::load(&mut ws, "transformer", &cfg.transformer, fmt, &split)?;
        let out_norm = RmsNorm::load(&mut ws, "out_norm", d, fmt)?;
        let text_emb = Matrix::load(&mut ws, "text_emb", cfg.text_in_vocab_size, d, fmt)?;
        let text_linear = SplitMatrix::new(
            Matrix::load(&mut ws, "text_linear", cfg.text_out_vocab_size, d, fmt)?,
            &split,
        )?;
        let audio_embs = (0..cfg.audio_codebooks)
            .map(|i| {
                Matrix::load(
                    &mut ws,
                    &format!("audio_embs.{i}"),
                    cfg.audio_vocab_size,
                    d,
                    fmt,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut slices = Vec::with_capacity(cfg.depformer.num_slices);
        let mut linear_in = Vec::with_capacity(cfg.depformer.num_slices);
        for i in 0..cfg.depformer.num_slices {
            let p = format!("depformer.slices.{i}");
            let in_vocab = if i == 0 {
                cfg.text_in_vocab_size
            } else {
                cfg.audio_vocab_size
            };
            linear_in.push(Matrix::load(
                &mut ws,
                &format!("{p}.linear_in"),
                dd,
                d,
                fmt,
            )?);
            slices.push(Slice {
                emb: Matrix::load(&mut ws, &format!("{p}.emb"), in_vocab, dd, fmt)?,
                linear_out: SplitMatrix::new(
                    Matrix::load(
                        &mut ws,
                        &format!("{p}.linear_out"),
                        cfg.audio_card(),
                        dd,
                        fmt,
                    )?,
                    &split,
                )?,
                transformer: Transformer::load(
                    &mut ws,
                    &format!("{p}.transformer"),
                    &cfg.depformer.transformer,
                    fmt,
                    &split,
                )?,
            });
        }
        ws.finish()?;
        let dep_in = Matrix::stack_rows(&linear_in)?;
        mlx_rs::transforms::eval(dep_in.arrays())?;
        drop(linear_in);
        let dep_in = SplitMatrix::new(dep_in, &split)?;
        let main_cache = transformer.ring_caches();
        let dep_cache = slices
            .first()
            .map(|s| s.transformer.growing_caches())
            .unwrap_or_default();
        let lm = Lm {
            cfg: cfg.clone(),
            fmt,
            transformer,
            out_norm,
            text_emb,
            text_linear,
            audio_embs,
            dep_in,
            slices,
            split,
            main_cache,
            dep_cache,
        };
        lm.eval_params()?;
        Ok(lm)
    }

    /// Loads a checkpoint file: dense (`Dense(F32)` / `Dense(Bfloat16)` of a bf16 file) or
    /// pre-quantized (`Quantized(spec)` of a q8/q4 file).
    pub fn load_file(
        path: &std::path::Path,
        cfg: &LmConfig,
        fmt: WeightFormat,
    ) -> Result<Lm, EngineError> {
        let t0 = std::time::Instant::now();
        let lm = Lm::load(WeightStore::load(path)?, cfg, fmt)?;
        tracing::info!(path = %path.display(), ?fmt, secs = t0.elapsed().as_secs_f32(), "loaded LM");
        Ok(lm)
    }

    /// Loads a bf16 checkpoint and quantizes it at load time (same tensors as the
    /// pre-quantized files, see `quant::quantize_checkpoint`).
    pub fn load_quantizing(
        path: &std::path::Path,
        cfg: &LmConfig,
        spec: crate::quant::QuantSpec,
    ) -> Result<Lm, EngineError> {
        let t0 = std::time::Instant::now();
        let ws = WeightStore::load(path)?;
        let q = crate::quant::quantize_checkpoint(ws.into_map(), spec)?;
        let lm = Lm::load(
            WeightStore::from_map(path, q),
            cfg,
            WeightFormat::Quantized(spec),
        )?;
        tracing::info!(path = %path.display(), ?spec, secs = t0.elapsed().as_secs_f32(), "loaded and quantized LM");
        Ok(lm)
    }

    /// Materializes every parameter (so load errors and load time happen here, not in step 0).
    fn eval_params(&self) -> Result<(), EngineError> {
        // MLX loads the file and converts dtypes lazily; evaluating here moves that cost (and
        // any read error) to load time.
        fn push<'a>(arrays: &mut Vec<&'a Array>, m: &'a Matrix) {
            match m {
                Matrix::Dense(w) => arrays.push(w),
                Matrix::Quantized {
                    w, scales, biases, ..
                } => arrays.extend([w, scales, biases]),
            }
        }
        let mut arrays: Vec<&Array> = Vec::new();
        push(&mut arrays, &self.text_emb);
        push(&mut arrays, self.text_linear.matrix());
        push(&mut arrays, self.dep_in.matrix());
        for m in &self.audio_embs {
            push(&mut arrays, m);
        }
        for s in &self.slices {
            push(&mut arrays, &s.emb);
            push(&mut arrays, s.linear_out.matrix());
        }
        mlx_rs::transforms::eval(arrays)?;
        self.transformer.eval_params()?;
        for s in &self.slices {
            s.transformer.eval_params()?;
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &LmConfig {
        &self.cfg
    }

    /// The weight format (dense dtype or quantization).
    pub fn format(&self) -> WeightFormat {
        self.fmt
    }

    /// How large matmuls are split across CPU streams ([`CpuSplit::auto`] at load).
    pub fn cpu_split(&self) -> &CpuSplit {
        &self.split
    }

    /// Re-splits every large matrix for `split` (e.g. [`CpuSplit::none`] to compare with a
    /// one-stream run). Results are bit-identical either way.
    pub fn set_cpu_split(&mut self, split: CpuSplit) -> Result<(), EngineError> {
        self.transformer.set_cpu_split(&split)?;
        self.text_linear.resplit(&split)?;
        self.dep_in.resplit(&split)?;
        for s in &mut self.slices {
            s.linear_out.resplit(&split)?;
            s.transformer.set_cpu_split(&split)?;
        }
        self.split = split;
        Ok(())
    }

    /// Clears the temporal KV cache (a new conversation).
    pub fn reset(&mut self) {
        self.main_cache.iter_mut().for_each(KvCache::reset);
        self.dep_cache.iter_mut().for_each(KvCache::reset);
    }

    /// Switches the temporal cache to the concatenate-and-trim reference implementation
    /// (keys always in time order, more copying). Tests use it to show the ring computes the
    /// same thing; it is not meant for sessions.
    pub fn use_reference_cache(&mut self) {
        self.main_cache = self.transformer.growing_caches();
    }

    /// Steps held by the temporal KV cache (bounded by context + 1).
    pub fn cached_steps(&self) -> usize {
        self.main_cache.first().map_or(0, KvCache::len)
    }

    fn ids(tok: u32) -> Array {
        Array::from_slice(&[tok as i32], &[1, 1])
    }

    /// One temporal step: `text_emb(text) + Σ audio_embs[k](audio[k])` through the
    /// transformer, `out_norm` and `text_linear`. `audio` holds one token per codebook.
    pub fn forward_main(&mut self, text: u32, audio: &[u32]) -> Result<MainOut, EngineError> {
        if audio.len() != self.cfg.audio_codebooks {
            return Err(EngineError::Input(format!(
                "{} audio tokens for {} codebooks",
                audio.len(),
                self.cfg.audio_codebooks
            )));
        }
        if text as usize >= self.cfg.text_in_vocab_size {
            return Err(EngineError::Input(format!(
                "text token {text} out of range"
            )));
        }
        if let Some(t) = audio
            .iter()
            .find(|&&t| t as usize >= self.cfg.audio_vocab_size)
        {
            return Err(EngineError::Input(format!("audio token {t} out of range")));
        }
        let audio: Vec<Array> = audio.iter().map(|&t| Self::ids(t)).collect();
        self.forward_main_ids(&Self::ids(text), &audio)
    }

    /// [`Lm::forward_main`] on int32 `(1, 1)` id arrays, which may be lazy (the outputs of a
    /// step still being computed, see [`super::LmGen::submit`]); their range is not checked
    /// (sampled tokens are in range by construction).
    pub fn forward_main_ids(
        &mut self,
        text: &Array,
        audio: &[Array],
    ) -> Result<MainOut, EngineError> {
        if audio.len() != self.cfg.audio_codebooks {
            return Err(EngineError::Input(format!(
                "{} audio tokens for {} codebooks",
                audio.len(),
                self.cfg.audio_codebooks
            )));
        }
        let mut x = self.text_emb.embed(text)?;
        for (emb, tok) in self.audio_embs.iter().zip(audio) {
            x = x.add(&emb.embed(tok)?)?;
        }
        let h = self.transformer.forward(&x, &mut self.main_cache)?;
        let transformer_out = self.out_norm.forward(&h)?;
        let text_logits = self.text_linear.linear(&transformer_out)?;
        Ok(MainOut {
            transformer_out,
            text_logits,
        })
    }

    /// The depformer for one step: slice k embeds the previous token (the text token for
    /// slice 0), adds `linear_in_k(transformer_out)`, runs its transformer over the shared
    /// per-step cache, and samples its codebook. With `forced`, slice k>0 is fed
    /// `forced[k-1]` instead of its predecessor's sample (teacher forcing for parity).
    pub fn depformer(
        &mut self,
        transformer_out: &Array,
        text_token: &Array,
        sampler: &Sampler,
        rng: &mut RandomState,
        forced: Option<&[u32]>,
    ) -> Result<DepOut, EngineError> {
        self.dep_cache.iter_mut().for_each(KvCache::reset);
        let n = self.slices.len() as i32;
        let dep_inputs = if n > 0 {
            mlx_rs::ops::split_equal(&self.dep_in.linear(transformer_out)?, n, -1)?
        } else {
            Vec::new()
        };
        let mut last = text_token.reshape(&[1, 1])?;
        let mut tokens = Vec::with_capacity(self.slices.len());
        let mut logits = Vec::with_capacity(self.slices.len());
        for (k, (slice, input)) in self.slices.iter().zip(&dep_inputs).enumerate() {
            if k > 0 {
                if let Some(f) = forced {
                    let t = f.get(k - 1).copied().ok_or_else(|| {
                        EngineError::Input(format!("forced tokens too short for slice {k}"))
                    })?;
                    last = Self::ids(t);
                }
            }
            let x = input.add(&slice.emb.embed(&last)?)?;
            let x = slice.transformer.forward(&x, &mut self.dep_cache)?;
            let l = slice.linear_out.linear(&x)?;
            let tok = sampler.sample(&l, rng)?.reshape(&[1, 1])?;
            last = tok.clone();
            tokens.push(tok);
            logits.push(l);
        }
        Ok(DepOut { tokens, logits })
    }
}

/// Copies a (small) array to host f32 values.
pub fn to_f32_vec(a: &Array) -> Result<Vec<f32>, EngineError> {
    let f = a.as_dtype(Dtype::Float32)?.reshape(&[-1])?;
    f.eval()?;
    Ok(f.try_as_slice::<f32>()?.to_vec())
}
