//! The commands of docs/ipc.md: each one is a thin call into the module that owns the piece.
//! Errors reach the UI as a sentence saying what to do.

use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use crate::keychain::{Stored, TokenStore};
use crate::settings::Settings;
use crate::state::{core, AppState, Core};

/// A command's result: errors are sentences for the person.
pub type CmdResult<T> = Result<T, String>;

/// `list_audio_devices`' answer.
#[derive(Debug, Clone, Default, Serialize)]
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

/// `get_state`.
#[tauri::command]
pub fn get_state(core: State<'_, Core>) -> AppState {
    core.state()
}

/// `get_progress`: the last `hubfetch::Progress`, unchanged.
#[tauri::command]
pub fn get_progress(core: State<'_, Core>) -> Option<serde_json::Value> {
    core.progress()
}

/// `get_settings` (with `hasToken` from the keychain).
#[tauri::command]
pub fn get_settings(core: State<'_, Core>, tokens: State<'_, TokenStore>) -> Settings {
    let mut s = core.settings();
    s.has_token = tokens.has_token();
    s
}

/// `save_settings`: validates, applies (shortcut, launch at login, hands-free, re-plan when the
/// quality or cache location changed), persists, and returns what is now in force.
#[tauri::command]
pub fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    core: State<'_, Core>,
    tokens: State<'_, TokenStore>,
    settings: Settings,
) -> CmdResult<Settings> {
    settings.validate().map_err(|e| e.to_string())?;
    let old = core.settings();
    if settings.hotkey != old.hotkey {
        crate::hotkey::register(&app, &settings.hotkey).map_err(|e| e.to_string())?;
    }
    if settings.launch_at_login != old.launch_at_login {
        crate::autostart::apply(&app, settings.launch_at_login).map_err(|e| e.to_string())?;
    }
    let mut saved = settings.clone();
    saved.has_token = tokens.has_token();
    saved.save(core.config_dir()).map_err(|e| e.to_string())?;
    core.set_settings(saved.clone());
    core.update(&app, |s| {
        s.hotkey = saved.hotkey.clone();
        s.session.hands_free = saved.hands_free;
    });
    crate::session::set_hands_free(&app, saved.hands_free);
    if saved.quality_override != old.quality_override || saved.cache_dir != old.cache_dir {
        tracing::info!("quality or cache location changed: planning again");
        crate::flow::restart(&app);
    }
    Ok(saved)
}

/// `set_hf_token`: into the keychain (or memory for this run when the keychain is unavailable).
/// A flow stopped on an authorization error is retried with the new token.
#[tauri::command]
pub fn set_hf_token<R: Runtime>(
    app: AppHandle<R>,
    tokens: State<'_, TokenStore>,
    token: Option<String>,
) -> CmdResult<()> {
    let stored = tokens.set(token.as_deref());
    if stored == Stored::MemoryOnly && token.is_some() {
        tracing::warn!("the token is kept for this run only: the system keychain is unavailable");
    }
    if core(&app).state().stage == crate::state::Stage::Error {
        crate::flow::restart(&app);
    }
    Ok(())
}

/// `pause_download`.
#[tauri::command]
pub fn pause_download<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    crate::flow::pause(&app, true).map_err(|e| e.to_string())
}

/// `resume_download`.
#[tauri::command]
pub fn resume_download<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    crate::flow::pause(&app, false).map_err(|e| e.to_string())
}

/// `retry_download`: runs the flow again from the start (the journal makes it resume).
#[tauri::command]
pub fn retry_download<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    crate::flow::restart(&app);
    Ok(())
}

/// `list_audio_devices`.
#[tauri::command]
pub async fn list_audio_devices() -> CmdResult<AudioDevices> {
    tauri::async_runtime::spawn_blocking(crate::session::list_devices)
        .await
        .map_err(|e| e.to_string())?
}

/// `start_session` (async: warm-up and opening the devices take a moment).
#[tauri::command]
pub async fn start_session<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    crate::session::start(&app).await
}

/// `stop_session`.
#[tauri::command]
pub fn stop_session<R: Runtime>(app: AppHandle<R>) -> CmdResult<()> {
    crate::session::stop(&app);
    Ok(())
}

/// `set_talking`: the UI's hold-to-talk button (the hotkey does the same).
#[tauri::command]
pub fn set_talking<R: Runtime>(app: AppHandle<R>, talking: bool) -> CmdResult<()> {
    talk(&app, talking);
    Ok(())
}

/// `quit_app`.
#[tauri::command]
pub fn quit_app<R: Runtime>(app: AppHandle<R>) {
    quit(&app);
}

/// Opens or closes the microphone gate (hotkey and UI).
pub fn talk<R: Runtime>(app: &AppHandle<R>, talking: bool) {
    tracing::info!(talking, "talk");
    crate::session::set_talking(app, talking);
}

/// Tray menu: pause or resume the download.
pub fn toggle_pause<R: Runtime>(app: &AppHandle<R>) {
    let paused = crate::flow::is_paused(app);
    if let Err(e) = crate::flow::pause(app, !paused) {
        tracing::warn!("pause/resume: {e}");
    }
}

/// Stops the session and the download (the journal keeps the progress), then exits.
pub fn quit<R: Runtime>(app: &AppHandle<R>) {
    tracing::info!("quitting");
    crate::session::stop(app);
    crate::flow::shutdown(app);
    app.exit(0);
}
