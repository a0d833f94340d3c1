//! Logs that survive a launch from Finder: stderr (a terminal, `scripts/run.sh`) plus a daily
//! rotated file, `moshibar.YYYY-MM-DD.log`, in [`log_dir`] — `~/Library/Logs/Moshibar/` on macOS
//! (where Console.app looks), `$XDG_STATE_HOME/moshibar/logs` (default
//! `~/.local/state/moshibar/logs`) elsewhere. The last [`KEEP_FILES`] days are kept. The tray
//! menu's "Reveal logs" opens the folder ([`reveal`]). Tokens are never logged (keychain.rs).

use std::path::{Path, PathBuf};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// How many daily log files are kept.
pub const KEEP_FILES: usize = 7;
/// Log file names: `moshibar.<date>.log`.
pub const FILE_PREFIX: &str = "moshibar";

/// The default filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "warn,moshibar_lib=info,moshibar=info,app_core=info";

/// The log directory for this platform, from the environment (HOME, XDG_STATE_HOME).
pub fn log_dir() -> Option<PathBuf> {
    log_dir_from(
        std::env::var_os("HOME").map(PathBuf::from),
        std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
    )
}

/// [`log_dir`] from explicit values (tests).
pub fn log_dir_from(home: Option<PathBuf>, xdg_state_home: Option<PathBuf>) -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        return home.map(|h| h.join("Library").join("Logs").join("Moshibar"));
    }
    let state = xdg_state_home
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".local").join("state")))?;
    Some(state.join("moshibar").join("logs"))
}

/// The rotating file writer in `dir` (created if missing).
pub fn file_appender(
    dir: &Path,
) -> Result<tracing_appender::rolling::RollingFileAppender, tracing_appender::rolling::InitError> {
    tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(FILE_PREFIX)
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(dir)
}

/// Installs the global subscriber: stderr and, when the directory can be created, the file.
/// Writes are synchronous (no background thread whose buffer a Quit would lose); nothing on the
/// real-time audio path logs.
pub fn init() {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let dir = log_dir();
    let file = dir.as_deref().map(file_appender);
    let (file_layer, file_error) = match file {
        Some(Ok(appender)) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(appender)
                    .with_filter(filter()),
            ),
            None,
        ),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, Some("no home directory".to_owned())),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    match (dir, file_error) {
        (Some(dir), None) => tracing::info!(dir = %dir.display(), "logging to files"),
        (dir, Some(e)) => tracing::warn!(?dir, "logging to stderr only: {e}"),
        (None, None) => {}
    }
}

/// Opens the log folder in Finder (the file manager elsewhere). The tray's "Reveal logs".
pub fn reveal<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> Result<(), String> {
    use tauri_plugin_opener::OpenerExt;
    let dir = log_dir().ok_or("No home directory, so there is no log folder.")?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    app.opener()
        .open_path(dir.to_string_lossy(), None::<&str>)
        .map_err(|e| format!("Could not open {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tracing_subscriber::fmt::MakeWriter;

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn linux_logs_go_to_the_xdg_state_dir() {
        let home = PathBuf::from("/home/ann");
        assert_eq!(
            log_dir_from(Some(home.clone()), None),
            Some(PathBuf::from("/home/ann/.local/state/moshibar/logs"))
        );
        assert_eq!(
            log_dir_from(Some(home.clone()), Some("/x/state".into())),
            Some(PathBuf::from("/x/state/moshibar/logs"))
        );
        // The XDG spec: relative values are invalid and ignored.
        assert_eq!(
            log_dir_from(Some(home), Some("rel".into())),
            Some(PathBuf::from("/home/ann/.local/state/moshibar/logs"))
        );
        assert_eq!(log_dir_from(None, None), None);
    }

    #[cfg(target_os = "macos")]
    #[test]
    fn mac_logs_go_to_library_logs() {
        assert_eq!(
            log_dir_from(Some("/Users/ann".into()), Some("/x".into())),
            Some(PathBuf::from("/Users/ann/Library/Logs/Moshibar"))
        );
    }

    #[test]
    fn the_appender_writes_a_dated_file_in_a_new_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("Logs").join("Moshibar");
        let appender = file_appender(&dir).expect("appender");
        writeln!(appender.make_writer(), "hello from the test").expect("write");
        let files: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(
            files[0].starts_with("moshibar.") && files[0].ends_with(".log"),
            "{files:?}"
        );
        let text = std::fs::read_to_string(dir.join(&files[0])).expect("read");
        assert!(text.contains("hello from the test"));
    }
}
