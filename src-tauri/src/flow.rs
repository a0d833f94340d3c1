//! The first-launch flow, in a background task: detect → plan → download (resumes from hubfetch's
//! journal after a relaunch) → verify → load the engine → notify → ready.
//!
//! The flow owns no data of its own: the stage goes to [`Core`](crate::state::Core), the download
//! state stays in hubfetch's journal, the model goes to [`crate::session`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Manager, Runtime};

use crate::state::{core, Stage, UiError};

/// Environment variable: use this directory as the verified model and skip the download
/// (development, and machines that already hold the files elsewhere).
pub const MODEL_DIR_ENV: &str = "MOSHIBAR_MODEL_DIR";

/// Errors of the download controls.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Pause/resume while nothing is downloading.
    #[error("No download is running.")]
    NoDownload,
}

/// The running flow and its download's controls.
#[derive(Default)]
pub struct Flow {
    task: Mutex<Option<JoinHandle<()>>>,
    paused: AtomicBool,
    download: Mutex<Option<crate::download::Control>>,
}

fn flow<R: Runtime>(app: &AppHandle<R>) -> tauri::State<'_, Flow> {
    app.state::<Flow>()
}

/// Starts the flow in the background (at launch).
pub fn start<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    let task = tauri::async_runtime::spawn(async move { run(handle).await });
    let f = flow(app);
    let mut slot = f.task.lock().unwrap_or_else(|e| e.into_inner());
    *slot = Some(task);
}

/// Stops the flow and its download (progress stays in the journal) and starts it again.
pub fn restart<R: Runtime>(app: &AppHandle<R>) {
    shutdown(app);
    core(app).update(app, |s| {
        s.error = None;
        s.stage = Stage::Detecting;
    });
    start(app);
}

/// Stops the flow and cancels the download (the journal keeps what was verified).
pub fn shutdown<R: Runtime>(app: &AppHandle<R>) {
    let f = flow(app);
    if let Some(control) = f.download.lock().unwrap_or_else(|e| e.into_inner()).take() {
        control.cancel();
    }
    if let Some(task) = f.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
        task.abort();
    }
    f.paused.store(false, Ordering::SeqCst);
}

/// Pauses or resumes the running download.
pub fn pause<R: Runtime>(app: &AppHandle<R>, paused: bool) -> Result<(), FlowError> {
    let f = flow(app);
    let guard = f.download.lock().unwrap_or_else(|e| e.into_inner());
    let control = guard.as_ref().ok_or(FlowError::NoDownload)?;
    if paused {
        control.pause();
    } else {
        control.resume();
    }
    f.paused.store(paused, Ordering::SeqCst);
    tracing::info!(paused, "download paused/resumed");
    crate::tray::set_download_controls(app, true, paused);
    Ok(())
}

/// Whether the download is paused.
pub fn is_paused<R: Runtime>(app: &AppHandle<R>) -> bool {
    flow(app).paused.load(Ordering::SeqCst)
}

/// Runs the flow; a failure becomes the state's error and, when it needs the person, a
/// notification.
async fn run<R: Runtime>(app: AppHandle<R>) {
    match steps(&app).await {
        Ok(()) => {}
        Err(error) => {
            crate::notify::notify(&app, &error.title, &error.message);
            core(&app).update(&app, |s| {
                s.stage = Stage::Error;
                s.error = Some(error);
            });
        }
    }
    crate::tray::set_download_controls(&app, false, false);
}

fn set_stage<R: Runtime>(app: &AppHandle<R>, stage: Stage) {
    core(app).update(app, |s| {
        s.stage = stage;
        s.error = None;
    });
}

async fn steps<R: Runtime>(app: &AppHandle<R>) -> Result<(), UiError> {
    set_stage(app, Stage::Detecting);
    tracing::info!(stage = "detecting", "first-launch flow started");
    let hw = tauri::async_runtime::spawn_blocking(hardware::detect)
        .await
        .map_err(|e| UiError::new("Hardware detection failed", e.to_string(), Some("retry")))?
        .map_err(|e| {
            UiError::new(
                "Hardware detection failed",
                format!("{e}. Unset {} or fix its value.", hardware::PROFILE_ENV),
                None,
            )
        })?;
    tracing::info!(cpu = %hw.cpu_brand, memory = hw.memory_bytes, "hardware detected");
    core(app).update(app, |s| s.hardware = serde_json::to_value(&hw).ok());

    set_stage(app, Stage::Planning);
    let settings = core(app).settings();
    let options = hardware::PlanOptions {
        override_quality: quality_override(settings.quality_override),
        cache: crate::download::cache_state(&settings, &hw),
    };
    let plan = hardware::plan(&hw, &options);
    tracing::info!(quality = %plan.quality, repo = %plan.repo, reason = %plan.reason, "plan");
    let free = crate::download::disk_free(&settings);
    core(app).update(app, |s| {
        s.plan = serde_json::to_value(&plan).ok();
        s.disk_free_bytes = free;
    });

    let model_dir = match std::env::var_os(MODEL_DIR_ENV) {
        Some(dir) => {
            tracing::info!(dir = ?dir, "using {MODEL_DIR_ENV}; no download");
            PathBuf::from(dir)
        }
        None => {
            set_stage(app, Stage::Downloading);
            let token = app.state::<crate::keychain::TokenStore>().get();
            let (control, job) = crate::download::start(app, &settings, token, &plan)?;
            *flow(app).download.lock().unwrap_or_else(|e| e.into_inner()) = Some(control);
            crate::tray::set_download_controls(app, true, false);
            let dir = job.await;
            flow(app)
                .download
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            crate::tray::set_download_controls(app, false, false);
            dir?
        }
    };
    tracing::info!(dir = %model_dir.display(), "model files verified");
    core(app).update(app, |s| s.model_dir = Some(model_dir.display().to_string()));

    set_stage(app, Stage::Loading);
    if plan.source == hardware::Source::QuantizeFromBf16 {
        tracing::info!(quality = %plan.quality, "quantizing the bf16 weights at load time");
    }
    crate::session::load_model(app, crate::session::model_spec(&model_dir, &plan)).await?;

    crate::notify::notify(
        app,
        "Moshi is ready",
        &format!(
            "The {} model is verified and loaded. Hold {} to talk.",
            plan.quality, settings.hotkey
        ),
    );
    set_stage(app, Stage::Ready);
    crate::session::on_ready(app);
    Ok(())
}

fn quality_override(q: crate::settings::QualityOverride) -> Option<hardware::Quality> {
    use crate::settings::QualityOverride as Q;
    match q {
        Q::Auto => None,
        Q::Bf16 => Some(hardware::Quality::Bf16),
        Q::Q8 => Some(hardware::Quality::Q8),
        Q::Q4 => Some(hardware::Quality::Q4),
    }
}
