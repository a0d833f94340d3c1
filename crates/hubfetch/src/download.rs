//! One file, end to end: lock, journal, preallocation, restart re-hash, the chunk worker pool,
//! in-order verification, repair of bad chunks, and the atomic move into the cache.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cache::RepoCache;
use crate::chunk::{fetch_chunk, ChunkDone, Fail, FileJob, Shared};
use crate::error::{is_enospc, Error, Result};
use crate::journal::{chunk_count, chunk_range, sync_dir, Journal};
use crate::lock;
use crate::pieces::{self, PieceLog};
use crate::progress::{ChunkState, Phase};
use crate::resolve::Resolved;
use crate::trust;
use crate::verify::{self, Expected, HeaderCheck, OrderedHasher, Prefix, Whole};
use crate::xet_path::{self, XetOutcome};

/// Run `indices` through up to `connections` workers; `on_done` sees each finished chunk with
/// the chunk the same worker finished before it (if any).
async fn run_chunks(
    sh: &Arc<Shared>,
    fj: &Arc<FileJob>,
    indices: Vec<u64>,
    mut on_done: impl FnMut(u64, ChunkDone, Option<u64>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    if indices.is_empty() {
        return Ok(());
    }
    let queue = Arc::new(Mutex::new(indices.into_iter().collect::<VecDeque<u64>>()));
    let n = sh
        .limiter
        .max
        .min(queue.lock().map(|q| q.len()).unwrap_or(1))
        .max(1);
    let (tx, mut rx) = mpsc::channel::<(u64, Result<ChunkDone, Fail>, Option<u64>)>(n);
    let mut set = JoinSet::new();
    for w in 0..n {
        let (sh, fj, queue, tx) = (sh.clone(), fj.clone(), queue.clone(), tx.clone());
        set.spawn(async move {
            let mut prev = None;
            loop {
                // Fewer connections after bursts of resets.
                while w >= sh.limiter.allowed.load(Ordering::Relaxed) {
                    if queue.lock().map(|q| q.is_empty()).unwrap_or(true) {
                        return;
                    }
                    tokio::select! {
                        _ = sh.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                let Some(idx) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    return;
                };
                sh.tracker.set_chunk(fj.fidx, idx, ChunkState::InFlight);
                let r = fetch_chunk(&sh, &fj, idx).await;
                let stop = r.is_err();
                if tx.send((idx, r, prev)).await.is_err() || stop {
                    return;
                }
                prev = Some(idx);
            }
        });
    }
    drop(tx);
    while let Some((idx, r, prev)) = rx.recv().await {
        match r {
            Ok(done) => on_done(idx, done, prev)?,
            Err(f) => {
                sh.tracker.set_chunk(fj.fidx, idx, ChunkState::Failed);
                set.abort_all();
                return Err(f);
            }
        }
    }
    if sh.cancel.is_cancelled() {
        return Err(Fail::Err(Error::Cancelled));
    }
    Ok(())
}

/// What `download_file` returns.
pub(crate) struct Fetched {
    pub pointer: PathBuf,
    pub blob: PathBuf,
    pub downloaded: bool,
    pub verified: bool,
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
    let exp = Expected::from_etag(&resolved.etag);
    if exp == Expected::Unknown {
        // An unknown expected hash is an error, not a pass.
        return Err(Error::Corrupt(format!(
            "{path}: the Hub gave no content hash (ETag {:?} is neither sha256 nor git sha1), so the file cannot be verified",
            resolved.etag
        ))
        .into());
    }
    let blob = rc.blob(&resolved.etag);
    rc.write_ref(revision, &resolved.commit)?;
    if fs::metadata(&blob).is_ok()
        && cached_blob_ok(rc, &resolved.etag, &blob, resolved.size).await?
    {
        let p = rc.link(&resolved.commit, path, &resolved.etag)?;
        return Ok(Fetched {
            pointer: p,
            blob,
            downloaded: false,
            verified: true,
        });
    }
    let blobs_dir = rc.storage.join("blobs");
    fs::create_dir_all(&blobs_dir)
        .map_err(|e| Error::io(format!("create {}", blobs_dir.display()), e))?;
    let tracker = sh.tracker.clone();
    let _lock = lock::acquire(&rc.lock(&resolved.etag), &sh.cancel, || {
        tracing::info!(
            file = path,
            "waiting for another process to finish this file"
        );
    })
    .await?;
    if fs::metadata(&blob).is_ok()
        && cached_blob_ok(rc, &resolved.etag, &blob, resolved.size).await?
    {
        // The other process finished it while we waited.
        let p = rc.link(&resolved.commit, path, &resolved.etag)?;
        return Ok(Fetched {
            pointer: p,
            blob,
            downloaded: false,
            verified: true,
        });
    }

    let inc = rc.incomplete(&resolved.etag);
    let jpath = rc.journal(&resolved.etag);
    let size = resolved.size;
    if let Expected::Sha256(sha) = &exp {
        let http_partial = fs::metadata(&jpath).is_ok();
        match xet_path::fetch(sh, repo, resolved, sha, &inc, http_partial, fidx, &bytes).await? {
            XetOutcome::Done => {
                return publish(
                    rc, resolved, path, &inc, &blobs_dir, &jpath, fidx, &tracker, &exp,
                )
                .await;
            }
            XetOutcome::Failed(why) => {
                tracker.note_xet_fallback(fidx, &why);
                let mut xj = inc.as_os_str().to_owned();
                xj.push(".xet-journal");
                let _ = fs::remove_file(PathBuf::from(xj));
            }
            XetOutcome::NotTried => {}
        }
    }
    tracker.set_transport(fidx, "http");
    let loaded = Journal::load(&jpath).filter(|j| {
        j.etag == resolved.etag
            && j.size == size
            && fs::metadata(&inc).map(|m| m.len()).ok() == Some(size)
    });
    let resumed = loaded.is_some();
    let mut journal = loaded.unwrap_or_else(|| {
        Journal::new(
            &resolved.etag,
            size,
            chunk_size,
            repo,
            path,
            &resolved.commit,
        )
    });
    let cs = journal.chunk_size;
    let count = chunk_count(size, cs);
    tracker.init_chunks(fidx, size, count as usize);

    // Disk space: what is still to be allocated must fit.
    let allocated = allocated_bytes(&inc);
    let need = size.saturating_sub(allocated);
    if need > 0 {
        if let Ok(free) = fs4::available_space(&blobs_dir) {
            if free < need {
                return Err(Error::DiskFull {
                    dir: blobs_dir,
                    need,
                    free,
                }
                .into());
            }
        }
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&inc)
        .map_err(|e| Error::io(format!("open {}", inc.display()), e))?;
    let disk_full = |e: std::io::Error, free_dir: &std::path::Path| -> Error {
        if is_enospc(&e) {
            let free = fs4::available_space(free_dir).unwrap_or(0);
            Error::DiskFull {
                dir: free_dir.to_path_buf(),
                need: size.saturating_sub(allocated),
                free,
            }
        } else {
            Error::io(format!("preallocate {}", inc.display()), e)
        }
    };
    if file.metadata().map(|m| m.len()).unwrap_or(0) != size {
        file.set_len(size).map_err(|e| disk_full(e, &blobs_dir))?;
    }
    if size > 0 {
        if let Err(e) = fs4::FileExt::allocate(&file, size) {
            if is_enospc(&e) {
                return Err(disk_full(e, &blobs_dir).into());
            }
            tracing::debug!(error = %e, "preallocation not supported; continuing with a sparse file");
        }
    }
    let file = Arc::new(file);

    // Restart: re-hash what the journal claims.
    let mut prefix = Prefix {
        whole: Whole::new(&exp, size),
        header: HeaderCheck::new(path),
        next: 0,
        header_error: None,
    };
    let mut good = BTreeSet::new();
    if !journal.chunks.is_empty() {
        tracker.set_file_phase(fidx, Phase::Verifying);
        tracker.set_phase(Phase::Verifying);
        let (incp, j2, e2, p2) = (inc.clone(), journal.clone(), exp.clone(), path.to_string());
        let rescued =
            tokio::task::spawn_blocking(move || verify::rehash_journal(&incp, &j2, &e2, &p2))
                .await
                .map_err(|e| Error::Other(format!("rehash task: {e}")))??;
        for b in &rescued.bad {
            journal.chunks.remove(b);
            tracker.set_chunk(fidx, *b, ChunkState::Failed);
        }
        if !rescued.bad.is_empty() {
            journal.save(&jpath)?;
        }
        let mut rescued_bytes = 0;
        for g in &rescued.good {
            tracker.set_chunk(fidx, *g, ChunkState::Verified);
            let (s, e) = chunk_range(size, cs, *g);
            rescued_bytes += e - s;
        }
        bytes.store(rescued_bytes, Ordering::Relaxed);
        tracing::info!(
            file = path,
            rescued = rescued.good.len(),
            refetch = rescued.bad.len(),
            "resuming from the journal"
        );
        good = rescued.good;
        prefix = rescued.prefix;
    } else {
        bytes.store(0, Ordering::Relaxed);
        journal.save(&jpath)?;
    }

    // Durable pieces of chunks that were in flight when the last run ended (re-hashed when
    // their chunk is fetched); the log is compacted to exactly those.
    let ppath = rc.pieces(&resolved.etag);
    let mut resume = if resumed {
        pieces::replay(&ppath, size, cs)
    } else {
        Default::default()
    };
    resume.retain(|c, _| !good.contains(c));
    if !resume.is_empty() {
        tracing::info!(
            file = path,
            chunks = resume.len(),
            bytes = resume
                .values()
                .flatten()
                .map(|r| r.end - r.start)
                .sum::<u64>(),
            "resuming partial chunks from their durable pieces"
        );
    }
    let piece_log = PieceLog::rewrite(&ppath, &resume)?;
    let fj = Arc::new(FileJob {
        repo: repo.to_string(),
        revision: revision.to_string(),
        path: path.to_string(),
        etag: resolved.etag.clone(),
        size,
        chunk_size: cs,
        url: RwLock::new(resolved.url.clone()),
        cdn_etag: Mutex::new(None),
        file: file.clone(),
        bytes: bytes.clone(),
        fidx,
        pieces: piece_log,
        resume: Mutex::new(resume),
    });

    let header_chunks = |prob: &str, journal: &mut Journal| -> Fail {
        // Forget the header's chunk so a transient corruption is fetched again next time.
        journal.chunks.remove(&0);
        let _ = journal.save(&jpath);
        Fail::Err(Error::Corrupt(format!(
            "{path} is not a valid safetensors file ({prob}); stopped early. If this repeats, the file on the Hub is broken or is not what the app expects"
        )))
    };
    if let Some(prob) = prefix.header_error.clone() {
        return Err(header_chunks(&prob, &mut journal));
    }
    let first_next = prefix.next;
    let hasher = OrderedHasher::start(inc.clone(), size, cs, prefix)?;
    for g in good.iter().filter(|g| **g >= first_next) {
        hasher.ready(*g);
    }
    let todo: Vec<u64> = (0..count).filter(|i| !good.contains(i)).collect();
    tracker.set_file_phase(fidx, Phase::Downloading);
    tracker.set_phase(Phase::Downloading);
    let mut header_fail: Option<String> = None;
    // Chunks whose download needed retries (and the chunk fetched just before on a connection
    // that then failed): where a repair looks first.
    let mut suspicion: BTreeMap<u64, u32> = BTreeMap::new();
    let res = run_chunks(sh, &fj, todo, |idx, done, prev| {
        note_faults(&mut suspicion, idx, done.faults, prev);
        journal.chunks.insert(idx, done.sha);
        journal.save(&jpath)?;
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
        return Err(header_chunks(&p, &mut journal));
    }
    res?;
    tracker.set_file_phase(fidx, Phase::Verifying);
    tracker.set_phase(Phase::Verifying);
    let header_problem = hasher.header_error.clone();
    let (digest, snapshots) = hasher.finish().await?;
    if let Some(p) = header_problem.lock().ok().and_then(|g| g.clone()) {
        return Err(header_chunks(&p, &mut journal));
    }
    let mut ok = digest
        .as_deref()
        .is_some_and(|d| verify::digest_ok(&exp, d));

    if !ok {
        // Locate and repair: re-fetch chunks in batches, compare with the journal, re-check.
        tracing::warn!(file = path, got = ?digest, want = ?exp.hex(), "whole-file hash mismatch: locating the bad chunk");
        let r = sh
            .hub
            .resolve(repo, revision, path, sh.policy, &sh.cancel, Some(&tracker))
            .await?;
        if r.etag != resolved.etag || r.size != size {
            return Err(Fail::Changed(format!("now {} ({} bytes)", r.etag, r.size)));
        }
        tracker.set_file_phase(fidx, Phase::Repairing);
        tracker.set_phase(Phase::Repairing);
        // One chunk per connection at a time, suspects first; re-check after any batch that
        // replaced a differing chunk, from the whole-file hash state saved at that chunk.
        let batch = sh.limiter.max.max(1);
        let order = repair_order(count, &suspicion);
        tracing::info!(
            file = path,
            suspects = suspicion.len(),
            "repair order: chunks with faults first"
        );
        let mut first_changed: Option<u64> = None;
        for ids in order.chunks(batch) {
            if ok {
                break;
            }
            let ids = ids.to_vec();
            let old: BTreeMap<u64, Option<String>> =
                ids.iter().map(|i| (*i, journal.chunks.remove(i))).collect();
            journal.save(&jpath)?;
            let mut differed = 0u32;
            for i in &ids {
                let (s, e) = chunk_range(size, cs, *i);
                bytes.fetch_sub(
                    (e - s).min(bytes.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
                tracker.set_chunk(fidx, *i, ChunkState::Pending);
            }
            run_chunks(sh, &fj, ids.clone(), |idx, done, _| {
                let sha = done.sha;
                if old.get(&idx).and_then(|o| o.as_deref()) != Some(sha.as_str()) {
                    tracing::warn!(
                        file = path,
                        chunk = idx,
                        "repaired a chunk whose fresh copy differs"
                    );
                    differed += 1;
                    first_changed = Some(first_changed.map_or(idx, |f| f.min(idx)));
                }
                journal.chunks.insert(idx, sha);
                journal.save(&jpath)?;
                tracker.set_chunk(fidx, idx, ChunkState::Verified);
                Ok(())
            })
            .await?;
            if differed > 0 {
                let (incp, e2) = (inc.clone(), exp.clone());
                let from = first_changed.and_then(|c| snapshots.get(&c).map(|w| (c, w.clone())));
                let d = tokio::task::spawn_blocking(move || match from {
                    Some((c, w)) => verify::hash_from(&incp, w, chunk_range(size, cs, c).0, size),
                    None => verify::hash_file(&incp, &e2, size),
                })
                .await
                .map_err(|e| Error::Other(format!("hash task: {e}")))??;
                ok = verify::digest_ok(&exp, &d);
            }
        }
        if !ok {
            return Err(Fail::Err(Error::Corrupt(format!(
                "{path}: every chunk was fetched again and the file still does not match the Hub's hash {}; the file on the server is damaged. Partial data kept in {}",
                exp.hex().unwrap_or("?"),
                inc.display()
            ))));
        }
    }

    // Durable, verified: move into place.
    let f2 = file.clone();
    tokio::task::spawn_blocking(move || f2.sync_all())
        .await
        .map_err(|e| Error::Other(format!("sync task: {e}")))?
        .map_err(|e| Error::io(format!("fsync {}", inc.display()), e))?;
    drop(fj);
    drop(file);
    let _ = fs::remove_file(&ppath);
    publish(
        rc, resolved, path, &inc, &blobs_dir, &jpath, fidx, &tracker, &exp,
    )
    .await
}

/// A verified, synced `.incomplete` file (either transport) moved into the cache: blob,
/// trust stamp, snapshot link, progress.
#[allow(clippy::too_many_arguments)]
async fn publish(
    rc: &RepoCache,
    resolved: &Resolved,
    path: &str,
    inc: &std::path::Path,
    blobs_dir: &std::path::Path,
    jpath: &std::path::Path,
    fidx: usize,
    tracker: &crate::progress::Tracker,
    exp: &Expected,
) -> Result<Fetched, Fail> {
    let i2 = inc.to_path_buf();
    tokio::task::spawn_blocking(move || fs::File::open(&i2).and_then(|f| f.sync_all()))
        .await
        .map_err(|e| Error::Other(format!("sync task: {e}")))?
        .map_err(|e| Error::io(format!("fsync {}", inc.display()), e))?;
    let blob = rc.blob(&resolved.etag);
    fs::rename(inc, &blob)
        .map_err(|e| Error::io(format!("move {} into the cache", inc.display()), e))?;
    sync_dir(blobs_dir);
    let _ = fs::remove_file(jpath);
    trust::stamp(rc, &resolved.etag, &blob);
    let p = rc.link(&resolved.commit, path, &resolved.etag)?;
    tracker.file_done(fidx, exp.hex().map(str::to_string));
    Ok(Fetched {
        pointer: p,
        blob,
        downloaded: true,
        verified: *exp != Expected::Unknown,
    })
}

/// A blob already in the cache is used only when it matches its hash (stamped by us, or
/// hashed now); a bad one is moved aside to `{etag}.corrupt` (kept, never handed back) and the
/// file is downloaded again.
async fn cached_blob_ok(
    rc: &RepoCache,
    etag: &str,
    blob: &std::path::Path,
    size: u64,
) -> Result<bool> {
    let (rc2, e2, b2) = (rc.clone(), etag.to_string(), blob.to_path_buf());
    let good = tokio::task::spawn_blocking(move || trust::blob_is_good(&rc2, &e2, &b2, size))
        .await
        .map_err(|e| Error::Other(format!("hash task: {e}")))??;
    if !good {
        let aside = blob.with_extension("corrupt");
        fs::rename(blob, &aside)
            .map_err(|e| Error::io(format!("move {} aside", blob.display()), e))?;
    }
    Ok(good)
}

/// Record a finished chunk's faults: the chunk itself (weighted), and the chunk the same
/// connection finished just before it (its bytes came over a link that then failed).
fn note_faults(suspicion: &mut BTreeMap<u64, u32>, idx: u64, faults: u32, prev: Option<u64>) {
    if faults == 0 {
        return;
    }
    *suspicion.entry(idx).or_default() += 2 * faults;
    if let Some(p) = prev {
        *suspicion.entry(p).or_default() += 1;
    }
}

/// The order in which a repair re-fetches chunks: the most suspect first (ties by index),
/// then every other chunk in file order. Each chunk appears exactly once.
fn repair_order(count: u64, suspicion: &BTreeMap<u64, u32>) -> Vec<u64> {
    let mut suspects: Vec<(u64, u32)> = suspicion
        .iter()
        .filter(|(i, s)| **i < count && **s > 0)
        .map(|(i, s)| (*i, *s))
        .collect();
    suspects.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut order: Vec<u64> = suspects.iter().map(|(i, _)| *i).collect();
    order.extend((0..count).filter(|i| suspicion.get(i).is_none_or(|s| *s == 0)));
    order
}

/// Bytes already allocated to a (sparse) file.
fn allocated_bytes(p: &std::path::Path) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_order_puts_suspects_first_and_covers_every_chunk_once() {
        let mut s = BTreeMap::new();
        note_faults(&mut s, 7, 1, Some(3)); // 7 retried once; 3 came over that connection before
        note_faults(&mut s, 5, 3, None); // 5 retried three times
        note_faults(&mut s, 2, 0, Some(1)); // no faults: nothing recorded
        note_faults(&mut s, 99, 1, None); // beyond the file: ignored
        let order = repair_order(10, &s);
        assert_eq!(
            order,
            vec![5, 7, 99, 3, 0, 1, 2, 4, 6, 8, 9]
                .into_iter()
                .filter(|i| *i < 10)
                .collect::<Vec<_>>()
        );
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(repair_order(4, &BTreeMap::new()), vec![0, 1, 2, 3]);
    }
}
