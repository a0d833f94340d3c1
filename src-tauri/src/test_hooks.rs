//! The environment variables that tests and support use to steer the app (a model directory,
//! WAV files in and out, the state file, a simulated Mac, the echo model, a popover that stays
//! open). They read and write arbitrary paths, so a release build ignores them unless it was
//! built with the non-default `test-hooks` feature. Read them through [`var_os`] only.

use std::ffi::OsString;

/// Input WAV for a file session.
pub const INPUT_WAV_ENV: &str = "MOSHIBAR_INPUT_WAV";
/// Output WAV for a file session.
pub const OUTPUT_WAV_ENV: &str = "MOSHIBAR_OUTPUT_WAV";
/// Start a session when ready.
pub const AUTOSTART_ENV: &str = "MOSHIBAR_AUTOSTART_SESSION";
/// Use the echo model instead of the engine (tests and development only).
pub const ECHO_MODEL_ENV: &str = "MOSHIBAR_ECHO_MODEL";

/// True when this build honours test hooks (debug builds, or the `test-hooks` feature).
pub const ENABLED: bool = cfg!(any(debug_assertions, feature = "test-hooks"));

/// The hook's value when hooks are enabled; `None` in release builds without `test-hooks`
/// (logged once per read, so a person wondering why a variable does nothing can see why).
pub fn var_os(name: &str) -> Option<OsString> {
    gate(ENABLED, name, std::env::var_os(name))
}

fn gate(enabled: bool, name: &str, value: Option<OsString>) -> Option<OsString> {
    if enabled {
        return value;
    }
    if value.is_some() {
        tracing::warn!("{name} is a test hook; release builds ignore it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_builds_ignore_hooks() {
        let v = Some(OsString::from("/tmp/x"));
        assert_eq!(gate(true, "MOSHIBAR_X", v.clone()), v);
        assert_eq!(gate(false, "MOSHIBAR_X", v), None);
    }
}
