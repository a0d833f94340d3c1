//! The download step: hands the plan's files to hubfetch and forwards its `Progress` unchanged.
//! The download state is hubfetch's: its journal makes a relaunch resume where it stopped, and
//! files already verified in the cache are not fetched again.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tauri::{AppHandle, Runtime};

use crate::settings::Settings;
use crate::state::{core, Stage, UiError};

/// The download's result: the snapshot directory holding the verified files.
pub type Job = Pin<Box<dyn Future<Output = Result<PathBuf, UiError>> + Send>>;

type SharedJob = Arc<Mutex<Option<hubfetch::Job>>>;

fn lock(job: &SharedJob) -> std::sync::MutexGuard<'_, Option<hubfetch::Job>> {
    job.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pause, resume and cancel for the running download.
pub struct Control {
    job: SharedJob,
}

impl Control {
    /// Pauses the transfer (the journal keeps every verified chunk).
    pub fn pause(&self) {
        if let Some(job) = lock(&self.job).as_ref() {
            job.pause();
        }
    }
    /// Resumes the transfer.
    pub fn resume(&self) {
        if let Some(job) = lock(&self.job).as_ref() {
            job.resume();
        }
    }
    /// Stops the transfer; a later run resumes from the journal.
    pub fn cancel(&self) {
        if let Some(job) = lock(&self.job).as_ref() {
            job.cancel();
        }
    }
}

/// hubfetch's configuration: the environment (`HF_ENDPOINT`, `HF_HUB_CACHE`, …), the cache
/// location from the settings, and the token from the keychain.
fn client(settings: &Settings, token: Option<String>) -> Result<hubfetch::Client, UiError> {
    let mut config = hubfetch::Config::from_env();
    if let Some(dir) = &settings.cache_dir {
        config.cache_dir = PathBuf::from(dir);
    }
    if let Some(t) = token.as_deref().and_then(hubfetch::Token::new) {
        config.token = Some(t);
    }
    hubfetch::Client::new(config).map_err(|e| ui_error(&e))
}

/// Free space where the model goes (the cache directory or its nearest existing parent).
pub fn disk_free(settings: &Settings) -> Option<u64> {
    let mut dir = settings
        .cache_dir
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| hubfetch::Config::from_env().cache_dir);
    loop {
        if dir.exists() {
            return fs4::available_space(&dir).ok();
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Qualities whose whole file set is already in the cache, for the planner (no network).
pub fn cache_state(settings: &Settings, hw: &hardware::Hardware) -> hardware::CacheState {
    let mut state = hardware::CacheState::default();
    let Ok(client) = client(settings, None) else {
        return state;
    };
    for quality in hardware::Quality::BEST_FIRST {
        let plan = hardware::plan(
            hw,
            &hardware::PlanOptions {
                override_quality: Some(quality),
                cache: hardware::CacheState::default(),
            },
        );
        let cached = plan.files.iter().all(|f| {
            client
                .cached_file(&plan.repo, &plan.revision, &f.path)
                .is_some()
        });
        if cached {
            state.complete.insert(quality);
        }
    }
    tracing::info!(cached = ?state.complete, "cache state");
    state
}

/// Starts downloading the plan's files; the returned future forwards progress and resolves to
/// the snapshot directory once every file is verified.
pub fn start<R: Runtime>(
    app: &AppHandle<R>,
    settings: &Settings,
    token: Option<String>,
    plan: &hardware::Plan,
) -> Result<(Control, Job), UiError> {
    let client = client(settings, token)?;
    let files: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
    tracing::info!(repo = %plan.repo, revision = %plan.revision, files = ?files, "download starting");
    let job = client.download_files(
        &plan.repo,
        &plan.revision,
        &files,
        hubfetch::Options::default(),
    );
    let mut progress = job.progress();
    let shared: SharedJob = Arc::new(Mutex::new(Some(job)));
    let control = Control {
        job: Arc::clone(&shared),
    };
    let app = app.clone();
    let settings = settings.clone();
    let (repo, revision) = (plan.repo.clone(), plan.revision.clone());
    let future = async move {
        let mut last_disk_check: Option<Instant> = None;
        let mut last_phase = None;
        loop {
            let p = progress.borrow_and_update().clone();
            if last_phase != Some(p.phase) {
                tracing::info!(phase = ?p.phase, done = p.bytes_done, total = p.bytes_total, "download phase");
                last_phase = Some(p.phase);
            }
            let stage = match p.phase {
                hubfetch::Phase::Verifying | hubfetch::Phase::Repairing => Some(Stage::Verifying),
                hubfetch::Phase::Resolving | hubfetch::Phase::Downloading => {
                    Some(Stage::Downloading)
                }
                _ => None,
            };
            let due = last_disk_check.is_none_or(|t| t.elapsed() > Duration::from_secs(5));
            let disk = due.then(|| {
                last_disk_check = Some(Instant::now());
                disk_free(&settings)
            });
            core(&app).update(&app, |s| {
                if let Some(stage) = stage {
                    s.stage = stage;
                }
                if let Some(free) = disk {
                    s.disk_free_bytes = free;
                }
            });
            let terminal = matches!(
                p.phase,
                hubfetch::Phase::Done | hubfetch::Phase::Failed | hubfetch::Phase::Cancelled
            );
            match serde_json::to_value(&p) {
                Ok(v) => core(&app).set_progress(&app, v),
                Err(e) => tracing::warn!("progress not serializable: {e}"),
            }
            if terminal || progress.changed().await.is_err() {
                break;
            }
        }
        let job = lock(&shared).take().ok_or_else(|| {
            UiError::new(
                "Download stopped",
                "The download was cancelled.",
                Some("retry"),
            )
        })?;
        let files = job.wait().await.map_err(|e| ui_error(&e))?;
        tracing::info!(files = files.len(), "download verified");
        let dir = snapshot_dir(&files)?;
        fetch_model_config(&client, &repo, &revision).await;
        Ok(dir)
    };
    Ok((control, Box::pin(future)))
}

/// The model's `config.json`, when its repo has one (Kyutai's 7B repos have none: the engine
/// then uses the built-in 7B config; smaller or other variants describe themselves in it). It is
/// fetched into the same snapshot next to the plan's files. Best effort: without it the engine
/// loads with the 7B config and says which tensor does not fit.
async fn fetch_model_config(client: &hubfetch::Client, repo: &str, revision: &str) {
    const CONFIG: &str = "config.json";
    if client.cached_file(repo, revision, CONFIG).is_some() {
        return;
    }
    let listing = match client
        .list_files(repo, revision, &hubfetch::Options::default())
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%repo, "could not list the repo's files for {CONFIG}: {e}");
            return;
        }
    };
    if !listing.files.iter().any(|f| f.path == CONFIG) {
        return;
    }
    let job = client.download_files(repo, revision, &[CONFIG], hubfetch::Options::default());
    match job.wait().await {
        Ok(_) => tracing::info!(%repo, "fetched the model's {CONFIG}"),
        Err(e) => tracing::warn!(%repo, "could not fetch the model's {CONFIG}: {e}"),
    }
}

/// The snapshot directory the files live in (`…/models--org--name/snapshots/<commit>`).
fn snapshot_dir(files: &[hubfetch::ResolvedFile]) -> Result<PathBuf, UiError> {
    let first = files.first().ok_or_else(|| {
        UiError::new(
            "Download failed",
            "The Hub returned no files for the plan.",
            Some("retry"),
        )
    })?;
    let depth = Path::new(&first.path).components().count();
    first
        .local_path
        .ancestors()
        .nth(depth)
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            UiError::new(
                "Download failed",
                format!("Unexpected cache path {}", first.local_path.display()),
                None,
            )
        })
}

/// hubfetch's error as a message with the action the person can take.
pub fn ui_error(e: &hubfetch::Error) -> UiError {
    use hubfetch::Error as E;
    let message = e.to_string();
    match e {
        E::Gated { url, .. } => UiError::new(
            "Accept the model's terms",
            message,
            Some(&format!("openUrl:{url}")),
        ),
        E::Unauthorized(_) => UiError::new(
            "Hugging Face token needed",
            format!("{message}. Add a token in Settings."),
            Some("openSettings"),
        ),
        E::DiskFull { .. } => UiError::new("Not enough disk space", message, Some("openSettings")),
        E::Offline(_) => UiError::new("Offline", message, Some("retry")),
        E::Cancelled => UiError::new("Download stopped", message, Some("retry")),
        E::Network(_) => UiError::new("Download interrupted", message, Some("retry")),
        _ => UiError::new("Download failed", message, Some("retry")),
    }
}
