// The one list of the popover's commands (docs/ipc.md). `build.rs` includes this file (each
// command gets an `allow-<name>` permission), `capabilities/main.json` is generated from it
// (`MOSHIBAR_UPDATE_IPC_SHAPES=1 cargo test -p moshibar --lib security`) and the security
// tests check that the capability, `lib.rs`'s invoke handler and docs/ipc.md carry exactly these.

/// The commands the popover may invoke, in docs/ipc.md's order.
pub const COMMANDS: &[&str] = &[
    "get_state",
    "get_progress",
    "get_settings",
    "save_settings",
    "restart_question",
    "set_hf_token",
    "pause_download",
    "resume_download",
    "retry_download",
    "dismiss_error",
    "list_audio_devices",
    "start_session",
    "stop_session",
    "set_talking",
    "quit_app",
    "open_microphone_settings",
    "delete_model",
    "reveal_model",
    "pick_cache_dir",
];
