//! Build script: Tauri's codegen with an app manifest (so every command needs an explicit
//! permission in `capabilities/`), plus a placeholder UI when `ui/dist` has not been built yet
//! (so `cargo check`/`clippy` work on a fresh clone; `scripts/run.sh` builds the real UI first).

use std::path::Path;

// COMMANDS: the one list of the popover's commands (shared with the app and its tests).
include!("src/ipc_commands.rs");

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
    println!("cargo:rerun-if-changed=src/ipc_commands.rs");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
