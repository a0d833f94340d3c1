//! Settings (docs/ipc.md): defined, validated and persisted by `app-core` (re-exported here).
//! The HF token is never in them: it lives in the keychain ([`crate::keychain`]).

pub use app_core::{
    validate_hotkey, FlowMemory, QualityOverride, Settings, SettingsError, Voice, DEFAULT_HOTKEY,
    FILE_NAME,
};
