//! Hold-to-talk: the global shortcut. Its raw `Pressed`/`Released` events go to the core
//! ([`app_core::Event::Key`]), which debounces key auto-repeat and opens the session and the
//! microphone gate in Ready.
//!
//! Changing the shortcut registers the new one first and drops the old one only then, so a
//! failed change keeps the old shortcut working.

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutState};

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

/// The registered shortcut, so it can be replaced when the settings change.
#[derive(Default)]
pub struct Registered(parking_lot::Mutex<Option<Shortcut>>);

/// Registers `accelerator` as the hold-to-talk key, then drops the previous one; on failure
/// the previous one stays registered.
pub fn register<R: Runtime>(app: &AppHandle<R>, accelerator: &str) -> Result<(), HotkeyError> {
    let shortcut: Shortcut = accelerator
        .parse()
        .map_err(|e| HotkeyError::Invalid(accelerator.to_owned(), format!("{e}")))?;
    let gs = app.global_shortcut();
    let registered = app.state::<Registered>();
    let mut current = registered.0.lock();
    if *current == Some(shortcut) {
        return Ok(());
    }
    gs.on_shortcut(shortcut, move |app, _shortcut, event| {
        let pressed = matches!(event.state(), ShortcutState::Pressed);
        tracing::debug!(pressed, "hotkey");
        crate::actions::key(app, pressed);
    })
    .map_err(|e| HotkeyError::Taken(accelerator.to_owned(), e.to_string()))?;
    if let Some(old) = current.replace(shortcut) {
        if let Err(e) = gs.unregister(old) {
            tracing::warn!("could not drop the old shortcut: {e}");
        }
    }
    tracing::info!(hotkey = accelerator, "hold-to-talk shortcut registered");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_parse() {
        assert!("Alt+Space".parse::<Shortcut>().is_ok());
        assert!("CmdOrCtrl+Shift+M".parse::<Shortcut>().is_ok());
        assert!("Nope+Nope".parse::<Shortcut>().is_err());
    }
}
