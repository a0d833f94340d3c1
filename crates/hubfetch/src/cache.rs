//! The on-disk cache layout, identical to `huggingface_hub`:
//!
//! ```text
//! {HF_HUB_CACHE}/models--{org}--{name}/blobs/{etag}            complete, verified blob
//! {HF_HUB_CACHE}/models--{org}--{name}/snapshots/{commit}/{path} -> ../../blobs/{etag} (relative)
//! {HF_HUB_CACHE}/models--{org}--{name}/refs/{revision}          commit hash (no newline)
//! {HF_HUB_CACHE}/.locks/models--{org}--{name}/{etag}.lock       flock held while writing the blob
//! ```
//!
//! Partial files: `huggingface_hub` 2.4 writes to a process-unique `blobs/{etag}.{uuid8}.incomplete`
//! and deletes it on any failure (so there is never a partial file of its own to resume), while
//! older versions (<1.0) resumed `blobs/{etag}.incomplete` by *file length*, assuming a contiguous
//! prefix. Our partial file is preallocated to full length with holes, which such a resume would
//! misread, so we use our own names in the same folder: `blobs/{etag}.chunked.incomplete` and its
//! journal `blobs/{etag}.chunked.journal`. Both tools take the same `.locks/` file, so they never
//! write the same blob at once, and both check for the finished blob after taking the lock.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Reject repo file paths that could escape the snapshot folder (`..`, absolute, `.`, empty parts).
pub fn validate_repo_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        || Path::new(path)
            .components()
            .any(|c| !matches!(c, Component::Normal(_)));
    if bad {
        return Err(Error::InvalidPath(path.to_string()));
    }
    Ok(())
}

/// Reject repo ids that are not `name` or `org/name` with safe characters.
pub fn validate_repo_id(repo: &str) -> Result<()> {
    let parts: Vec<&str> = repo.split('/').collect();
    let ok = (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidPath(repo.to_string()))
    }
}

/// Revisions become file names under `refs/`; they may contain `/` (`refs/pr/1`) but not `..`.
pub fn validate_revision(rev: &str) -> Result<()> {
    if rev.is_empty()
        || rev.starts_with('/')
        || rev
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(Error::InvalidPath(rev.to_string()));
    }
    Ok(())
}

/// A full 40-hex commit hash (like `huggingface_hub.constants.REGEX_COMMIT_HASH`).
pub fn is_commit_hash(rev: &str) -> bool {
    rev.len() == 40
        && rev
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Paths of one repo inside the cache.
#[derive(Debug, Clone)]
pub struct RepoCache {
    /// The cache root (`HF_HUB_CACHE`).
    pub cache_dir: PathBuf,
    /// `models--{org}--{name}`: the repo's folder in the cache.
    pub storage: PathBuf,
    /// The folder's name alone (`models--{org}--{name}`).
    pub folder_name: String,
}

impl RepoCache {
    /// `models--org--name` under the cache dir.
    pub fn new(cache_dir: &Path, repo: &str) -> RepoCache {
        let folder_name = format!("models--{}", repo.replace('/', "--"));
        RepoCache {
            cache_dir: cache_dir.to_path_buf(),
            storage: cache_dir.join(&folder_name),
            folder_name,
        }
    }
    /// The finished blob.
    pub fn blob(&self, etag: &str) -> PathBuf {
        self.storage.join("blobs").join(etag)
    }
    /// Our partial file (see the module docs for why this name).
    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.storage
            .join("blobs")
            .join(format!("{etag}.chunked.incomplete"))
    }
    /// The journal beside the partial file.
    pub fn journal(&self, etag: &str) -> PathBuf {
        self.storage
            .join("blobs")
            .join(format!("{etag}.chunked.journal"))
    }
    /// The piece log beside the partial file (durable progress inside chunks).
    pub fn pieces(&self, etag: &str) -> PathBuf {
        self.storage
            .join("blobs")
            .join(format!("{etag}.chunked.pieces"))
    }
    /// The snapshot symlink users open.
    pub fn pointer(&self, commit: &str, path: &str) -> PathBuf {
        let mut p = self.storage.join("snapshots").join(commit);
        for seg in path.split('/') {
            p.push(seg);
        }
        p
    }
    /// `huggingface_hub`'s lock file for this blob.
    pub fn lock(&self, etag: &str) -> PathBuf {
        self.cache_dir
            .join(".locks")
            .join(&self.folder_name)
            .join(format!("{etag}.lock"))
    }
    /// `refs/{revision}`.
    pub fn ref_path(&self, revision: &str) -> PathBuf {
        let mut p = self.storage.join("refs");
        for seg in revision.split('/') {
            p.push(seg);
        }
        p
    }

    /// The commit a revision points to locally (commit hashes point to themselves).
    pub fn read_ref(&self, revision: &str) -> Option<String> {
        if is_commit_hash(revision) {
            return Some(revision.to_string());
        }
        let c = fs::read_to_string(self.ref_path(revision)).ok()?;
        let c = c.trim().to_string();
        (!c.is_empty()).then_some(c)
    }

    /// Record `refs/{revision}` = commit, atomically, only when it changed (as huggingface_hub).
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if revision == commit {
            return Ok(());
        }
        let p = self.ref_path(revision);
        if fs::read_to_string(&p).ok().as_deref() == Some(commit) {
            return Ok(());
        }
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let tmp = p.with_file_name(format!(
            "{}.{}.tmp",
            p.file_name().and_then(|n| n.to_str()).unwrap_or("ref"),
            std::process::id()
        ));
        fs::write(&tmp, commit).map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
        fs::rename(&tmp, &p).map_err(|e| Error::io(format!("rename {}", p.display()), e))?;
        Ok(())
    }

    /// Create the relative symlink `snapshots/{commit}/{path}` -> `../../blobs/{etag}`.
    pub fn link(&self, commit: &str, path: &str, etag: &str) -> Result<PathBuf> {
        let pointer = self.pointer(commit, path);
        let dir = pointer
            .parent()
            .ok_or_else(|| Error::InvalidPath(path.to_string()))?;
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let depth = path.split('/').count() + 1; // {commit}/ + path components - file
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(etag);
        if let Ok(existing) = fs::read_link(&pointer) {
            if existing == target {
                return Ok(pointer);
            }
        }
        if fs::symlink_metadata(&pointer).is_ok() {
            fs::remove_file(&pointer)
                .map_err(|e| Error::io(format!("replace {}", pointer.display()), e))?;
        }
        symlink(&target, &pointer)
            .map_err(|e| Error::io(format!("symlink {}", pointer.display()), e))?;
        Ok(pointer)
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("symlinks are only supported on unix"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_escaping_paths() {
        for bad in [
            "../x",
            "a/../b",
            "/etc/passwd",
            "a//b",
            "./a",
            "a/.",
            "",
            "a\\..\\b",
        ] {
            assert!(validate_repo_path(bad).is_err(), "{bad}");
        }
        for good in ["model.safetensors", "sub/dir/file.bin", "a..b"] {
            assert!(validate_repo_path(good).is_ok(), "{good}");
        }
        assert!(validate_repo_id("kyutai/moshiko-mlx-q4").is_ok());
        assert!(validate_repo_id("../x").is_err());
        assert!(validate_revision("refs/pr/1").is_ok());
        assert!(validate_revision("../main").is_err());
    }

    #[test]
    fn layout_and_relative_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rc = RepoCache::new(dir.path(), "org/name");
        assert!(rc.storage.ends_with("models--org--name"));
        std::fs::create_dir_all(rc.blob("e").parent().expect("parent")).expect("mkdir");
        std::fs::write(rc.blob("e"), b"hi").expect("write");
        let c = "0123456789abcdef0123456789abcdef01234567";
        let p = rc.link(c, "sub/f.txt", "e").expect("link");
        assert_eq!(
            std::fs::read_link(&p).expect("readlink"),
            Path::new("../../../blobs/e")
        );
        assert_eq!(std::fs::read(&p).expect("read"), b"hi");
        rc.write_ref("main", c).expect("ref");
        assert_eq!(rc.read_ref("main").as_deref(), Some(c));
        assert_eq!(rc.read_ref(c).as_deref(), Some(c));
    }
}
