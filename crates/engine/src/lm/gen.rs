//! The streaming step with the acoustic delays (`moshi_mlx/models/generate.py` `LmGen`).
//!
//! Moshi's own codebooks 1..7 lag codebook 0 by one frame, so a step outputs the codes of the
//! *previous* frame once all of them exist. Only the last `max_delay + 2` frames of the token
//! grid are kept, so memory does not grow with the session.

use super::model::{to_f32_vec, Lm};
use crate::error::EngineError;
use crate::sampling::SamplingConfig;
use mlx_rs::ops::indexing::TryIndexOp;
use mlx_rs::random::RandomState;
use mlx_rs::Array;
use std::collections::VecDeque;

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
    /// Steps collected (the index of the next step to read back).
    step: usize,
    /// Steps submitted (the index of the next step to build).
    submitted: usize,
    /// Submitted steps not yet collected, oldest first.
    pending: VecDeque<Pending>,
    record_logits: bool,
}

/// A step launched by [`LmGen::submit`] and not yet read back by [`LmGen::collect`].
struct Pending {
    /// Its step index.
    t: usize,
    /// int32 `(1, 1 + slices)`: the text token, then one token per depformer slice.
    tokens: Array,
    /// Text logits, audio logits and `out_norm` output, when logits recording is on.
    recorded: Option<(Array, Vec<Array>, Array)>,
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
            submitted: 0,
            pending: VecDeque::new(),
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
        self.submitted = 0;
        self.pending.clear();
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
    /// token and, from step 1 on, Moshi's previous frame of codes. The same as
    /// [`LmGen::submit`] then [`LmGen::collect`]; an error while a submitted step is still
    /// in flight.
    pub fn step(&mut self, user_codes: &[u32]) -> Result<StepOutput, EngineError> {
        if !self.pending.is_empty() {
            return Err(EngineError::Input(format!(
                "step() with {} submitted step(s) not collected",
                self.pending.len()
            )));
        }
        self.submit(user_codes)?;
        self.collect()
    }

    /// Steps submitted and not yet collected (0, 1 or [`LmGen::MAX_IN_FLIGHT`]).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// At most this many steps may be submitted and not collected: one step read back
    /// while the next one computes.
    pub const MAX_IN_FLIGHT: usize = 2;

    /// Builds the next step on the user's codes for it and launches it (`async_eval`)
    /// without waiting for its tokens; [`LmGen::collect`] reads them back.
    ///
    /// With a step already in flight, this one is built on that step's tokens as lazy
    /// arrays: step t+1 needs the text token of step t, codebook 0 of step t (delay 0) and
    /// codebooks 1..7 of step t−1 (delay 1), all of which are step t's depformer outputs,
    /// so submitting t+1 before collecting t lets MLX run t+1 right behind t while the host
    /// reads t back (and builds no graph in between). The sampled tokens are bit-identical
    /// to [`LmGen::step`]'s (same operations on the same values; only where the embedding
    /// ids come from differs) — `tests/lm_lookahead.rs`. The price in a live session is one
    /// frame (80 ms) of latency: the user's codes for t+1 must exist before t is read back.
    pub fn submit(&mut self, user_codes: &[u32]) -> Result<(), EngineError> {
        if self.pending.len() >= Self::MAX_IN_FLIGHT {
            return Err(EngineError::Input(format!(
                "{} steps already in flight: collect one first",
                self.pending.len()
            )));
        }
        let cfg = self.lm.config().clone();
        let gen = cfg.generated_codebooks();
        if user_codes.len() != cfg.other_codebooks() {
            return Err(EngineError::Input(format!(
                "expected {} user codes, got {}",
                cfg.other_codebooks(),
                user_codes.len()
            )));
        }
        let t = self.submitted;
        let depth = self.history.len();
        self.history[t % depth].fill(UNGENERATED);
        for (i, &c) in user_codes.iter().enumerate() {
            self.set_cell(t, 1 + gen + i, c as i64);
        }
        let pad = cfg.audio_padding_token();
        let main = match self.pending.back() {
            // Step t−1 is in flight: its text and depformer tokens are step t's inputs.
            Some(prev) => {
                let col = |c: i32| prev.tokens.try_index((.., c..c + 1));
                let text_in = col(0)?;
                let mut audio_in = Vec::with_capacity(cfg.audio_codebooks);
                for (cb, &delay) in cfg.audio_delays.iter().enumerate() {
                    audio_in.push(if t <= delay {
                        Self::ids(pad)
                    } else if cb < gen {
                        // Set by step (t−1−delay)+delay = t−1 as depformer token cb.
                        col(1 + cb as i32)?
                    } else {
                        Self::ids(self.host_input(t, cb, delay)?)
                    });
                }
                self.lm.forward_main_ids(&text_in, &audio_in)?
            }
            None => {
                let text_in = if t == 0 {
                    cfg.initial_text_token()
                } else {
                    self.cell(t - 1, 0) as u32
                };
                let mut audio_in = Vec::with_capacity(cfg.audio_codebooks);
                for (cb, &delay) in cfg.audio_delays.iter().enumerate() {
                    audio_in.push(if t > delay {
                        self.host_input(t, cb, delay)?
                    } else {
                        pad
                    });
                }
                self.lm.forward_main(text_in, &audio_in)?
            }
        };
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
        let tokens = mlx_rs::ops::concatenate(
            &std::iter::once(text_tok.reshape(&[1, 1])?)
                .chain(dep.tokens.iter().cloned())
                .collect::<Vec<Array>>(),
            1,
        )?
        .as_dtype(mlx_rs::Dtype::Int32)?;
        mlx_rs::transforms::async_eval([&tokens])?;
        let recorded =
            self.record_logits
                .then_some((main.text_logits, dep.logits, main.transformer_out));
        self.pending.push_back(Pending {
            t,
            tokens,
            recorded,
        });
        self.submitted += 1;
        Ok(())
    }

    /// Waits for the oldest submitted step and reads its tokens back: the text token and,
    /// from step 1 on, Moshi's previous frame of codes (what [`LmGen::step`] returns).
    pub fn collect(&mut self) -> Result<StepOutput, EngineError> {
        let p = self
            .pending
            .pop_front()
            .ok_or_else(|| EngineError::Input("no submitted step to collect".into()))?;
        let cfg = self.lm.config().clone();
        let gen = cfg.generated_codebooks();
        p.tokens.eval()?;
        let ids: Vec<u32> = p
            .tokens
            .try_as_slice::<i32>()?
            .iter()
            .map(|&v| v as u32)
            .collect();
        if ids.len() != 1 + gen {
            return Err(EngineError::Shape(format!(
                "{} tokens from a step, expected {}",
                ids.len(),
                1 + gen
            )));
        }
        let t = p.t;
        let text_token = ids[0];
        let depformer_tokens = ids[1..].to_vec();

        self.set_cell(t, 0, text_token as i64);
        for (cb, &delay) in cfg.audio_delays[..gen].iter().enumerate() {
            if t >= delay {
                self.set_cell(t - delay, cb + 1, depformer_tokens[cb] as i64);
            }
        }
        self.step = t + 1;

        let frame = self.last_audio_tokens(&cfg)?;
        let (text_logits, audio_logits, transformer_out) = match &p.recorded {
            Some((text, audio, out)) => (
                Some(to_f32_vec(text)?),
                Some(
                    audio
                        .iter()
                        .map(to_f32_vec)
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                Some(to_f32_vec(out)?),
            ),
            None => (None, None, None),
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

    /// Step `t`'s input for codebook `cb` from the host grid (`t > delay`).
    fn host_input(&self, t: usize, cb: usize, delay: usize) -> Result<u32, EngineError> {
        let v = self.cell(t - 1 - delay, cb + 1);
        if v < 0 {
            return Err(EngineError::Input(format!(
                "ungenerated token for codebook {cb} at step {t}"
            )));
        }
        Ok(v as u32)
    }

    fn ids(tok: u32) -> Array {
        Array::from_slice(&[tok as i32], &[1, 1])
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
