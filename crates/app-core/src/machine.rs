//! The flow as an explicit state machine: [`Machine::handle`] takes one [`Event`] (something
//! that happened: a service finished, the person pressed a key, a command arrived) and returns
//! the [`Effect`]s to carry out. It does no I/O and reads no clock, so every journey is a plain
//! unit test; [`crate::Core`] carries the effects out with the services.
//!
//! Long-running work is tagged: flow events carry the `epoch` of the flow run that asked for
//! them (a re-plan starts a new epoch, so a late result of a cancelled download is ignored) and
//! session events carry the session id. The speed test's events are not tagged: it runs once
//! per launch, whatever re-plans happen meanwhile (its result does not depend on the settings).

use std::collections::BTreeSet;
use std::path::PathBuf;

use hardware::{CacheState, Hardware, Plan, PlanOptions, Quality, Source, SpeedReport};

use crate::settings::Settings;
use crate::speed::{SpeedProgress, SpeedTestState};
use crate::state::{AppState, Stage, TrayState, UiError};

/// One quality's file set the cache is probed for (no network): the repo the person's voice
/// uses and the plan's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The quality.
    pub quality: Quality,
    /// Repo id (already mapped to the voice).
    pub repo: String,
    /// Revision.
    pub revision: String,
    /// Paths inside the repo.
    pub files: Vec<String>,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The app started.
    Launch,
    /// Hardware detection finished.
    Detected {
        /// Flow run.
        epoch: u64,
        /// The hardware, or why it could not be read.
        result: Result<Hardware, UiError>,
    },
    /// The speed cache was read ([`Effect::LookUpSpeed`]).
    SpeedLooked {
        /// This machine's stored measurement, none, or why the cache could not be read
        /// (then the test runs, and its result replaces the unreadable cache).
        cached: Result<Option<SpeedReport>, String>,
        /// The qualities a measurement would time, in order.
        qualities: Vec<Quality>,
    },
    /// A step of the running speed test.
    SpeedProgress(SpeedProgress),
    /// The speed test finished ([`Effect::MeasureSpeed`]), or failed (the plan then uses the
    /// bandwidth estimate, and says so).
    SpeedMeasured {
        /// The measurement, or why not.
        result: Result<SpeedReport, UiError>,
    },
    /// The cache was probed for the candidates of [`Effect::ProbeCache`].
    CacheProbed {
        /// Flow run.
        epoch: u64,
        /// Qualities whose whole file set is verified in the cache.
        complete: BTreeSet<Quality>,
        /// Free space where the model goes.
        disk_free: Option<u64>,
    },
    /// The download moved between downloading and verifying.
    DownloadStage {
        /// Flow run.
        epoch: u64,
        /// [`Stage::Downloading`] or [`Stage::Verifying`].
        stage: Stage,
    },
    /// The model files are verified on disk (downloaded or found in the cache), or not.
    ModelFiles {
        /// Flow run.
        epoch: u64,
        /// The snapshot directory.
        result: Result<PathBuf, UiError>,
    },
    /// The engine thread loaded the model and ran its warm-up, or failed.
    Loaded {
        /// Flow run.
        epoch: u64,
        /// Done, or why not.
        result: Result<(), UiError>,
    },
    /// The hold-to-talk key, raw (auto-repeat included).
    Key {
        /// Pressed (`true`) or released.
        pressed: bool,
    },
    /// The debounce delay after a release passed (see [`Effect::ScheduleRelease`]).
    ReleaseDue {
        /// The key event generation the release had.
        generation: u64,
    },
    /// The UI's hold-to-talk button (no auto-repeat, no debounce).
    Talk(bool),
    /// "Start conversation": open the session without talking yet.
    StartSession,
    /// "End": close the session.
    StopSession,
    /// The audio devices opened for a session, or not.
    SessionOpened {
        /// Session id of [`Effect::OpenSession`].
        id: u64,
        /// Done, or why not.
        result: Result<(), UiError>,
    },
    /// The session ended by itself (device gone for good, model error), with its reason.
    SessionEnded {
        /// Session id.
        id: u64,
        /// Why, when it was not asked for.
        reason: Option<UiError>,
    },
    /// Counters from the running session.
    SessionProgress {
        /// Session id.
        id: u64,
        /// Frames the model heard with the gate open.
        frames_heard: u64,
        /// Key-down → first frame into the model, last press.
        key_to_model_ms: Option<f64>,
    },
    /// Moshi started or stopped speaking (tray icon).
    Speaking(bool),
    /// Pause (`true`) or resume the download.
    Pause(bool),
    /// The banner's Retry: run the flow again (downloads resume from the journal).
    Retry,
    /// New settings are in force (validated, shortcut registered, persisted).
    SettingsApplied(Settings),
    /// The hold-to-talk shortcut is registered.
    ShortcutRegistered(String),
    /// Registering the shortcut failed (the previous one, if any, stays).
    ShortcutFailed(UiError),
    /// The person closed the banner.
    DismissError,
    /// The popover was shown (`true`) or hidden. While it is up in Ready the session's audio
    /// is opened ahead of the first press (see [`Machine`]'s doc on the session's purpose).
    Popover(bool),
    /// The idle delay after the last talk passed (see [`Effect::ScheduleIdleClose`]).
    IdleCloseDue {
        /// The idle generation the delay was scheduled with.
        generation: u64,
    },
    /// "Delete model": remove a repo from the cache. The repo in use is first stopped
    /// (download cancelled, session closed, model unloaded), then the flow plans again.
    DeleteModel {
        /// The repo id.
        repo: String,
    },
    /// The repo of [`Effect::DeleteModel`] was removed, or not.
    ModelDeleted {
        /// Flow run the delete belongs to.
        epoch: u64,
        /// The repo was the one in use: plan again.
        in_use: bool,
        /// Bytes freed, or why not.
        result: Result<u64, UiError>,
    },
    /// Quit: stop everything (the journal keeps the download) and exit.
    Quit,
}

/// Something to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the chip and memory.
    Detect {
        /// Flow run.
        epoch: u64,
    },
    /// Read this machine's stored speed test (no measuring).
    LookUpSpeed {
        /// The machine.
        hardware: Box<Hardware>,
    },
    /// Run the on-device speed test (off the UI thread; steps come back as
    /// [`Event::SpeedProgress`], the end as [`Event::SpeedMeasured`]).
    MeasureSpeed {
        /// The machine.
        hardware: Box<Hardware>,
    },
    /// Keep this measurement for later launches (the speed cache).
    StoreSpeed(Box<SpeedReport>),
    /// Stop the running speed test (quit).
    CancelSpeedTest,
    /// Look in the cache (no network) for these file sets.
    ProbeCache {
        /// Flow run.
        epoch: u64,
        /// Every quality's file set.
        candidates: Vec<Candidate>,
    },
    /// Download the plan's files.
    Download {
        /// Flow run.
        epoch: u64,
        /// What to fetch.
        plan: Box<Plan>,
        /// Start paused (the person paused before the last quit).
        paused: bool,
    },
    /// The plan's files are in the cache: find the snapshot, no network.
    UseCache {
        /// Flow run.
        epoch: u64,
        /// What to find.
        plan: Box<Plan>,
    },
    /// Pause or resume the running download.
    PauseDownload(bool),
    /// Stop the running download (the journal keeps what was verified).
    CancelDownload,
    /// Load the model on the engine thread and warm it up.
    Load {
        /// Flow run.
        epoch: u64,
        /// The snapshot directory.
        dir: PathBuf,
        /// The plan (quality, source).
        plan: Box<Plan>,
    },
    /// Free the model (quality or voice changed, or quit).
    Unload,
    /// Open the audio devices and run a session on the loaded model.
    OpenSession {
        /// Session id.
        id: u64,
        /// Opened ahead of the first press (the popover is up): the model waits for the key
        /// (`voice::SessionConfig::wait_for_talk`), so Moshi does not talk to an empty room.
        wait_for_talk: bool,
    },
    /// Close the session.
    CloseSession,
    /// Open or close the microphone gate.
    SetGate(bool),
    /// Hands-free on or off.
    SetHandsFree(bool),
    /// Send [`Event::ReleaseDue`] after the debounce delay.
    ScheduleRelease {
        /// The generation to send back.
        generation: u64,
    },
    /// Show a notification.
    Notify {
        /// Title.
        title: String,
        /// Body.
        body: String,
    },
    /// Remember across relaunches that the download is paused.
    RememberPaused(bool),
    /// Send [`Event::IdleCloseDue`] after `after`.
    ScheduleIdleClose {
        /// The generation to send back.
        generation: u64,
        /// How long to wait.
        after: std::time::Duration,
    },
    /// Remove `repo` from the cache, after the model and session are gone when `in_use`.
    DeleteModel {
        /// Flow run.
        epoch: u64,
        /// The repo id.
        repo: String,
        /// It is the repo in use: wait for the unload and the session's close first.
        in_use: bool,
    },
    /// Close the session, free the model and exit.
    Exit,
}

/// Why a command was refused, as a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Which part of the app an error belongs to: clearing one never wipes another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Flow,
    Session,
    Shortcut,
    Model,
}

/// Why the session's audio is open; decides when it closes by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Opened ahead of the first press because the popover is up in Ready, so the first
    /// words are not lost to opening the devices. Not a conversation yet (`session.active`
    /// stays false); closes when the popover hides.
    Warm,
    /// The person talked (hotkey or Talk button). Closes [`IDLE_CLOSE`] after the last
    /// release once the popover is hidden and Moshi is quiet (no microphone open while idle).
    Talk,
    /// "Start conversation" (or hands-free): open until End.
    Explicit,
}

/// How many more idle delays Moshi's answer may add before a talked-in session closes anyway.
const MAX_IDLE_EXTENSIONS: u32 = 2;

/// How long a session the person talked in stays open after the last release while the
/// popover is hidden (the next press then reaches the model at once).
pub const IDLE_CLOSE: std::time::Duration = std::time::Duration::from_secs(30);

/// Where the speed test is in this launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpeedPhase {
    /// No speed test in this app (no engine): plans use the bandwidth estimate.
    Off,
    /// The speed cache has not been read yet.
    NotLooked,
    /// Reading the speed cache.
    Looking,
    /// Measuring.
    Measuring,
    /// Known for this launch: measured, stored earlier, or failed.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionPhase {
    Closed,
    Opening(u64),
    Open(u64),
}

/// The flow's state machine. See the module doc.
#[derive(Debug)]
pub struct Machine {
    state: AppState,
    settings: Settings,
    model_dir_override: Option<PathBuf>,
    epoch: u64,
    hardware: Option<Hardware>,
    plan: Option<Plan>,
    speed_phase: SpeedPhase,
    /// The measurement plans use (`Done` with a result).
    speed: Option<SpeedReport>,
    /// Why the speed test failed, for the plan's reason.
    speed_failure: Option<String>,
    /// The flow waits for the speed test before it probes the cache and plans.
    awaiting_speed: bool,
    error_scope: Option<Scope>,
    downloading: bool,
    engine_loaded: bool,
    session: SessionPhase,
    purpose: Purpose,
    popover: bool,
    idle_generation: u64,
    idle_close: std::time::Duration,
    idle_extensions: u32,
    session_ids: u64,
    key_down: bool,
    key_generation: u64,
    shortcut_ok: bool,
    speaking: bool,
    quitting: bool,
}

impl Machine {
    /// A machine for these settings; `download_paused` is the remembered pause.
    pub fn new(settings: Settings, download_paused: bool) -> Self {
        let mut state = AppState::initial(&settings);
        state.download_paused = download_paused;
        Self {
            state,
            settings,
            model_dir_override: None,
            epoch: 0,
            hardware: None,
            plan: None,
            speed_phase: SpeedPhase::Off,
            speed: None,
            speed_failure: None,
            awaiting_speed: false,
            error_scope: None,
            downloading: false,
            engine_loaded: false,
            session: SessionPhase::Closed,
            purpose: Purpose::Warm,
            popover: false,
            idle_generation: 0,
            idle_close: IDLE_CLOSE,
            idle_extensions: 0,
            session_ids: 0,
            key_down: false,
            key_generation: 0,
            shortcut_ok: true,
            speaking: false,
            quitting: false,
        }
    }

    /// Use this directory as the verified model and skip planning's download
    /// (`MOSHIBAR_MODEL_DIR`).
    pub fn with_model_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.model_dir_override = dir;
        self
    }

    /// Run the on-device speed test before the first plan when none is stored for this machine
    /// and app version ([`Stage::Measuring`]; [`crate::SpeedTest`]). Without it (an app with no
    /// engine) plans use the bandwidth estimate.
    pub fn with_speed_test(mut self) -> Self {
        self.speed_phase = SpeedPhase::NotLooked;
        self
    }

    /// How long a talked-in session stays open after the last release with the popover hidden
    /// (default [`IDLE_CLOSE`]; tests use a shorter one).
    pub fn with_idle_close(mut self, after: std::time::Duration) -> Self {
        self.idle_close = after;
        self
    }

    /// The state the UI and tools see.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The tray icon the state calls for.
    pub fn tray(&self) -> TrayState {
        TrayState::from_state(&self.state, self.speaking)
    }

    /// A download is running (paused or not).
    pub fn is_downloading(&self) -> bool {
        self.downloading
    }

    /// The plan in force.
    pub fn plan(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }

    /// When applying `new` would stop a running download or unload the model to plan again,
    /// the question to ask the person first.
    pub fn restart_question(&self, new: &Settings) -> Option<String> {
        if !new.changes_model(&self.settings) {
            return None;
        }
        if self.downloading {
            let what = self
                .plan
                .as_ref()
                .map(|p| format!("the download of {}", p.repo))
                .unwrap_or_else(|| "the download".into());
            Some(format!(
                "This stops {what} and plans again; another model may need a new download. \
                 What was downloaded stays in the cache."
            ))
        } else if self.engine_loaded {
            Some(
                "This unloads the model and plans again; another model may need a download.".into(),
            )
        } else {
            None
        }
    }

    /// Takes one event; returns what to do, or why a command is refused.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Effect>, Refusal> {
        if self.quitting {
            return Ok(Vec::new());
        }
        let mut fx = Vec::new();
        match event {
            Event::Launch => self.start_flow(&mut fx),
            Event::Detected { epoch, result } if epoch == self.epoch => match result {
                Ok(hw) => self.detected(hw, &mut fx),
                Err(e) => self.flow_failed(e, &mut fx),
            },
            Event::SpeedLooked { cached, qualities } => {
                self.speed_looked(cached, &qualities, &mut fx)
            }
            Event::SpeedProgress(p) => {
                if self.speed_phase == SpeedPhase::Measuring {
                    if let Some(st) = &mut self.state.speed_test {
                        st.progress(&p);
                    }
                }
            }
            Event::SpeedMeasured { result } => self.speed_measured(result, &mut fx),
            Event::CacheProbed {
                epoch,
                complete,
                disk_free,
            } if epoch == self.epoch => self.planned(complete, disk_free, &mut fx),
            Event::DownloadStage { epoch, stage } if epoch == self.epoch && self.downloading => {
                if matches!(stage, Stage::Downloading | Stage::Verifying) {
                    self.state.stage = stage;
                }
            }
            Event::ModelFiles { epoch, result } if epoch == self.epoch => {
                self.downloading = false;
                match result {
                    Ok(dir) => self.load(dir, &mut fx),
                    Err(e) => self.flow_failed(e, &mut fx),
                }
            }
            Event::Loaded { epoch, result } if epoch == self.epoch => match result {
                Ok(()) => self.ready(&mut fx),
                Err(e) => self.flow_failed(e, &mut fx),
            },
            Event::Detected { .. }
            | Event::CacheProbed { .. }
            | Event::DownloadStage { .. }
            | Event::ModelFiles { .. }
            | Event::Loaded { .. } => {
                tracing::debug!("a stale flow event is ignored");
            }
            Event::Key { pressed } => self.key(pressed, &mut fx),
            Event::ReleaseDue { generation } => {
                if generation == self.key_generation && self.key_down {
                    self.key_down = false;
                    self.talk(false, &mut fx);
                }
            }
            Event::Talk(on) => {
                if on && self.state.stage != Stage::Ready {
                    return Err(not_ready());
                }
                self.talk(on, &mut fx);
            }
            Event::StartSession => {
                if self.state.stage != Stage::Ready {
                    return Err(not_ready());
                }
                self.idle_generation += 1;
                if self.session == SessionPhase::Closed {
                    self.open_session(Purpose::Explicit, &mut fx);
                } else {
                    self.purpose = Purpose::Explicit;
                    self.state.session.active = true;
                }
            }
            Event::StopSession => self.close_session(&mut fx),
            Event::SessionOpened { id, result } => self.session_opened(id, result, &mut fx),
            Event::SessionEnded { id, reason } => {
                if self.session_id() == Some(id) {
                    self.session_closed();
                    if let Some(reason) = reason {
                        self.set_error(Scope::Session, reason);
                    }
                }
            }
            Event::SessionProgress {
                id,
                frames_heard,
                key_to_model_ms,
            } => {
                if self.session_id() == Some(id) {
                    self.state.session.frames_heard = frames_heard;
                    self.state.session.key_to_model_ms = key_to_model_ms;
                }
            }
            Event::Speaking(on) => self.speaking = on,
            Event::Popover(visible) => self.popover(visible, &mut fx),
            Event::IdleCloseDue { generation } => {
                if generation == self.idle_generation {
                    self.idle_due(&mut fx);
                }
            }
            Event::DeleteModel { repo } => self.delete_model(repo, &mut fx),
            Event::ModelDeleted {
                epoch,
                in_use,
                result,
            } => {
                if let Err(e) = result {
                    self.set_error(Scope::Model, e);
                }
                if in_use && epoch == self.epoch {
                    self.start_flow(&mut fx);
                }
            }
            Event::Pause(paused) => {
                if !self.downloading {
                    return Err(Refusal("No download is running.".into()));
                }
                self.state.download_paused = paused;
                fx.push(Effect::PauseDownload(paused));
                fx.push(Effect::RememberPaused(paused));
            }
            Event::Retry => self.restart_flow(&mut fx),
            Event::SettingsApplied(new) => self.settings_applied(new, &mut fx),
            Event::ShortcutRegistered(accelerator) => {
                self.shortcut_ok = true;
                self.state.hotkey = accelerator;
                self.clear_error(Scope::Shortcut);
            }
            Event::ShortcutFailed(e) => {
                self.shortcut_ok = false;
                self.set_error(Scope::Shortcut, e);
            }
            Event::DismissError => {
                if self.error_scope != Some(Scope::Flow) {
                    self.state.error = None;
                    self.error_scope = None;
                }
            }
            Event::Quit => {
                self.quitting = true;
                if self.downloading {
                    fx.push(Effect::CancelDownload);
                }
                if self.speed_phase == SpeedPhase::Measuring {
                    fx.push(Effect::CancelSpeedTest);
                }
                fx.push(Effect::Exit);
            }
        }
        Ok(fx)
    }

    fn session_id(&self) -> Option<u64> {
        match self.session {
            SessionPhase::Closed => None,
            SessionPhase::Opening(id) | SessionPhase::Open(id) => Some(id),
        }
    }

    fn set_error(&mut self, scope: Scope, error: UiError) {
        // A flow error (the Error stage) stays on top of the others until the flow runs again.
        if self.error_scope == Some(Scope::Flow) && scope != Scope::Flow {
            tracing::warn!(title = %error.title, "error while the flow is stopped");
            return;
        }
        self.state.error = Some(error);
        self.error_scope = Some(scope);
    }

    fn clear_error(&mut self, scope: Scope) {
        if self.error_scope == Some(scope) {
            self.state.error = None;
            self.error_scope = None;
        }
    }

    fn start_flow(&mut self, fx: &mut Vec<Effect>) {
        self.epoch += 1;
        self.clear_error(Scope::Flow);
        self.state.stage = Stage::Detecting;
        match &self.hardware {
            // Hardware does not change while the app runs: a re-plan skips detection.
            Some(hw) => {
                let hw = hw.clone();
                self.detected(hw, fx);
            }
            None => fx.push(Effect::Detect { epoch: self.epoch }),
        }
    }

    /// Stops what the current flow run has going (download, session, model) and runs it again.
    fn restart_flow(&mut self, fx: &mut Vec<Effect>) {
        self.stop_run(fx);
        self.state.model_dir = None;
        self.start_flow(fx);
    }

    /// Stops the run's download, session and loaded model (each only when it is going).
    fn stop_run(&mut self, fx: &mut Vec<Effect>) {
        if self.downloading {
            fx.push(Effect::CancelDownload);
            self.downloading = false;
        }
        if self.session != SessionPhase::Closed {
            self.close_session(fx);
        }
        if self.engine_loaded {
            fx.push(Effect::Unload);
            self.engine_loaded = false;
        }
    }

    fn detected(&mut self, hw: Hardware, fx: &mut Vec<Effect>) {
        self.state.hardware = Some(hw.clone());
        self.hardware = Some(hw.clone());
        // Reading the speed cache is part of checking this machine: the stage stays Detecting
        // (and becomes Measuring only when nothing is stored).
        match self.speed_phase {
            SpeedPhase::Off | SpeedPhase::Done => self.probe(fx),
            SpeedPhase::NotLooked => {
                self.speed_phase = SpeedPhase::Looking;
                self.awaiting_speed = true;
                fx.push(Effect::LookUpSpeed {
                    hardware: Box::new(hw),
                });
            }
            SpeedPhase::Looking => self.awaiting_speed = true,
            SpeedPhase::Measuring => {
                self.awaiting_speed = true;
                self.state.stage = Stage::Measuring;
            }
        }
    }

    fn speed_looked(
        &mut self,
        cached: Result<Option<SpeedReport>, String>,
        qualities: &[Quality],
        fx: &mut Vec<Effect>,
    ) {
        if self.speed_phase != SpeedPhase::Looking {
            return;
        }
        let cached = cached.unwrap_or_else(|e| {
            tracing::warn!("speed cache unreadable, measuring again: {e}");
            None
        });
        match (cached, self.hardware.clone()) {
            (Some(report), _) => {
                tracing::info!(
                    seconds = report.seconds,
                    "speed test stored for this machine: not measuring"
                );
                self.state.speed_test = Some(SpeedTestState::finished(&report, true));
                self.speed = Some(report);
                self.speed_phase = SpeedPhase::Done;
                self.speed_known(fx);
            }
            (None, Some(hw)) => {
                tracing::info!("no speed test stored for this machine: measuring");
                self.speed_phase = SpeedPhase::Measuring;
                self.state.speed_test = Some(SpeedTestState::measuring(qualities));
                if self.awaiting_speed {
                    self.state.stage = Stage::Measuring;
                }
                fx.push(Effect::MeasureSpeed {
                    hardware: Box::new(hw),
                });
            }
            (None, None) => {}
        }
    }

    fn speed_measured(&mut self, result: Result<SpeedReport, UiError>, fx: &mut Vec<Effect>) {
        if self.speed_phase != SpeedPhase::Measuring {
            return;
        }
        self.speed_phase = SpeedPhase::Done;
        match result {
            Ok(report) => {
                tracing::info!(seconds = report.seconds, "speed test done");
                self.state.speed_test = Some(SpeedTestState::finished(&report, false));
                fx.push(Effect::StoreSpeed(Box::new(report.clone())));
                self.speed = Some(report);
            }
            Err(e) => {
                // Never blocks the download: the plan falls back to the bandwidth estimate.
                tracing::warn!(message = %e.message, "speed test failed: planning without it");
                if let Some(st) = &mut self.state.speed_test {
                    st.failed(&e.message);
                }
                self.speed_failure = Some(e.message);
            }
        }
        self.speed_known(fx);
    }

    /// The speed test is known: a flow run waiting for it goes on to plan.
    fn speed_known(&mut self, fx: &mut Vec<Effect>) {
        if std::mem::take(&mut self.awaiting_speed)
            && matches!(
                self.state.stage,
                Stage::Detecting | Stage::Planning | Stage::Measuring
            )
        {
            self.probe(fx);
        }
    }

    /// Probes the cache for every quality's file set (the plan's next step).
    fn probe(&mut self, fx: &mut Vec<Effect>) {
        let Some(hw) = self.hardware.clone() else {
            return;
        };
        self.state.stage = Stage::Planning;
        let voice = self.settings.voice;
        let candidates = Quality::BEST_FIRST
            .iter()
            .map(|&quality| {
                let p = hardware::plan(
                    &hw,
                    &PlanOptions {
                        override_quality: Some(quality),
                        cache: CacheState::default(),
                    },
                );
                Candidate {
                    quality,
                    repo: crate::settings::voice_repo(voice, &p.repo),
                    revision: p.revision,
                    files: p.files.into_iter().map(|f| f.path).collect(),
                }
            })
            .collect();
        fx.push(Effect::ProbeCache {
            epoch: self.epoch,
            candidates,
        });
    }

    fn planned(
        &mut self,
        complete: BTreeSet<Quality>,
        disk_free: Option<u64>,
        fx: &mut Vec<Effect>,
    ) {
        let Some(hw) = &self.hardware else {
            return;
        };
        let mut plan = hardware::plan_with_speed(
            hw,
            &PlanOptions {
                override_quality: self.settings.quality_override.quality(),
                cache: CacheState { complete },
            },
            self.speed.as_ref(),
        );
        if let Some(why) = &self.speed_failure {
            plan.reason.push_str(&format!(
                " The speed test failed ({why}), so this plan uses the bandwidth estimate."
            ));
        }
        plan.repo = crate::settings::voice_repo(self.settings.voice, &plan.repo);
        tracing::info!(quality = %plan.quality, repo = %plan.repo, source = ?plan.source, "plan");
        self.state.plan = Some(plan.clone());
        self.state.disk_free_bytes = disk_free;
        self.state.voice = self.settings.voice;
        self.plan = Some(plan.clone());
        let epoch = self.epoch;
        if let Some(dir) = self.model_dir_override.clone() {
            tracing::info!(dir = %dir.display(), "model directory given: no download");
            self.load(dir, fx);
            return;
        }
        match plan.source {
            // Everything is verified in the cache: no listing, no download, no network.
            Source::Cache | Source::QuantizeFromBf16 => fx.push(Effect::UseCache {
                epoch,
                plan: Box::new(plan),
            }),
            Source::Download => {
                self.state.stage = Stage::Downloading;
                self.downloading = true;
                fx.push(Effect::Download {
                    epoch,
                    plan: Box::new(plan),
                    paused: self.state.download_paused,
                });
            }
        }
    }

    fn load(&mut self, dir: PathBuf, fx: &mut Vec<Effect>) {
        let Some(plan) = self.plan.clone() else {
            return;
        };
        self.state.model_dir = Some(dir.display().to_string());
        self.state.stage = Stage::Loading;
        fx.push(Effect::Load {
            epoch: self.epoch,
            dir,
            plan: Box::new(plan),
        });
    }

    fn ready(&mut self, fx: &mut Vec<Effect>) {
        self.engine_loaded = true;
        self.state.stage = Stage::Ready;
        self.clear_error(Scope::Flow);
        if self.state.download_paused {
            self.state.download_paused = false;
            fx.push(Effect::RememberPaused(false));
        }
        let quality = self.plan.as_ref().map(|p| p.quality.as_str()).unwrap_or("");
        fx.push(Effect::Notify {
            title: "Moshi is ready".into(),
            body: self.ready_text(quality),
        });
        if self.key_down {
            // The key was held while loading: talk now.
            self.talk(true, fx);
        } else {
            self.warm_up(fx);
        }
    }

    /// What the ready notification says: only what is true now.
    fn ready_text(&self, quality: &str) -> String {
        let voice = match self.settings.voice {
            crate::settings::Voice::Moshiko => "Moshiko",
            crate::settings::Voice::Moshika => "Moshika",
        };
        if self.settings.hands_free {
            format!("{voice} ({quality}) is loaded. Open Moshibar and start a conversation: the microphone is always on (hands-free).")
        } else if self.shortcut_ok {
            format!(
                "{voice} ({quality}) is loaded. Hold {} and talk — it works with the window closed.",
                self.state.hotkey
            )
        } else {
            format!("{voice} ({quality}) is loaded. The hold-to-talk shortcut is unavailable: choose one in Settings, or use the Talk button.")
        }
    }

    fn flow_failed(&mut self, e: UiError, fx: &mut Vec<Effect>) {
        self.downloading = false;
        fx.push(Effect::Notify {
            title: e.title.clone(),
            body: e.message.clone(),
        });
        self.state.stage = Stage::Error;
        self.state.error = Some(e);
        self.error_scope = Some(Scope::Flow);
    }

    fn key(&mut self, pressed: bool, fx: &mut Vec<Effect>) {
        self.key_generation += 1;
        if pressed {
            if !self.key_down {
                self.key_down = true;
                if self.state.stage == Stage::Ready {
                    self.talk(true, fx);
                } else {
                    tracing::info!(stage = self.state.stage.as_str(), "hotkey before ready");
                }
            }
        } else if self.key_down {
            fx.push(Effect::ScheduleRelease {
                generation: self.key_generation,
            });
        }
    }

    fn talk(&mut self, on: bool, fx: &mut Vec<Effect>) {
        if on == self.state.session.talking {
            return;
        }
        tracing::info!(talking = on, "talk");
        self.state.session.talking = on;
        self.idle_generation += 1;
        self.idle_extensions = 0;
        fx.push(Effect::SetGate(on));
        if on {
            if self.session == SessionPhase::Closed {
                self.open_session(Purpose::Talk, fx);
            } else if self.purpose == Purpose::Warm {
                // The press lands in the session the popover opened: a conversation now.
                self.purpose = Purpose::Talk;
                self.state.session.active = true;
            }
        } else {
            self.schedule_idle_close(fx);
        }
    }

    /// Opens the session's audio ahead of the first press when the popover is up in Ready
    /// (hold-to-talk only: hands-free would send the microphone to the model at once).
    fn warm_up(&mut self, fx: &mut Vec<Effect>) {
        if self.popover
            && self.state.stage == Stage::Ready
            && self.session == SessionPhase::Closed
            && !self.settings.hands_free
        {
            tracing::info!("popover up in Ready: opening the audio ahead of the first press");
            self.open_session(Purpose::Warm, fx);
        }
    }

    fn popover(&mut self, visible: bool, fx: &mut Vec<Effect>) {
        if visible == self.popover {
            return;
        }
        self.popover = visible;
        self.idle_generation += 1;
        if visible {
            self.warm_up(fx);
        } else if self.session != SessionPhase::Closed && !self.state.session.talking {
            match self.purpose {
                Purpose::Warm => {
                    tracing::info!("popover hidden, nobody talked: closing the audio");
                    self.close_session(fx);
                }
                Purpose::Talk => self.schedule_idle_close(fx),
                Purpose::Explicit => {}
            }
        }
    }

    /// After the last release, with the popover hidden: close the talked-in session later.
    fn schedule_idle_close(&mut self, fx: &mut Vec<Effect>) {
        if self.state.session.talking {
            self.idle_extensions = 0;
        }
        if self.session != SessionPhase::Closed && self.purpose == Purpose::Talk && !self.popover {
            fx.push(Effect::ScheduleIdleClose {
                generation: self.idle_generation,
                after: self.idle_close,
            });
        }
    }

    fn idle_due(&mut self, fx: &mut Vec<Effect>) {
        if self.session == SessionPhase::Closed
            || self.purpose != Purpose::Talk
            || self.state.session.talking
            || self.popover
        {
            return;
        }
        if self.speaking && self.idle_extensions < MAX_IDLE_EXTENSIONS {
            // Moshi is still answering: look again later (a bounded number of times: a model
            // that never goes quiet must not keep the microphone open for ever).
            self.idle_extensions += 1;
            self.schedule_idle_close(fx);
            return;
        }
        tracing::info!("idle after the last talk, popover hidden: closing the audio");
        self.close_session(fx);
    }

    /// "Delete model": the repo in use is stopped first (download, session, model) and the
    /// flow plans again once it is gone, starting a new download paused (deleting it was a
    /// choice: it is not fetched again behind the person's back). Another repo (a partial left
    /// by a quality change) is just removed.
    fn delete_model(&mut self, repo: String, fx: &mut Vec<Effect>) {
        let in_use = self.plan.as_ref().is_some_and(|p| p.repo == repo);
        if in_use {
            self.stop_run(fx);
            // Late results of the old run are ignored from here on.
            self.epoch += 1;
            self.clear_error(Scope::Flow);
            self.state.stage = Stage::Planning;
            self.state.model_dir = None;
            self.state.download_paused = true;
            fx.push(Effect::RememberPaused(true));
        }
        self.clear_error(Scope::Model);
        fx.push(Effect::DeleteModel {
            epoch: self.epoch,
            repo,
            in_use,
        });
    }

    fn open_session(&mut self, purpose: Purpose, fx: &mut Vec<Effect>) {
        self.session_ids += 1;
        let id = self.session_ids;
        self.session = SessionPhase::Opening(id);
        self.purpose = purpose;
        self.state.session.active = purpose != Purpose::Warm;
        self.state.session.input_open = true;
        self.state.session.frames_heard = 0;
        self.state.session.key_to_model_ms = None;
        self.clear_error(Scope::Session);
        fx.push(Effect::OpenSession {
            id,
            wait_for_talk: purpose == Purpose::Warm,
        });
    }

    fn session_opened(&mut self, id: u64, result: Result<(), UiError>, fx: &mut Vec<Effect>) {
        if self.session != SessionPhase::Opening(id) {
            if result.is_ok() {
                // Closed (End, quit, re-plan) while it was opening: close what opened.
                fx.push(Effect::CloseSession);
            }
            return;
        }
        match result {
            Ok(()) => self.session = SessionPhase::Open(id),
            Err(e) => {
                self.session_closed();
                fx.push(Effect::SetGate(false));
                self.set_error(Scope::Session, e);
            }
        }
    }

    fn close_session(&mut self, fx: &mut Vec<Effect>) {
        if self.session != SessionPhase::Closed {
            fx.push(Effect::CloseSession);
        }
        if self.state.session.talking {
            fx.push(Effect::SetGate(false));
        }
        self.session_closed();
    }

    fn session_closed(&mut self) {
        self.session = SessionPhase::Closed;
        self.idle_generation += 1;
        self.state.session.active = false;
        self.state.session.input_open = false;
        self.state.session.talking = false;
        self.speaking = false;
    }

    fn settings_applied(&mut self, new: Settings, fx: &mut Vec<Effect>) {
        let old = std::mem::replace(&mut self.settings, new);
        self.state.session.hands_free = self.settings.hands_free;
        if old.hands_free != self.settings.hands_free {
            fx.push(Effect::SetHandsFree(self.settings.hands_free));
            if self.settings.hands_free
                && self.session != SessionPhase::Closed
                && self.purpose == Purpose::Warm
            {
                // Hands-free would send the warm microphone to the model: not without Start.
                self.close_session(fx);
            }
        }
        self.state.voice = self.settings.voice;
        if self.settings.changes_model(&old) {
            tracing::info!("quality, voice or cache location changed: planning again");
            self.restart_flow(fx);
        }
    }
}

fn not_ready() -> Refusal {
    Refusal("Moshi is not ready yet: wait for the download and loading to finish.".into())
}
