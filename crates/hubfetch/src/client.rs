//! The public API: a `Client` configured like `huggingface_hub`, and `Job`s that download
//! files in the background with a progress stream, pause/resume and cancel.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::{
    is_commit_hash, validate_repo_id, validate_repo_path, validate_revision, RepoCache,
};
use crate::chunk::{ConnLimiter, Fail, Shared};
use crate::download::download_file;
use crate::env::Config;
use crate::error::{Error, Result};
use crate::hashpool::ChunkHasher;
use crate::journal::Journal;
use crate::progress::{Phase, Progress, Tracker};
use crate::resolve::{Hub, Listing, Resolved, RetryPolicy};
use crate::verify::{self, Expected};

/// Tuning knobs; the defaults suit multi-GB files on flaky links.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Bytes per verified chunk (default 8 MiB). A resumed file keeps its journal's size.
    /// Durability does not depend on it (pieces do that); it is the unit of work per
    /// connection, of the journal and of a repair: smaller chunks leave fewer connections idle
    /// at the end of a file (32 MiB left 2 of 8 idle for a chunk's time, ~3 s of a 1 GB file at
    /// 40 MB/s) and re-fetch less after a whole-file mismatch.
    pub chunk_size: u64,
    /// The most parallel connections (default 16). The job starts with
    /// `initial_connections` and adds one while the total rate grows with it; bursts of
    /// resets or stalls shed some at once (see the crate README, "Connections").
    pub connections: usize,
    /// Connections at the start (default 2; `>= connections` means a fixed count).
    pub initial_connections: usize,
    /// How often the connection count is re-evaluated from the measured rate (default 1 s).
    pub adapt_interval: Duration,
    /// Limit on retries of one request (`None`: retry transient errors forever).
    pub max_retries: Option<u32>,
    /// A request with no byte for this long is aborted and retried (default
    /// `HF_HUB_DOWNLOAD_TIMEOUT` seconds, else 30 s).
    pub stall_timeout: Duration,
    /// First backoff delay (default 1 s) ...
    pub backoff_base: Duration,
    /// ... and its cap (default 60 s). Full jitter in between.
    pub backoff_max: Duration,
    /// How often the progress snapshot is refreshed (default 250 ms).
    pub progress_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunk_size: 8 * 1024 * 1024,
            connections: 16,
            initial_connections: 2,
            adapt_interval: Duration::from_secs(1),
            max_retries: None,
            stall_timeout: crate::env::seconds_var("HF_HUB_DOWNLOAD_TIMEOUT")
                .unwrap_or(Duration::from_secs(30)),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            progress_interval: Duration::from_millis(250),
        }
    }
}

/// A verified file in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedFile {
    /// Path inside the repo.
    pub path: String,
    /// `snapshots/{commit}/{path}`: what to open.
    pub local_path: PathBuf,
    /// The blob the snapshot link points to.
    pub blob_path: PathBuf,
    /// The commit the file was fetched at (the snapshot folder's name).
    pub commit: String,
    /// sha256 (LFS) or git sha1: the blob name.
    pub etag: String,
    /// The file's size in bytes.
    pub size: u64,
    /// False when it was already in the cache (not a byte downloaded).
    pub downloaded: bool,
    /// True when the content hash was checked (by us now, or by whoever put the blob in the
    /// cache under its hash name); false only when the Hub gave no content hash.
    pub verified: bool,
}

/// A cached or partial blob, for `status()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheEntryStatus {
    /// The repo id (`org/name`).
    pub repo: String,
    /// Repo path (known for snapshots and for our partial files).
    pub path: Option<String>,
    /// The blob name (sha256 for LFS files, git sha1 otherwise).
    pub etag: String,
    /// The file's full size in bytes.
    pub size: u64,
    /// Bytes in verified chunks (== size for complete files).
    pub bytes_verified: u64,
    /// The blob is whole (no partial download left).
    pub complete: bool,
    /// Where it is on disk (the blob, or the partial file).
    pub local_path: PathBuf,
}

/// Result of re-hashing one cached file against the Hub's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The file's path in the repo.
    pub path: String,
    /// The cached file that was hashed (`None`: not in the cache).
    pub local_path: Option<PathBuf>,
    /// The hash the Hub gives for it.
    pub expected: Option<String>,
    /// The hash of the bytes on disk.
    pub actual: Option<String>,
    /// Both agree.
    pub ok: bool,
}

/// Entry point: holds the configuration and the HTTP connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    hub: Arc<Hub>,
}

enum Files {
    Some(Vec<String>),
    All,
}

/// A running download. Dropping it does not stop it; call `cancel()` for that.
#[derive(Debug)]
pub struct Job {
    progress: watch::Receiver<Progress>,
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    handle: JoinHandle<Result<Vec<ResolvedFile>>>,
}

impl Job {
    /// The progress stream: `changed().await` then `borrow()` for the newest snapshot.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }
    /// Stop moving bytes (connections are closed); chunks in flight resume where they were.
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }
    /// Continue after `pause()`.
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }
    /// Stop the job; `wait()` then returns `Error::Cancelled`. Partial data is kept.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
    /// The job's cancellation token (e.g. to tie it to a parent token).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
    /// Wait for the end: the verified local files, or the first error.
    pub async fn wait(self) -> Result<Vec<ResolvedFile>> {
        self.handle.await.map_err(Error::task("download task"))?
    }
}

impl Client {
    /// A client configured from `HF_*` environment variables (see `Config::from_env`).
    pub fn from_env() -> Result<Client> {
        Client::new(Config::from_env())
    }

    /// A client with an explicit configuration (e.g. a cache dir chosen in the app's settings).
    pub fn new(config: Config) -> Result<Client> {
        Ok(Client {
            hub: Arc::new(Hub::new(config)?),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.hub.cfg
    }

    /// Download (or find in the cache) the given files of `repo` at `revision`, in the background.
    /// Needs a running tokio runtime.
    pub fn download_files<S: AsRef<str>>(
        &self,
        repo: &str,
        revision: &str,
        files: &[S],
        opts: Options,
    ) -> Job {
        let files = Files::Some(files.iter().map(|f| f.as_ref().to_string()).collect());
        self.spawn(repo, revision, files, opts)
    }

    /// Download every file of `repo` at `revision` (from the listing API), in the background.
    pub fn download_repo(&self, repo: &str, revision: &str, opts: Options) -> Job {
        self.spawn(repo, revision, Files::All, opts)
    }

    fn spawn(&self, repo: &str, revision: &str, files: Files, opts: Options) -> Job {
        let (tracker, rx) = Tracker::new(repo, revision);
        let (ptx, prx) = watch::channel(false);
        let cancel = CancellationToken::new();
        let sh = Arc::new(Shared {
            hub: self.hub.clone(),
            policy: policy(&opts),
            stall: opts.stall_timeout,
            cancel: cancel.clone(),
            paused: prx,
            tracker: tracker.clone(),
            limiter: ConnLimiter::new(
                opts.connections,
                opts.initial_connections,
                opts.adapt_interval,
            ),
            hasher: ChunkHasher::start(),
        });
        let (repo, revision) = (repo.to_string(), revision.to_string());
        let handle = tokio::spawn(async move {
            let ticker = {
                let (t, mut paused) = (tracker.clone(), sh.paused.clone());
                let every = opts.progress_interval.max(Duration::from_millis(10));
                tokio::spawn(async move {
                    let mut saved = Phase::Downloading;
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(every) => {}
                            r = paused.changed() => {
                                if r.is_err() { break; }
                                if *paused.borrow() { saved = t.phase(); t.set_phase(Phase::Paused); } else { t.set_phase(saved); }
                            }
                        }
                        t.publish();
                    }
                })
            };
            let r = run(&sh, &repo, &revision, files, &opts).await;
            ticker.abort();
            tracker.finish(r.as_ref().map(|_| ()));
            r
        });
        Job {
            progress: rx,
            paused: ptx,
            cancel,
            handle,
        }
    }

    /// The local snapshot path of a cached file, without any network access.
    pub fn cached_file(&self, repo: &str, revision: &str, path: &str) -> Option<PathBuf> {
        validate_repo_id(repo).ok()?;
        validate_repo_path(path).ok()?;
        validate_revision(revision).ok()?;
        let rc = RepoCache::new(&self.hub.cfg.cache_dir, repo);
        let commit = rc.read_ref(revision)?;
        let p = rc.pointer(&commit, path);
        std::fs::metadata(&p).is_ok().then_some(p)
    }

    /// All files of a repo revision with sizes and hashes (the listing API).
    pub async fn list_files(&self, repo: &str, revision: &str, opts: &Options) -> Result<Listing> {
        validate_repo_id(repo)?;
        validate_revision(revision)?;
        if self.hub.cfg.offline {
            return Err(Error::Offline(format!("the file list of {repo}")));
        }
        self.hub
            .list(
                repo,
                revision,
                policy(opts),
                &CancellationToken::new(),
                None,
            )
            .await
    }

    /// Re-hash cached files against the Hub's hashes (all cached files of the revision when
    /// `files` is empty).
    pub async fn verify<S: AsRef<str>>(
        &self,
        repo: &str,
        revision: &str,
        files: &[S],
        opts: &Options,
    ) -> Result<Vec<VerifyReport>> {
        validate_repo_id(repo)?;
        validate_revision(revision)?;
        let paths: Vec<String> = if files.is_empty() {
            self.list_files(repo, revision, opts)
                .await?
                .files
                .into_iter()
                .map(|f| f.path)
                .collect()
        } else {
            files.iter().map(|f| f.as_ref().to_string()).collect()
        };
        let cancel = CancellationToken::new();
        let mut out = Vec::new();
        for p in paths {
            validate_repo_path(&p)?;
            let local = self.cached_file(repo, revision, &p);
            let r: Resolved = self
                .hub
                .resolve(repo, revision, &p, policy(opts), &cancel, None)
                .await?;
            let exp = Expected::from_etag(&r.etag);
            let actual = match &local {
                Some(l) => {
                    let (l, e2) = (l.clone(), exp.clone());
                    let size = r.size;
                    Some(
                        tokio::task::spawn_blocking(move || verify::hash_file(&l, &e2, size))
                            .await
                            .map_err(Error::task("hash task"))??,
                    )
                }
                None => None,
            };
            let ok = actual.as_deref().is_some_and(|a| exp.hex() == Some(a));
            out.push(VerifyReport {
                path: p,
                local_path: local,
                expected: exp.hex().map(str::to_string),
                actual,
                ok,
            });
        }
        Ok(out)
    }

    /// What the cache holds, like `hf cache scan`: repos, revisions, sizes, partial
    /// downloads (and whether `prune` would delete them). File-system only (blocking).
    pub fn scan_cache(&self) -> Result<crate::CacheInfo> {
        crate::housekeeping::scan(
            &self.hub.cfg.cache_dir,
            crate::PruneOptions::default().older_than,
        )
    }

    /// Delete abandoned partial downloads and blobs no snapshot links to (see
    /// [`crate::prune`]); never a download that is running. File-system only (blocking).
    pub fn prune(&self, opts: &crate::PruneOptions) -> Result<crate::PruneReport> {
        crate::housekeeping::prune(&self.hub.cfg.cache_dir, opts)
    }

    /// Delete one model from the cache (the app's "Delete model"); refused while it is being
    /// downloaded. File-system only (blocking).
    pub fn delete_repo(&self, repo: &str, dry_run: bool) -> Result<crate::PruneReport> {
        crate::housekeeping::delete_repo(&self.hub.cfg.cache_dir, repo, dry_run)
    }

    /// Complete and partial files in the cache, with progress of partial ones (no network);
    /// a flat view of [`Client::scan_cache`].
    pub fn status(&self) -> Result<Vec<CacheEntryStatus>> {
        let mut out = Vec::new();
        for r in self.scan_cache()?.repos {
            for rev in &r.revisions {
                for f in &rev.files {
                    out.push(CacheEntryStatus {
                        repo: r.repo_id.clone(),
                        path: Some(f.path.clone()),
                        etag: f.etag.clone(),
                        size: f.size,
                        bytes_verified: f.size,
                        complete: true,
                        local_path: r.path.join("snapshots").join(&rev.commit).join(&f.path),
                    });
                }
            }
            for p in &r.partials {
                let (crate::PartialKind::Hubfetch, Some(size)) = (p.kind, p.size) else {
                    continue;
                };
                out.push(CacheEntryStatus {
                    repo: r.repo_id.clone(),
                    path: p.path.clone(),
                    etag: p.etag.clone(),
                    size,
                    bytes_verified: p.bytes_verified,
                    complete: false,
                    local_path: r
                        .path
                        .join("blobs")
                        .join(format!("{}.chunked.incomplete", p.etag)),
                });
            }
        }
        out.sort_by(|a, b| (&a.repo, &a.path).cmp(&(&b.repo, &b.path)));
        Ok(out)
    }
}

fn policy(o: &Options) -> RetryPolicy {
    RetryPolicy {
        base: o.backoff_base,
        cap: o.backoff_max.max(o.backoff_base),
        max_retries: o.max_retries,
        max_offline: None,
    }
}

async fn run(
    sh: &Arc<Shared>,
    repo: &str,
    revision: &str,
    files: Files,
    opts: &Options,
) -> Result<Vec<ResolvedFile>> {
    validate_repo_id(repo)?;
    validate_revision(revision)?;
    let hub = &sh.hub;
    let rc = RepoCache::new(&hub.cfg.cache_dir, repo);
    let tracker = sh.tracker.clone();
    tracker.set_phase(Phase::Resolving);
    let paths: Vec<String> = match files {
        Files::Some(v) => v,
        Files::All => list_or_cached(sh, &rc, repo, revision).await?,
    };
    for p in &paths {
        validate_repo_path(p)?;
    }
    // Resolve everything first so the totals are known.
    let mut plan: Vec<(String, Option<Resolved>, Option<PathBuf>)> = Vec::new();
    // Once the Hub proved unreachable, cached files are not asked about again (one bounded
    // wait per download, not one per file).
    let mut hub_down = false;
    // One revision per download: the branch is resolved to a commit once (by the first
    // file), and every other file is resolved, fetched, refreshed and repaired at that commit.
    let mut pinned: Option<String> = is_commit_hash(revision).then(|| revision.to_string());
    for p in &paths {
        let rev = pinned.clone().unwrap_or_else(|| revision.to_string());
        let cached = local_pointer(&rc, &rev, p);
        if let (true, Some(c)) = (hub_down, &cached) {
            plan.push((p.clone(), None, Some(c.clone())));
            continue;
        }
        if hub.cfg.offline || (is_commit_hash(revision) && cached.is_some()) {
            match cached {
                Some(c) => plan.push((p.clone(), None, Some(c))),
                None => return Err(Error::Offline(format!("{repo}/{p} at {revision}"))),
            }
            continue;
        }
        match resolve_or_cached(sh, &rc, repo, &rev, p, cached).await? {
            Ok(r) => {
                pinned.get_or_insert_with(|| r.commit.clone());
                plan.push((p.clone(), Some(r), None))
            }
            Err(c) => {
                hub_down = true;
                plan.push((p.clone(), None, Some(c)));
            }
        }
    }
    let mut idx = Vec::new();
    for (p, r, c) in &plan {
        let size = match (r, c) {
            (Some(r), _) => r.size,
            (None, Some(c)) => std::fs::metadata(c).map(|m| m.len()).unwrap_or(0),
            _ => 0,
        };
        idx.push(tracker.add_file(p, size));
    }
    let mut out = Vec::new();
    for (i, (p, r, c)) in plan.into_iter().enumerate() {
        let (fidx, bytes) = idx[i].clone();
        tracker.set_current(fidx);
        let Some(mut r) = r else {
            let local = c.ok_or_else(|| Error::Offline(p.clone()))?;
            let blob = std::fs::canonicalize(&local).unwrap_or_else(|_| local.clone());
            let etag = blob
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let size = std::fs::metadata(&blob).map(|m| m.len()).unwrap_or(0);
            // Never hand back a cached blob that was not verified (by us, or hashed now).
            let (rc2, e2, b2) = (rc.clone(), etag.clone(), blob.clone());
            let good = tokio::task::spawn_blocking(move || {
                crate::trust::blob_is_good(&rc2, &e2, &b2, size)
            })
            .await
            .map_err(Error::task("hash task"))??;
            if !good {
                return Err(Error::Corrupt(format!(
                    "the cached copy of {p} is damaged (it does not match its hash {etag}) and the Hub cannot be reached to repair it; connect to the internet and run again"
                )));
            }
            let commit = rc.read_ref(revision).unwrap_or_default();
            tracker.init_chunks(fidx, size, 0);
            tracker.file_done(fidx, Expected::from_etag(&etag).hex().map(str::to_string));
            let verified = Expected::from_etag(&etag) != Expected::Unknown;
            out.push(ResolvedFile {
                path: p,
                local_path: local,
                blob_path: blob,
                commit,
                etag,
                size,
                downloaded: false,
                verified,
            });
            continue;
        };
        let mut restarts = 0;
        let fetched = loop {
            match download_file(
                sh,
                &rc,
                repo,
                &r.commit.clone(),
                &p,
                &r,
                fidx,
                bytes.clone(),
                opts.chunk_size,
            )
            .await
            {
                Ok(f) => break f,
                Err(Fail::Err(e)) => return Err(e),
                Err(Fail::Changed(why)) => {
                    restarts += 1;
                    tracing::warn!(file = %p, why = %why, "the file changed on the Hub during the download: starting over with the new version");
                    let nr = hub
                        .resolve(repo, revision, &p, sh.policy, &sh.cancel, Some(&tracker))
                        .await?;
                    if restarts > 5 {
                        return Err(Error::Network {
                            what: format!("{p} keeps changing on the server; try again later"),
                            retries: restarts,
                            cause: crate::error::NetError::Transfer(why),
                        });
                    }
                    r = nr;
                }
            }
        };
        if !fetched.downloaded {
            tracker.init_chunks(fidx, r.size, 0);
        }
        tracker.file_done(fidx, Expected::from_etag(&r.etag).hex().map(str::to_string));
        out.push(ResolvedFile {
            path: p,
            local_path: fetched.pointer,
            blob_path: fetched.blob,
            commit: r.commit.clone(),
            etag: r.etag.clone(),
            size: r.size,
            downloaded: fetched.downloaded,
            verified: fetched.verified,
        });
    }
    one_snapshot(sh, &rc, repo, &mut out).await?;
    if let Some(f) = out
        .iter()
        .rev()
        .find(|f| f.downloaded || !f.commit.is_empty())
    {
        rc.write_ref(revision, &f.commit)?; // refs/{branch} at the end, once
    }
    Ok(out)
}

/// A file that changed upstream mid-download was restarted at the branch's new commit: link
/// the files fetched before it into that commit's snapshot too (when their content is the
/// same there), so the whole download is one `snapshots/{commit}` folder.
async fn one_snapshot(
    sh: &Shared,
    rc: &RepoCache,
    repo: &str,
    out: &mut [ResolvedFile],
) -> Result<()> {
    let Some(last) = out.last().map(|f| f.commit.clone()) else {
        return Ok(());
    };
    for f in out
        .iter_mut()
        .filter(|f| f.commit != last && !f.commit.is_empty())
    {
        let r = sh
            .hub
            .resolve(
                repo,
                &last,
                &f.path,
                sh.policy,
                &sh.cancel,
                Some(&sh.tracker),
            )
            .await?;
        if r.etag == f.etag {
            f.local_path = rc.link(&last, &f.path, &f.etag)?;
            f.commit = last.clone();
        } else {
            tracing::warn!(file = %f.path, "changed on the Hub during the download; run again for the new version");
        }
    }
    Ok(())
}

/// Transient failures tolerated when the Hub cannot be reached and nothing is cached: about
/// three ETag timeouts (plus backoff) before a clear "offline" error.
const OFFLINE_RETRIES: u32 = 2;

/// Resolve `path`; when the network fails and the file is complete in the cache for this
/// revision, the cached copy (`Err(pointer)`) with a warning, as `hf_hub_download` does. With
/// nothing cached: a partial download keeps retrying (as the data transfer does), otherwise a
/// clear `Error::Unreachable` after `OFFLINE_RETRIES`.
async fn resolve_or_cached(
    sh: &Shared,
    rc: &RepoCache,
    repo: &str,
    revision: &str,
    path: &str,
    cached: Option<PathBuf>,
) -> Result<Result<Resolved, PathBuf>> {
    let hub = &sh.hub;
    let mut policy = sh.policy;
    if cached.is_some() {
        policy.max_retries = Some(0);
    } else if !has_partial(rc, path) {
        policy.max_offline = Some(OFFLINE_RETRIES);
    }
    match hub
        .resolve(repo, revision, path, policy, &sh.cancel, Some(&sh.tracker))
        .await
    {
        Ok(r) => Ok(Ok(r)),
        Err(e @ (Error::Network { .. } | Error::Unreachable { .. })) => match (cached, e) {
            (Some(c), e) => {
                tracing::warn!(file = %path, error = %e, "the Hub is unreachable: using the cached copy");
                sh.tracker
                    .note_error(&format!("offline: using the cached copy ({e})"));
                Ok(Err(c))
            }
            (None, Error::Unreachable { reason, cause, .. }) => Err(Error::Unreachable {
                what: format!("{repo}/{path} at {revision}"),
                reason,
                cause,
            }),
            (None, e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// The files of `revision`: from the listing API, or, when the Hub cannot be reached, from the
/// cached snapshot folder of that revision (as `snapshot_download` falls back).
async fn list_or_cached(
    sh: &Shared,
    rc: &RepoCache,
    repo: &str,
    revision: &str,
) -> Result<Vec<String>> {
    let hub = &sh.hub;
    let snapshot = rc
        .read_ref(revision)
        .map(|c| rc.storage.join("snapshots").join(c))
        .filter(|d| d.is_dir());
    if hub.cfg.offline && snapshot.is_none() {
        return Err(Error::Offline(format!("the file list of {repo}")));
    }
    if let (true, Some(d)) = (hub.cfg.offline, &snapshot) {
        return Ok(files_under(d));
    }
    let mut policy = sh.policy;
    if snapshot.is_some() {
        policy.max_retries = Some(0);
    } else {
        policy.max_offline = Some(OFFLINE_RETRIES);
    }
    match hub
        .list(repo, revision, policy, &sh.cancel, Some(&sh.tracker))
        .await
    {
        Ok(l) => Ok(l.files.into_iter().map(|f| f.path).collect()),
        Err(e @ (Error::Network { .. } | Error::Unreachable { .. })) => match (snapshot, e) {
            (Some(d), e) => {
                tracing::warn!(error = %e, "the Hub is unreachable: using the cached snapshot's file list");
                Ok(files_under(&d))
            }
            (None, Error::Unreachable { reason, cause, .. }) => Err(Error::Unreachable {
                what: format!("the file list of {repo} at {revision}"),
                reason,
                cause,
            }),
            (None, e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Repo paths of the files (links) under a snapshot folder, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push((e.path(), rel));
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// True when one of our journals belongs to `path` (a download of it was started before).
fn has_partial(rc: &RepoCache, path: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(rc.storage.join("blobs")) else {
        return false;
    };
    rd.flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .ends_with(".chunked.journal")
            && Journal::load(&e.path()).is_some_and(|j| j.path == path)
    })
}

fn local_pointer(rc: &RepoCache, revision: &str, path: &str) -> Option<PathBuf> {
    let commit = rc.read_ref(revision)?;
    let p = rc.pointer(&commit, path);
    std::fs::metadata(&p).is_ok().then_some(p)
}
