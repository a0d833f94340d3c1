//! The streaming step with the acoustic delays (`moshi_mlx/models/generate.py` `LmGen`).
//!
//! Moshi's own codebooks 1..7 lag codebook 0 by one frame, so a step outputs the codes of the
//! *previous* frame once all of them exist. Only the last `max_delay + 2` frames of the token
//! grid are kept, so memory does not grow with the session.

use super::model::{to_f32_vec, Lm};
use crate::error::EngineError;
use crate::sampling::SamplingConfig;
use mlx_rs::random::RandomState;
use mlx_rs::Array;

const UNGENERATED: i64 = -2;

/// What one step produced.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// The sampled text token (0 = EPAD and 3 = PAD are not displayed).
    pub text_token: u32,
    /// The raw depformer tokens of this step (codebook 0 of this frame, 1..7 of the previous).
    pub depformer_tokens: Vec<u32>,
    /// The first complete frame of Moshi's codes (`LmGen.last_audio_tokens()`): `None` at
    /// step 0 and while it contains padding.
    pub frame: Option<Vec<u32>>,
    /// Text logits (only when logits recording is on).
    pub text_logits: Option<Vec<f32>>,
    /// Audio logits per slice (only when logits recording is on).
    pub audio_logits: Option<Vec<Vec<f32>>>,
    /// `out_norm` output (only when logits recording is on).
    pub transformer_out: Option<Vec<f32>>,
}

/// The LM driven frame by frame.
pub struct LmGen {
    lm: Lm,
    sampling: SamplingConfig,
    rng: RandomState,
    /// `history[t % depth][c]`: token of row c (0 = text, 1.. = codebooks) at step t.
    history: Vec<Vec<i64>>,
    step: usize,
    record_logits: bool,
}

impl LmGen {
    /// Wraps a loaded LM with its samplers; the PRNG is seeded with `sampling.seed`.
    pub fn new(lm: Lm, sampling: SamplingConfig) -> Result<LmGen, EngineError> {
        let depth = lm.config().max_delay() + 2;
        let rows = 1 + lm.config().audio_codebooks;
        Ok(LmGen {
            rng: RandomState::with_seed(sampling.seed)?,
            lm,
            sampling,
            history: vec![vec![UNGENERATED; rows]; depth],
            step: 0,
            record_logits: false,
        })
    }

    /// Also return logits and the transformer output from [`LmGen::step`] (parity checks).
    pub fn set_record_logits(&mut self, on: bool) {
        self.record_logits = on;
    }

    /// The LM.
    pub fn lm(&self) -> &Lm {
        &self.lm
    }

    /// The LM, mutably (teacher-forced parity runs drive it directly).
    pub fn lm_mut(&mut self) -> &mut Lm {
        &mut self.lm
    }

    /// Steps taken since the last reset.
    pub fn step_index(&self) -> usize {
        self.step
    }

    /// Starts a new conversation: clears the caches and the token grid and re-seeds the PRNG.
    pub fn reset(&mut self) -> Result<(), EngineError> {
        self.lm.reset();
        for col in &mut self.history {
            col.fill(UNGENERATED);
        }
        self.step = 0;
        self.rng = RandomState::with_seed(self.sampling.seed)?;
        Ok(())
    }

    fn cell(&self, t: usize, row: usize) -> i64 {
        self.history[t % self.history.len()][row]
    }

    fn set_cell(&mut self, t: usize, row: usize, v: i64) {
        let n = self.history.len();
        self.history[t % n][row] = v;
    }

    /// One frame: feeds the user's `other_codebooks` codes for this frame, returns the text
    /// token and, from step 1 on, Moshi's previous frame of codes.
    pub fn step(&mut self, user_codes: &[u32]) -> Result<StepOutput, EngineError> {
        let cfg = self.lm.config().clone();
        let gen = cfg.generated_codebooks();
        if user_codes.len() != cfg.other_codebooks() {
            return Err(EngineError::Input(format!(
                "expected {} user codes, got {}",
                cfg.other_codebooks(),
                user_codes.len()
            )));
        }
        let t = self.step;
        let depth = self.history.len();
        self.history[t % depth].fill(UNGENERATED);
        for (i, &c) in user_codes.iter().enumerate() {
            self.set_cell(t, 1 + gen + i, c as i64);
        }
        let text_in = if t == 0 {
            cfg.initial_text_token()
        } else {
            self.cell(t - 1, 0) as u32
        };
        let pad = cfg.audio_padding_token();
        let mut audio_in = Vec::with_capacity(cfg.audio_codebooks);
        for (cb, &delay) in cfg.audio_delays.iter().enumerate() {
            let tok = if t > delay {
                let v = self.cell(t - 1 - delay, cb + 1);
                if v < 0 {
                    return Err(EngineError::Input(format!(
                        "ungenerated token for codebook {cb} at step {t}"
                    )));
                }
                v as u32
            } else {
                pad
            };
            audio_in.push(tok);
        }

        let main = self.lm.forward_main(text_in, &audio_in)?;
        let text_tok = self
            .sampling
            .text
            .sample(&main.text_logits, &mut self.rng)?;
        let dep = self.lm.depformer(
            &main.transformer_out,
            &text_tok,
            &self.sampling.audio.clone(),
            &mut self.rng,
            None,
        )?;
        let all = mlx_rs::ops::concatenate(
            &std::iter::once(text_tok.reshape(&[1, 1])?)
                .chain(dep.tokens.iter().cloned())
                .collect::<Vec<Array>>(),
            1,
        )?;
        all.eval()?;
        let ids: Vec<u32> = all
            .as_dtype(mlx_rs::Dtype::Int32)?
            .try_as_slice::<i32>()?
            .iter()
            .map(|&v| v as u32)
            .collect();
        let text_token = ids[0];
        let depformer_tokens = ids[1..].to_vec();

        self.set_cell(t, 0, text_token as i64);
        for (cb, &delay) in cfg.audio_delays[..gen].iter().enumerate() {
            if t >= delay {
                self.set_cell(t - delay, cb + 1, depformer_tokens[cb] as i64);
            }
        }
        self.step += 1;

        let frame = self.last_audio_tokens(&cfg)?;
        let (text_logits, audio_logits, transformer_out) = if self.record_logits {
            (
                Some(to_f32_vec(&main.text_logits)?),
                Some(
                    dep.logits
                        .iter()
                        .map(to_f32_vec)
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                Some(to_f32_vec(&main.transformer_out)?),
            )
        } else {
            (None, None, None)
        };
        Ok(StepOutput {
            text_token,
            depformer_tokens,
            frame,
            text_logits,
            audio_logits,
            transformer_out,
        })
    }

    fn last_audio_tokens(
        &self,
        cfg: &crate::config::LmConfig,
    ) -> Result<Option<Vec<u32>>, EngineError> {
        let max_delay = cfg.max_delay();
        if self.step < 1 + max_delay {
            return Ok(None);
        }
        let idx = self.step - 1 - max_delay;
        let pad = cfg.audio_padding_token() as i64;
        let mut out = Vec::with_capacity(cfg.generated_codebooks());
        for cb in 0..cfg.generated_codebooks() {
            let v = self.cell(idx, cb + 1);
            if v == pad {
                return Ok(None);
            }
            if v < 0 {
                return Err(EngineError::Input(format!(
                    "ungenerated value in last audio tokens at step {}",
                    self.step
                )));
            }
            out.push(v as u32);
        }
        Ok(Some(out))
    }

    /// Runs one step on padding input and resets, so MLX allocations and any lazy
    /// initialisation happen before the first real frame (`Lm.warmup` in moshi_mlx).
    pub fn warmup(&mut self) -> Result<(), EngineError> {
        let n = self.lm.config().other_codebooks();
        let zeros = vec![0u32; n];
        self.step(&zeros)?;
        self.reset()
    }
}
