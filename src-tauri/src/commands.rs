//! The commands of docs/ipc.md: each one is a thin call into the core ([`app_core::Core`]) or
//! the module that owns the piece. Every command that can block (keychain, devices, the core's
//! queue) is `async`, so the main thread (tray, popover) never waits. Errors reach the UI as one
//! [`CommandError`]: a sentence saying what to do, and the button that does it when one helps.

use app_core::{AppState, CommandError, Core, Event};
use tauri::{AppHandle, Runtime, State};

pub use crate::actions::{quit, toggle_pause};
use crate::keychain::{Stored, TokenStore};
pub use crate::session::AudioDevices;
use crate::settings::Settings;
use crate::state::ShellState;

/// A command's result: the error is a sentence for the person with an optional action.
pub type CmdResult<T> = Result<T, CommandError>;

/// `get_state`.
#[tauri::command]
pub fn get_state(core: State<'_, Core>) -> AppState {
    core.state()
}

/// `get_progress`: the last `hubfetch::Progress`, unchanged.
#[tauri::command]
pub fn get_progress(shell: State<'_, ShellState>) -> Option<serde_json::Value> {
    shell.progress()
}

/// Whether a Hugging Face token is stored, read off the main thread (the keychain may block).
async fn token_present<R: Runtime>(app: AppHandle<R>) -> CmdResult<bool> {
    tauri::async_runtime::spawn_blocking(move || {
        use tauri::Manager;
        app.state::<TokenStore>().has_token()
    })
    .await
    .map_err(|e| CommandError::because("Could not reach the keychain", e))
}

/// `get_settings` (with `hasToken` from the keychain, read off the main thread).
#[tauri::command]
pub async fn get_settings<R: Runtime>(
    app: AppHandle<R>,
    core: State<'_, Core>,
) -> CmdResult<Settings> {
    let mut s = core.settings();
    s.has_token = token_present(app).await?;
    Ok(s)
}

/// `save_settings`: the core validates (a shortcut needs a modifier, the cache folder must be
/// absolute and writable), registers a new shortcut (a failure keeps the old one), applies
/// launch at login and hands-free, persists, and plans again when the quality, voice or cache
/// location changed. Returns what is now in force.
#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    core: State<'_, Core>,
    settings: Settings,
) -> CmdResult<Settings> {
    let mut saved = core.save_settings(settings).await?;
    saved.has_token = token_present(app).await?;
    Ok(saved)
}

/// `set_hf_token`: into the keychain (or memory for this run when the keychain is unavailable),
/// off the main thread (the keychain may prompt). A flow stopped on an error is retried.
#[tauri::command]
pub async fn set_hf_token<R: Runtime>(
    app: AppHandle<R>,
    core: State<'_, Core>,
    token: Option<String>,
) -> CmdResult<()> {
    let has = token.is_some();
    // The keychain may ask for the login password: the popover stays up meanwhile.
    let hold = crate::window::HoldOpen::new(&app);
    let stored = tauri::async_runtime::spawn_blocking(move || {
        use tauri::Manager;
        app.state::<TokenStore>().set(token.as_deref())
    })
    .await
    .map_err(|e| CommandError::because("Could not reach the keychain", e))?;
    drop(hold);
    if stored == Stored::MemoryOnly && has {
        tracing::warn!("the token is kept for this run only: the system keychain is unavailable");
    }
    if core.state().stage == app_core::Stage::Error {
        core.command(Event::Retry).await?;
    }
    Ok(())
}

/// `pause_download`.
#[tauri::command]
pub async fn pause_download(core: State<'_, Core>) -> CmdResult<()> {
    core.command(Event::Pause(true)).await
}

/// `resume_download`.
#[tauri::command]
pub async fn resume_download(core: State<'_, Core>) -> CmdResult<()> {
    core.command(Event::Pause(false)).await
}

/// `retry_download`: runs the flow again (the journal makes a download resume).
#[tauri::command]
pub async fn retry_download(core: State<'_, Core>) -> CmdResult<()> {
    core.command(Event::Retry).await
}

/// `list_audio_devices`.
#[tauri::command]
pub async fn list_audio_devices() -> CmdResult<AudioDevices> {
    tauri::async_runtime::spawn_blocking(crate::session::list_devices)
        .await
        .map_err(|e| CommandError::because("Could not list the audio devices", e))?
        .map_err(CommandError::from)
}

/// `start_session`: opens the audio devices on the loaded model (the hotkey does it too).
#[tauri::command]
pub async fn start_session(core: State<'_, Core>) -> CmdResult<()> {
    core.command(Event::StartSession).await
}

/// `stop_session`.
#[tauri::command]
pub async fn stop_session(core: State<'_, Core>) -> CmdResult<()> {
    core.command(Event::StopSession).await
}

/// `set_talking`: the UI's hold-to-talk button (opens the session if none, like the hotkey).
#[tauri::command]
pub async fn set_talking(core: State<'_, Core>, talking: bool) -> CmdResult<()> {
    core.command(Event::Talk(talking)).await
}

/// `dismiss_error`: the banner's ×. Clears a session, shortcut or model error; the Error
/// stage's error stays until the flow runs again (Retry).
#[tauri::command]
pub async fn dismiss_error(core: State<'_, Core>) -> CmdResult<()> {
    core.command(Event::DismissError).await
}

/// `restart_question { settings }`: the question to ask before saving `settings` stops the
/// download or unloads the model to plan again; `null` when nothing needs confirming.
#[tauri::command]
pub async fn restart_question(
    core: State<'_, Core>,
    settings: Settings,
) -> CmdResult<Option<String>> {
    Ok(core.restart_question(settings).await)
}

/// `quit_app`.
#[tauri::command]
pub fn quit_app<R: Runtime>(app: AppHandle<R>) {
    quit(&app);
}
