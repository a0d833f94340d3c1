//! The audio side of a session ([`app_core::Audio`] over `voice`): opens the devices and runs
//! `voice::Session` on the model that lives on the [`EngineThread`]; forwards the session's
//! events (`transcript`, `session-metrics`) to the UI unchanged and reports to the core how the
//! session goes (frames heard, speaking, its end and why).
//!
//! Test hooks (debug builds or the `test-hooks` feature, see [`crate::test_hooks`]):
//! - `MOSHIBAR_INPUT_WAV` + `MOSHIBAR_OUTPUT_WAV`: a session runs the model over the input file
//!   and writes its answer to the output file ([`voice::run_file`]) instead of opening devices;
//! - `MOSHIBAR_AUTOSTART_SESSION`: start a session as soon as the app is ready (see flow.rs);
//! - `MOSHIBAR_ECHO_MODEL`: voice's deterministic echo model instead of the engine.

use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use app_core::{BoxFuture, ErrorAction, SessionReport, Settings, UiError};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime};
use voice::{SessionConfig, SessionEvent};

use crate::engine::{EngineThread, GateProbe};
use crate::state::events;
use crate::test_hooks::{INPUT_WAV_ENV, OUTPUT_WAV_ENV};

/// `list_audio_devices`' answer.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AudioDevices {
    /// Input device names.
    pub inputs: Vec<String>,
    /// Output device names.
    pub outputs: Vec<String>,
    /// The system's default input.
    pub default_input: Option<String>,
    /// The system's default output.
    pub default_output: Option<String>,
}

fn file_paths() -> Option<(PathBuf, PathBuf)> {
    let input = crate::test_hooks::var_os(INPUT_WAV_ENV)?;
    let output = crate::test_hooks::var_os(OUTPUT_WAV_ENV)?;
    Some((PathBuf::from(input), PathBuf::from(output)))
}

/// [`app_core::Audio`] over `voice::Session`.
pub struct VoiceAudio<R: Runtime> {
    app: AppHandle<R>,
    engine: EngineThread,
    /// The running session (held briefly: the gate is set through it).
    slot: Arc<Mutex<Option<voice::Session>>>,
    /// Serializes opening and closing (each can take a moment).
    op: Arc<tokio::sync::Mutex<()>>,
    talking: Arc<AtomicBool>,
    hands_free: Arc<AtomicBool>,
}

impl<R: Runtime> VoiceAudio<R> {
    /// Sessions on `engine`'s model.
    pub fn new(app: AppHandle<R>, engine: EngineThread, hands_free: bool) -> Self {
        Self {
            app,
            engine,
            slot: Arc::default(),
            op: Arc::default(),
            talking: Arc::default(),
            hands_free: Arc::new(AtomicBool::new(hands_free)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

impl<R: Runtime> app_core::Audio for VoiceAudio<R> {
    fn open(
        &self,
        settings: &Settings,
        wait_for_talk: bool,
        report: SessionReport,
    ) -> BoxFuture<Result<(), UiError>> {
        let app = self.app.clone();
        let engine = self.engine.clone();
        let slot = Arc::clone(&self.slot);
        let op = Arc::clone(&self.op);
        let talking = Arc::clone(&self.talking);
        let config = SessionConfig {
            input_device: settings.input_device.clone(),
            output_device: settings.output_device.clone(),
            hands_free: self.hands_free.load(Ordering::SeqCst),
            wait_for_talk,
            ..SessionConfig::default()
        };
        Box::pin(async move {
            let _op = op.lock().await;
            if lock(&slot).is_some() {
                return Ok(());
            }
            engine.probe.reset();
            if let Some((input, output)) = file_paths() {
                let model = engine.remote();
                std::thread::Builder::new()
                    .name("moshibar-file-session".into())
                    .spawn(move || file_session(&app, model, &input, &output, &report))
                    .map_err(|e| UiError::new("Session failed", e.to_string(), None))?;
                return Ok(());
            }
            crate::permissions::ensure_microphone(&app)
                .await
                .map_err(|e| UiError::new(e.title(), e.to_string(), e.action()))?;
            let model = engine.remote();
            let started =
                tokio::task::spawn_blocking(move || voice::Session::start(model, config)).await;
            let (session, rx) = started
                .map_err(|e| UiError::new("Session failed", e.to_string(), None))?
                .map_err(|e| {
                    UiError::new(
                        "Could not start the conversation",
                        e.to_string(),
                        Some(ErrorAction::OpenSettings),
                    )
                })?;
            {
                let mut slot = lock(&slot);
                // The gate as it is now (a press may have come while the devices opened).
                session.set_talking(talking.load(Ordering::SeqCst));
                *slot = Some(session);
            }
            tracing::info!("session started");
            let probe = Arc::clone(&engine.probe);
            std::thread::Builder::new()
                .name("moshibar-session-events".into())
                .spawn(move || forward_events(&app, rx, &report, &probe))
                .map_err(|e| UiError::new("Session failed", e.to_string(), None))?;
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<()> {
        let slot = Arc::clone(&self.slot);
        let op = Arc::clone(&self.op);
        Box::pin(async move {
            let _op = op.lock().await;
            let session = lock(&slot).take();
            if let Some(session) = session {
                // Joining the model thread can take a frame or two: off the async threads.
                let stopped = tokio::task::spawn_blocking(move || session.stop()).await;
                if let Ok(Err(e)) = stopped {
                    tracing::warn!("stopping the session: {e}");
                }
                tracing::info!("session closed");
            }
        })
    }

    fn set_gate(&self, talking: bool) {
        self.talking.store(talking, Ordering::SeqCst);
        self.engine.probe.set_talking(talking);
        if let Some(session) = lock(&self.slot).as_ref() {
            session.set_talking(talking);
        }
    }

    fn set_hands_free(&self, on: bool) {
        self.hands_free.store(on, Ordering::SeqCst);
        if let Some(session) = lock(&self.slot).as_ref() {
            session.set_hands_free(on);
        }
    }
}

/// Runs the model over the input WAV into the output WAV (test hook), then ends the session.
fn file_session<R: Runtime>(
    app: &AppHandle<R>,
    mut model: crate::engine::RemoteModel,
    input: &Path,
    output: &Path,
    report: &SessionReport,
) {
    tracing::info!(input = %input.display(), output = %output.display(), "file session");
    match voice::run_file(&mut model, input, output) {
        Ok(r) => {
            let piece = voice::TranscriptPiece {
                piece: r.transcript.clone(),
                frame: r.frames,
            };
            let _ = app.emit(events::TRANSCRIPT, &piece);
            tracing::info!(
                frames = r.frames,
                samples = r.output_samples,
                output_rms = r.output_rms,
                transcript = %r.transcript,
                "session finished"
            );
            report.ended(None);
        }
        Err(e) => {
            tracing::warn!("file session failed: {e}");
            report.ended(Some(UiError::new(
                "The session stopped",
                e.to_string(),
                Some(ErrorAction::StartSession),
            )));
        }
    }
}

/// Forwards the session's events to the UI until it stops, then reports its end (with the
/// reason when it died by itself).
fn forward_events<R: Runtime>(
    app: &AppHandle<R>,
    rx: crossbeam_channel::Receiver<SessionEvent>,
    report: &SessionReport,
    probe: &GateProbe,
) {
    let mut reason = None;
    let mut speaking = false;
    for event in rx {
        match event {
            SessionEvent::Transcript(piece) => {
                tracing::debug!(piece = %piece.piece, "transcript");
                let _ = app.emit(events::TRANSCRIPT, &piece);
            }
            SessionEvent::Metrics(m) => {
                if m.speaking != speaking {
                    speaking = m.speaking;
                    report.speaking(speaking);
                }
                report.progress(probe.frames_heard(), probe.key_to_model_ms());
                let _ = app.emit(events::SESSION_METRICS, &m);
            }
            SessionEvent::Ready {
                input_device,
                output_device,
                ..
            } => {
                tracing::info!(%input_device, %output_device, "session devices open");
            }
            SessionEvent::DeviceLost { name, message, .. } => {
                tracing::warn!(%name, %message, "audio device lost; reopening");
            }
            SessionEvent::DeviceReopened { .. } => tracing::info!("audio devices reopened"),
            SessionEvent::Error { message } => {
                tracing::warn!(%message, "the session cannot go on");
                reason = Some(UiError::new(
                    "The conversation stopped",
                    message,
                    Some(ErrorAction::StartSession),
                ));
            }
            SessionEvent::Stopped => break,
        }
    }
    report.progress(probe.frames_heard(), probe.key_to_model_ms());
    if speaking {
        report.speaking(false);
    }
    report.ended(reason);
    tracing::info!("session finished");
}

/// The audio devices.
pub fn list_devices() -> Result<AudioDevices, String> {
    let d = voice::list_devices().map_err(|e| e.to_string())?;
    Ok(AudioDevices {
        inputs: d.inputs,
        outputs: d.outputs,
        default_input: d.default_input,
        default_output: d.default_output,
    })
}
