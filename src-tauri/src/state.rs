//! The app's state as the shell shows it: the types live in `app-core` (re-exported here); this
//! module publishes them. [`publish`] is the one place a new state goes out: the `app-state`
//! event to the UI, the tray icon (the tray listens to the state), and `MOSHIBAR_STATE_FILE`.

use parking_lot::Mutex;
use std::path::PathBuf;
use tauri::{AppHandle, Emitter, Manager, Runtime};

pub use app_core::{
    write_json_atomic, AppState, SessionState, Stage, TrayState, UiError, STATE_FILE_ENV,
};

/// The event names of docs/ipc.md.
pub mod events {
    /// `hubfetch::Progress`, forwarded unchanged.
    pub const DOWNLOAD_PROGRESS: &str = "download-progress";
    /// [`super::AppState`].
    pub const APP_STATE: &str = "app-state";
    /// `voice::TranscriptPiece`, forwarded unchanged.
    pub const TRANSCRIPT: &str = "transcript";
    /// `voice::Metrics`, forwarded unchanged.
    pub const SESSION_METRICS: &str = "session-metrics";
}

/// What the shell keeps besides the core: the last progress and the state file's path.
#[derive(Default)]
pub struct ShellState {
    progress: Mutex<Option<serde_json::Value>>,
    state_file: Option<PathBuf>,
}

impl ShellState {
    /// The shell's state; the state file comes from `MOSHIBAR_STATE_FILE` (a test hook).
    pub fn from_env() -> Self {
        Self {
            progress: Mutex::new(None),
            state_file: crate::test_hooks::var_os(STATE_FILE_ENV).map(PathBuf::from),
        }
    }

    /// The last download progress, unchanged from hubfetch.
    pub fn progress(&self) -> Option<serde_json::Value> {
        self.progress.lock().clone()
    }
}

/// Stores and forwards a `hubfetch::Progress` (already serialized, never re-shaped).
pub fn set_progress<R: Runtime>(app: &AppHandle<R>, progress: serde_json::Value) {
    if let Err(e) = app.emit(events::DOWNLOAD_PROGRESS, &progress) {
        tracing::debug!("emit {}: {e}", events::DOWNLOAD_PROGRESS);
    }
    if let Some(shell) = app.try_state::<ShellState>() {
        *shell.progress.lock() = Some(progress);
    }
}

/// A new state: to the UI, the tray and the state file.
pub fn publish<R: Runtime>(app: &AppHandle<R>, state: &AppState, tray: TrayState) {
    if let Err(e) = app.emit(events::APP_STATE, state) {
        tracing::debug!("emit {}: {e}", events::APP_STATE);
    }
    crate::tray::set_state(app, tray);
    let downloading = matches!(state.stage, Stage::Downloading | Stage::Verifying);
    crate::tray::set_download_controls(app, downloading, state.download_paused && downloading);
    if let Some(shell) = app.try_state::<ShellState>() {
        if let Some(path) = &shell.state_file {
            if let Err(e) = write_json_atomic(path, state) {
                tracing::warn!("state file {}: {e}", path.display());
            }
        }
    }
}

/// The core (managed once the flow started; commands run after setup).
pub fn core<R: Runtime>(app: &AppHandle<R>) -> tauri::State<'_, app_core::Core> {
    app.state::<app_core::Core>()
}
