//! The app's one piece of state ([`AppState`], docs/ipc.md) as outside tools and the UI see it.
//!
//! The JSON shape (`stage`, `session.active`, `session.talking`, …) is a contract: the popover
//! renders it and `MOSHIBAR_STATE_FILE` lets outside tools (the end-to-end test) follow the app.
//! Fields are only ever added.

use serde::{Deserialize, Serialize};

use crate::settings::Settings;

/// Environment variable naming a file that receives the state as JSON at every change.
pub const STATE_FILE_ENV: &str = "MOSHIBAR_STATE_FILE";

/// Where the flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Reading the chip and memory (and this machine's stored speed test).
    Detecting,
    /// Timing Moshi on this machine before the first plan (the on-device speed test; only
    /// when none is stored for this machine and app version, see [`AppState::speed_test`]).
    Measuring,
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
    /// The flow stopped on something that needs the person (see [`AppState::error`]).
    Error,
}

impl Stage {
    /// The lower-case name used in logs and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Detecting => "detecting",
            Stage::Measuring => "measuring",
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    /// A conversation is running or opening: the person talked (hotkey, Talk button) or
    /// pressed Start. The audio opened ahead of the first press while the popover is up in
    /// Ready is `inputOpen` but not `active`.
    pub active: bool,
    /// The session's audio devices (the microphone) are open or opening: a conversation, or
    /// the popover up in Ready (so the first press loses nothing). False while idle with the
    /// popover hidden (no microphone indicator then).
    #[serde(default)]
    pub input_open: bool,
    /// The person holds the talk key (or the UI button): the microphone reaches the model.
    pub talking: bool,
    /// The microphone is always open.
    pub hands_free: bool,
    /// Frames of microphone audio the model has received while the gate was open, this session
    /// (so tools can check that talking really reaches the model).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub frames_heard: u64,
    /// Key-down to the first frame into the model, for the last press (ms).
    #[serde(default)]
    pub key_to_model_ms: Option<f64>,
}

/// An error the person should see, with the action the banner offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "AppError"))]
#[serde(rename_all = "camelCase")]
pub struct UiError {
    /// Short title ("Download failed").
    pub title: String,
    /// What happened and what to do next.
    pub message: String,
    /// The button the UI offers to fix it, if any.
    pub action: Option<ErrorAction>,
}

/// What the UI offers next to an error (`AppError.action` in docs/ipc.md). Serialized as
/// `{"kind": "retry"}`, `{"kind": "openUrl", "url": "https://…"}`, …, so the UI matches on
/// `kind` instead of parsing strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ErrorAction {
    /// Run the flow again (`retry_download`).
    Retry,
    /// Open the app's Settings view.
    OpenSettings,
    /// Open the system's microphone privacy settings.
    OpenMicrophoneSettings,
    /// Start a new conversation.
    StartSession,
    /// Open a web page (an `https://` address, e.g. a gated model's page).
    OpenUrl {
        /// The page's address.
        url: String,
    },
}

impl UiError {
    /// An error with a title, a message and an optional action.
    pub fn new(
        title: impl Into<String>,
        message: impl Into<String>,
        action: Option<ErrorAction>,
    ) -> Self {
        Self {
            title: title.into(),
            message: message.into(),
            action,
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl std::error::Error for UiError {}

/// `AppState` of docs/ipc.md. `hardware` and `plan` are the crates' own types, serialized
/// unchanged (the core does not re-shape them). Only ever sent (UI, state file), never read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    /// The flow's stage.
    pub stage: Stage,
    /// The chip and memory, once detected.
    pub hardware: Option<hardware::Hardware>,
    /// The plan in force (quality, repo, files, why), once planned.
    pub plan: Option<hardware::Plan>,
    /// The voice session.
    pub session: SessionState,
    /// The hold-to-talk shortcut in force (registered).
    pub hotkey: String,
    /// What needs the person, if anything (shown in every stage).
    pub error: Option<UiError>,
    /// Free space where the model goes.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub disk_free_bytes: Option<u64>,
    /// The snapshot directory holding the verified model.
    pub model_dir: Option<String>,
    /// The download is paused (remembered across relaunches).
    #[serde(default)]
    pub download_paused: bool,
    /// The voice in force (`moshiko` or `moshika`).
    #[serde(default)]
    pub voice: crate::settings::Voice,
    /// The on-device speed test of this launch: running (with progress per quality), done,
    /// stored by an earlier launch, or failed; none before it is looked up (and in an app
    /// without an engine).
    pub speed_test: Option<crate::speed::SpeedTestState>,
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
            download_paused: false,
            voice: settings.voice,
            speed_test: None,
        }
    }
}

/// Which tray icon the state calls for (`icons/tray/{name}.png`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    /// Nothing going on (detecting, measuring, planning, loading).
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
            _ if state.error.is_some() => TrayState::Error,
            Stage::Downloading | Stage::Verifying => TrayState::Downloading,
            Stage::Detecting | Stage::Measuring | Stage::Planning | Stage::Loading => {
                TrayState::Idle
            }
            Stage::Ready if speaking && state.session.active => TrayState::Speaking,
            Stage::Ready if state.session.talking => TrayState::Listening,
            Stage::Ready => TrayState::Ready,
        }
    }
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
        assert_eq!(v["session"]["active"], false);
        assert_eq!(v["session"]["talking"], false);
        assert_eq!(v["session"]["handsFree"], false);
        assert_eq!(v["session"]["framesHeard"], 0);
        assert!(v["diskFreeBytes"].is_null());
        assert!(v["modelDir"].is_null());
        assert_eq!(v["voice"], "moshiko");
        assert!(v.get("error").is_some());
        assert!(v["speedTest"].is_null());
        assert_eq!(
            serde_json::to_value(Stage::Measuring).expect("stage"),
            "measuring"
        );
    }

    #[test]
    fn tray_follows_stage_session_and_errors() {
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
        s.error = Some(UiError::new("x", "y", None));
        assert_eq!(TrayState::from_state(&s, true), TrayState::Error);
        s.error = None;
        s.stage = Stage::Error;
        assert_eq!(TrayState::from_state(&s, true), TrayState::Error);
    }
}
