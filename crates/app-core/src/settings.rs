//! Settings (docs/ipc.md), persisted as `settings.json` in the app's config directory
//! (macOS: `~/Library/Application Support/org.moshibar.app/`, Linux: `~/.config/org.moshibar.app/`),
//! and the small flow memory kept next to them (`flow.json`: the download is paused).
//!
//! The HF token is never here: it lives in the keychain; `hasToken` is computed by the shell and
//! never trusted from the UI or the file. Every value the UI sends is checked by
//! [`Settings::validate`] before it is stored.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The settings file's name inside the config directory.
pub const FILE_NAME: &str = "settings.json";

/// The flow memory's file name inside the config directory.
pub const FLOW_FILE_NAME: &str = "flow.json";

/// The default hold-to-talk shortcut.
pub const DEFAULT_HOTKEY: &str = "Alt+Space";

/// Quality choice: `auto` lets the planner decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

impl QualityOverride {
    /// The planner's override (`None` for auto).
    pub fn quality(self) -> Option<hardware::Quality> {
        match self {
            QualityOverride::Auto => None,
            QualityOverride::Bf16 => Some(hardware::Quality::Bf16),
            QualityOverride::Q8 => Some(hardware::Quality::Q8),
            QualityOverride::Q4 => Some(hardware::Quality::Q4),
        }
    }
}

/// Which of Kyutai's two voices Moshi speaks with: the shared vocabulary's type (same JSON,
/// `"moshiko"` / `"moshika"`).
pub use moshi_repo::Voice;

/// The repo id of `voice` for a planner repo id (which names Moshiko's repo):
/// `kyutai/moshiko-mlx-q4` → `kyutai/moshika-mlx-q4`. Other repo ids are kept as they are.
pub fn voice_repo(voice: Voice, planned_repo: &str) -> String {
    match voice {
        Voice::Moshiko => planned_repo.to_owned(),
        Voice::Moshika => planned_repo.replacen("/moshiko-", "/moshika-", 1),
    }
}

/// `Settings` of docs/ipc.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Quality override.
    pub quality_override: QualityOverride,
    /// The voice.
    pub voice: Voice,
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
            voice: Voice::Moshiko,
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

/// What the flow remembers across relaunches besides the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FlowMemory {
    /// The person paused the download: the next launch starts it paused.
    pub download_paused: bool,
}

/// Errors reading, writing or checking the settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or written.
    #[error("settings file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid settings JSON.
    #[error("settings file {path} is not valid JSON ({source}); fix or delete it")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A value is not acceptable; the message says what to change.
    #[error("{0}")]
    Invalid(String),
}

/// Modifier names of Tauri's accelerator syntax.
const MODIFIERS: [&str; 10] = [
    "alt",
    "option",
    "ctrl",
    "control",
    "shift",
    "super",
    "cmd",
    "command",
    "cmdorctrl",
    "commandorcontrol",
];

/// Checks that a shortcut has at least one modifier and one key: a bare key held to talk would
/// swallow that key in every app.
pub fn validate_hotkey(hotkey: &str) -> Result<(), SettingsError> {
    let parts: Vec<&str> = hotkey.split('+').map(str::trim).collect();
    if hotkey.trim().is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(SettingsError::Invalid(format!(
            "{hotkey:?} is not a shortcut: choose one like Alt+Space."
        )));
    }
    let is_modifier = |p: &&str| MODIFIERS.contains(&p.to_ascii_lowercase().as_str());
    let modifiers = parts.iter().filter(|p| is_modifier(p)).count();
    if modifiers == 0 || modifiers == parts.len() {
        return Err(SettingsError::Invalid(format!(
            "The shortcut {hotkey:?} needs a modifier (Alt, Ctrl, Shift or Cmd) and a key, \
             e.g. Alt+Space."
        )));
    }
    Ok(())
}

/// Checks that a directory the person chose is absolute and writable (creating it if needed).
pub fn validate_writable_dir(dir: &str) -> Result<(), SettingsError> {
    let path = Path::new(dir);
    if !path.is_absolute() {
        return Err(SettingsError::Invalid(format!(
            "The cache location must be an absolute path (got {dir:?})."
        )));
    }
    let invalid = |e: std::io::Error| {
        SettingsError::Invalid(format!(
            "The cache location {dir} is not writable ({e}). Choose another folder."
        ))
    };
    std::fs::create_dir_all(path).map_err(invalid)?;
    let probe = path.join(".moshibar-write-test");
    std::fs::write(&probe, b"ok").map_err(invalid)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
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
        write_json_atomic(&path, &on_disk).map_err(|source| SettingsError::Io { path, source })
    }

    /// Checks the values the UI sent (the shortcut needs a modifier, the cache folder must be
    /// absolute and writable).
    pub fn validate(&self) -> Result<(), SettingsError> {
        validate_hotkey(&self.hotkey)?;
        if let Some(dir) = &self.cache_dir {
            validate_writable_dir(dir)?;
        }
        Ok(())
    }

    /// A change of these settings means another model: plan (and maybe download) again.
    pub fn changes_model(&self, other: &Settings) -> bool {
        self.quality_override != other.quality_override
            || self.voice != other.voice
            || self.cache_dir != other.cache_dir
    }
}

impl FlowMemory {
    /// Loads `flow.json` from `dir` (defaults when missing or unreadable: it is only a memory).
    pub fn load(dir: &Path) -> Self {
        std::fs::read(dir.join(FLOW_FILE_NAME))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes `flow.json` to `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        let path = dir.join(FLOW_FILE_NAME);
        write_json_atomic(&path, self).map_err(|source| SettingsError::Io { path, source })
    }
}

/// Writes `value` as pretty JSON through a temporary file and a rename (readers never see a
/// half-written file).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
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
            voice: Voice::Moshika,
            hotkey: "Ctrl+Shift+M".into(),
            hands_free: true,
            has_token: true,
            ..Settings::default()
        };
        s.save(dir.path()).expect("save");
        let back = Settings::load(dir.path()).expect("load");
        assert_eq!(back.quality_override, QualityOverride::Q4);
        assert_eq!(back.voice, Voice::Moshika);
        assert_eq!(back.hotkey, "Ctrl+Shift+M");
        assert!(back.hands_free);
        assert!(!back.has_token, "hasToken is never persisted");
    }

    #[test]
    fn json_shape_matches_ipc_md() {
        let v = serde_json::to_value(Settings::default()).expect("serialize");
        assert_eq!(v["qualityOverride"], "auto");
        assert_eq!(v["voice"], "moshiko");
        assert_eq!(v["hotkey"], "Alt+Space");
        assert!(v["inputDevice"].is_null());
        assert_eq!(v["launchAtLogin"], false);
        assert_eq!(v["hasToken"], false);
        let s: Settings = serde_json::from_str(r#"{"qualityOverride":"q8"}"#).expect("parse");
        assert_eq!(s.quality_override, QualityOverride::Q8);
        assert_eq!(s.hotkey, "Alt+Space");
        assert_eq!(s.voice, Voice::Moshiko);
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE_NAME), "{nope").expect("write");
        let e = Settings::load(dir.path()).expect_err("must fail");
        assert!(e.to_string().contains("not valid JSON"));
    }

    #[test]
    fn shortcut_needs_a_modifier_and_a_key() {
        for ok in ["Alt+Space", "CmdOrCtrl+Shift+M", "ctrl+F5"] {
            assert!(validate_hotkey(ok).is_ok(), "{ok}");
        }
        for bad in ["Space", "M", "", " ", "Alt+", "Alt+Shift", "+Space"] {
            assert!(validate_hotkey(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cache_dir_must_be_absolute_and_writable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Settings {
            cache_dir: Some(dir.path().join("hub").display().to_string()),
            ..Settings::default()
        };
        assert!(s.validate().is_ok());
        assert!(dir.path().join("hub").is_dir(), "created");
        s.cache_dir = Some("relative/path".into());
        assert!(s.validate().is_err());
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").expect("write");
        s.cache_dir = Some(file.join("below").display().to_string());
        assert!(
            s.validate().is_err(),
            "a folder under a file is not writable"
        );
    }

    #[test]
    fn moshika_maps_the_planned_repo() {
        assert_eq!(
            voice_repo(Voice::Moshika, "kyutai/moshiko-mlx-q4"),
            "kyutai/moshika-mlx-q4"
        );
        assert_eq!(
            voice_repo(Voice::Moshiko, "kyutai/moshiko-mlx-q8"),
            "kyutai/moshiko-mlx-q8"
        );
    }

    #[test]
    fn flow_memory_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!FlowMemory::load(dir.path()).download_paused);
        FlowMemory {
            download_paused: true,
        }
        .save(dir.path())
        .expect("save");
        assert!(FlowMemory::load(dir.path()).download_paused);
    }
}
