//! The engine thread: one long-lived thread, created in the Loading stage, that owns the model.
//!
//! MLX arrays and streams belong to the thread that created them: a `engine::Moshi` loaded on
//! one thread fails on another ("no Stream(cpu, 0) in current thread"). So the model is loaded
//! once on [`EngineThread`]'s thread and never leaves it: sessions get a [`RemoteModel`], a
//! `voice::FrameModel` that hands each 80 ms frame to the engine thread and waits for the
//! answer (one channel hop per frame). Sessions reuse the loaded model; changing quality or
//! voice unloads it ([`EngineThread::unload`]); quitting frees it.
//!
//! [`RemoteModel`] also counts the frames the model hears with the microphone gate open and
//! measures key-down → first frame into the model ([`GateProbe`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};
use voice::{FrameModel, ModelError, ModelFrame};

use crate::state::UiError;
use crate::test_hooks::ECHO_MODEL_ENV;
use app_core::ErrorAction;

/// A cause kept as the error's source (the engine crate is optional in this build).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the model could not be loaded. Each kind names its cause and the action that helps:
/// only a missing or unreadable file is fixed by downloading again (the files were verified
/// against the Hub's hashes before loading, so a bad layout or an engine failure is not).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A model file is missing or cannot be read.
    #[error("a model file is missing or unreadable: {0}")]
    Unreadable(#[source] Cause),
    /// The verified files are not laid out as this version's engine expects (a tensor, the
    /// repo's `config.json`).
    #[error("the model files do not match what this version of Moshibar expects: {0}")]
    Layout(#[source] Cause),
    /// MLX could not load its Metal shader library (`mlx.metallib`, bundled in the app).
    #[error("MLX's Metal shader library (mlx.metallib) could not be loaded: {0}")]
    Metallib(#[source] Cause),
    /// The engine (MLX) failed to load or run the model: memory, a kernel, the warm-up.
    #[error("the engine failed: {0}")]
    Engine(#[source] Cause),
    /// The engine thread is gone.
    #[error("the engine thread has stopped")]
    ThreadGone,
    /// This build has no engine.
    #[error("This build was made without the `engine` feature, so it cannot run Moshi.")]
    NoEngine,
}

impl LoadError {
    /// An engine failure with this message (warm-up, thread errors).
    pub fn engine(message: impl Into<String>) -> Self {
        LoadError::Engine(message.into().into())
    }

    /// The error as the person sees it: the cause, and the action that fixes it.
    pub fn to_ui(&self) -> UiError {
        const TITLE: &str = "Loading Moshi failed";
        match self {
            LoadError::Unreadable(e) => UiError::new(
                TITLE,
                format!(
                    "A model file is missing or unreadable ({e}). Delete the model in \
                     Settings and download it again."
                ),
                Some(ErrorAction::OpenSettings),
            ),
            LoadError::Layout(e) => UiError::new(
                TITLE,
                format!(
                    "The model files are not laid out as this version of Moshibar expects \
                     ({e}). They were verified against the Hub, so downloading them again \
                     will not help: update Moshibar, or choose another quality or voice in \
                     Settings."
                ),
                Some(ErrorAction::OpenSettings),
            ),
            LoadError::Metallib(e) => UiError::new(
                TITLE,
                format!(
                    "MLX's Metal shader library (mlx.metallib) could not be loaded ({e}). This \
                     copy of Moshibar is incomplete: install it again. The model files are \
                     fine; keep them."
                ),
                None,
            ),
            LoadError::Engine(e) => UiError::new(
                TITLE,
                format!(
                    "The engine failed ({e}). The model files were verified and are fine: \
                     retry; if it fails again, choose a smaller quality in Settings (q4 needs \
                     the least memory) and send the log (menu: Reveal logs)."
                ),
                Some(ErrorAction::Retry),
            ),
            LoadError::ThreadGone => UiError::new(
                TITLE,
                "The engine stopped unexpectedly. Quit Moshibar and open it again; the model \
                 files are fine."
                    .to_owned(),
                None,
            ),
            LoadError::NoEngine => UiError::new("No engine in this build", self.to_string(), None),
        }
    }
}

/// Sorts an engine error by what fixes it (see [`LoadError`]).
#[cfg(feature = "engine")]
pub fn classify(e: engine::EngineError) -> LoadError {
    use engine::EngineError as E;
    match e {
        _ if e.is_missing_metallib() => LoadError::Metallib(Box::new(e)),
        E::Io { .. } | E::Checkpoint { .. } => LoadError::Unreadable(Box::new(e)),
        E::Weights { .. } | E::RepoConfig { .. } | E::Json(_) => LoadError::Layout(Box::new(e)),
        other => LoadError::Engine(Box::new(other)),
    }
}

/// What the sessions run: the real engine from a model directory, or (explicit test/dev
/// override, `MOSHIBAR_ECHO_MODEL`) voice's deterministic echo model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// Moshi from a verified snapshot directory.
    Engine {
        /// The snapshot directory (the plan's files).
        dir: PathBuf,
        /// The quality to run at.
        quality: hardware::Quality,
        /// The plan's source is `quantizeFromBf16`: the directory holds the bf16 weights and
        /// they are quantized to `quality` at load time.
        quantize_from_bf16: bool,
    },
    /// voice's echo model, delayed by this many frames (tests only).
    Echo(usize),
}

impl ModelSpec {
    /// Loads the model on the calling thread (the thread that will run it).
    pub fn load(&self) -> Result<Box<dyn FrameModel>, LoadError> {
        match self {
            ModelSpec::Echo(delay) => Ok(Box::new(voice::EchoModel::new(*delay))),
            ModelSpec::Engine {
                dir,
                quality,
                quantize_from_bf16,
            } => {
                let started = Instant::now();
                let model = load_engine(dir, *quality, *quantize_from_bf16)?;
                tracing::info!(
                    dir = %dir.display(),
                    %quality,
                    quantize_from_bf16,
                    ms = started.elapsed().as_millis() as u64,
                    "engine loaded"
                );
                Ok(model)
            }
        }
    }

    /// Loads the model and runs the warm-up frame on the calling thread, then drops it: proves
    /// the files load and run before the app says "ready".
    pub fn verify(&self) -> Result<(), LoadError> {
        let mut model = self.load()?;
        let started = Instant::now();
        model
            .warmup()
            .map_err(|e| LoadError::engine(format!("warm-up failed: {e}")))?;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "engine warm-up done"
        );
        Ok(())
    }
}

#[cfg(feature = "engine")]
fn load_engine(
    dir: &std::path::Path,
    quality: hardware::Quality,
    quantize_from_bf16: bool,
) -> Result<Box<dyn FrameModel>, LoadError> {
    let quality = match quality {
        hardware::Quality::Bf16 => engine::Quality::Bf16,
        hardware::Quality::Q8 => engine::Quality::Q8,
        hardware::Quality::Q4 => engine::Quality::Q4,
    };
    let paths = engine::MoshiPaths::from_dir(dir, quality).map_err(classify)?;
    // `from_dir` falls back to the bf16 file when the quantized one is absent; `Moshi::load`
    // quantizes a bf16 file at load time and uses an already quantized file as is.
    let lm_is_bf16 = paths
        .lm
        .file_name()
        .is_some_and(|n| n == engine::Quality::Bf16.lm_file());
    let opts = engine::LoadOptions {
        quality,
        quantize_from_bf16: quality != engine::Quality::Bf16 && (quantize_from_bf16 || lm_is_bf16),
        sampling: engine::SamplingConfig::default(),
    };
    let moshi = engine::Moshi::load(&paths, &opts).map_err(classify)?;
    Ok(Box::new(moshi))
}

#[cfg(not(feature = "engine"))]
fn load_engine(
    _dir: &std::path::Path,
    _quality: hardware::Quality,
    _quantize_from_bf16: bool,
) -> Result<Box<dyn FrameModel>, LoadError> {
    Err(LoadError::NoEngine)
}

/// Shared between the gate (hotkey) and the model: frames heard and key-down latency.
#[derive(Debug, Default)]
pub struct GateProbe {
    talking: AtomicBool,
    frames_heard: AtomicU64,
    pressed_at: parking_lot::Mutex<Option<Instant>>,
    /// Key-down → first frame into the model, microseconds (0: none yet).
    key_to_model_us: AtomicU64,
}

impl GateProbe {
    /// The gate opened (`true`, remembers when) or closed.
    pub fn set_talking(&self, talking: bool) {
        if talking {
            *self.pressed_at.lock() = Some(Instant::now());
        }
        self.talking.store(talking, Ordering::SeqCst);
    }

    /// A new session: counters from zero.
    pub fn reset(&self) {
        self.frames_heard.store(0, Ordering::SeqCst);
    }

    /// Frames the model received with the gate open.
    pub fn frames_heard(&self) -> u64 {
        self.frames_heard.load(Ordering::SeqCst)
    }

    /// Key-down → first frame into the model for the last press, ms.
    pub fn key_to_model_ms(&self) -> Option<f64> {
        match self.key_to_model_us.load(Ordering::SeqCst) {
            0 => None,
            us => Some(us as f64 / 1000.0),
        }
    }

    /// Called by the model thread for every frame (not an audio callback).
    fn on_frame(&self) {
        if !self.talking.load(Ordering::SeqCst) {
            return;
        }
        self.frames_heard.fetch_add(1, Ordering::SeqCst);
        let pressed = self.pressed_at.lock().take();
        if let Some(t) = pressed {
            let us = (t.elapsed().as_micros() as u64).max(1);
            self.key_to_model_us.store(us, Ordering::SeqCst);
            tracing::info!(
                ms = us as f64 / 1000.0,
                "key-down to first frame into the model"
            );
        }
    }
}

enum Job {
    Load(ModelSpec, Sender<Result<(), LoadError>>),
    Unload(Sender<()>),
    Warmup(Sender<Result<(), ModelError>>),
    Reset,
    Process(Vec<f32>, Sender<Result<ModelFrame, ModelError>>),
}

/// The thread that owns the model (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct EngineThread {
    jobs: Sender<Job>,
    /// The gate probe the sessions' [`RemoteModel`] reports to.
    pub probe: Arc<GateProbe>,
}

impl EngineThread {
    /// Starts the thread (it holds no model until [`EngineThread::load`]).
    pub fn spawn() -> std::io::Result<Self> {
        let (jobs, rx) = bounded::<Job>(4);
        std::thread::Builder::new()
            .name("moshibar-engine".into())
            .spawn(move || engine_loop(rx))?;
        Ok(Self {
            jobs,
            probe: Arc::new(GateProbe::default()),
        })
    }

    fn send(&self, job: Job) -> Result<(), LoadError> {
        self.jobs.send(job).map_err(|_| LoadError::ThreadGone)
    }

    /// Loads the model on the engine thread (replacing any other) and runs its warm-up frame;
    /// blocks until done (call it off the async runtime).
    pub fn load(&self, spec: ModelSpec) -> Result<(), LoadError> {
        let (tx, rx) = bounded(1);
        self.send(Job::Load(spec, tx))?;
        rx.recv().map_err(|_| LoadError::ThreadGone)?
    }

    /// Frees the model; blocks until it is dropped.
    pub fn unload(&self) {
        let (tx, rx) = bounded(1);
        if self.send(Job::Unload(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// A model handle for a session (frames run on the engine thread).
    pub fn remote(&self) -> RemoteModel {
        let (tx, rx) = bounded(1);
        RemoteModel {
            jobs: self.jobs.clone(),
            probe: Arc::clone(&self.probe),
            reply_tx: tx,
            reply_rx: rx,
        }
    }
}

fn engine_loop(rx: Receiver<Job>) {
    let mut model: Option<Box<dyn FrameModel>> = None;
    let missing = || ModelError::unavailable("Moshi is not loaded.");
    for job in rx {
        match job {
            Job::Load(spec, reply) => {
                model = None;
                let r = spec.load().and_then(|mut m| {
                    let started = Instant::now();
                    m.warmup()
                        .map_err(|e| LoadError::engine(format!("warm-up failed: {e}")))?;
                    tracing::info!(
                        ms = started.elapsed().as_millis() as u64,
                        "engine warm-up done"
                    );
                    model = Some(m);
                    Ok(())
                });
                let _ = reply.send(r);
            }
            Job::Unload(reply) => {
                if model.take().is_some() {
                    release_mlx_cache();
                    tracing::info!("model unloaded");
                }
                let _ = reply.send(());
            }
            Job::Warmup(reply) => {
                let _ = reply.send(model.as_mut().ok_or_else(missing).and_then(|m| m.warmup()));
            }
            Job::Reset => {
                if let Some(m) = model.as_mut() {
                    m.reset();
                }
            }
            Job::Process(pcm, reply) => {
                let _ = reply.send(
                    model
                        .as_mut()
                        .ok_or_else(missing)
                        .and_then(|m| m.process(&pcm)),
                );
            }
        }
    }
}

/// Gives MLX's buffer cache back to the system after the model is dropped (feature `engine`).
fn release_mlx_cache() {
    #[cfg(feature = "engine")]
    if let Err(e) = mlx_rs::memory::clear_cache() {
        tracing::warn!("could not release MLX's cache: {e}");
    }
}

/// A session's view of the model on the engine thread.
pub struct RemoteModel {
    jobs: Sender<Job>,
    probe: Arc<GateProbe>,
    reply_tx: Sender<Result<ModelFrame, ModelError>>,
    reply_rx: Receiver<Result<ModelFrame, ModelError>>,
}

impl RemoteModel {
    fn gone() -> ModelError {
        ModelError::unavailable("the engine thread has stopped")
    }
}

impl FrameModel for RemoteModel {
    fn warmup(&mut self) -> Result<(), ModelError> {
        let (tx, rx) = bounded(1);
        self.jobs.send(Job::Warmup(tx)).map_err(|_| Self::gone())?;
        rx.recv().map_err(|_| Self::gone())?
    }

    fn reset(&mut self) {
        let _ = self.jobs.send(Job::Reset);
    }

    fn process(&mut self, pcm_in: &[f32]) -> Result<ModelFrame, ModelError> {
        self.probe.on_frame();
        self.jobs
            .send(Job::Process(pcm_in.to_vec(), self.reply_tx.clone()))
            .map_err(|_| Self::gone())?;
        self.reply_rx.recv().map_err(|_| Self::gone())?
    }
}

impl app_core::Engine for EngineThread {
    fn load(&self, dir: PathBuf, plan: hardware::Plan) -> app_core::BoxFuture<Result<(), UiError>> {
        let engine = self.clone();
        Box::pin(async move {
            let spec = model_spec(&dir, &plan);
            if plan.source == hardware::Source::QuantizeFromBf16 {
                tracing::info!(quality = %plan.quality, "quantizing the bf16 weights at load time");
            }
            tracing::info!(?spec, "loading the model on the engine thread");
            tokio::task::spawn_blocking(move || engine.load(spec))
                .await
                .map_err(|e| {
                    UiError::new(
                        "Loading Moshi failed",
                        e.to_string(),
                        Some(ErrorAction::Retry),
                    )
                })?
                .map_err(|e| {
                    tracing::warn!("loading the model failed: {e}");
                    e.to_ui()
                })?;
            tracing::info!("model loaded and warmed up");
            Ok(())
        })
    }

    fn unload(&self) -> app_core::BoxFuture<()> {
        let engine = self.clone();
        Box::pin(async move {
            let _ = tokio::task::spawn_blocking(move || engine.unload()).await;
        })
    }
}

/// What to load: the engine from the verified directory, or the echo model when
/// `MOSHIBAR_ECHO_MODEL` is set (a test/dev override, never the default).
pub fn model_spec(dir: &Path, plan: &hardware::Plan) -> ModelSpec {
    if crate::test_hooks::var_os(ECHO_MODEL_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        tracing::warn!("{ECHO_MODEL_ENV} is set: using the echo test model, not Moshi");
        return ModelSpec::Echo(2);
    }
    ModelSpec::Engine {
        dir: dir.to_path_buf(),
        quality: plan.quality,
        quantize_from_bf16: plan.source == hardware::Source::QuantizeFromBf16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_spec_loads_and_verifies() -> Result<(), LoadError> {
        ModelSpec::Echo(2).verify()?;
        let mut m = ModelSpec::Echo(0).load()?;
        let out = m
            .process(&[0.25; voice::FRAME_SAMPLES])
            .map_err(|e| LoadError::engine(e.to_string()))?;
        assert_eq!(out.pcm.len(), voice::FRAME_SAMPLES);
        Ok(())
    }

    #[test]
    fn missing_files_are_a_load_error_for_the_person() -> Result<(), std::io::Error> {
        let dir = tempfile::tempdir()?;
        let spec = ModelSpec::Engine {
            dir: dir.path().to_path_buf(),
            quality: hardware::Quality::Q8,
            quantize_from_bf16: false,
        };
        let Err(err) = spec.verify() else {
            panic!("an empty directory loaded");
        };
        let ui = err.to_ui();
        assert!(!ui.title.is_empty() && !ui.message.is_empty());
        if cfg!(feature = "engine") {
            assert!(matches!(err, LoadError::Unreadable(_)), "{err}");
            assert_eq!(ui.action, Some(ErrorAction::OpenSettings));
            assert!(ui.message.contains("download it again"), "{}", ui.message);
        } else {
            assert!(matches!(err, LoadError::NoEngine));
        }
        Ok(())
    }

    /// Only a missing or unreadable file is fixed by downloading again; the message names
    /// the cause and never sends a person with a broken app bundle to re-download 5 GB.
    #[test]
    fn load_errors_name_the_cause_and_the_right_action() {
        let metallib =
            LoadError::Metallib("Failed to load the default metallib. library not found".into())
                .to_ui();
        assert!(
            metallib.message.contains("mlx.metallib"),
            "{}",
            metallib.message
        );
        assert!(metallib.message.contains("install it again"));
        assert!(
            !metallib.message.contains("download"),
            "{}",
            metallib.message
        );
        let engine = LoadError::engine("[malloc] out of memory").to_ui();
        assert!(engine.message.contains("out of memory"));
        assert!(!engine.message.contains("download"), "{}", engine.message);
        assert_eq!(engine.action, Some(ErrorAction::Retry));
        let layout = LoadError::Layout("tensor `x`: missing".into()).to_ui();
        assert!(
            layout.message.contains("will not help"),
            "{}",
            layout.message
        );
        let unreadable = LoadError::Unreadable("model.q4.safetensors: not found".into()).to_ui();
        assert!(unreadable.message.contains("download it again"));
        assert!(
            std::error::Error::source(&LoadError::engine("x")).is_some(),
            "cause kept"
        );
    }

    #[cfg(feature = "engine")]
    #[test]
    fn engine_errors_are_sorted_by_what_fixes_them() {
        use engine::EngineError as E;
        let m = |s: &str| E::Mlx(s.into());
        assert!(matches!(
            classify(m("Failed to load the default metallib.")),
            LoadError::Metallib(_)
        ));
        assert!(matches!(
            classify(m("[malloc] out of memory")),
            LoadError::Engine(_)
        ));
        assert!(matches!(
            classify(E::io("/x", std::io::Error::other("gone"))),
            LoadError::Unreadable(_)
        ));
        assert!(matches!(
            classify(E::checkpoint(
                "/x/model.safetensors",
                mlx_rs::error::IoError::UnableToOpenFile
            )),
            LoadError::Unreadable(_)
        ));
        assert!(matches!(
            classify(E::weights("t", "missing")),
            LoadError::Layout(_)
        ));
        assert!(matches!(
            classify(E::Shape("x".into())),
            LoadError::Engine(_)
        ));
    }

    #[test]
    fn engine_thread_keeps_one_model_for_every_session() -> Result<(), LoadError> {
        let engine = EngineThread::spawn().map_err(|e| LoadError::engine(e.to_string()))?;
        let mut before = engine.remote();
        assert!(
            before.process(&[0.0; voice::FRAME_SAMPLES]).is_err(),
            "nothing loaded yet"
        );
        engine.load(ModelSpec::Echo(0))?;
        for _ in 0..2 {
            let mut m = engine.remote();
            m.warmup().map_err(|e| LoadError::engine(e.to_string()))?;
            engine.probe.set_talking(true);
            let out = m
                .process(&[0.5; voice::FRAME_SAMPLES])
                .map_err(|e| LoadError::engine(e.to_string()))?;
            assert_eq!(out.pcm.len(), voice::FRAME_SAMPLES);
            assert!(
                out.pcm.iter().all(|&x| (x - 0.5).abs() < 1e-6),
                "echo ran on the engine"
            );
            engine.probe.set_talking(false);
            m.process(&[0.0; voice::FRAME_SAMPLES])
                .map_err(|e| LoadError::engine(e.to_string()))?;
        }
        assert_eq!(
            engine.probe.frames_heard(),
            2,
            "only frames with the gate open count"
        );
        assert!(engine.probe.key_to_model_ms().is_some());
        engine.unload();
        assert!(
            engine
                .remote()
                .process(&[0.0; voice::FRAME_SAMPLES])
                .is_err(),
            "unloaded"
        );
        Ok(())
    }
}
