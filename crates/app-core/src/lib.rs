//! Moshibar's app core: the flow a person lives (detect → plan → download or find in the
//! cache → load → ready → hold the hotkey and talk), as an explicit state machine with one
//! [`AppState`], plus the session lifecycle, download orchestration and settings.
//!
//! - [`Machine`] is pure: [`Machine::handle`] takes an [`Event`] and returns [`Effect`]s.
//!   Every journey (offline launch, quit mid-download, hotkey in Ready, a dying session…) is a
//!   unit test of it.
//! - [`Core`] owns the machine in one task and carries the effects out with [`Services`]:
//!   small traits for what the shell provides ([`Shell`]: UI/tray/state file, notifications,
//!   shortcut registration; [`Clock`]) and the services ([`Detector`], [`SpeedTest`], [`Hub`],
//!   [`Engine`], [`Audio`], [`Store`]).
//! - On a launch with no stored speed test for this machine, the flow measures it first
//!   ([`Stage::Measuring`], [`SpeedTestState`]) and plans with it ([`Machine::with_speed_test`]). `src-tauri` implements them over Tauri and the crates.
//!
//! ```
//! use app_core::{Effect, Event, Machine, Settings, Stage};
//!
//! let mut m = Machine::new(Settings::default(), false);
//! let fx = m.handle(Event::Launch).expect("launch is never refused");
//! assert_eq!(fx, vec![Effect::Detect { epoch: 1 }]);
//! assert_eq!(m.state().stage, Stage::Detecting);
//! // Pressing the hotkey before Ready does not open a session.
//! assert!(m.handle(Event::Key { pressed: true }).expect("keys are never refused").is_empty());
//! ```

mod command_error;
mod core;
mod machine;
mod msg;
mod services;
mod settings;
mod speed;
mod state;

pub use crate::command_error::CommandError;
pub use crate::core::{Core, RELEASE_DEBOUNCE};
pub use machine::{Candidate, Effect, Event, Machine, Refusal, IDLE_CLOSE};
pub use services::{
    Audio, BoxFuture, Clock, Detector, Download, DownloadControl, Engine, Hub, Services,
    SessionReport, Shell, SpeedTest, SpeedTestReporter, StageReport, Store, TokioClock,
};
pub use settings::{
    validate_hotkey, validate_writable_dir, write_json_atomic, FlowMemory, QualityOverride,
    Settings, SettingsError, Voice, DEFAULT_HOTKEY, FILE_NAME, FLOW_FILE_NAME,
};
pub use speed::{SpeedProgress, SpeedTestQuality, SpeedTestState, SpeedTestStatus};
pub use state::{AppState, ErrorAction, SessionState, Stage, TrayState, UiError, STATE_FILE_ENV};

#[cfg(test)]
mod tests;
