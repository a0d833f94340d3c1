//! Build script: Tauri's codegen with an app manifest (so every command needs an explicit
//! permission in `capabilities/`), plus a placeholder UI when `ui/dist` has not been built yet
//! (so `cargo check`/`clippy` work on a fresh clone; `scripts/run.sh` builds the real UI first).

use std::path::Path;

/// The commands the popover may invoke (docs/ipc.md). Each one gets an `allow-<name>` permission.
const COMMANDS: &[&str] = &[
    "get_state",
    "get_progress",
    "get_settings",
    "save_settings",
    "set_hf_token",
    "pause_download",
    "resume_download",
    "retry_download",
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

fn main() {
    let dist = Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        // ui/dist is a git-ignored build output; a placeholder keeps tauri-codegen happy.
        if std::fs::create_dir_all(dist).is_ok() {
            let _ = std::fs::write(
                dist.join("index.html"),
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Moshibar</title></head>\
                 <body><p>The popover UI is not built: run <code>npm run build</code> in \
                 <code>ui/</code> (scripts/run.sh does it).</p></body></html>\n",
            );
        }
    }
    println!("cargo:rerun-if-changed=../ui/dist/index.html");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
