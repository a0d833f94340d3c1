//! What the hotkey, the tray menu and the commands do, in one place below all three: each
//! action is one event into the core ([`app_core::Core`], managed by Tauri).

use app_core::{Core, Event};
use tauri::{AppHandle, Manager, Runtime};

/// The core, once the flow started it (`None` during setup).
pub fn core<R: Runtime>(app: &AppHandle<R>) -> Option<Core> {
    app.try_state::<Core>().map(|c| c.inner().clone())
}

/// The hold-to-talk key, raw (the core debounces auto-repeat).
pub fn key<R: Runtime>(app: &AppHandle<R>, pressed: bool) {
    if let Some(core) = core(app) {
        core.event(Event::Key { pressed });
    }
}

/// Tray menu: pause or resume the download.
pub fn toggle_pause<R: Runtime>(app: &AppHandle<R>) {
    if let Some(core) = core(app) {
        let paused = core.state().download_paused;
        core.event(Event::Pause(!paused));
    }
}

/// Stops the session and the download (the journal keeps the progress), frees the model, then
/// exits.
pub fn quit<R: Runtime>(app: &AppHandle<R>) {
    tracing::info!("quit requested");
    match core(app) {
        Some(core) => core.event(Event::Quit),
        None => app.exit(0),
    }
}
