//! The popover window: shown under the tray icon, hidden when it loses focus — except while a
//! system prompt is up ([`HoldOpen`]). It opens by itself on the first launch ([`show_at_launch`]),
//! on Reopen (Finder/Spotlight/Dock while running, [`on_run_event`]), when a second copy is
//! launched ([`single_instance`]) and when the ready notification is clicked (crate::notify).
//!
//! Clicking the tray icon while the popover is open first blurs the window (which hides it) and
//! then delivers the click (which would show it again). [`toggle_from_tray`] therefore ignores a
//! click that comes within [`BLUR_DEBOUNCE`] of a blur-hide: the click closes the popover, as a
//! person expects.

use parking_lot::Mutex;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tauri::{AppHandle, Manager, Runtime, WebviewWindow, WindowEvent};
use tauri_plugin_positioner::{Position, WindowExt};

/// The popover's window label (tauri.conf.json).
pub const LABEL: &str = "main";

/// A tray click this soon after a blur-hide is the same gesture: do not show again.
pub const BLUR_DEBOUNCE: Duration = Duration::from_millis(300);

/// When the popover was last hidden because it lost focus.
#[derive(Default)]
pub struct BlurClock(Mutex<Option<Instant>>);

impl BlurClock {
    fn mark(&self) {
        *self.0.lock() = Some(Instant::now());
    }

    /// True when the last blur-hide happened within [`BLUR_DEBOUNCE`].
    fn recent(&self) -> bool {
        self.0.lock().is_some_and(|t| t.elapsed() < BLUR_DEBOUNCE)
    }
}

fn popover<R: Runtime>(app: &AppHandle<R>) -> Option<WebviewWindow<R>> {
    let w = app.get_webview_window(LABEL);
    if w.is_none() {
        tracing::warn!("popover window {LABEL:?} missing");
    }
    w
}

/// How many [`HoldOpen`]s are alive.
#[derive(Default)]
pub struct Holds(AtomicUsize);

impl Holds {
    fn acquire(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// True when this release was the last hold.
    fn release(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|before| before == 1)
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }
}

/// While one is alive the popover stays up when it loses focus: a system prompt (microphone,
/// notifications, keychain) takes the focus, and hiding the popover then would leave the person
/// with no idea what asked and why. Dropping the last one gives the focus back to the popover.
pub struct HoldOpen<R: Runtime> {
    app: AppHandle<R>,
}

impl<R: Runtime> HoldOpen<R> {
    /// Holds the popover open until dropped.
    pub fn new(app: &AppHandle<R>) -> Self {
        if let Some(h) = app.try_state::<Holds>() {
            h.acquire();
        }
        Self { app: app.clone() }
    }
}

impl<R: Runtime> Drop for HoldOpen<R> {
    fn drop(&mut self) {
        let last = self.app.try_state::<Holds>().is_some_and(|h| h.release());
        if last {
            if let Some(w) = self.app.get_webview_window(LABEL) {
                if w.is_visible().unwrap_or(false) {
                    let _ = w.set_focus();
                }
            }
        }
    }
}

/// True while some [`HoldOpen`] is alive.
pub fn held<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<Holds>().is_some_and(|h| h.any())
}

/// Installs the hide-on-blur handler.
pub fn setup<R: Runtime>(app: &AppHandle<R>) {
    app.manage(BlurClock::default());
    app.manage(Holds::default());
    app.manage(Shown::default());
    let Some(window) = popover(app) else { return };
    let handle = app.clone();
    window.on_window_event(move |event| {
        if let WindowEvent::Focused(false) = event {
            if crate::test_hooks::var_os("MOSHIBAR_KEEP_OPEN").is_some() {
                return; // tests and screenshots: keep the popover up
            }
            if held(&handle) {
                return; // a system prompt took the focus; the person comes back to us
            }
            if let Some(w) = handle.get_webview_window(LABEL) {
                if w.is_visible().unwrap_or(false) {
                    handle.state::<BlurClock>().mark();
                    let _ = w.hide();
                    tell_core(&handle, false);
                }
            }
        }
    });
}

/// Logical width of the popover when the window system has not reported its size yet.
const FALLBACK_WIDTH: f64 = 380.0;
/// Logical gap from the screen's top-right corner in the fallback position (below the menu bar).
const FALLBACK_MARGIN: (f64, f64) = (8.0, 30.0);

/// Moves the popover under the tray icon; before the first tray event (the positioner does not
/// know where the icon is yet) it goes to the top-right corner of the current (or primary)
/// monitor, below the menu bar, where the menu-bar icons are.
fn place<R: Runtime>(window: &WebviewWindow<R>) {
    if let Err(e) = window.move_window(Position::TrayBottomCenter) {
        tracing::debug!("tray position unknown ({e}); using the top-right corner");
        let monitor = window
            .current_monitor()
            .ok()
            .flatten()
            .or_else(|| window.primary_monitor().ok().flatten());
        let Some(m) = monitor else {
            tracing::debug!("no monitor found; leaving the popover where it is");
            return;
        };
        let scale = m.scale_factor();
        let width = match window.outer_size() {
            Ok(size) if size.width > 1 => f64::from(size.width),
            _ => FALLBACK_WIDTH * scale,
        };
        let x = f64::from(m.position().x) + f64::from(m.size().width)
            - width
            - FALLBACK_MARGIN.0 * scale;
        let y = f64::from(m.position().y) + FALLBACK_MARGIN.1 * scale;
        let position = tauri::PhysicalPosition::new(x.max(0.0) as i32, y as i32);
        if let Err(e) = window.set_position(position) {
            tracing::debug!("positioning the popover: {e}");
        }
    }
}

/// Shows the popover under the tray icon and focuses it.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = popover(app) else { return };
    place(&window);
    if let Err(e) = window.show() {
        tracing::warn!("show popover: {e}");
    }
    // Some window systems only know the window's size once it is mapped: place it again.
    place(&window);
    let _ = window.set_focus();
    tell_core(app, true);
}

/// Hides the popover.
pub fn hide<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = popover(app) {
        let _ = window.hide();
        tell_core(app, false);
    }
}

/// The core opens the session's audio while the popover is up in Ready (the first press then
/// loses nothing) and closes it when the popover hides with nobody talking.
fn tell_core<R: Runtime>(app: &AppHandle<R>, visible: bool) {
    if let Some(s) = app.try_state::<Shown>() {
        s.0.store(visible, Ordering::SeqCst);
    }
    if !popover_events() {
        return;
    }
    if let Some(core) = crate::actions::core(app) {
        core.event(app_core::Event::Popover(visible));
    }
}

/// The popover's visibility drives the warm microphone, except in the file-session test hook
/// (a session there runs the input WAV once; opening it ahead would consume it).
pub fn popover_events() -> bool {
    crate::test_hooks::var_os(crate::test_hooks::INPUT_WAV_ENV).is_none()
}

/// Whether the popover was last shown (not hidden) by us: the core's initial visibility (the
/// popover may open at launch before the core exists; the window system may not report the
/// window as visible yet right after `show`).
pub fn is_shown<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<Shown>()
        .is_some_and(|s| s.0.load(Ordering::SeqCst))
}

/// The popover's visibility as we last set it.
#[derive(Default)]
pub struct Shown(std::sync::atomic::AtomicBool);

/// Left click on the tray icon: open if closed, close if open.
pub fn toggle_from_tray<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = popover(app) else { return };
    if window.is_visible().unwrap_or(false) {
        hide(app);
    } else if app.state::<BlurClock>().recent() {
        // The click that blurred the popover: it is closed now, which is what the click meant.
    } else {
        show(app);
    }
}

/// The marker file, in the app's config directory, that says the welcome was shown.
pub const WELCOMED_FILE: &str = "welcomed";

/// Whether this launch is the first one (no marker yet); writes the marker so it is only once.
/// An unwritable directory counts as "first launch" every time, which errs on showing.
pub fn first_launch(config_dir: &Path) -> bool {
    let marker = config_dir.join(WELCOMED_FILE);
    if marker.exists() {
        return false;
    }
    if let Err(e) = std::fs::create_dir_all(config_dir).and_then(|()| {
        std::fs::write(
            &marker,
            b"the popover opened by itself on the first launch\n",
        )
    }) {
        tracing::warn!(path = %marker.display(), "could not record the first launch: {e}");
    }
    true
}

/// Opens the popover at launch on the first launch (a menu-bar app that shows nothing looks
/// broken) or when `MOSHIBAR_SHOW_WINDOW` is set.
pub fn show_at_launch<R: Runtime>(app: &AppHandle<R>) {
    let first = app
        .path()
        .app_config_dir()
        .map(|dir| first_launch(&dir))
        .unwrap_or(false);
    if first || crate::test_hooks::var_os("MOSHIBAR_SHOW_WINDOW").is_some() {
        tracing::info!(first_launch = first, "opening the popover at launch");
        show(app);
    }
}

/// App-level events for the popover: Reopen (the app opened again from Finder, Spotlight or
/// Launchpad while running) shows it.
pub fn on_run_event<R: Runtime>(app: &AppHandle<R>, event: &tauri::RunEvent) {
    #[cfg(target_os = "macos")]
    if let tauri::RunEvent::Reopen { .. } = event {
        show(app);
    }
    #[cfg(not(target_os = "macos"))]
    let _ = (app, event);
}

/// Only one Moshibar runs: a second launch shows the first one's popover and exits.
/// Debug builds skip it when `MOSHIBAR_ALLOW_MULTIPLE_INSTANCES` is set (tests that run two apps).
pub fn single_instance<R: Runtime>() -> Option<tauri::plugin::TauriPlugin<R>> {
    if cfg!(debug_assertions) && std::env::var_os("MOSHIBAR_ALLOW_MULTIPLE_INSTANCES").is_some() {
        return None;
    }
    Some(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
        tracing::info!("Moshibar was launched again; showing the running one");
        show(app);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_count_nested_prompts_and_report_the_last() {
        let h = Holds::default();
        assert!(!h.any());
        h.acquire();
        h.acquire();
        assert!(h.any());
        assert!(!h.release(), "one prompt still up");
        assert!(h.any(), "still held: the popover must not hide");
        assert!(h.release(), "the last one gives the focus back");
        assert!(!h.any());
        assert!(!h.release(), "no underflow");
        assert!(!h.any());
    }

    #[test]
    fn first_launch_is_true_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("org.moshibar.app");
        assert!(first_launch(&config), "no marker: first launch");
        assert!(config.join(WELCOMED_FILE).is_file());
        assert!(!first_launch(&config), "marker written: not again");
        std::fs::remove_file(config.join(WELCOMED_FILE)).expect("rm");
        assert!(
            first_launch(&config),
            "reset (marker removed): first launch again"
        );
    }
}
