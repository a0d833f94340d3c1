//! The popover window: shown under the tray icon, hidden when it loses focus.
//!
//! Clicking the tray icon while the popover is open first blurs the window (which hides it) and
//! then delivers the click (which would show it again). [`toggle_from_tray`] therefore ignores a
//! click that comes within [`BLUR_DEBOUNCE`] of a blur-hide: the click closes the popover, as a
//! person expects.

use std::sync::Mutex;
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
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// True when the last blur-hide happened within [`BLUR_DEBOUNCE`].
    fn recent(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < BLUR_DEBOUNCE)
    }
}

fn popover<R: Runtime>(app: &AppHandle<R>) -> Option<WebviewWindow<R>> {
    let w = app.get_webview_window(LABEL);
    if w.is_none() {
        tracing::warn!("popover window {LABEL:?} missing");
    }
    w
}

/// Installs the hide-on-blur handler.
pub fn setup<R: Runtime>(app: &AppHandle<R>) {
    app.manage(BlurClock::default());
    let Some(window) = popover(app) else { return };
    let handle = app.clone();
    window.on_window_event(move |event| {
        if let WindowEvent::Focused(false) = event {
            if std::env::var_os("MOSHIBAR_KEEP_OPEN").is_some() {
                return; // tests and screenshots: keep the popover up
            }
            if let Some(w) = handle.get_webview_window(LABEL) {
                if w.is_visible().unwrap_or(false) {
                    handle.state::<BlurClock>().mark();
                    let _ = w.hide();
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
}

/// Hides the popover.
pub fn hide<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = popover(app) {
        let _ = window.hide();
    }
}

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
