//! `Moshi`: the LM, the Mimi codec and the text tokenizer behind one frame-in/frame-out call,
//! which is all the voice session needs: 1920 samples of the user in, 1920 samples of Moshi
//! (and maybe a text piece) out, every 80 ms.

use crate::codec::{load_codec, MimiBackend, MimiCodec};
use crate::config::LmConfig;
use crate::error::EngineError;
use crate::lm::{Lm, LmGen, StepOutput};
use crate::mimi::MimiConfig;
use crate::nn::WeightFormat;
use crate::pipeline::{Done, MimiWorker};
use crate::quant::QuantSpec;
use crate::sampling::SamplingConfig;
use crate::tokenizer::{TextDecoder, TextTokenizer};
use mlx_rs::Dtype;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Samples per Mimi frame (80 ms at 24 kHz).
pub const FRAME_SAMPLES: usize = 1920;

pub use moshi_repo::{Quality, RepoConfig, CONFIG_FILE};

/// The quantization the engine applies for `quality` (`None` for bf16).
fn quant_spec(quality: Quality) -> Option<QuantSpec> {
    match quality {
        Quality::Bf16 => None,
        Quality::Q8 => Some(QuantSpec::Q8),
        Quality::Q4 => Some(QuantSpec::Q4),
    }
}

/// Where the model files are, and the configuration that goes with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoshiPaths {
    /// LM checkpoint (bf16, q8 or q4).
    pub lm: PathBuf,
    /// Mimi checkpoint (PyTorch names).
    pub mimi: PathBuf,
    /// SentencePiece model; without it no text is produced. [`MoshiPaths::from_dir`] leaves
    /// it out only when the repo's `config.json` does not name one (`tokenizer_name`) and the
    /// standard file is absent; a named file that is missing is an error.
    pub tokenizer: Option<PathBuf>,
    /// The repo's `config.json` in Kyutai's format; `None` = the built-in 7B
    /// ([`RepoConfig::default`]).
    pub config: Option<PathBuf>,
    /// Fixture-only Mimi hyper-parameters ([`FIXTURE_MIMI_CONFIG`]); `None` = the real
    /// `mimi_202407`, as in every Kyutai repo.
    pub mimi_config: Option<PathBuf>,
}

/// A fixture-only file with the tiny Mimi's hyper-parameters (moshi_mlx's `MimiConfig`
/// shape). Kyutai's `config.json` describes only the LM (moshi_mlx always builds
/// `mimi_202407`), so the tiny test repos carry their Mimi here; real repos have no such file.
pub const FIXTURE_MIMI_CONFIG: &str = "fixture_mimi_config.json";

/// Reads a repo's Kyutai-format `config.json`.
pub fn read_repo_config(path: &Path) -> Result<RepoConfig, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::io(path, e))?;
    RepoConfig::from_json_str(&text).map_err(|e| EngineError::RepoConfig {
        path: path.to_path_buf(),
        source: e,
    })
}

fn not_found(path: PathBuf, what: &str) -> EngineError {
    EngineError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::NotFound, what.to_string()),
    )
}

impl MoshiPaths {
    /// The files of a repo snapshot directory laid out as Kyutai's `kyutai/moshiko-mlx-*`:
    /// the names come from its `config.json` (`moshi_name`, `mimi_name`, `tokenizer_name`)
    /// when it has one, else the standard names. Without `moshi_name`, for q8/q4, when the
    /// quantized file is absent but `model.safetensors` is present, `lm` is the bf16 file (to
    /// be quantized at load time with [`LoadOptions::quantize_from_bf16`]).
    pub fn from_dir(dir: &Path, quality: Quality) -> Result<Self, EngineError> {
        let config = Some(dir.join(CONFIG_FILE)).filter(|p| p.exists());
        let repo = match &config {
            Some(p) => read_repo_config(p)?,
            None => RepoConfig::default(),
        };
        let want = dir.join(repo.moshi_file(quality));
        let bf16 = dir.join(Quality::Bf16.lm_file());
        let lm = if want.exists() {
            want
        } else if repo.moshi_name.is_none() && bf16.exists() {
            bf16
        } else {
            return Err(not_found(want, "LM checkpoint not found"));
        };
        let mimi = dir.join(&repo.mimi_name);
        if !mimi.exists() {
            return Err(not_found(mimi, "Mimi checkpoint not found"));
        }
        let opt = |name: &str| Some(dir.join(name)).filter(|p| p.exists());
        let tokenizer = opt(&repo.tokenizer_name);
        if tokenizer.is_none() && repo.tokenizer_named {
            // Named by config.json: without it the transcript would be silently empty.
            return Err(not_found(
                dir.join(&repo.tokenizer_name),
                "text tokenizer (config.json's tokenizer_name) not found",
            ));
        }
        Ok(MoshiPaths {
            lm,
            mimi,
            tokenizer,
            config,
            mimi_config: opt(FIXTURE_MIMI_CONFIG),
        })
    }
}

/// How to load and run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadOptions {
    /// LM precision.
    pub quality: Quality,
    /// `paths.lm` is a bf16 checkpoint to quantize to `quality` at load time (no download of
    /// the quantized file needed; same tensors as Kyutai's q8/q4 files).
    pub quantize_from_bf16: bool,
    /// Samplers and seed.
    pub sampling: SamplingConfig,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            quality: Quality::Q4,
            quantize_from_bf16: false,
            sampling: SamplingConfig::default(),
        }
    }
}

/// What one 80 ms frame produced.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameOutput {
    /// 1920 samples of Moshi's voice (silence until the model's first frame).
    pub pcm: Vec<f32>,
    /// Text to display: pieces with `▁` → space; nothing for EPAD/PAD, control and unknown
    /// pieces; byte-fallback pieces assembled into UTF-8 across frames.
    pub text: Option<String>,
    /// The raw text token of the last LM step in this call.
    pub text_token: u32,
    /// Mimi encoding time.
    pub encode_ms: f32,
    /// LM step time.
    pub lm_ms: f32,
    /// Mimi decoding time.
    pub decode_ms: f32,
    /// Moshi's frames of audio codes whose decoded samples this call returns (one per LM
    /// step that completed a frame; empty while there are none). The same codes, frame for
    /// frame, whichever mode runs ([`Moshi::set_pipelined`], [`Moshi::set_lookahead`]).
    pub codes: Vec<Vec<u32>>,
    /// Wall time of the call. Serially it is about `encode_ms + lm_ms + decode_ms`; in
    /// pipelined mode ([`Moshi::set_pipelined`]) Mimi works while the LM steps, so it is less.
    pub wall_ms: f32,
}

/// LM + Mimi + tokenizer, stepped one frame at a time.
///
/// Mimi is Kyutai's candle Mimi on the CPU unless [`Moshi::set_mimi_backend`] picks the MLX
/// port ([`MimiBackend`]); inline between the LM steps, or on its own thread
/// ([`Moshi::set_pipelined`]).
pub struct Moshi {
    gen: LmGen,
    mimi: MimiStage,
    backend: MimiBackend,
    paths: MoshiPaths,
    text: Option<TextDecoder>,
    pending: VecDeque<f32>,
    /// [`Moshi::set_lookahead`]: keep one LM step in flight across calls.
    lookahead: bool,
}

/// Where Mimi runs: inline between the LM steps, or on its own thread.
enum MimiStage {
    Inline(Box<dyn MimiCodec>),
    Thread(Pipeline),
}

/// The pipelined mode's state: the Mimi thread and what is in flight.
struct Pipeline {
    worker: MimiWorker,
    /// An encode was queued in the previous call (its codes feed this call's LM step).
    encode_in_flight: bool,
    /// Decodes queued in the previous call (their samples are this call's output).
    decodes_in_flight: usize,
    /// Text of the LM step whose frame is being decoded, emitted with its audio.
    text_in_flight: Option<(String, u32)>,
    /// The codes being decoded, returned with their audio.
    codes_in_flight: Vec<Vec<u32>>,
}

fn read_configs(paths: &MoshiPaths) -> Result<(LmConfig, MimiConfig), EngineError> {
    let lm = match &paths.config {
        None => RepoConfig::default().lm,
        Some(p) => read_repo_config(p)?.lm,
    };
    crate::config::validate(&lm)?;
    let mimi = match &paths.mimi_config {
        None => MimiConfig::v0_1(),
        Some(p) => {
            let s = std::fs::read_to_string(p).map_err(|e| EngineError::io(p, e))?;
            MimiConfig::from_json(&serde_json::from_str(&s)?)?
        }
    };
    Ok((lm, mimi))
}

/// Whether a safetensors file holds quantized weights (has `*.scales`), read from its header.
fn is_quantized_file(path: &Path) -> Result<bool, EngineError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| EngineError::io(path, e))?;
    let n = u64::from_le_bytes(len).min(100 << 20) as usize;
    let mut header = vec![0u8; n];
    f.read_exact(&mut header)
        .map_err(|e| EngineError::io(path, e))?;
    Ok(String::from_utf8_lossy(&header).contains(".scales\""))
}

impl Moshi {
    /// Loads everything. With `quantize_from_bf16` and a q8/q4 quality, a bf16 `paths.lm` is
    /// quantized at load time (an already quantized file is used as is).
    pub fn load(paths: &MoshiPaths, opts: &LoadOptions) -> Result<Moshi, EngineError> {
        let (lm_cfg, _) = read_configs(paths)?;
        let lm = match quant_spec(opts.quality) {
            None => Lm::load_file(&paths.lm, &lm_cfg, WeightFormat::Dense(Dtype::Bfloat16))?,
            Some(spec) if opts.quantize_from_bf16 && !is_quantized_file(&paths.lm)? => {
                Lm::load_quantizing(&paths.lm, &lm_cfg, spec)?
            }
            Some(spec) => Lm::load_file(&paths.lm, &lm_cfg, WeightFormat::Quantized(spec))?,
        };
        Self::assemble(paths, lm, opts.sampling)
    }

    /// Loads with an explicit LM weight format (e.g. `Dense(Float32)` for the fp32 end-to-end
    /// parity check against `moshi_mlx`).
    pub fn load_with_format(
        paths: &MoshiPaths,
        fmt: WeightFormat,
        sampling: SamplingConfig,
    ) -> Result<Moshi, EngineError> {
        let (lm_cfg, _) = read_configs(paths)?;
        let lm = Lm::load_file(&paths.lm, &lm_cfg, fmt)?;
        Self::assemble(paths, lm, sampling)
    }

    fn assemble(
        paths: &MoshiPaths,
        lm: Lm,
        sampling: SamplingConfig,
    ) -> Result<Moshi, EngineError> {
        let (_, mimi_cfg) = read_configs(paths)?;
        let codebooks = lm.config().generated_codebooks();
        if lm.config().other_codebooks() != codebooks {
            return Err(EngineError::Config(
                "the LM's user and Moshi streams must have the same number of codebooks".into(),
            ));
        }
        let backend = MimiBackend::default();
        let mimi = load_codec(backend, &paths.mimi, &mimi_cfg, codebooks)?;
        if mimi.frame_size() != FRAME_SAMPLES {
            return Err(EngineError::Config(format!(
                "Mimi frame size {} (expected {FRAME_SAMPLES})",
                mimi.frame_size()
            )));
        }
        let text = paths
            .tokenizer
            .as_deref()
            .map(TextTokenizer::load)
            .transpose()?
            .map(TextDecoder::new);
        Ok(Moshi {
            gen: LmGen::new(lm, sampling)?,
            mimi: MimiStage::Inline(mimi),
            backend,
            paths: paths.clone(),
            text,
            pending: VecDeque::new(),
            lookahead: false,
        })
    }

    /// Runs Mimi on its own thread (`true`) or inline between LM steps (`false`, the
    /// default), and starts a new conversation.
    ///
    /// Pipelined, a call queues this frame's encode, steps the LM on the previous frame's
    /// codes while the Mimi thread decodes the frame before and encodes this one, and
    /// returns the audio decoded in the previous call. The output is exactly the serial
    /// output two frames (160 ms) later, and a call takes about the longest stage instead of
    /// the sum of the three (`FrameOutput::wall_ms`).
    pub fn set_pipelined(&mut self, on: bool) -> Result<(), EngineError> {
        self.reset();
        let (_, mimi_cfg) = read_configs(&self.paths)?;
        let codebooks = self.gen.lm().config().generated_codebooks();
        self.mimi = match (on, &self.mimi) {
            // The thread loads its own codec; the inline one is freed once it has.
            (true, MimiStage::Inline(_)) => MimiStage::Thread(Pipeline {
                worker: MimiWorker::spawn(
                    self.backend,
                    self.paths.mimi.clone(),
                    mimi_cfg,
                    codebooks,
                )?,
                encode_in_flight: false,
                decodes_in_flight: 0,
                text_in_flight: None,
                codes_in_flight: Vec::new(),
            }),
            (false, MimiStage::Thread(_)) => MimiStage::Inline(load_codec(
                self.backend,
                &self.paths.mimi,
                &mimi_cfg,
                codebooks,
            )?),
            _ => return Ok(()),
        };
        Ok(())
    }

    /// Runs Mimi with `backend` from now on (reloading the codec, inline or on the Mimi
    /// thread, whichever mode is on), and starts a new conversation. The default is
    /// [`MimiBackend::Candle`]; the LM is unaffected.
    pub fn set_mimi_backend(&mut self, backend: MimiBackend) -> Result<(), EngineError> {
        if backend == self.backend {
            self.reset();
            return Ok(());
        }
        let pipelined = self.is_pipelined();
        // Back to inline with the new backend, then (if it was on) onto a new Mimi thread.
        self.set_pipelined(false)?;
        let (_, mimi_cfg) = read_configs(&self.paths)?;
        let codebooks = self.gen.lm().config().generated_codebooks();
        self.mimi = MimiStage::Inline(load_codec(backend, &self.paths.mimi, &mimi_cfg, codebooks)?);
        self.backend = backend;
        self.set_pipelined(pipelined)
    }

    /// Which Mimi implementation runs the codec ([`Moshi::set_mimi_backend`]).
    pub fn mimi_backend(&self) -> MimiBackend {
        match &self.mimi {
            MimiStage::Thread(p) => p.worker.backend(),
            MimiStage::Inline(_) => self.backend,
        }
    }

    /// Whether Mimi runs on its own thread ([`Moshi::set_pipelined`]).
    pub fn is_pipelined(&self) -> bool {
        matches!(self.mimi, MimiStage::Thread(_))
    }

    /// Launches each LM step before the previous one is read back (`true`), or steps the LM
    /// one step at a time (`false`, the default), and starts a new conversation.
    ///
    /// With lookahead a call submits the LM step on this call's codes ([`LmGen::submit`],
    /// built on the in-flight step's tokens as lazy arrays and launched with `async_eval`)
    /// and only then reads back the step submitted by the previous call
    /// ([`LmGen::collect`]); at most [`LmGen::MAX_IN_FLIGHT`] steps are in flight, and one
    /// is carried from call to call. MLX computes that step while the caller is away
    /// (between calls, during Mimi's decode on this thread or the next frame's encode), so
    /// the LM never waits for the host to build its next graph.
    ///
    /// **Trade-off:** the output is exactly the output without lookahead (same codes, text
    /// tokens and samples, bit for bit: `tests/moshi_lookahead.rs`) **one frame (80 ms)
    /// later**, because a step's tokens are only read back in the call after the one that
    /// fed it. Works serially and pipelined ([`Moshi::set_pipelined`]); a live session
    /// should turn it on only where it measurably shortens the frame (see the crate README).
    pub fn set_lookahead(&mut self, on: bool) {
        self.reset();
        self.lookahead = on;
    }

    /// Whether LM steps are launched ahead of their read-back ([`Moshi::set_lookahead`]).
    pub fn is_lookahead(&self) -> bool {
        self.lookahead
    }

    /// The LM steps of one call, in step order: each step on its frame of user codes, or,
    /// with lookahead, the steps read back in this call (submitted in this call or the
    /// previous one), with the last submitted step left in flight.
    fn lm_steps(&mut self, codes: Vec<Vec<u32>>) -> Result<Vec<StepOutput>, EngineError> {
        let mut outs = Vec::with_capacity(codes.len() + 1);
        if !self.lookahead {
            for c in codes {
                outs.push(self.gen.step(&c)?);
            }
            return Ok(outs);
        }
        for c in codes {
            if self.gen.in_flight() >= LmGen::MAX_IN_FLIGHT {
                outs.push(self.gen.collect()?);
            }
            self.gen.submit(&c)?;
        }
        while self.gen.in_flight() > 1 {
            outs.push(self.gen.collect()?);
        }
        Ok(outs)
    }

    /// Runs one silent frame through Mimi and the LM, then resets, so the first real frame
    /// does not pay for allocations and kernel set-up.
    pub fn warmup(&mut self) -> Result<(), EngineError> {
        let silence = vec![0.0f32; FRAME_SAMPLES];
        for _ in 0..2 {
            self.step_frame(&silence)?;
        }
        match &mut self.mimi {
            MimiStage::Inline(m) => {
                let codes = vec![0u32; m.num_codebooks()];
                m.decode_step(&codes)?;
            }
            MimiStage::Thread(_) => {
                for _ in 0..2 {
                    self.step_frame(&silence)?;
                }
                if let MimiStage::Thread(p) = &mut self.mimi {
                    p.worker.decode(vec![0u32; p.worker.num_codebooks()])?;
                    p.decodes_in_flight += 1;
                }
            }
        }
        self.reset();
        Ok(())
    }

    /// Starts a new conversation (LM caches, token grid, PRNG seed, Mimi streaming state).
    pub fn reset(&mut self) {
        if let Err(e) = self.gen.reset() {
            tracing::warn!(error = %e, "LM reset failed");
        }
        match &mut self.mimi {
            MimiStage::Inline(m) => m.reset(),
            MimiStage::Thread(p) => {
                if let Err(e) = p.drain_and_reset() {
                    tracing::warn!(error = %e, "Mimi thread reset failed");
                }
            }
        }
        if let Some(t) = &mut self.text {
            t.reset();
        }
        self.pending.clear();
    }

    /// LM steps since the last reset.
    pub fn frames(&self) -> usize {
        self.gen.step_index()
    }

    /// Conversation time since the last reset: 80 ms per LM step (for the session metrics;
    /// sessions run on past the context, which the KV ring keeps flat).
    pub fn conversation_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(80 * self.frames() as u64)
    }

    /// The LM stepper (for diagnostics and parity).
    pub fn lm_gen(&self) -> &LmGen {
        &self.gen
    }

    /// One frame: exactly 1920 samples of 24 kHz mono in, 1920 samples out.
    pub fn step_frame(&mut self, pcm_in: &[f32]) -> Result<FrameOutput, EngineError> {
        if pcm_in.len() != FRAME_SAMPLES {
            return Err(EngineError::Input(format!(
                "step_frame takes {FRAME_SAMPLES} samples, got {}",
                pcm_in.len()
            )));
        }
        let t0 = Instant::now();
        let mimi = match &mut self.mimi {
            MimiStage::Inline(m) => m,
            MimiStage::Thread(_) => return self.step_frame_pipelined(pcm_in, t0),
        };
        let frames = mimi.encode_step(pcm_in)?;
        let encode_ms = ms(t0);
        let t1 = Instant::now();
        let outs = self.lm_steps(frames)?;
        let lm_ms = ms(t1);
        let MimiStage::Inline(mimi) = &mut self.mimi else {
            return Err(EngineError::Config("not inline".into()));
        };
        let mut decode_ms = 0.0;
        let mut text = String::new();
        let mut text_token = 0;
        let mut codes = Vec::new();
        for out in outs {
            text_token = out.text_token;
            if let Some(piece) = self.text.as_mut().and_then(|t| t.push(out.text_token)) {
                text.push_str(&piece);
            }
            if let Some(frame) = out.frame {
                let t2 = Instant::now();
                let pcm = mimi.decode_step(&frame)?;
                decode_ms += ms(t2);
                self.pending.extend(pcm);
                codes.push(frame);
            }
        }
        Ok(FrameOutput {
            pcm: self.take_frame(),
            text: (!text.is_empty()).then_some(text),
            text_token,
            encode_ms,
            lm_ms,
            decode_ms,
            codes,
            wall_ms: ms(t0),
        })
    }

    /// 1920 samples from the decoded audio, or silence until there are that many.
    fn take_frame(&mut self) -> Vec<f32> {
        let mut pcm = vec![0.0f32; FRAME_SAMPLES];
        if self.pending.len() >= FRAME_SAMPLES {
            for (o, s) in pcm.iter_mut().zip(self.pending.drain(..FRAME_SAMPLES)) {
                *o = s;
            }
        }
        pcm
    }

    /// One pipelined call (see [`Moshi::set_pipelined`]): the Mimi thread's jobs are queued
    /// in the order encode(n), decode(frames of step n−1); results come back in that order.
    fn step_frame_pipelined(
        &mut self,
        pcm_in: &[f32],
        t0: Instant,
    ) -> Result<FrameOutput, EngineError> {
        let MimiStage::Thread(p) = &mut self.mimi else {
            return Err(EngineError::Config("not pipelined".into()));
        };
        // Stage 1: the codes of the previous frame (its encode ran during the last call's
        // LM step or since), then queue this frame's encode so it runs during this LM step.
        let (mut encode_ms, mut decode_ms) = (0.0, 0.0);
        let codes = if p.encode_in_flight {
            match p.worker.recv()? {
                Done::Encoded(c, t) => {
                    encode_ms = t;
                    c
                }
                _ => return Err(out_of_order()),
            }
        } else {
            Vec::new()
        };
        p.worker.encode(pcm_in.to_vec())?;
        p.encode_in_flight = true;
        // Stage 2: the LM (the Mimi thread decodes the previous call's frames meanwhile).
        let mut text = String::new();
        let mut text_token = None;
        let mut frames = Vec::new();
        let t1 = Instant::now();
        let outs = self.lm_steps(codes)?;
        let lm_ms = ms(t1);
        for out in outs {
            text_token = Some(out.text_token);
            if let Some(piece) = self.text.as_mut().and_then(|t| t.push(out.text_token)) {
                text.push_str(&piece);
            }
            frames.extend(out.frame);
        }
        let MimiStage::Thread(p) = &mut self.mimi else {
            return Err(EngineError::Config("not pipelined".into()));
        };
        // Stage 3: the samples of the previous call's frames, then queue this call's.
        for _ in 0..p.decodes_in_flight {
            match p.worker.recv()? {
                Done::Decoded(pcm, t) => {
                    decode_ms += t;
                    self.pending.extend(pcm);
                }
                _ => return Err(out_of_order()),
            }
        }
        p.decodes_in_flight = frames.len();
        for f in &frames {
            p.worker.decode(f.clone())?;
        }
        let codes = std::mem::replace(&mut p.codes_in_flight, frames);
        // The text goes out with the audio of its step, one call later.
        let this_text = text_token.map(|tok| (text, tok));
        let (text, text_token) = match std::mem::replace(&mut p.text_in_flight, this_text) {
            Some((t, tok)) => ((!t.is_empty()).then_some(t), tok),
            None => (None, 0),
        };
        Ok(FrameOutput {
            pcm: self.take_frame(),
            text,
            text_token,
            encode_ms,
            lm_ms,
            decode_ms,
            codes,
            wall_ms: ms(t0),
        })
    }
}

impl Pipeline {
    /// Waits for every job in flight, then clears the Mimi thread's streaming state.
    fn drain_and_reset(&mut self) -> Result<(), EngineError> {
        let in_flight = usize::from(self.encode_in_flight) + self.decodes_in_flight;
        self.encode_in_flight = false;
        self.decodes_in_flight = 0;
        self.text_in_flight = None;
        self.codes_in_flight.clear();
        for _ in 0..in_flight {
            self.worker.recv()?;
        }
        self.worker.reset()?;
        match self.worker.recv()? {
            Done::Reset => Ok(()),
            _ => Err(out_of_order()),
        }
    }
}

fn out_of_order() -> EngineError {
    EngineError::Config("Mimi thread results out of order".into())
}

fn ms(t: Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1000.0
}
