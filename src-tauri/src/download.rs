//! The Hub service of the core ([`HubfetchHub`]): hands the plan's files to hubfetch and
//! forwards its `Progress` unchanged; finds a cached model without any network access.
//! The download state is hubfetch's: its journal makes a relaunch resume where it stopped, and
//! files already verified in the cache are not fetched again.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tauri::{AppHandle, Manager, Runtime};

use crate::settings::Settings;
use crate::state::{Stage, UiError};
use app_core::ErrorAction;

/// The download's result: the snapshot directory holding the verified files.
pub type Job = Pin<Box<dyn Future<Output = Result<PathBuf, UiError>> + Send>>;

type SharedJob = Arc<Mutex<Option<hubfetch::Job>>>;

fn lock(job: &SharedJob) -> parking_lot::MutexGuard<'_, Option<hubfetch::Job>> {
    job.lock()
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

/// [`app_core::Hub`] over hubfetch: the cache probe and the snapshot lookup touch only local
/// files; downloads forward hubfetch's `Progress` to the UI unchanged.
pub struct HubfetchHub<R: Runtime> {
    app: AppHandle<R>,
}

impl<R: Runtime> HubfetchHub<R> {
    /// The Hub for this app (progress goes to its UI).
    pub fn new(app: AppHandle<R>) -> Self {
        Self { app }
    }
}

fn cached_files(
    client: &hubfetch::Client,
    repo: &str,
    revision: &str,
    files: &[&str],
) -> Option<Vec<PathBuf>> {
    files
        .iter()
        .map(|f| client.cached_file(repo, revision, f))
        .collect()
}

impl<R: Runtime> app_core::Hub for HubfetchHub<R> {
    fn complete(
        &self,
        settings: &Settings,
        candidates: &[app_core::Candidate],
    ) -> std::collections::BTreeSet<hardware::Quality> {
        let Ok(client) = client(settings, None) else {
            return Default::default();
        };
        let complete = candidates
            .iter()
            .filter(|c| {
                let files: Vec<&str> = c.files.iter().map(String::as_str).collect();
                cached_files(&client, &c.repo, &c.revision, &files).is_some()
            })
            .map(|c| c.quality)
            .collect();
        tracing::info!(cached = ?complete, "cache state");
        complete
    }

    fn disk_free(&self, settings: &Settings) -> Option<u64> {
        disk_free(settings)
    }

    fn delete(&self, settings: &Settings, repo: &str) -> Result<u64, UiError> {
        let cache = crate::model_files::cache_root(settings.cache_dir.as_deref());
        crate::model_files::delete_repo(&cache, repo)
            .map_err(|e| UiError::new("Could not delete the model", e.to_string(), None))
    }

    fn cached_snapshot(
        &self,
        settings: &Settings,
        plan: &hardware::Plan,
    ) -> Result<PathBuf, UiError> {
        let client = client(settings, None)?;
        let files: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
        let paths = cached_files(&client, &plan.repo, &plan.revision, &files).ok_or_else(|| {
            UiError::new(
                "Model files missing",
                format!("{} is no longer complete in the cache.", plan.repo),
                Some(ErrorAction::Retry),
            )
        })?;
        let first = (plan.files.first(), paths.first());
        let (Some(file), Some(local)) = first else {
            return Err(UiError::new(
                "Model files missing",
                "The plan has no files.",
                Some(ErrorAction::Retry),
            ));
        };
        tracing::info!(repo = %plan.repo, "model verified in the cache: no download, no network");
        snapshot_of(&file.path, local)
    }

    fn download(
        &self,
        settings: &Settings,
        plan: &hardware::Plan,
        paused: bool,
        report: app_core::StageReport,
    ) -> Result<app_core::Download, UiError> {
        let token = self.app.state::<crate::keychain::TokenStore>().get();
        let (control, done) = start(&self.app, settings, token, plan, paused, report)?;
        Ok(app_core::Download {
            control: Box::new(control),
            done,
        })
    }
}

impl app_core::DownloadControl for Control {
    fn pause(&self, paused: bool) {
        if paused {
            Control::pause(self)
        } else {
            Control::resume(self)
        }
    }
    fn cancel(&self) {
        Control::cancel(self)
    }
}

/// Starts downloading the plan's files; the returned future forwards progress and resolves to
/// the snapshot directory once every file is verified.
fn start<R: Runtime>(
    app: &AppHandle<R>,
    settings: &Settings,
    token: Option<String>,
    plan: &hardware::Plan,
    paused: bool,
    report: app_core::StageReport,
) -> Result<(Control, Job), UiError> {
    let client = client(settings, token)?;
    let files: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
    tracing::info!(repo = %plan.repo, revision = %plan.revision, files = ?files, paused, "download starting");
    let job = client.download_files(
        &plan.repo,
        &plan.revision,
        &files,
        hubfetch::Options::default(),
    );
    if paused {
        job.pause();
    }
    let mut progress = job.progress();
    let shared: SharedJob = Arc::new(Mutex::new(Some(job)));
    let control = Control {
        job: Arc::clone(&shared),
    };
    let app = app.clone();
    let (repo, revision) = (plan.repo.clone(), plan.revision.clone());
    let future = async move {
        let mut last_phase = None;
        loop {
            let p = progress.borrow_and_update().clone();
            if last_phase != Some(p.phase) {
                tracing::info!(phase = ?p.phase, done = p.bytes_done, total = p.bytes_total, "download phase");
                last_phase = Some(p.phase);
                match p.phase {
                    hubfetch::Phase::Verifying | hubfetch::Phase::Repairing => {
                        report.stage(Stage::Verifying)
                    }
                    hubfetch::Phase::Resolving | hubfetch::Phase::Downloading => {
                        report.stage(Stage::Downloading)
                    }
                    _ => {}
                }
            }
            let terminal = matches!(
                p.phase,
                hubfetch::Phase::Done | hubfetch::Phase::Failed | hubfetch::Phase::Cancelled
            );
            match serde_json::to_value(&p) {
                Ok(v) => crate::state::set_progress(&app, v),
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
                Some(ErrorAction::Retry),
            )
        })?;
        let files = job.wait().await.map_err(|e| ui_error(&e))?;
        tracing::info!(files = files.len(), "download verified");
        let dir = snapshot_dir(&files)?;
        // Bounded: the files are verified, a slow listing must not hold the app back.
        if tokio::time::timeout(
            CONFIG_TIMEOUT,
            fetch_model_config(&client, &repo, &revision),
        )
        .await
        .is_err()
        {
            tracing::warn!(%repo, "listing the repo for config.json timed out");
        }
        Ok(dir)
    };
    Ok((control, Box::pin(future)))
}

/// Optional files the engine reads when the repo has them: Kyutai's `config.json`, and the Mimi
/// hyper-parameters of the tiny test repos (`engine::FIXTURE_MIMI_CONFIG`).
const CONFIG_FILES: [&str; 2] = ["config.json", "fixture_mimi_config.json"];

/// How long the optional `config.json` fetch may take after the download.
const CONFIG_TIMEOUT: Duration = Duration::from_secs(30);

/// The model's `config.json`, when its repo has one (Kyutai's 7B repos have none: the engine
/// then uses the built-in 7B config; smaller or other variants describe themselves in it). It is
/// fetched into the same snapshot next to the plan's files. Best effort: without it the engine
/// loads with the 7B config and says which tensor does not fit.
async fn fetch_model_config(client: &hubfetch::Client, repo: &str, revision: &str) {
    let missing: Vec<&str> = CONFIG_FILES
        .iter()
        .copied()
        .filter(|f| client.cached_file(repo, revision, f).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let listing = match client
        .list_files(repo, revision, &hubfetch::Options::default())
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%repo, "could not list the repo's files for its config: {e}");
            return;
        }
    };
    let wanted: Vec<&str> = missing
        .into_iter()
        .filter(|m| listing.files.iter().any(|f| f.path == *m))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let job = client.download_files(repo, revision, &wanted, hubfetch::Options::default());
    match job.wait().await {
        Ok(_) => tracing::info!(%repo, files = ?wanted, "fetched the model's config"),
        Err(e) => tracing::warn!(%repo, files = ?wanted, "could not fetch the model's config: {e}"),
    }
}

/// The snapshot directory the files live in (`…/models--org--name/snapshots/<commit>`).
fn snapshot_dir(files: &[hubfetch::ResolvedFile]) -> Result<PathBuf, UiError> {
    let first = files.first().ok_or_else(|| {
        UiError::new(
            "Download failed",
            "The Hub returned no files for the plan.",
            Some(ErrorAction::Retry),
        )
    })?;
    snapshot_of(&first.path, &first.local_path)
}

/// The snapshot directory of a file at `repo_path` stored at `local`.
fn snapshot_of(repo_path: &str, local: &Path) -> Result<PathBuf, UiError> {
    let depth = Path::new(repo_path).components().count();
    local
        .ancestors()
        .nth(depth)
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            UiError::new(
                "Download failed",
                format!("Unexpected cache path {}", local.display()),
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
            Some(ErrorAction::OpenUrl { url: url.clone() }),
        ),
        E::Unauthorized(_) => UiError::new(
            "Hugging Face token needed",
            format!("{message}. Add a token in Settings."),
            Some(ErrorAction::OpenSettings),
        ),
        E::DiskFull { .. } => UiError::new(
            "Not enough disk space",
            message,
            Some(ErrorAction::OpenSettings),
        ),
        E::Unreachable {
            reason: hubfetch::UnreachableReason::CaptivePortal,
            ..
        } => UiError::new("Sign in to the network", message, Some(ErrorAction::Retry)),
        E::Unreachable {
            reason: hubfetch::UnreachableReason::Certificate,
            ..
        } => UiError::new(
            "Secure connection failed",
            message,
            Some(ErrorAction::Retry),
        ),
        E::Offline(_) | E::Unreachable { .. } => {
            UiError::new("Offline", message, Some(ErrorAction::Retry))
        }
        E::Cancelled => UiError::new("Download stopped", message, Some(ErrorAction::Retry)),
        E::Network { .. } => {
            UiError::new("Download interrupted", message, Some(ErrorAction::Retry))
        }
        _ => UiError::new("Download failed", message, Some(ErrorAction::Retry)),
    }
}

#[cfg(test)]
mod tests {
    use super::ui_error;

    /// The Hub out of reach with nothing cached reads as "Offline" with a Retry, not as a
    /// generic failure.
    #[test]
    fn unreachable_hub_is_shown_as_offline() {
        let e = hubfetch::Error::Unreachable {
            what: "kyutai/moshiko-mlx-q4/model.q4.safetensors at main".into(),
            reason: hubfetch::UnreachableReason::Refused,
            cause: hubfetch::NetError::Transfer("no network: connection refused".into()),
        };
        let shown = ui_error(&e);
        assert_eq!(shown.title, "Offline");
        assert!(shown.message.contains("no network"), "{}", shown.message);
        assert_eq!(shown.action, Some(app_core::ErrorAction::Retry));
        // A login page is not "offline": the person signs in to the network.
        let e = hubfetch::Error::Unreachable {
            what: "x".into(),
            reason: hubfetch::UnreachableReason::CaptivePortal,
            cause: hubfetch::NetError::Transfer("login page".into()),
        };
        assert_eq!(ui_error(&e).title, "Sign in to the network");
    }
}
