//! Launch at login (opt-in, off by default): a LaunchAgent on macOS, an XDG autostart entry on
//! Linux, through tauri-plugin-autostart.

use tauri::{AppHandle, Runtime};
use tauri_plugin_autostart::ManagerExt;

/// Turns launch at login on or off.
pub fn apply<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> Result<(), String> {
    let launcher = app.autolaunch();
    let result = if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    };
    result.map_err(|e| format!("Could not change launch at login: {e}"))?;
    tracing::info!(enabled, "launch at login");
    Ok(())
}
