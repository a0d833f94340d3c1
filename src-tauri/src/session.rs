//! The voice session: the loaded model, the microphone gate, and the session's events
//! (`transcript`, `session-metrics`) forwarded to the UI unchanged.
//!
//! The model is loaded once ([`load_model`]) and kept here between sessions: a
//! [`voice::Session`] takes it while running and hands it back when stopped.
//!
//! Test hooks (documented in README.md):
//! - `MOSHIBAR_INPUT_WAV` + `MOSHIBAR_OUTPUT_WAV`: a session runs the model over the input file
//!   and writes its answer to the output file ([`voice::run_file`]) instead of opening devices;
//! - `MOSHIBAR_AUTOSTART_SESSION`: start a session as soon as the app is ready;
//! - `MOSHIBAR_ECHO_MODEL`: use voice's deterministic echo model instead of loading the engine.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use voice::{FrameModel, SessionConfig, SessionEvent};

use crate::commands::AudioDevices;
use crate::state::{core, events, Stage, UiError};

/// Input WAV for a file session.
pub const INPUT_WAV_ENV: &str = "MOSHIBAR_INPUT_WAV";
/// Output WAV for a file session.
pub const OUTPUT_WAV_ENV: &str = "MOSHIBAR_OUTPUT_WAV";
/// Start a session when ready.
pub const AUTOSTART_ENV: &str = "MOSHIBAR_AUTOSTART_SESSION";
/// Use the echo model instead of the engine.
pub const ECHO_MODEL_ENV: &str = "MOSHIBAR_ECHO_MODEL";

/// The model and the running session.
#[derive(Default)]
pub struct Voice {
    model: Mutex<Option<Box<dyn FrameModel>>>,
    session: Mutex<Option<voice::Session>>,
}

fn voice_state<R: Runtime>(app: &AppHandle<R>) -> tauri::State<'_, Voice> {
    app.state::<Voice>()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Loads the engine from the verified model directory (on a blocking thread) and keeps it.
pub async fn load_model<R: Runtime>(
    app: &AppHandle<R>,
    dir: &Path,
    quality: hardware::Quality,
) -> Result<(), UiError> {
    tracing::info!(dir = %dir.display(), %quality, "loading the engine");
    let dir = dir.to_path_buf();
    let model = tauri::async_runtime::spawn_blocking(move || load_blocking(&dir, quality))
        .await
        .map_err(|e| UiError::new("Loading Moshi failed", e.to_string(), Some("retry")))??;
    *lock(&voice_state(app).model) = Some(model);
    tracing::info!("engine loaded");
    Ok(())
}

fn load_blocking(dir: &Path, quality: hardware::Quality) -> Result<Box<dyn FrameModel>, UiError> {
    if std::env::var_os(ECHO_MODEL_ENV).is_some() {
        tracing::warn!("{ECHO_MODEL_ENV} is set: using the echo model, not Moshi");
        return Ok(Box::new(voice::EchoModel::new(2)));
    }
    crate::engine::load(dir, quality)
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

/// Starts a session with the loaded model: the audio devices from the settings, or the WAV files
/// of the test hooks. Warm-up and device opening run on a blocking thread.
pub async fn start<R: Runtime>(app: &AppHandle<R>) -> Result<(), String> {
    if core(app).state().stage != Stage::Ready {
        return Err("Moshi is not ready yet: wait for the download and loading to finish.".into());
    }
    if lock(&voice_state(app).session).is_some() {
        return Ok(());
    }
    let model = lock(&voice_state(app).model)
        .take()
        .ok_or("A session is already starting or running.")?;
    let settings = core(app).settings();
    core(app).update(app, |s| s.session.active = true);

    if let Some((input, output)) = file_paths() {
        let app = app.clone();
        std::thread::Builder::new()
            .name("moshibar-file-session".into())
            .spawn(move || file_session(&app, model, &input, &output))
            .map_err(|e| e.to_string())?;
        return Ok(());
    }

    let config = SessionConfig {
        input_device: settings.input_device.clone(),
        output_device: settings.output_device.clone(),
        hands_free: settings.hands_free,
        ..SessionConfig::default()
    };
    let started =
        tauri::async_runtime::spawn_blocking(move || voice::Session::start(model, config))
            .await
            .map_err(|e| e.to_string())?;
    match started {
        Ok((session, rx)) => {
            tracing::info!("session started");
            *lock(&voice_state(app).session) = Some(session);
            let app = app.clone();
            std::thread::Builder::new()
                .name("moshibar-session-events".into())
                .spawn(move || forward_events(&app, rx))
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        Err(e) => {
            // The model went into the failed start; load it again on the next try.
            core(app).update(app, |s| s.session.active = false);
            tracing::warn!("session failed to start: {e}");
            restore_model_after_failure(app);
            Err(e.to_string())
        }
    }
}

/// A failed `Session::start` consumed the model: reload it in the background.
fn restore_model_after_failure<R: Runtime>(app: &AppHandle<R>) {
    let state = core(app).state();
    let (Some(dir), Some(quality)) = (
        state.model_dir.clone(),
        state
            .plan
            .as_ref()
            .and_then(|p| serde_json::from_value::<hardware::Quality>(p["quality"].clone()).ok()),
    ) else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = load_model(&app, Path::new(&dir), quality).await {
            tracing::warn!("reloading the model: {}", e.message);
        }
    });
}

fn file_session<R: Runtime>(
    app: &AppHandle<R>,
    mut model: Box<dyn FrameModel>,
    input: &Path,
    output: &Path,
) {
    tracing::info!(input = %input.display(), output = %output.display(), "file session");
    match voice::run_file(&mut model, input, output) {
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
            tracing::warn!("file session failed: {e}");
            core(app).update(app, |s| {
                s.error = Some(UiError::new("Session failed", e.to_string(), None))
            });
        }
    }
    model.reset();
    *lock(&voice_state(app).model) = Some(model);
    core(app).update(app, |s| {
        s.session.active = false;
        s.session.talking = false;
    });
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

/// Stops the session (no-op without one) and keeps the model for the next one.
pub fn stop<R: Runtime>(app: &AppHandle<R>) {
    let session = lock(&voice_state(app).session).take();
    if let Some(session) = session {
        match session.stop() {
            Ok(model) => *lock(&voice_state(app).model) = Some(model),
            Err(e) => {
                tracing::warn!("stopping the session: {e}");
                restore_model_after_failure(app);
            }
        }
    }
    core(app).update(app, |s| {
        s.session.active = false;
        s.session.talking = false;
    });
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
