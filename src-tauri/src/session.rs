//! The voice session: the model to run, the microphone gate, and the session's events
//! (`transcript`, `session-metrics`) forwarded to the UI unchanged.
//!
//! The loading stage ([`load_model`]) loads the engine once on a blocking thread, runs its
//! warm-up and keeps the [`ModelSpec`]: MLX models cannot move between threads, so each
//! session loads the model again on the thread that runs it (`voice::Session::start_with`).
//!
//! Test hooks (documented in README.md):
//! - `MOSHIBAR_INPUT_WAV` + `MOSHIBAR_OUTPUT_WAV`: a session runs the model over the input file
//!   and writes its answer to the output file ([`voice::run_file`]) instead of opening devices;
//! - `MOSHIBAR_AUTOSTART_SESSION`: start a session as soon as the app is ready;
//! - `MOSHIBAR_ECHO_MODEL`: an explicit test/dev override: voice's deterministic echo model
//!   instead of the engine.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use voice::{SessionConfig, SessionEvent};

use crate::commands::AudioDevices;
use crate::engine::ModelSpec;
use crate::state::{core, events, Stage, UiError};

/// Input WAV for a file session.
pub const INPUT_WAV_ENV: &str = "MOSHIBAR_INPUT_WAV";
/// Output WAV for a file session.
pub const OUTPUT_WAV_ENV: &str = "MOSHIBAR_OUTPUT_WAV";
/// Start a session when ready.
pub const AUTOSTART_ENV: &str = "MOSHIBAR_AUTOSTART_SESSION";
/// Use the echo model instead of the engine (tests and development only).
pub const ECHO_MODEL_ENV: &str = "MOSHIBAR_ECHO_MODEL";

/// The model to run and the running session.
#[derive(Default)]
pub struct Voice {
    spec: Mutex<Option<ModelSpec>>,
    session: Mutex<Option<voice::Session>>,
    /// A session is starting or running (live or from a file).
    busy: AtomicBool,
}

fn voice_state<R: Runtime>(app: &AppHandle<R>) -> tauri::State<'_, Voice> {
    app.state::<Voice>()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What to load: the engine from the verified directory, or the echo model when
/// `MOSHIBAR_ECHO_MODEL` is set (a test/dev override, never the default).
pub fn model_spec(dir: &Path, plan: &hardware::Plan) -> ModelSpec {
    if std::env::var_os(ECHO_MODEL_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        tracing::warn!("{ECHO_MODEL_ENV} is set: using the echo test model, not Moshi");
        return ModelSpec::Echo(2);
    }
    ModelSpec::Engine {
        dir: dir.to_path_buf(),
        quality: plan.quality,
        quantize_from_bf16: plan.source == hardware::Source::QuantizeFromBf16,
    }
}

/// The loading stage: loads the model once on a blocking thread and runs its warm-up (so load
/// errors show up before "ready"), then keeps what to load for the sessions.
pub async fn load_model<R: Runtime>(app: &AppHandle<R>, spec: ModelSpec) -> Result<(), UiError> {
    tracing::info!(?spec, "loading the model");
    let check = spec.clone();
    tauri::async_runtime::spawn_blocking(move || check.verify())
        .await
        .map_err(|e| UiError::new("Loading Moshi failed", e.to_string(), Some("retry")))?
        .map_err(|e| {
            tracing::warn!("loading the model failed: {e}");
            e.to_ui()
        })?;
    *lock(&voice_state(app).spec) = Some(spec);
    tracing::info!("model loaded and warmed up");
    Ok(())
}

/// After the flow reached ready: starts a session when `MOSHIBAR_AUTOSTART_SESSION` is set.
pub fn on_ready<R: Runtime>(app: &AppHandle<R>) {
    if std::env::var_os(AUTOSTART_ENV).is_some() {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            if let Err(e) = start(&app).await {
                tracing::warn!("autostart session: {e}");
            }
        });
    }
}

fn file_paths() -> Option<(PathBuf, PathBuf)> {
    let input = std::env::var_os(INPUT_WAV_ENV)?;
    let output = std::env::var_os(OUTPUT_WAV_ENV)?;
    Some((PathBuf::from(input), PathBuf::from(output)))
}

/// Starts a session: the model is loaded on the session's own thread, then the audio devices
/// from the settings open (or the WAV files of the test hooks are used). Loading, warm-up and
/// device opening run off the async runtime.
pub async fn start<R: Runtime>(app: &AppHandle<R>) -> Result<(), String> {
    if core(app).state().stage != Stage::Ready {
        return Err("Moshi is not ready yet: wait for the download and loading to finish.".into());
    }
    let spec = lock(&voice_state(app).spec)
        .clone()
        .ok_or("Moshi is not loaded yet.")?;
    if voice_state(app).busy.swap(true, Ordering::SeqCst) {
        // Already starting or running.
        return Ok(());
    }
    let settings = core(app).settings();
    core(app).update(app, |s| s.session.active = true);

    if let Some((input, output)) = file_paths() {
        let thread_app = app.clone();
        let spawned = std::thread::Builder::new()
            .name("moshibar-file-session".into())
            .spawn(move || file_session(&thread_app, &spec, &input, &output));
        if let Err(e) = spawned {
            session_ended(app);
            return Err(e.to_string());
        }
        return Ok(());
    }

    let config = SessionConfig {
        input_device: settings.input_device.clone(),
        output_device: settings.output_device.clone(),
        hands_free: settings.hands_free,
        ..SessionConfig::default()
    };
    let loader = move || spec.load().map_err(|e| voice::ModelError(e.to_string()));
    let started =
        tauri::async_runtime::spawn_blocking(move || voice::Session::start_with(loader, config))
            .await
            .map_err(|e| e.to_string());
    match started.and_then(|r| r.map_err(|e| e.to_string())) {
        Ok((session, rx)) => {
            tracing::info!("session started");
            *lock(&voice_state(app).session) = Some(session);
            let thread_app = app.clone();
            std::thread::Builder::new()
                .name("moshibar-session-events".into())
                .spawn(move || forward_events(&thread_app, rx))
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        Err(e) => {
            tracing::warn!("session failed to start: {e}");
            session_ended(app);
            Err(e)
        }
    }
}

/// Clears the session flags (nothing running any more).
fn session_ended<R: Runtime>(app: &AppHandle<R>) {
    voice_state(app).busy.store(false, Ordering::SeqCst);
    core(app).update(app, |s| {
        s.session.active = false;
        s.session.talking = false;
    });
}

/// Loads the model on this thread and runs it over the input WAV into the output WAV.
fn file_session<R: Runtime>(app: &AppHandle<R>, spec: &ModelSpec, input: &Path, output: &Path) {
    tracing::info!(input = %input.display(), output = %output.display(), "file session");
    let result = spec.load().map_err(|e| e.to_ui()).and_then(|mut model| {
        voice::run_file(&mut model, input, output)
            .map_err(|e| UiError::new("Session failed", e.to_string(), None))
    });
    match result {
        Ok(report) => {
            let piece = voice::TranscriptPiece {
                piece: report.transcript.clone(),
                frame: report.frames,
            };
            let _ = app.emit(events::TRANSCRIPT, &piece);
            tracing::info!(
                frames = report.frames,
                samples = report.output_samples,
                output_rms = report.output_rms,
                transcript = %report.transcript,
                "session finished"
            );
        }
        Err(e) => {
            tracing::warn!("file session failed: {}", e.message);
            core(app).update(app, |s| s.error = Some(e));
        }
    }
    session_ended(app);
}

/// Forwards the session's events to the UI until it stops.
fn forward_events<R: Runtime>(app: &AppHandle<R>, rx: crossbeam_channel::Receiver<SessionEvent>) {
    let mut metrics_seen = false;
    for event in rx {
        match event {
            SessionEvent::Transcript(piece) => {
                let _ = app.emit(events::TRANSCRIPT, &piece);
            }
            SessionEvent::Metrics(m) => {
                if !metrics_seen {
                    tracing::info!("first session-metrics forwarded");
                    metrics_seen = true;
                }
                core(app).set_speaking(app, m.speaking);
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
                core(app).update(app, |s| {
                    s.error = Some(UiError::new(
                        "The session stopped",
                        message,
                        Some("openSettings"),
                    ))
                });
            }
            SessionEvent::Stopped => break,
        }
    }
    core(app).set_speaking(app, false);
    tracing::info!("session finished");
}

/// Stops the live session (no-op without one). The model is dropped: the next session loads
/// it again on its own thread.
pub fn stop<R: Runtime>(app: &AppHandle<R>) {
    let session = lock(&voice_state(app).session).take();
    if let Some(session) = session {
        if let Err(e) = session.stop() {
            tracing::warn!("stopping the session: {e}");
        }
        session_ended(app);
    } else {
        core(app).update(app, |s| s.session.talking = false);
    }
}

/// Opens or closes the microphone gate.
pub fn set_talking<R: Runtime>(app: &AppHandle<R>, talking: bool) {
    if let Some(session) = lock(&voice_state(app).session).as_ref() {
        session.set_talking(talking);
    }
    core(app).update(app, |s| s.session.talking = talking);
}

/// Hands-free mode on or off (the running session too).
pub fn set_hands_free<R: Runtime>(app: &AppHandle<R>, on: bool) {
    if let Some(session) = lock(&voice_state(app).session).as_ref() {
        session.set_hands_free(on);
    }
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
