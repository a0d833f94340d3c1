//! One file, end to end, as its phases: cache hit, lock, Xet, journal, disk space and
//! preallocation, restart re-hash, fetch (the chunk worker pool with in-order verification),
//! repair of a whole-file mismatch, and the commit (atomic move into the cache).

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::cache::RepoCache;
use crate::chunk::{run_chunks, Fail, FileJob, Shared};
use crate::error::{is_enospc, Error, Result};
use crate::journal::{chunk_count, chunk_range, sync_dir, Journal};
use crate::lock;
use crate::pieces::{self, PieceLog, Pieces};
use crate::progress::{ChunkState, Phase};
use crate::repair;
use crate::resolve::Resolved;
use crate::trust;
use crate::verify::{self, Expected, HeaderCheck, OrderedHasher, Prefix, Snapshots, Whole};
use crate::xet_path::{self, XetOutcome};

/// What `download_file` returns.
pub(crate) struct Fetched {
    pub pointer: PathBuf,
    pub blob: PathBuf,
    pub downloaded: bool,
    pub verified: bool,
}

/// One file being made present: who asks, where it goes, what it must hash to.
struct Target<'a> {
    sh: &'a Arc<Shared>,
    rc: &'a RepoCache,
    repo: &'a str,
    revision: &'a str,
    path: &'a str,
    resolved: &'a Resolved,
    fidx: usize,
    bytes: Arc<AtomicU64>,
    exp: Expected,
    blob: PathBuf,
    blobs_dir: PathBuf,
    /// `{etag}.chunked.incomplete`, `.journal`, `.pieces`.
    inc: PathBuf,
    jpath: PathBuf,
    ppath: PathBuf,
}

/// Make sure `resolved` is in the cache as a verified blob with its snapshot link.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn download_file(
    sh: &Arc<Shared>,
    rc: &RepoCache,
    repo: &str,
    revision: &str,
    path: &str,
    resolved: &Resolved,
    fidx: usize,
    bytes: Arc<AtomicU64>,
    chunk_size: u64,
) -> Result<Fetched, Fail> {
    let t = Target {
        sh,
        rc,
        repo,
        revision,
        path,
        resolved,
        fidx,
        bytes,
        exp: expected_hash(path, resolved)?,
        blob: rc.blob(&resolved.etag),
        blobs_dir: rc.storage.join("blobs"),
        inc: rc.incomplete(&resolved.etag),
        jpath: rc.journal(&resolved.etag),
        ppath: rc.pieces(&resolved.etag),
    };
    rc.write_ref(revision, &resolved.commit)?;
    if let Some(f) = t.cache_hit().await? {
        return Ok(f);
    }
    fs::create_dir_all(&t.blobs_dir)
        .map_err(|e| Error::io(format!("create {}", t.blobs_dir.display()), e))?;
    let _lock = t.lock().await?;
    if let Some(f) = t.cache_hit().await? {
        return Ok(f); // the other process finished it while we waited
    }
    if t.via_xet().await? {
        return t.publish().await;
    }
    t.sh.tracker.set_transport(fidx, "http");
    let (mut journal, resumed) = t.load_journal(chunk_size);
    let count = chunk_count(t.resolved.size, journal.chunk_size);
    t.sh.tracker
        .init_chunks(fidx, t.resolved.size, count as usize);
    let file = Arc::new(t.open_preallocated()?);
    let (good, prefix) = t.rehash_on_restart(&mut journal).await?;
    let fj = Arc::new(t.file_job(&journal, file.clone(), resumed, &good)?);
    if let Some(prob) = prefix.header_error.clone() {
        return Err(t.bad_header(&prob, &mut journal));
    }
    let (digest, snapshots) = t.fetch(&fj, &mut journal, &good, prefix).await?;
    if !digest
        .as_deref()
        .is_some_and(|d| verify::digest_ok(&t.exp, d))
    {
        t.repair(&fj, &mut journal, digest, &snapshots).await?;
    }
    // Durable, verified: move into place.
    let f2 = file.clone();
    tokio::task::spawn_blocking(move || f2.sync_all())
        .await
        .map_err(Error::task("sync task"))?
        .map_err(|e| Error::io(format!("fsync {}", t.inc.display()), e))?;
    drop(fj);
    drop(file);
    let _ = fs::remove_file(&t.ppath);
    t.publish().await
}

/// The hash the file must have; an unknown one is an error, not a pass.
fn expected_hash(path: &str, resolved: &Resolved) -> Result<Expected> {
    let exp = Expected::from_etag(&resolved.etag);
    if exp == Expected::Unknown {
        return Err(Error::Corrupt(format!(
            "{path}: the Hub gave no content hash (ETag {:?} is neither sha256 nor git sha1), so the file cannot be verified",
            resolved.etag
        )));
    }
    Ok(exp)
}

impl Target<'_> {
    /// Cache hit: a good blob is already there (verified by us, or hashed now); link it.
    async fn cache_hit(&self) -> Result<Option<Fetched>> {
        let r = self.resolved;
        if fs::metadata(&self.blob).is_err()
            || !cached_blob_ok(self.rc, &r.etag, &self.blob, r.size).await?
        {
            return Ok(None);
        }
        let p = self.rc.link(&r.commit, self.path, &r.etag)?;
        Ok(Some(Fetched {
            pointer: p,
            blob: self.blob.clone(),
            downloaded: false,
            verified: true,
        }))
    }

    /// Lock: one process per blob (the `.locks` file `huggingface_hub` uses too).
    async fn lock(&self) -> Result<lock::BlobLock> {
        let path = self.path;
        lock::acquire(&self.rc.lock(&self.resolved.etag), &self.sh.cancel, || {
            tracing::info!(
                file = path,
                "waiting for another process to finish this file"
            );
        })
        .await
    }

    /// Xet: read the file over the Xet protocol when the Hub offers it (true: it is in `inc`);
    /// a failure falls back to HTTP with its reason in the progress stream.
    async fn via_xet(&self) -> Result<bool, Fail> {
        let Expected::Sha256(sha) = &self.exp else {
            return Ok(false);
        };
        let http_partial = fs::metadata(&self.jpath).is_ok();
        let (sh, r) = (self.sh, self.resolved);
        match xet_path::fetch(
            sh,
            self.repo,
            r,
            sha,
            &self.inc,
            http_partial,
            self.fidx,
            &self.bytes,
        )
        .await?
        {
            XetOutcome::Done => Ok(true),
            XetOutcome::Failed(why) => {
                sh.tracker.note_xet_fallback(self.fidx, &why);
                let mut xj = self.inc.as_os_str().to_owned();
                xj.push(".xet-journal");
                let _ = fs::remove_file(PathBuf::from(xj));
                Ok(false)
            }
            XetOutcome::NotTried => Ok(false),
        }
    }

    /// Journal: the one on disk when it belongs to this very partial file, else a new one.
    /// Also says whether this is a resumed download.
    fn load_journal(&self, chunk_size: u64) -> (Journal, bool) {
        let (r, size) = (self.resolved, self.resolved.size);
        let loaded = Journal::load(&self.jpath).filter(|j| {
            j.etag == r.etag
                && j.size == size
                && fs::metadata(&self.inc).map(|m| m.len()).ok() == Some(size)
        });
        let resumed = loaded.is_some();
        let j = loaded.unwrap_or_else(|| {
            Journal::new(&r.etag, size, chunk_size, self.repo, self.path, &r.commit)
        });
        (j, resumed)
    }

    /// Disk space and preallocation: what is still to be allocated must fit; the partial
    /// file gets its full size up front.
    fn open_preallocated(&self) -> Result<File> {
        let (size, inc, dir) = (self.resolved.size, &self.inc, &self.blobs_dir);
        let allocated = allocated_bytes(inc);
        let need = size.saturating_sub(allocated);
        if need > 0 {
            if let Ok(free) = fs4::available_space(dir) {
                if free < need {
                    return Err(Error::DiskFull {
                        dir: dir.clone(),
                        need,
                        free,
                    });
                }
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(inc)
            .map_err(|e| Error::io(format!("open {}", inc.display()), e))?;
        let disk_full = |e: std::io::Error| -> Error {
            if is_enospc(&e) {
                let free = fs4::available_space(dir).unwrap_or(0);
                Error::DiskFull {
                    dir: dir.clone(),
                    need,
                    free,
                }
            } else {
                Error::io(format!("preallocate {}", inc.display()), e)
            }
        };
        if file.metadata().map(|m| m.len()).unwrap_or(0) != size {
            file.set_len(size).map_err(disk_full)?;
        }
        if size > 0 {
            if let Err(e) = fs4::FileExt::allocate(&file, size) {
                if is_enospc(&e) {
                    return Err(disk_full(e));
                }
                tracing::debug!(error = %e, "preallocation not supported; continuing with a sparse file");
            }
        }
        Ok(file)
    }

    /// Re-hash on restart: what the journal claims is hashed again (one pass, which also
    /// advances the whole-file hash over the leading good chunks); bad chunks are forgotten.
    async fn rehash_on_restart(&self, journal: &mut Journal) -> Result<(BTreeSet<u64>, Prefix)> {
        let (tracker, fidx, size) = (&self.sh.tracker, self.fidx, self.resolved.size);
        if journal.chunks.is_empty() {
            self.bytes.store(0, Ordering::Relaxed);
            journal.save(&self.jpath)?;
            let prefix = Prefix {
                whole: Whole::new(&self.exp, size),
                header: HeaderCheck::new(self.path),
                next: 0,
                header_error: None,
            };
            return Ok((BTreeSet::new(), prefix));
        }
        tracker.set_file_phase(fidx, Phase::Verifying);
        tracker.set_phase(Phase::Verifying);
        let (incp, j2, e2, p2) = (
            self.inc.clone(),
            journal.clone(),
            self.exp.clone(),
            self.path.to_string(),
        );
        let rescued =
            tokio::task::spawn_blocking(move || verify::rehash_journal(&incp, &j2, &e2, &p2))
                .await
                .map_err(Error::task("rehash task"))??;
        for b in &rescued.bad {
            journal.chunks.remove(b);
            tracker.set_chunk(fidx, *b, ChunkState::Failed);
        }
        if !rescued.bad.is_empty() {
            journal.save(&self.jpath)?;
        }
        let mut rescued_bytes = 0;
        for g in &rescued.good {
            tracker.set_chunk(fidx, *g, ChunkState::Verified);
            let (s, e) = chunk_range(size, journal.chunk_size, *g);
            rescued_bytes += e - s;
        }
        self.bytes.store(rescued_bytes, Ordering::Relaxed);
        tracing::info!(
            file = self.path,
            rescued = rescued.good.len(),
            refetch = rescued.bad.len(),
            "resuming from the journal"
        );
        Ok((rescued.good, rescued.prefix))
    }

    /// The shared state of the chunk workers, with the durable pieces of chunks that were in
    /// flight when the last run ended (re-hashed when their chunk is fetched); the piece log
    /// is compacted to exactly those.
    fn file_job(
        &self,
        journal: &Journal,
        file: Arc<File>,
        resumed: bool,
        good: &BTreeSet<u64>,
    ) -> Result<FileJob> {
        let (r, size, cs) = (self.resolved, self.resolved.size, journal.chunk_size);
        let mut resume: Pieces = if resumed {
            pieces::replay(&self.ppath, size, cs)
        } else {
            Default::default()
        };
        resume.retain(|c, _| !good.contains(c));
        if !resume.is_empty() {
            tracing::info!(
                file = self.path,
                chunks = resume.len(),
                bytes = resume
                    .values()
                    .flatten()
                    .map(|r| r.end - r.start)
                    .sum::<u64>(),
                "resuming partial chunks from their durable pieces"
            );
        }
        let piece_log = PieceLog::rewrite(&self.ppath, &resume)?;
        Ok(FileJob {
            repo: self.repo.to_string(),
            revision: self.revision.to_string(),
            path: self.path.to_string(),
            etag: r.etag.clone(),
            size,
            chunk_size: cs,
            url: RwLock::new(r.url.clone()),
            cdn_etag: Mutex::new(None),
            file,
            bytes: self.bytes.clone(),
            fidx: self.fidx,
            pieces: piece_log,
            resume: Mutex::new(resume),
        })
    }

    /// A malformed safetensors header: forget the header's chunk (so a transient corruption
    /// is fetched again next time) and stop early.
    fn bad_header(&self, prob: &str, journal: &mut Journal) -> Fail {
        journal.chunks.remove(&0);
        let _ = journal.save(&self.jpath);
        Fail::Err(Error::Corrupt(format!(
            "{} is not a valid safetensors file ({prob}); stopped early. If this repeats, the file on the Hub is broken or is not what the app expects",
            self.path
        )))
    }

    /// Fetch and verify: the missing chunks through the worker pool, each journalled once
    /// durable and fed to the in-order whole-file hasher. Returns the whole-file digest and
    /// the hash states at chunk starts (for a repair).
    async fn fetch(
        &self,
        fj: &Arc<FileJob>,
        journal: &mut Journal,
        good: &BTreeSet<u64>,
        prefix: Prefix,
    ) -> Result<(Option<String>, Snapshots), Fail> {
        let (tracker, fidx, size, cs) = (
            &self.sh.tracker,
            self.fidx,
            self.resolved.size,
            journal.chunk_size,
        );
        let count = chunk_count(size, cs);
        let first_next = prefix.next;
        let hasher = OrderedHasher::start(self.inc.clone(), size, cs, prefix)?;
        for g in good.iter().filter(|g| **g >= first_next) {
            hasher.ready(*g);
        }
        let todo: Vec<u64> = (0..count).filter(|i| !good.contains(i)).collect();
        tracker.set_file_phase(fidx, Phase::Downloading);
        tracker.set_phase(Phase::Downloading);
        let mut header_fail: Option<String> = None;
        let jpath = &self.jpath;
        let res = run_chunks(self.sh, fj, todo, |idx, done, prev| {
            // Chunks whose download needed retries (and the chunk fetched just before on a
            // connection that then failed): where a repair looks first, also after a relaunch.
            repair::note_faults(&mut journal.suspicion, idx, done.faults, prev);
            journal.chunks.insert(idx, done.sha);
            journal.save(jpath)?;
            tracker.set_chunk(fidx, idx, ChunkState::Verified);
            hasher.ready(idx);
            if let Some(p) = hasher.header_problem() {
                header_fail = Some(p);
                return Err(Fail::Err(Error::Other("malformed header".into())));
            }
            Ok(())
        })
        .await;
        if let Some(p) = header_fail {
            return Err(self.bad_header(&p, journal));
        }
        res?;
        tracker.set_file_phase(fidx, Phase::Verifying);
        tracker.set_phase(Phase::Verifying);
        let header_problem = hasher.header_error.clone();
        let (digest, snapshots) = hasher.finish().await?;
        if let Some(p) = header_problem.lock().clone() {
            return Err(self.bad_header(&p, journal));
        }
        Ok((digest, snapshots))
    }

    /// Repair a whole-file mismatch (see `repair`): Ok once the file matches.
    async fn repair(
        &self,
        fj: &Arc<FileJob>,
        journal: &mut Journal,
        digest: Option<String>,
        snapshots: &Snapshots,
    ) -> Result<(), Fail> {
        tracing::warn!(file = self.path, got = ?digest, want = ?self.exp.hex(), "whole-file hash mismatch");
        let cx = repair::Ctx {
            sh: self.sh,
            fj,
            jpath: &self.jpath,
            inc: &self.inc,
            exp: &self.exp,
            snapshots,
        };
        repair::repair(cx, journal).await
    }

    /// Commit: a verified `.incomplete` file (either transport) is synced and moved into the
    /// cache: blob, trust stamp, snapshot link, progress.
    async fn publish(&self) -> Result<Fetched, Fail> {
        let (r, inc) = (self.resolved, &self.inc);
        let i2 = inc.to_path_buf();
        tokio::task::spawn_blocking(move || File::open(&i2).and_then(|f| f.sync_all()))
            .await
            .map_err(Error::task("sync task"))?
            .map_err(|e| Error::io(format!("fsync {}", inc.display()), e))?;
        fs::rename(inc, &self.blob)
            .map_err(|e| Error::io(format!("move {} into the cache", inc.display()), e))?;
        sync_dir(&self.blobs_dir);
        let _ = fs::remove_file(&self.jpath);
        trust::stamp(self.rc, &r.etag, &self.blob);
        let p = self.rc.link(&r.commit, self.path, &r.etag)?;
        self.sh
            .tracker
            .file_done(self.fidx, self.exp.hex().map(str::to_string));
        Ok(Fetched {
            pointer: p,
            blob: self.blob.clone(),
            downloaded: true,
            verified: self.exp != Expected::Unknown,
        })
    }
}

/// A blob already in the cache is used only when it matches its hash (stamped by us, or
/// hashed now); a bad one is moved aside to `{etag}.corrupt` (kept, never handed back) and the
/// file is downloaded again.
async fn cached_blob_ok(rc: &RepoCache, etag: &str, blob: &Path, size: u64) -> Result<bool> {
    let (rc2, e2, b2) = (rc.clone(), etag.to_string(), blob.to_path_buf());
    let good = tokio::task::spawn_blocking(move || trust::blob_is_good(&rc2, &e2, &b2, size))
        .await
        .map_err(Error::task("hash task"))??;
    if !good {
        let aside = blob.with_extension("corrupt");
        fs::rename(blob, &aside)
            .map_err(|e| Error::io(format!("move {} aside", blob.display()), e))?;
    }
    Ok(good)
}

/// Bytes already allocated to a (sparse) file.
fn allocated_bytes(p: &Path) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(p).map(|m| m.blocks() * 512).unwrap_or(0)
    }
    #[cfg(not(unix))]
    {
        fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }
}
