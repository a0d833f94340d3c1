//! Housekeeping of the cache, without network: what is there ([`scan`], like `hf cache
//! scan`), what can go ([`prune`]: abandoned partial downloads, blobs no snapshot links to),
//! and removing one repo ([`delete_repo`], the app's "Delete model"). Reads the layout of
//! `huggingface_hub` (so it sees files of both tools) plus our partial files.
//!
//! A partial download is **abandoned** (and pruned) when it cannot matter any more: its blob
//! is complete; it has no journal to resume from (`huggingface_hub` 2.x never resumes its
//! `{etag}.{id}.incomplete` files); it is older than `PruneOptions::older_than`; or the
//! revision it was for now links another version of that file. A partial whose lock is held
//! (a download running now, ours or `huggingface_hub`'s) is never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fs4::FileExt;

use crate::error::{Error, Result};
use crate::journal::Journal;

/// Everything in one cache folder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheInfo {
    /// The cache folder (`HF_HUB_CACHE`).
    pub dir: PathBuf,
    /// Repos, sorted by id.
    pub repos: Vec<RepoInfo>,
    /// Bytes of all repos (blobs, partials, leftovers).
    pub size_on_disk: u64,
    /// Folders that are not repos, or repos that cannot be read.
    pub warnings: Vec<String>,
}

/// One repo of the cache (`models--org--name`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepoInfo {
    /// `org/name`.
    pub repo_id: String,
    /// `model`, `dataset` or `space`.
    pub repo_type: String,
    /// The repo folder.
    pub path: PathBuf,
    /// Complete blobs (their length, as `hf cache scan` counts) plus the space partial and
    /// leftover files take.
    pub size_on_disk: u64,
    /// Distinct complete blobs.
    pub nb_files: usize,
    /// Revisions (snapshot folders), newest first.
    pub revisions: Vec<RevisionInfo>,
    /// Partial downloads (ours and `huggingface_hub`'s) and leftovers (`.corrupt`).
    pub partials: Vec<PartialInfo>,
    /// Complete blobs no snapshot links to.
    pub unreferenced: Vec<BlobInfo>,
    /// Newest modification of anything in it.
    pub last_modified: Option<SystemTime>,
}

/// One snapshot (commit) of a repo.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevisionInfo {
    /// The commit hash (the snapshot folder's name).
    pub commit: String,
    /// Refs (`main`, tags) that point to it.
    pub refs: Vec<String>,
    /// Its files.
    pub files: Vec<CachedFile>,
    /// Bytes of its distinct blobs.
    pub size_on_disk: u64,
    /// When the snapshot folder last changed.
    pub last_modified: Option<SystemTime>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachedFile {
    /// Path inside the repo.
    pub path: String,
    /// The blob it links to.
    pub blob_path: PathBuf,
    /// The blob's name (sha256 or git sha1).
    pub etag: String,
    /// Bytes (0 when the link is broken).
    pub size: u64,
}

/// A blob of `blobs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlobInfo {
    /// Its path.
    pub path: PathBuf,
    /// Its name.
    pub etag: String,
    /// Bytes.
    pub size: u64,
}

/// Who left a partial file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PartialKind {
    /// Ours: `{etag}.chunked.incomplete` with its journal and piece log.
    Hubfetch,
    /// `huggingface_hub`'s `{etag}[.{id}].incomplete`.
    HuggingfaceHub,
    /// A blob we moved aside because it did not match its hash (`{etag}.corrupt`).
    Corrupt,
}

/// A partial download (or leftover) and why it could be pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartialInfo {
    /// Who left it.
    pub kind: PartialKind,
    /// The blob it is becoming.
    pub etag: String,
    /// The repo path (known from our journal).
    pub path: Option<String>,
    /// The file's full size (known from our journal).
    pub size: Option<u64>,
    /// Bytes already verified (chunks in our journal).
    pub bytes_verified: u64,
    /// Bytes its files take on disk.
    pub size_on_disk: u64,
    /// Every file that belongs to it.
    pub files: Vec<PathBuf>,
    /// When it was last written.
    pub last_modified: Option<SystemTime>,
    /// A download holds its lock right now.
    pub active: bool,
    /// Why `prune` would delete it (None: it is kept).
    pub abandoned: Option<String>,
}

/// What `prune` deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneOptions {
    /// Only say what would go.
    pub dry_run: bool,
    /// A partial untouched for this long is abandoned (default 30 days).
    pub older_than: Duration,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            older_than: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// What `prune` or `delete_repo` deleted (or would delete, with `dry_run`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PruneReport {
    /// Files and folders removed, with why.
    pub removed: Vec<(PathBuf, String)>,
    /// Bytes freed.
    pub freed: u64,
    /// Nothing was deleted: this is what would be.
    pub dry_run: bool,
}

const PREFIXES: [(&str, &str); 3] = [
    ("models--", "model"),
    ("datasets--", "dataset"),
    ("spaces--", "space"),
];

/// Scan the cache folder `dir` (no network; a missing folder is an empty cache).
pub fn scan(dir: &Path, older_than: Duration) -> Result<CacheInfo> {
    let mut info = CacheInfo {
        dir: dir.to_path_buf(),
        ..CacheInfo::default()
    };
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(info),
        Err(e) => return Err(Error::io(format!("read {}", dir.display()), e)),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        let Some((prefix, kind)) = PREFIXES.iter().find(|(p, _)| name.starts_with(p)) else {
            info.warnings
                .push(format!("{name}: not a repo folder (ignored)"));
            continue;
        };
        let repo_id = name[prefix.len()..].replacen("--", "/", 1);
        match scan_repo(dir, &e.path(), &name, &repo_id, kind, older_than) {
            Ok(r) => info.repos.push(r),
            Err(err) => info.warnings.push(format!("{name}: {err}")),
        }
    }
    info.repos.sort_by(|a, b| a.repo_id.cmp(&b.repo_id));
    info.size_on_disk = info.repos.iter().map(|r| r.size_on_disk).sum();
    Ok(info)
}

fn scan_repo(
    cache: &Path,
    path: &Path,
    folder: &str,
    repo_id: &str,
    repo_type: &str,
    older_than: Duration,
) -> Result<RepoInfo> {
    let refs = read_refs(&path.join("refs"));
    let mut revisions = Vec::new();
    let mut linked: BTreeSet<String> = BTreeSet::new();
    let mut last: Option<SystemTime> = None;
    let snaps = path.join("snapshots");
    if let Ok(rd) = fs::read_dir(&snaps) {
        for s in rd.flatten().filter(|s| s.path().is_dir()) {
            let commit = s.file_name().to_string_lossy().to_string();
            let files = snapshot_files(&s.path());
            let mut seen = BTreeSet::new();
            let size_on_disk = files
                .iter()
                .filter(|f| seen.insert(f.etag.clone()))
                .map(|f| f.size)
                .sum();
            linked.extend(files.iter().map(|f| f.etag.clone()));
            let modified = mtime(&s.path());
            last = last.max(modified);
            revisions.push(RevisionInfo {
                refs: refs
                    .iter()
                    .filter(|(_, c)| **c == commit)
                    .map(|(r, _)| r.clone())
                    .collect(),
                commit,
                files,
                size_on_disk,
                last_modified: modified,
            });
        }
    }
    revisions.sort_by(|a, b| {
        b.last_modified
            .cmp(&a.last_modified)
            .then(a.commit.cmp(&b.commit))
    });
    let blobs_dir = path.join("blobs");
    let mut blobs: BTreeMap<String, BlobInfo> = BTreeMap::new();
    let mut groups: BTreeMap<(String, PartialKind), Vec<PathBuf>> = BTreeMap::new();
    let mut size_on_disk = 0u64;
    if let Ok(rd) = fs::read_dir(&blobs_dir) {
        for b in rd.flatten() {
            let name = b.file_name().to_string_lossy().to_string();
            let p = b.path();
            last = last.max(mtime(&p));
            match classify_blob_file(&name) {
                Some(BlobFile::Blob) => {
                    // Blobs count by length, as `hf cache scan` counts them.
                    let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    size_on_disk += size;
                    blobs.insert(
                        name.clone(),
                        BlobInfo {
                            path: p,
                            etag: name,
                            size,
                        },
                    );
                }
                Some(BlobFile::Part(etag, kind)) => {
                    size_on_disk += disk_bytes(&p);
                    groups.entry((etag, kind)).or_default().push(p)
                }
                None => size_on_disk += disk_bytes(&p),
            }
        }
    }
    let locks = cache.join(".locks").join(folder);
    let mut partials = Vec::new();
    for ((etag, kind), mut files) in groups {
        files.sort();
        partials.push(partial_info(
            etag, kind, files, &blobs, &locks, path, older_than,
        ));
    }
    let unreferenced = blobs
        .values()
        .filter(|b| !linked.contains(&b.etag))
        .cloned()
        .collect();
    Ok(RepoInfo {
        repo_id: repo_id.to_string(),
        repo_type: repo_type.to_string(),
        path: path.to_path_buf(),
        size_on_disk,
        nb_files: blobs.len(),
        revisions,
        partials,
        unreferenced,
        last_modified: last,
    })
}

enum BlobFile {
    Blob,
    Part(String, PartialKind),
}

fn is_hash(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a file name in `blobs/` is.
fn classify_blob_file(name: &str) -> Option<BlobFile> {
    if is_hash(name) {
        return Some(BlobFile::Blob);
    }
    let (etag, rest) = name.split_once('.')?;
    if !is_hash(etag) {
        return None;
    }
    let kind = if rest.starts_with("chunked.") {
        PartialKind::Hubfetch
    } else if rest == "corrupt" {
        PartialKind::Corrupt
    } else if rest.ends_with("incomplete") {
        PartialKind::HuggingfaceHub
    } else {
        return None;
    };
    Some(BlobFile::Part(etag.to_string(), kind))
}

#[allow(clippy::too_many_arguments)]
fn partial_info(
    etag: String,
    kind: PartialKind,
    files: Vec<PathBuf>,
    blobs: &BTreeMap<String, BlobInfo>,
    locks: &Path,
    repo_dir: &Path,
    older_than: Duration,
) -> PartialInfo {
    let journal = files
        .iter()
        .find(|f| f.to_string_lossy().ends_with(".chunked.journal"))
        .and_then(|j| Journal::load(j));
    let last_modified = files.iter().filter_map(|f| mtime(f)).max();
    let active = kind != PartialKind::Corrupt && lock_held(&locks.join(format!("{etag}.lock")));
    let bytes_verified = journal
        .as_ref()
        .map(|j| {
            j.chunks
                .keys()
                .map(|i| {
                    let (s, e) = j.chunk_range(*i);
                    e - s
                })
                .sum()
        })
        .unwrap_or(0);
    let age = last_modified.and_then(|t| SystemTime::now().duration_since(t).ok());
    let abandoned = if active {
        None
    } else if blobs.contains_key(&etag) {
        Some("the file is complete in the cache".to_string())
    } else if kind == PartialKind::Corrupt {
        Some("a damaged copy moved aside".to_string())
    } else if kind == PartialKind::HuggingfaceHub {
        // huggingface_hub 2.x deletes its partial file on failure and never resumes it; old
        // versions resumed `{etag}.incomplete`, so that one goes only when old.
        let resumable = files
            .iter()
            .any(|f| f.ends_with(format!("{etag}.incomplete")));
        if !resumable {
            Some("a huggingface_hub partial file, which it never resumes".to_string())
        } else if age.is_some_and(|a| a > older_than) {
            Some(format!(
                "untouched for {} days",
                age.map_or(0, |a| a.as_secs() / 86400)
            ))
        } else {
            None
        }
    } else {
        match &journal {
            None => Some("no journal to resume from".to_string()),
            Some(_) if age.is_some_and(|a| a > older_than) => Some(format!(
                "untouched for {} days",
                age.map_or(0, |a| a.as_secs() / 86400)
            )),
            Some(j) => superseded(repo_dir, j, &etag),
        }
    };
    PartialInfo {
        kind,
        path: journal.as_ref().map(|j| j.path.clone()),
        size: journal.as_ref().map(|j| j.size),
        etag,
        bytes_verified,
        size_on_disk: files.iter().map(|f| disk_bytes(f)).sum(),
        files,
        last_modified,
        active,
        abandoned,
    }
}

/// The partial was for `j.path` at `j.commit`; when every ref that pointed there (or the
/// repo's refs, if none does any more) now has another version of that file complete, the
/// partial is not needed.
fn superseded(repo_dir: &Path, j: &Journal, etag: &str) -> Option<String> {
    let refs = read_refs(&repo_dir.join("refs"));
    if refs.values().any(|c| *c == j.commit) || refs.is_empty() {
        return None;
    }
    let newer = refs.iter().find_map(|(r, c)| {
        let link = repo_dir.join("snapshots").join(c).join(&j.path);
        let target = fs::read_link(&link).ok()?;
        let name = target.file_name()?.to_string_lossy().to_string();
        (name != etag && fs::metadata(&link).is_ok()).then(|| r.clone())
    })?;
    Some(format!(
        "{newer} now has another version of {} in the cache",
        j.path
    ))
}

/// Prune the cache folder `dir`: abandoned partials and unreferenced blobs (with their
/// stamps and free locks). Active downloads are never touched.
pub fn prune(dir: &Path, opts: &PruneOptions) -> Result<PruneReport> {
    let info = scan(dir, opts.older_than)?;
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        ..PruneReport::default()
    };
    for r in &info.repos {
        let folder = r
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let locks = dir.join(".locks").join(&folder);
        for p in &r.partials {
            let Some(why) = &p.abandoned else { continue };
            // Take the lock while deleting, so a download cannot start on it meanwhile.
            let guard = (p.kind != PartialKind::Corrupt)
                .then(|| try_lock(&locks.join(format!("{}.lock", p.etag))))
                .flatten();
            if p.kind != PartialKind::Corrupt && guard.is_none() && !opts.dry_run {
                continue; // became active since the scan
            }
            for f in &p.files {
                remove(&mut report, f, why, opts.dry_run)?;
            }
        }
        for b in &r.unreferenced {
            let Some(_guard) = try_lock(&locks.join(format!("{}.lock", b.etag))) else {
                continue;
            };
            remove(
                &mut report,
                &b.path,
                "no snapshot links to it",
                opts.dry_run,
            )?;
            let stamp = r.path.join(".hubfetch").join("verified").join(&b.etag);
            if stamp.exists() {
                remove(&mut report, &stamp, "stamp of a removed blob", opts.dry_run)?;
            }
        }
    }
    Ok(report)
}

/// Delete repo `repo_id` (a model by default: `models--org--name`) from the cache folder
/// `dir`: its blobs, snapshots, refs, partials and locks. Refused while a download of it holds
/// a lock. The app's "Delete model".
pub fn delete_repo(dir: &Path, repo_id: &str, dry_run: bool) -> Result<PruneReport> {
    crate::cache::validate_repo_id(repo_id)?;
    let folder = format!("models--{}", repo_id.replace('/', "--"));
    let path = dir.join(&folder);
    let locks_dir = dir.join(".locks").join(&folder);
    let mut report = PruneReport {
        dry_run,
        ..PruneReport::default()
    };
    if !path.exists() {
        return Err(Error::NotFound(crate::error::Refusal::new(
            format!("{repo_id} is not in the cache at {}", dir.display()),
            None,
        )));
    }
    // Hold every lock of the repo while deleting: none may be in use.
    let mut guards = Vec::new();
    if let Ok(rd) = fs::read_dir(&locks_dir) {
        for l in rd.flatten() {
            match try_lock(&l.path()) {
                Some(g) => guards.push(g),
                None => {
                    return Err(Error::Io {
                        context: format!(
                            "cannot delete {repo_id}: it is being downloaded right now ({} is locked); stop the download first",
                            l.path().display()
                        ),
                        source: std::io::Error::from(std::io::ErrorKind::ResourceBusy),
                    })
                }
            }
        }
    }
    let size = dir_bytes(&path);
    report.removed.push((path.clone(), "the repo".to_string()));
    report.freed = size;
    if !dry_run {
        fs::remove_dir_all(&path)
            .map_err(|e| Error::io(format!("delete {}", path.display()), e))?;
        drop(guards);
        let _ = fs::remove_dir_all(&locks_dir);
    }
    Ok(report)
}

fn remove(report: &mut PruneReport, p: &Path, why: &str, dry_run: bool) -> Result<()> {
    let bytes = disk_bytes(p);
    if !dry_run {
        match fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("delete {}", p.display()), e)),
        }
    }
    report.freed += bytes;
    report.removed.push((p.to_path_buf(), why.to_string()));
    Ok(())
}

/// `refs/**` → commit.
fn read_refs(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if e.path().is_dir() {
                stack.push((e.path(), rel));
            } else if let Ok(c) = fs::read_to_string(e.path()) {
                out.insert(rel, c.trim().to_string());
            }
        }
    }
    out
}

/// The files (links) of a snapshot folder with their blobs.
fn snapshot_files(dir: &Path) -> Vec<CachedFile> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push((p, rel));
                continue;
            }
            let blob_path = fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            let etag = fs::read_link(&p)
                .ok()
                .and_then(|t| t.file_name().map(|n| n.to_string_lossy().to_string()))
                .unwrap_or_default();
            let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            out.push(CachedFile {
                path: rel,
                blob_path,
                etag,
                size,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::symlink_metadata(p).and_then(|m| m.modified()).ok()
}

/// Bytes a file takes on disk (allocated blocks; the length where blocks are not known).
fn disk_bytes(p: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(p) else {
        return 0;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        md.blocks() * 512
    }
    #[cfg(not(unix))]
    {
        md.len()
    }
}

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            } else {
                total += disk_bytes(&p);
            }
        }
    }
    total
}

/// The lock file is held by someone now.
fn lock_held(p: &Path) -> bool {
    let Ok(f) = fs::OpenOptions::new().read(true).write(true).open(p) else {
        return false; // no lock file: nobody holds it
    };
    matches!(FileExt::try_lock(&f), Err(fs4::TryLockError::WouldBlock))
}

/// Take the lock now if free (creating its file), else None.
fn try_lock(p: &Path) -> Option<fs::File> {
    if let Some(d) = p.parent() {
        let _ = fs::create_dir_all(d);
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .ok()?;
    FileExt::try_lock(&f).ok().map(|_| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_file_names() {
        let sha = "a".repeat(64);
        assert!(matches!(classify_blob_file(&sha), Some(BlobFile::Blob)));
        for (n, k) in [
            (format!("{sha}.chunked.incomplete"), PartialKind::Hubfetch),
            (format!("{sha}.chunked.journal"), PartialKind::Hubfetch),
            (
                format!("{sha}.chunked.incomplete.xet-journal"),
                PartialKind::Hubfetch,
            ),
            (
                format!("{sha}.1a2b3c4d.incomplete"),
                PartialKind::HuggingfaceHub,
            ),
            (format!("{sha}.incomplete"), PartialKind::HuggingfaceHub),
            (format!("{sha}.corrupt"), PartialKind::Corrupt),
        ] {
            match classify_blob_file(&n) {
                Some(BlobFile::Part(e, kind)) => assert!(e == sha && kind == k, "{n}"),
                _ => panic!("{n}"),
            }
        }
        assert!(classify_blob_file("notes.txt").is_none());
    }
}
