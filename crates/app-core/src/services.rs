//! What the core needs from the outside, as small traits: the shell (UI, tray, notifications,
//! shortcut registration, exit), a clock, and the services (hardware detection, the Hub cache
//! and downloads, the on-device speed test, the engine thread, the audio session, the settings
//! store). `src-tauri`
//! implements them over Tauri and the crates; the unit tests implement them with fakes.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use hardware::{Hardware, Plan, Quality, SpeedReport};
use tokio::sync::mpsc;

use crate::machine::{Candidate, Event};
use crate::msg::Msg;
use crate::settings::Settings;
use crate::speed::SpeedProgress;
use crate::state::{AppState, Stage, TrayState, UiError};

/// A boxed future (object-safe async in the traits).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The shell: where the state goes and what only the platform can do.
pub trait Shell: Send + Sync {
    /// The state changed: tell the UI, set the tray icon, write the state file.
    fn publish(&self, state: &AppState, tray: TrayState);
    /// Shows a notification.
    fn notify(&self, title: &str, body: &str);
    /// Makes `accelerator` the hold-to-talk shortcut. On failure the previous shortcut must
    /// stay registered (register the new one first, then drop the old one).
    fn register_shortcut(&self, accelerator: &str) -> Result<(), String>;
    /// Launch at login on or off.
    fn set_launch_at_login(&self, on: bool) -> Result<(), String>;
    /// Exits the process (after the core closed the session and freed the model).
    fn exit(&self);
}

/// Time, so the hotkey debounce is testable.
pub trait Clock: Send + Sync {
    /// Completes after `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<()>;
}

/// The real clock (tokio's timer).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn sleep(&self, d: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Reads the chip and memory.
pub trait Detector: Send + Sync {
    /// The hardware, or why it could not be read.
    fn detect(&self) -> BoxFuture<Result<Hardware, UiError>>;
}

/// Controls of a running download.
pub trait DownloadControl: Send + Sync {
    /// Pauses (`true`) or resumes.
    fn pause(&self, paused: bool);
    /// Stops; the journal keeps every verified chunk.
    fn cancel(&self);
}

/// A started download.
pub struct Download {
    /// Its controls.
    pub control: Box<dyn DownloadControl>,
    /// Resolves to the snapshot directory once every file is verified.
    pub done: BoxFuture<Result<PathBuf, UiError>>,
}

/// The Hugging Face cache and downloads.
pub trait Hub: Send + Sync {
    /// Which candidates' file sets are complete in the cache (local files only, no network).
    fn complete(&self, settings: &Settings, candidates: &[Candidate]) -> BTreeSet<Quality>;
    /// Free space where the model goes.
    fn disk_free(&self, settings: &Settings) -> Option<u64>;
    /// The snapshot directory of a plan whose files are all in the cache (no network).
    fn cached_snapshot(&self, settings: &Settings, plan: &Plan) -> Result<PathBuf, UiError>;
    /// Removes one of the app's repos from the cache (blobs, partials, journals, snapshots);
    /// returns the bytes freed. Blocking: the core calls it off the async threads, after it
    /// cancelled the download and unloaded the model of that repo.
    fn delete(&self, settings: &Settings, repo: &str) -> Result<u64, UiError>;
    /// Starts downloading the plan's files; progress goes to `report` (and to the UI directly).
    fn download(
        &self,
        settings: &Settings,
        plan: &Plan,
        paused: bool,
        report: StageReport,
    ) -> Result<Download, UiError>;
}

/// The on-device speed test (the engine's `speedtest`) and where its result is kept
/// (`hardware::SpeedCache`).
pub trait SpeedTest: Send + Sync {
    /// The qualities a measurement times, in the order it times them.
    fn qualities(&self) -> Vec<Quality>;
    /// The stored measurement of this machine (`hw`) and app version, if any. Blocking (a
    /// small file): the core calls it off the async threads.
    fn cached(&self, hw: &Hardware) -> Result<Option<SpeedReport>, String>;
    /// Runs the speed test off the UI and async threads; each step goes to `report`.
    fn measure(
        &self,
        hw: &Hardware,
        report: SpeedTestReporter,
    ) -> BoxFuture<Result<SpeedReport, UiError>>;
    /// Keeps `report` for later launches. Blocking: the core calls it off the async threads.
    fn store(&self, report: &SpeedReport) -> Result<(), String>;
    /// Stops a running measurement as soon as it can (quit); its result is then an error.
    fn cancel(&self);
}

/// The long-lived engine thread that owns the model.
pub trait Engine: Send + Sync {
    /// Loads the model from `dir` on the engine thread and runs its warm-up frame.
    fn load(&self, dir: PathBuf, plan: Plan) -> BoxFuture<Result<(), UiError>>;
    /// Frees the model (and MLX's cache).
    fn unload(&self) -> BoxFuture<()>;
}

/// The audio session on the loaded model.
pub trait Audio: Send + Sync {
    /// Opens the devices of `settings` and starts feeding the model (with `wait_for_talk`,
    /// only from the first press on); the session reports through `report` until it ends.
    fn open(
        &self,
        settings: &Settings,
        wait_for_talk: bool,
        report: SessionReport,
    ) -> BoxFuture<Result<(), UiError>>;
    /// Closes the session (no-op without one).
    fn close(&self) -> BoxFuture<()>;
    /// Opens or closes the microphone gate (remembered for a session still opening).
    fn set_gate(&self, talking: bool);
    /// Hands-free on or off.
    fn set_hands_free(&self, on: bool);
}

/// Where settings and the flow memory are kept.
pub trait Store: Send + Sync {
    /// Persists the settings.
    fn save_settings(&self, settings: &Settings) -> Result<(), String>;
    /// Remembers whether the download is paused.
    fn remember_paused(&self, paused: bool);
}

/// Everything the core drives.
#[derive(Clone)]
pub struct Services {
    /// The shell.
    pub shell: std::sync::Arc<dyn Shell>,
    /// Time.
    pub clock: std::sync::Arc<dyn Clock>,
    /// Hardware detection.
    pub detector: std::sync::Arc<dyn Detector>,
    /// The Hub.
    pub hub: std::sync::Arc<dyn Hub>,
    /// The on-device speed test.
    pub speed: std::sync::Arc<dyn SpeedTest>,
    /// The engine thread.
    pub engine: std::sync::Arc<dyn Engine>,
    /// The audio session.
    pub audio: std::sync::Arc<dyn Audio>,
    /// Settings storage.
    pub store: std::sync::Arc<dyn Store>,
}

/// A download's way to tell the core it moved between downloading and verifying.
#[derive(Debug, Clone)]
pub struct StageReport {
    pub(crate) tx: mpsc::Sender<Msg>,
    pub(crate) epoch: u64,
}

impl StageReport {
    /// The download is now in `stage` ([`Stage::Downloading`] or [`Stage::Verifying`]).
    pub fn stage(&self, stage: Stage) {
        let event = Event::DownloadStage {
            epoch: self.epoch,
            stage,
        };
        if self.tx.try_send(Msg::Event(event)).is_err() {
            tracing::debug!("download stage not delivered (core busy or gone)");
        }
    }
}

/// A running speed test's way to tell the core how far it is.
#[derive(Debug, Clone)]
pub struct SpeedTestReporter {
    pub(crate) tx: mpsc::Sender<Msg>,
}

impl SpeedTestReporter {
    /// One step done (lossy when the core is busy: the next step says more).
    pub fn progress(&self, progress: SpeedProgress) {
        let event = Event::SpeedProgress(progress);
        if self.tx.try_send(Msg::Event(event)).is_err() {
            tracing::debug!("speed test progress not delivered (core busy or gone)");
        }
    }
}

/// A session's way to tell the core what happens to it.
#[derive(Debug, Clone)]
pub struct SessionReport {
    pub(crate) tx: mpsc::Sender<Msg>,
    pub(crate) id: u64,
}

impl SessionReport {
    fn send(&self, event: Event) {
        if self.tx.try_send(Msg::Event(event)).is_err() {
            tracing::debug!("session report not delivered (core busy or gone)");
        }
    }

    /// The session ended by itself; `reason` says why when it was not asked for.
    pub fn ended(&self, reason: Option<UiError>) {
        self.send(Event::SessionEnded {
            id: self.id,
            reason,
        });
    }

    /// Counters: frames heard with the gate open, key-down → first frame into the model.
    pub fn progress(&self, frames_heard: u64, key_to_model_ms: Option<f64>) {
        self.send(Event::SessionProgress {
            id: self.id,
            frames_heard,
            key_to_model_ms,
        });
    }

    /// Moshi started or stopped speaking.
    pub fn speaking(&self, on: bool) {
        self.send(Event::Speaking(on));
    }
}
