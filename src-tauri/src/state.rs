//! The app's one piece of state ([`AppState`], docs/ipc.md) and the place it changes.
//!
//! Everything that changes the state goes through [`Core::update`], which emits `app-state` to the
//! UI, refreshes the tray icon, logs the stage (the end-to-end test follows these lines) and, when
//! `MOSHIBAR_STATE_FILE` is set, writes the state there as JSON.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::settings::Settings;

/// Environment variable naming a file that receives the state as JSON at every change.
pub const STATE_FILE_ENV: &str = "MOSHIBAR_STATE_FILE";

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

/// Where the first-launch flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Reading the chip and memory.
    Detecting,
    /// Choosing the quality.
    Planning,
    /// Fetching the weights.
    Downloading,
    /// Checking the downloaded files.
    Verifying,
    /// Loading the engine.
    Loading,
    /// Ready to talk.
    Ready,
    /// Something needs the person (see [`AppState::error`]).
    Error,
}

impl Stage {
    /// The lower-case name used in logs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Detecting => "detecting",
            Stage::Planning => "planning",
            Stage::Downloading => "downloading",
            Stage::Verifying => "verifying",
            Stage::Loading => "loading",
            Stage::Ready => "ready",
            Stage::Error => "error",
        }
    }
}

/// The voice session as the UI sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    /// A session is running (audio devices open).
    pub active: bool,
    /// The person holds the talk key (or the UI button).
    pub talking: bool,
    /// The microphone is always open.
    pub hands_free: bool,
}

/// An error the person should act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiError {
    /// Short title ("Download failed").
    pub title: String,
    /// What happened and what to do next.
    pub message: String,
    /// `retry`, `openSettings`, `openUrl:https://…`, or none.
    pub action: Option<String>,
}

impl UiError {
    /// An error with a title, a message and an optional action.
    pub fn new(title: impl Into<String>, message: impl Into<String>, action: Option<&str>) -> Self {
        Self {
            title: title.into(),
            message: message.into(),
            action: action.map(str::to_owned),
        }
    }
}

/// `AppState` of docs/ipc.md. `hardware` and `plan` are the crates' own types, serialized
/// unchanged (the shell does not re-shape them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    /// The flow's stage.
    pub stage: Stage,
    /// `hardware::Hardware`.
    pub hardware: Option<serde_json::Value>,
    /// `hardware::Plan`.
    pub plan: Option<serde_json::Value>,
    /// The voice session.
    pub session: SessionState,
    /// The hold-to-talk shortcut.
    pub hotkey: String,
    /// What needs the person, if anything.
    pub error: Option<UiError>,
    /// Free space where the model goes.
    pub disk_free_bytes: Option<u64>,
    /// The snapshot directory holding the verified model.
    pub model_dir: Option<String>,
}

impl AppState {
    /// The state at launch.
    pub fn initial(settings: &Settings) -> Self {
        Self {
            stage: Stage::Detecting,
            hardware: None,
            plan: None,
            session: SessionState {
                hands_free: settings.hands_free,
                ..SessionState::default()
            },
            hotkey: settings.hotkey.clone(),
            error: None,
            disk_free_bytes: None,
            model_dir: None,
        }
    }
}

/// Which tray icon the state calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    /// Nothing going on (detecting, planning, loading).
    Idle,
    /// Download or verification running.
    Downloading,
    /// Ready to talk.
    Ready,
    /// The person is talking.
    Listening,
    /// Moshi is speaking.
    Speaking,
    /// Something needs the person.
    Error,
}

impl TrayState {
    /// Every state, in icon order.
    pub const ALL: [TrayState; 6] = [
        TrayState::Idle,
        TrayState::Downloading,
        TrayState::Ready,
        TrayState::Listening,
        TrayState::Speaking,
        TrayState::Error,
    ];

    /// The icon's file stem in `icons/tray/`.
    pub fn name(self) -> &'static str {
        match self {
            TrayState::Idle => "idle",
            TrayState::Downloading => "downloading",
            TrayState::Ready => "ready",
            TrayState::Listening => "listening",
            TrayState::Speaking => "speaking",
            TrayState::Error => "error",
        }
    }

    /// The icon for a state, given whether Moshi is speaking right now (from session metrics).
    pub fn from_state(state: &AppState, speaking: bool) -> Self {
        match state.stage {
            Stage::Error => TrayState::Error,
            Stage::Downloading | Stage::Verifying => TrayState::Downloading,
            Stage::Detecting | Stage::Planning | Stage::Loading => TrayState::Idle,
            Stage::Ready if speaking && state.session.active => TrayState::Speaking,
            Stage::Ready if state.session.talking => TrayState::Listening,
            Stage::Ready => TrayState::Ready,
        }
    }
}

/// Mutable parts of the core, behind one lock.
struct Inner {
    state: AppState,
    progress: Option<serde_json::Value>,
    settings: Settings,
    speaking: bool,
}

/// The shell's state, managed by Tauri (`app.state::<Core>()`).
pub struct Core {
    inner: Mutex<Inner>,
    state_file: Option<PathBuf>,
    config_dir: PathBuf,
}

impl Core {
    /// A core for these settings (loaded from `config_dir`).
    pub fn new(settings: Settings, config_dir: PathBuf) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: AppState::initial(&settings),
                progress: None,
                settings,
                speaking: false,
            }),
            state_file: std::env::var_os(STATE_FILE_ENV).map(PathBuf::from),
            config_dir,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep going with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The app's config directory (settings.json lives there).
    pub fn config_dir(&self) -> &std::path::Path {
        &self.config_dir
    }

    /// A copy of the state.
    pub fn state(&self) -> AppState {
        self.lock().state.clone()
    }

    /// A copy of the settings.
    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    /// Replaces the settings in memory (the caller persists them).
    pub fn set_settings(&self, settings: Settings) {
        self.lock().settings = settings;
    }

    /// The last download progress, unchanged from hubfetch.
    pub fn progress(&self) -> Option<serde_json::Value> {
        self.lock().progress.clone()
    }

    /// Changes the state, then tells the UI, the tray, the log and the state file.
    pub fn update<R: Runtime>(&self, app: &AppHandle<R>, f: impl FnOnce(&mut AppState)) {
        let (before, after, tray) = {
            let mut inner = self.lock();
            let before = inner.state.clone();
            f(&mut inner.state);
            let tray = TrayState::from_state(&inner.state, inner.speaking);
            (before, inner.state.clone(), tray)
        };
        if before == after {
            return;
        }
        if before.stage != after.stage {
            tracing::info!(stage = after.stage.as_str(), "stage changed");
        }
        if before.error != after.error {
            if let Some(e) = &after.error {
                tracing::warn!(title = %e.title, message = %e.message, "needs the person");
            }
        }
        self.publish(app, &after, tray);
    }

    /// Records whether Moshi is speaking (from the session metrics) and refreshes the tray.
    pub fn set_speaking<R: Runtime>(&self, app: &AppHandle<R>, speaking: bool) {
        let (changed, tray) = {
            let mut inner = self.lock();
            let changed = inner.speaking != speaking;
            inner.speaking = speaking;
            (changed, TrayState::from_state(&inner.state, speaking))
        };
        if changed {
            crate::tray::set_state(app, tray);
        }
    }

    /// Stores and forwards a `hubfetch::Progress` (already serialized, never re-shaped).
    pub fn set_progress<R: Runtime>(&self, app: &AppHandle<R>, progress: serde_json::Value) {
        if let Err(e) = app.emit(events::DOWNLOAD_PROGRESS, &progress) {
            tracing::debug!("emit {}: {e}", events::DOWNLOAD_PROGRESS);
        }
        self.lock().progress = Some(progress);
    }

    fn publish<R: Runtime>(&self, app: &AppHandle<R>, state: &AppState, tray: TrayState) {
        if let Err(e) = app.emit(events::APP_STATE, state) {
            tracing::debug!("emit {}: {e}", events::APP_STATE);
        }
        crate::tray::set_state(app, tray);
        if let Some(path) = &self.state_file {
            if let Err(e) = write_json_atomic(path, state) {
                tracing::warn!("state file {}: {e}", path.display());
            }
        }
    }
}

/// Writes `value` as pretty JSON through a temporary file and a rename.
pub fn write_json_atomic<T: Serialize>(path: &std::path::Path, value: &T) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Shortcut: the [`Core`] of an app.
pub fn core<R: Runtime>(app: &AppHandle<R>) -> tauri::State<'_, Core> {
    app.state::<Core>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_serializes_as_in_ipc_md() {
        let s = AppState::initial(&Settings::default());
        let v = serde_json::to_value(&s).expect("serialize");
        assert_eq!(v["stage"], "detecting");
        assert_eq!(v["hotkey"], "Alt+Space");
        assert_eq!(v["session"]["handsFree"], false);
        assert!(v["diskFreeBytes"].is_null());
        assert!(v["modelDir"].is_null());
        assert!(v.get("error").is_some());
    }

    #[test]
    fn tray_follows_stage_and_session() {
        let mut s = AppState::initial(&Settings::default());
        assert_eq!(TrayState::from_state(&s, false), TrayState::Idle);
        s.stage = Stage::Verifying;
        assert_eq!(TrayState::from_state(&s, false), TrayState::Downloading);
        s.stage = Stage::Ready;
        assert_eq!(TrayState::from_state(&s, false), TrayState::Ready);
        s.session.active = true;
        s.session.talking = true;
        assert_eq!(TrayState::from_state(&s, false), TrayState::Listening);
        assert_eq!(TrayState::from_state(&s, true), TrayState::Speaking);
        s.stage = Stage::Error;
        assert_eq!(TrayState::from_state(&s, true), TrayState::Error);
    }
}
