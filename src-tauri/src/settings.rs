//! Settings (docs/ipc.md), persisted as `settings.json` in the app's config directory
//! (macOS: `~/Library/Application Support/org.moshibar.app/`, Linux: `~/.config/org.moshibar.app/`).
//! The HF token is never here: it lives in the keychain ([`crate::keychain`]); `hasToken` is
//! computed at load time and never trusted from the UI or the file.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The settings file's name inside the config directory.
pub const FILE_NAME: &str = "settings.json";

/// The default hold-to-talk shortcut.
pub const DEFAULT_HOTKEY: &str = "Alt+Space";

/// Quality choice: `auto` lets the planner decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityOverride {
    /// The planner decides.
    #[default]
    Auto,
    /// Full precision.
    Bf16,
    /// 8-bit.
    Q8,
    /// 4-bit.
    Q4,
}

/// `Settings` of docs/ipc.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Quality override.
    pub quality_override: QualityOverride,
    /// Hold-to-talk shortcut, in Tauri's accelerator syntax ("Alt+Space").
    pub hotkey: String,
    /// Input device name (none: the system default).
    pub input_device: Option<String>,
    /// Output device name (none: the system default).
    pub output_device: Option<String>,
    /// Microphone always open instead of hold-to-talk.
    pub hands_free: bool,
    /// Start Moshibar at login.
    pub launch_at_login: bool,
    /// Where the Hugging Face cache lives (none: `HF_HUB_CACHE` or `~/.cache/huggingface/hub`).
    pub cache_dir: Option<String>,
    /// A token is stored in the keychain (computed, never persisted as true from the UI).
    pub has_token: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            quality_override: QualityOverride::Auto,
            hotkey: DEFAULT_HOTKEY.to_owned(),
            input_device: None,
            output_device: None,
            hands_free: false,
            launch_at_login: false,
            cache_dir: None,
            has_token: false,
        }
    }
}

/// Errors reading or writing the settings file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or written.
    #[error("settings file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid settings JSON.
    #[error("settings file {path} is not valid JSON ({source}); fix or delete it")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    /// Loads the settings from `dir`, or the defaults when there is no file yet.
    pub fn load(dir: &Path) -> Result<Self, SettingsError> {
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SettingsError::Parse {
                path: path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(SettingsError::Io { path, source }),
        }
    }

    /// Writes the settings to `dir` (atomically: temporary file, then rename).
    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        let path = dir.join(FILE_NAME);
        let mut on_disk = self.clone();
        on_disk.has_token = false;
        crate::state::write_json_atomic(&path, &on_disk)
            .map_err(|source| SettingsError::Io { path, source })
    }

    /// Checks the values the UI sent.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.hotkey.trim().is_empty() {
            return Err(SettingsError::Invalid(
                "The hold-to-talk shortcut is empty: choose one, e.g. Alt+Space.".into(),
            ));
        }
        if let Some(dir) = &self.cache_dir {
            if !Path::new(dir).is_absolute() {
                return Err(SettingsError::Invalid(format!(
                    "The cache location must be an absolute path (got {dir:?})."
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Settings::load(dir.path()).expect("load defaults");
        assert_eq!(s, Settings::default());
        let s = Settings {
            quality_override: QualityOverride::Q4,
            hotkey: "Ctrl+Shift+M".into(),
            hands_free: true,
            has_token: true,
            ..Settings::default()
        };
        s.save(dir.path()).expect("save");
        let back = Settings::load(dir.path()).expect("load");
        assert_eq!(back.quality_override, QualityOverride::Q4);
        assert_eq!(back.hotkey, "Ctrl+Shift+M");
        assert!(back.hands_free);
        assert!(!back.has_token, "hasToken is never persisted");
    }

    #[test]
    fn json_shape_matches_ipc_md() {
        let v = serde_json::to_value(Settings::default()).expect("serialize");
        assert_eq!(v["qualityOverride"], "auto");
        assert_eq!(v["hotkey"], "Alt+Space");
        assert!(v["inputDevice"].is_null());
        assert_eq!(v["launchAtLogin"], false);
        assert_eq!(v["hasToken"], false);
        // Missing fields take their defaults.
        let s: Settings = serde_json::from_str(r#"{"qualityOverride":"q8"}"#).expect("parse");
        assert_eq!(s.quality_override, QualityOverride::Q8);
        assert_eq!(s.hotkey, "Alt+Space");
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE_NAME), "{nope").expect("write");
        let e = Settings::load(dir.path()).expect_err("must fail");
        assert!(e.to_string().contains("not valid JSON"));
    }

    #[test]
    fn validation() {
        let mut s = Settings::default();
        assert!(s.validate().is_ok());
        s.cache_dir = Some("relative/path".into());
        assert!(s.validate().is_err());
        s.cache_dir = None;
        s.hotkey = " ".into();
        assert!(s.validate().is_err());
    }
}
