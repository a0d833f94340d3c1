//! MLX's Metal shader library (`mlx.metallib`) from the app bundle.
//!
//! mlx-sys compiles MLX's kernels into `mlx.metallib` at build time and MLX, by default, loads it
//! from the directory of the binary, from `Resources/` beside the binary, or from the absolute
//! path it was built at (`MLX_METAL_PATH`, i.e. the build machine's disk). None of these exists in
//! `Moshibar.app` on another Mac. So:
//! - `src-tauri/.cargo/config.toml` makes mlx-sys write it to `target/mlx-metal/`
//!   (`MLX_RS_METAL_PATH`), and `tauri.macos.conf.json` copies it to
//!   `Moshibar.app/Contents/Resources/mlx.metallib` (the bundler fails if it is missing);
//! - [`use_bundled`] runs before anything touches MLX and points MLX at that file
//!   (`mlx_rs::metal::set_metallib_path`, MLX's own override, 0.32+).
//!
//! Outside a bundle (`cargo run`) there is no such file and MLX keeps its build-time path, which
//! exists on the build machine.

use std::path::{Path, PathBuf};

/// The metallib's file name inside the bundle's `Contents/Resources/`.
pub const FILE_NAME: &str = "mlx.metallib";

/// The bundled metallib under `resource_dir` (Tauri's resource directory: `Contents/Resources`
/// in a `.app`), when it is there and not empty.
pub fn bundled(resource_dir: &Path) -> Option<PathBuf> {
    let path = resource_dir.join(FILE_NAME);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.len() > 0 => Some(path),
        _ => None,
    }
}

/// Points MLX at the bundled metallib, if there is one. Must run before the first MLX operation
/// (MLX reads the path when it creates the Metal device). No-op off macOS and without the engine.
pub fn use_bundled<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    use tauri::Manager;
    let Ok(resources) = app.path().resource_dir() else {
        tracing::debug!("no resource directory; MLX uses its build-time metallib path");
        return;
    };
    match bundled(&resources) {
        Some(path) => apply(&path),
        None if cfg!(target_os = "macos") => tracing::info!(
            resources = %resources.display(),
            "no bundled mlx.metallib (not running from Moshibar.app); MLX uses its build-time path"
        ),
        None => {}
    }
}

#[cfg(all(target_os = "macos", feature = "engine"))]
fn apply(path: &Path) {
    match mlx_rs::metal::set_metallib_path(path.to_string_lossy()) {
        Ok(()) => tracing::info!(path = %path.display(), "MLX loads the bundled metallib"),
        Err(e) => tracing::error!(path = %path.display(), "could not set MLX's metallib path: {e}"),
    }
}

#[cfg(not(all(target_os = "macos", feature = "engine")))]
fn apply(path: &Path) {
    tracing::debug!(path = %path.display(), "metallib found; this build does not use Metal");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_finds_only_a_non_empty_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(bundled(dir.path()), None, "missing");
        std::fs::write(dir.path().join(FILE_NAME), b"").expect("write");
        assert_eq!(bundled(dir.path()), None, "empty file is not a metallib");
        std::fs::write(dir.path().join(FILE_NAME), b"MTLB").expect("write");
        assert_eq!(bundled(dir.path()), Some(dir.path().join(FILE_NAME)));
    }

    /// The three places that must agree: where mlx-sys writes the file (cargo config), what the
    /// bundler copies (tauri.macos.conf.json) and where the app looks (`Contents/Resources`).
    #[test]
    fn bundle_configuration_carries_the_metallib() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.macos.conf.json")).expect("JSON");
        let files = &conf["bundle"]["macOS"]["files"];
        let source = files[format!("Resources/{FILE_NAME}")]
            .as_str()
            .expect("bundle.macOS.files maps Resources/mlx.metallib");
        let cargo = include_str!("../.cargo/config.toml");
        let line = cargo
            .lines()
            .find(|l| l.starts_with("MLX_RS_METAL_PATH"))
            .expect("MLX_RS_METAL_PATH in src-tauri/.cargo/config.toml");
        assert!(line.contains("relative = true"), "{line}");
        let dir = line
            .split('"')
            .nth(1)
            .expect("a quoted value in the MLX_RS_METAL_PATH line");
        assert_eq!(source, format!("{dir}/{FILE_NAME}"));
    }
}
