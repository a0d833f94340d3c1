//! The model's files as a person manages them from Settings: where they are
//! ([`reveal_model`], "Reveal in Finder"), removing them ([`delete_model`], "Delete model",
//! and the partial download a quality or voice change leaves behind), and choosing the cache
//! folder with the system folder picker ([`pick_cache_dir`]), checked for writability and space
//! before it is offered ([`check_folder`]).
//!
//! Only the app's own repos (`kyutai/moshiko-mlx-*`, `kyutai/moshika-mlx-*`) can be deleted:
//! the cache is shared with Python's huggingface_hub and the UI must not be able to remove
//! anything else. The core (flow) must stop a running download or unload the engine of that
//! repo before it deletes it.

use std::path::{Path, PathBuf};

use app_core::CommandError;
use serde::Serialize;
use tauri::{AppHandle, Runtime};

/// Why a model-file action failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelFilesError {
    /// Not one of the repos the app downloads.
    #[error("{0} is not a Moshibar model; only kyutai/moshiko-mlx-* and kyutai/moshika-mlx-* can be deleted here.")]
    NotAppRepo(String),
    /// The folder could not be removed.
    #[error("Could not delete {path}: {source}")]
    Delete {
        /// The repo folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// True for the repos Moshibar plans and downloads (both voices, all qualities).
pub fn is_app_repo(repo: &str) -> bool {
    let Some(rest) = repo.strip_prefix("kyutai/") else {
        return false;
    };
    ["moshiko-mlx-", "moshika-mlx-"].iter().any(|voice| {
        rest.strip_prefix(voice)
            .is_some_and(|q| matches!(q, "bf16" | "q8" | "q4"))
    })
}

/// The hub cache in use: the setting, else hubfetch's (`HF_HUB_CACHE`, `HF_HOME`, default).
pub fn cache_root(setting: Option<&str>) -> PathBuf {
    setting
        .map(PathBuf::from)
        .unwrap_or_else(|| hubfetch::Config::from_env().cache_dir)
}

/// `models--org--name` under the cache (huggingface_hub's layout).
pub fn repo_dir(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

/// Bytes under `dir` (files only; symlinks are not followed, so snapshot links count zero).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Removes one of the app's repos from the cache (blobs, partials, journals, snapshots).
/// Returns the bytes freed; a repo that is not there frees 0.
pub fn delete_repo(cache: &Path, repo: &str) -> Result<u64, ModelFilesError> {
    if !is_app_repo(repo) {
        return Err(ModelFilesError::NotAppRepo(repo.to_owned()));
    }
    let dir = repo_dir(cache, repo);
    if !dir.exists() {
        return Ok(0);
    }
    let bytes = dir_size(&dir);
    std::fs::remove_dir_all(&dir).map_err(|source| ModelFilesError::Delete {
        path: dir.clone(),
        source,
    })?;
    tracing::info!(repo, bytes, dir = %dir.display(), "model deleted");
    Ok(bytes)
}

/// What a candidate cache folder offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct FolderCheck {
    /// The folder (absolute).
    pub path: String,
    /// A file could be created and removed in it.
    pub writable: bool,
    /// Free space there.
    #[cfg_attr(test, ts(type = "number | null"))]
    pub free_bytes: Option<u64>,
    /// What the planned model still needs.
    #[cfg_attr(test, ts(type = "number"))]
    pub needed_bytes: u64,
    /// Why it cannot be used, for the person; none when it can.
    pub error: Option<String>,
}

/// Checks a folder for the model: absolute, a directory, writable (a probe file), with at least
/// `needed` bytes free.
pub fn check_folder(path: &Path, needed: u64) -> FolderCheck {
    let mut check = FolderCheck {
        path: path.to_string_lossy().into_owned(),
        writable: false,
        free_bytes: None,
        needed_bytes: needed,
        error: None,
    };
    if !path.is_absolute() {
        check.error = Some("Choose a folder (a full path), not a relative one.".into());
        return check;
    }
    if !path.is_dir() {
        check.error = Some("This folder does not exist.".into());
        return check;
    }
    let probe = path.join(".moshibar-write-test");
    check.writable = std::fs::write(&probe, b"ok").is_ok();
    let _ = std::fs::remove_file(&probe);
    check.free_bytes = fs4::available_space(path).ok();
    check.error = if !check.writable {
        Some("Moshibar cannot write to this folder. Choose one you own.".into())
    } else if check.free_bytes.is_some_and(|free| free < needed) {
        Some(format!(
            "Not enough space: the model needs {} and this disk has {} free.",
            gb(needed),
            gb(check.free_bytes.unwrap_or(0))
        ))
    } else {
        None
    };
    check
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn settings_cache<R: Runtime>(app: &AppHandle<R>) -> PathBuf {
    let settings = crate::state::core(app).settings();
    cache_root(settings.cache_dir.as_deref())
}

/// `delete_model { repo }`: deletes one of the app's repos from the cache; returns bytes freed.
/// The core does it ([`app_core::Core::delete_model`]): for the repo in use it first cancels
/// the download, closes the session and unloads the model, and plans again afterwards.
#[tauri::command]
pub async fn delete_model<R: Runtime>(
    app: AppHandle<R>,
    repo: String,
) -> Result<u64, CommandError> {
    if !is_app_repo(&repo) {
        return Err(CommandError::new(
            ModelFilesError::NotAppRepo(repo).to_string(),
        ));
    }
    crate::state::core(&app).delete_model(repo).await
}

/// `reveal_model { repo }`: shows the repo's folder in Finder (the cache folder when the repo
/// is not there yet). Async and off the main thread: the file system (a network volume, a
/// sleeping disk) and Finder may take a while.
#[tauri::command]
pub async fn reveal_model<R: Runtime>(app: AppHandle<R>, repo: String) -> Result<(), CommandError> {
    let cache = settings_cache(&app);
    tauri::async_runtime::spawn_blocking(move || reveal(&app, &cache, &repo))
        .await
        .map_err(|e| CommandError::because("Could not show the folder", e))?
        .map_err(CommandError::from)
}

fn reveal<R: Runtime>(app: &AppHandle<R>, cache: &Path, repo: &str) -> Result<(), String> {
    use tauri_plugin_opener::OpenerExt;
    let dir = repo_dir(cache, repo);
    let result = if dir.exists() {
        app.opener().reveal_item_in_dir(&dir)
    } else {
        std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
        app.opener()
            .open_path(cache.to_string_lossy(), None::<&str>)
    };
    result.map_err(|e| format!("Could not show {}: {e}", dir.display()))
}

/// `pick_cache_dir { neededBytes }`: the system folder picker (the popover stays up while it
/// is open), then [`check_folder`]. `null` when the person cancels.
#[tauri::command]
pub async fn pick_cache_dir<R: Runtime>(
    app: AppHandle<R>,
    needed_bytes: u64,
) -> Result<Option<FolderCheck>, CommandError> {
    use tauri_plugin_dialog::DialogExt;
    let _hold = crate::window::HoldOpen::new(&app);
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Where Moshibar keeps the model")
        .set_directory(settings_cache(&app))
        .pick_folder(move |picked| {
            let _ = tx.send(picked);
        });
    let Some(picked) = rx
        .await
        .map_err(|e| CommandError::because("The folder picker closed", e))?
    else {
        return Ok(None);
    };
    let path = picked
        .into_path()
        .map_err(|e| CommandError::because("That folder cannot be used", e))?;
    tauri::async_runtime::spawn_blocking(move || check_folder(&path, needed_bytes))
        .await
        .map(Some)
        .map_err(|e| CommandError::because("Could not check the folder", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_repos_are_deletable() {
        for ok in [
            "kyutai/moshiko-mlx-q4",
            "kyutai/moshika-mlx-bf16",
            "kyutai/moshiko-mlx-q8",
        ] {
            assert!(is_app_repo(ok), "{ok}");
        }
        for no in [
            "kyutai/moshiko-pytorch-bf16",
            "kyutai/moshiko-mlx-q4/../x",
            "other/moshiko-mlx-q4",
            "kyutai/moshiko-mlx-",
            "",
        ] {
            assert!(!is_app_repo(no), "{no}");
        }
    }

    #[test]
    fn delete_removes_the_repo_and_nothing_else() {
        let cache = tempfile::tempdir().expect("tempdir");
        let mine = repo_dir(cache.path(), "kyutai/moshiko-mlx-q8");
        let other = repo_dir(cache.path(), "kyutai/moshiko-mlx-q4");
        std::fs::create_dir_all(mine.join("blobs")).expect("mkdir");
        std::fs::write(mine.join("blobs/abc.chunked.incomplete"), vec![0u8; 1000]).expect("w");
        std::fs::create_dir_all(&other).expect("mkdir");
        assert_eq!(
            delete_repo(cache.path(), "kyutai/moshiko-mlx-q8").expect("delete"),
            1000
        );
        assert!(!mine.exists());
        assert!(other.exists(), "the other quality is kept");
        assert_eq!(
            delete_repo(cache.path(), "kyutai/moshiko-mlx-q8").expect("again"),
            0
        );
        assert!(matches!(
            delete_repo(cache.path(), "someone/else"),
            Err(ModelFilesError::NotAppRepo(_))
        ));
    }

    #[test]
    fn folder_check_wants_absolute_writable_and_space() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = check_folder(dir.path(), 1);
        assert!(ok.writable && ok.error.is_none(), "{ok:?}");
        assert!(ok.free_bytes.is_some());
        let full = check_folder(dir.path(), u64::MAX);
        assert!(
            full.error
                .as_deref()
                .is_some_and(|e| e.contains("Not enough space")),
            "{full:?}"
        );
        assert!(check_folder(Path::new("rel"), 1).error.is_some());
        assert!(check_folder(&dir.path().join("missing"), 1).error.is_some());
        assert!(
            !dir.path().join(".moshibar-write-test").exists(),
            "the probe is removed"
        );
    }
}
