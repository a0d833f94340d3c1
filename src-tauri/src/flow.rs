//! Wiring: the core ([`app_core::Core`]) with this app's services — the Tauri shell
//! ([`TauriShell`]: UI, tray, state file, notifications, shortcut, exit), hardware detection,
//! the on-device speed test ([`crate::speedtest`], before the first plan), hubfetch ([`crate::download::HubfetchHub`]), the engine thread ([`crate::engine`]) and the
//! voice session ([`crate::session`]). The flow itself (stages, transitions) is app-core's.

use std::path::PathBuf;
use std::sync::Arc;

use app_core::{
    AppState, BoxFuture, Core, ErrorAction, Event, FlowMemory, Machine, Services, Settings, Stage,
    TrayState, UiError,
};
use tauri::{AppHandle, Manager, Runtime};

/// Environment variable (test hook): use this directory as the verified model and skip the
/// download.
pub const MODEL_DIR_ENV: &str = "MOSHIBAR_MODEL_DIR";

/// Environment variable (test hook): how long a talked-in session stays open after the last
/// release with the popover hidden, ms (default [`app_core::IDLE_CLOSE`]).
pub const IDLE_CLOSE_MS_ENV: &str = "MOSHIBAR_IDLE_CLOSE_MS";

/// The shell the core drives.
pub struct TauriShell<R: Runtime> {
    app: AppHandle<R>,
    autostart_session: bool,
    autostarted: std::sync::atomic::AtomicBool,
}

impl<R: Runtime> app_core::Shell for TauriShell<R> {
    fn publish(&self, state: &AppState, tray: TrayState) {
        crate::state::publish(&self.app, state, tray);
        if self.autostart_session
            && state.stage == Stage::Ready
            && !self
                .autostarted
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            if let Some(core) = crate::actions::core(&self.app) {
                tracing::info!("{}: starting a session", crate::test_hooks::AUTOSTART_ENV);
                core.event(Event::StartSession);
            }
        }
    }

    fn notify(&self, title: &str, body: &str) {
        crate::notify::notify(&self.app, title, body);
    }

    fn register_shortcut(&self, accelerator: &str) -> Result<(), String> {
        crate::hotkey::register(&self.app, accelerator).map_err(|e| e.to_string())
    }

    fn set_launch_at_login(&self, on: bool) -> Result<(), String> {
        crate::autostart::apply(&self.app, on)
    }

    fn exit(&self) {
        self.app.exit(0);
    }
}

/// Hardware detection off the async threads.
struct Detect;

impl app_core::Detector for Detect {
    fn detect(&self) -> BoxFuture<Result<hardware::Hardware, UiError>> {
        Box::pin(async {
            let hw = tokio::task::spawn_blocking(hardware::detect)
                .await
                .map_err(|e| {
                    UiError::new(
                        "Hardware detection failed",
                        e.to_string(),
                        Some(ErrorAction::Retry),
                    )
                })?
                .map_err(|e| {
                    UiError::new(
                        "Hardware detection failed",
                        format!("{e}. Unset {} or fix its value.", hardware::PROFILE_ENV),
                        None,
                    )
                })?;
            tracing::info!(cpu = %hw.cpu_brand, memory = hw.memory_bytes, "hardware detected");
            Ok(hw)
        })
    }
}

/// Settings and flow memory in the app's config directory.
struct ConfigStore {
    dir: PathBuf,
}

impl app_core::Store for ConfigStore {
    fn save_settings(&self, settings: &Settings) -> Result<(), String> {
        settings.save(&self.dir).map_err(|e| e.to_string())
    }

    fn remember_paused(&self, paused: bool) {
        let memory = FlowMemory {
            download_paused: paused,
        };
        if let Err(e) = memory.save(&self.dir) {
            tracing::warn!("could not remember the pause: {e}");
        }
    }
}

/// Starts the engine thread and the core (which launches the flow), and manages the core.
/// A failed startup shortcut registration is shown as an error by the core.
pub fn start<R: Runtime>(
    app: &AppHandle<R>,
    settings: Settings,
    config_dir: PathBuf,
    shortcut: Result<(), String>,
) -> std::io::Result<()> {
    let engine = crate::engine::EngineThread::spawn()?;
    let memory = FlowMemory::load(&config_dir);
    let hands_free = settings.hands_free;
    let model_dir = crate::test_hooks::var_os(MODEL_DIR_ENV).map(PathBuf::from);
    let mut machine = Machine::new(settings, memory.download_paused).with_model_dir(model_dir);
    if cfg!(feature = "engine") {
        // Measure this machine before the first plan (once per machine and app version).
        machine = machine.with_speed_test();
    }
    if let Some(ms) = crate::test_hooks::var_os(IDLE_CLOSE_MS_ENV)
        .and_then(|v| v.to_str().and_then(|v| v.parse::<u64>().ok()))
    {
        machine = machine.with_idle_close(std::time::Duration::from_millis(ms));
    }
    let services = Services {
        shell: Arc::new(TauriShell {
            app: app.clone(),
            autostart_session: crate::test_hooks::var_os(crate::test_hooks::AUTOSTART_ENV)
                .is_some(),
            autostarted: Default::default(),
        }),
        clock: Arc::new(app_core::TokioClock),
        detector: Arc::new(Detect),
        hub: Arc::new(crate::download::HubfetchHub::new(app.clone())),
        speed: Arc::new(crate::speedtest::EngineSpeedTest::from_env()),
        engine: Arc::new(engine.clone()),
        audio: Arc::new(crate::session::VoiceAudio::new(
            app.clone(),
            engine,
            hands_free,
        )),
        store: Arc::new(ConfigStore { dir: config_dir }),
    };
    // The core's task runs on Tauri's tokio runtime.
    let core = tauri::async_runtime::block_on(async { Core::start(machine, services) });
    if let Err(message) = shortcut {
        core.event(Event::ShortcutFailed(UiError::new(
            "Hold-to-talk shortcut unavailable",
            message,
            Some(ErrorAction::OpenSettings),
        )));
    }
    if crate::window::popover_events() && crate::window::is_shown(app) {
        core.event(Event::Popover(true));
    }
    app.manage(core);
    Ok(())
}
