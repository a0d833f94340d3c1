//! Hold-to-talk: a global shortcut whose `Pressed` opens the microphone gate and whose `Released`
//! closes it, whether or not the popover is open.
//!
//! Key auto-repeat sends a stream of `Pressed` (and on X11, `Released`+`Pressed` pairs) while the
//! key is held. A repeated `Pressed` is ignored while talking, and a `Released` only takes effect
//! when no `Pressed` follows within [`RELEASE_DEBOUNCE`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutState};

/// A release followed by a press within this window is auto-repeat, not a real release.
pub const RELEASE_DEBOUNCE: Duration = Duration::from_millis(80);

/// Errors registering the shortcut.
#[derive(Debug, thiserror::Error)]
pub enum HotkeyError {
    /// The text is not a shortcut.
    #[error("\"{0}\" is not a valid shortcut ({1}). Use e.g. Alt+Space or CmdOrCtrl+Shift+M.")]
    Invalid(String, String),
    /// Another app (or the system) holds it.
    #[error("The shortcut {0} is already taken by another app or by the system ({1}). Choose another one in Settings.")]
    Taken(String, String),
}

/// The gate's state as the debouncer sees it.
#[derive(Default)]
pub struct Debouncer {
    down: AtomicBool,
    generation: AtomicU64,
}

/// What a key event means after debouncing.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Start talking.
    Press,
    /// Schedule a release; apply it only if [`Debouncer::release_still_valid`] after the delay.
    MaybeRelease(u64),
    /// Auto-repeat: nothing to do.
    Ignore,
}

impl Debouncer {
    /// Feeds one key event.
    pub fn event(&self, pressed: bool) -> Action {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if pressed {
            if self.down.swap(true, Ordering::SeqCst) {
                Action::Ignore
            } else {
                Action::Press
            }
        } else if self.down.load(Ordering::SeqCst) {
            Action::MaybeRelease(generation)
        } else {
            Action::Ignore
        }
    }

    /// After the delay: true when no event came since the release (it is real).
    pub fn release_still_valid(&self, generation: u64) -> bool {
        if self.generation.load(Ordering::SeqCst) == generation {
            self.down.store(false, Ordering::SeqCst);
            true
        } else {
            false
        }
    }
}

/// The registered shortcut, so it can be replaced when the settings change.
#[derive(Default)]
pub struct Registered(std::sync::Mutex<Option<Shortcut>>);

/// Registers `accelerator` as the hold-to-talk key, replacing the previous one.
pub fn register<R: Runtime>(app: &AppHandle<R>, accelerator: &str) -> Result<(), HotkeyError> {
    let shortcut: Shortcut = accelerator
        .parse()
        .map_err(|e| HotkeyError::Invalid(accelerator.to_owned(), format!("{e}")))?;
    let gs = app.global_shortcut();
    let registered = app.state::<Registered>();
    let mut current = registered.0.lock().unwrap_or_else(|e| e.into_inner());
    if *current == Some(shortcut) {
        return Ok(());
    }
    if let Some(old) = current.take() {
        let _ = gs.unregister(old);
    }
    let debouncer = Arc::new(Debouncer::default());
    gs.on_shortcut(shortcut, move |app, _shortcut, event| {
        let pressed = matches!(event.state(), ShortcutState::Pressed);
        match debouncer.event(pressed) {
            Action::Press => crate::commands::talk(app, true),
            Action::MaybeRelease(generation) => {
                let app = app.clone();
                let debouncer = Arc::clone(&debouncer);
                tauri::async_runtime::spawn(async move {
                    tokio::time::sleep(RELEASE_DEBOUNCE).await;
                    if debouncer.release_still_valid(generation) {
                        crate::commands::talk(&app, false);
                    }
                });
            }
            Action::Ignore => {}
        }
    })
    .map_err(|e| HotkeyError::Taken(accelerator.to_owned(), e.to_string()))?;
    *current = Some(shortcut);
    tracing::info!(hotkey = accelerator, "hold-to-talk shortcut registered");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_repeat_is_ignored() {
        let d = Debouncer::default();
        assert_eq!(d.event(true), Action::Press);
        assert_eq!(d.event(true), Action::Ignore);
        // X11 auto-repeat: release + press pairs.
        let Action::MaybeRelease(g) = d.event(false) else {
            panic!("expected a pending release")
        };
        assert_eq!(d.event(true), Action::Ignore);
        assert!(!d.release_still_valid(g), "the press cancelled the release");
        // The real release.
        let Action::MaybeRelease(g) = d.event(false) else {
            panic!("expected a pending release")
        };
        assert!(d.release_still_valid(g));
        // A stray release when up does nothing; the next press talks again.
        assert_eq!(d.event(false), Action::Ignore);
        assert_eq!(d.event(true), Action::Press);
    }

    #[test]
    fn shortcuts_parse() {
        assert!("Alt+Space".parse::<Shortcut>().is_ok());
        assert!("CmdOrCtrl+Shift+M".parse::<Shortcut>().is_ok());
        assert!("Nope+Nope".parse::<Shortcut>().is_err());
    }
}
