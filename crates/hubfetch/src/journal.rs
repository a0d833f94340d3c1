//! The crash-safe record of verified chunks, kept beside the partial file.
//!
//! A chunk's SHA-256 is added only after its bytes were made durable (`fdatasync`), and the
//! journal itself is replaced atomically (write temp, fsync, rename, fsync dir), so after a
//! crash or `kill -9` the journal never claims bytes that are not on disk. On restart every
//! journalled chunk is re-hashed anyway, which also catches bit rot and torn writes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Journal format version; bump on incompatible changes (old journals are then ignored).
const VERSION: u32 = 1;

/// What we know about one partial blob.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    /// Journal format version (older ones still load).
    pub version: u32,
    /// The blob name (sha256 of LFS files, git sha1 otherwise).
    pub etag: String,
    /// The file's full size in bytes.
    pub size: u64,
    /// Bytes per chunk (the last one may be shorter).
    pub chunk_size: u64,
    /// For `hubfetch status`: which repo file this is.
    pub repo: String,
    /// The file's path in the repo.
    pub path: String,
    /// The commit the download is for (one revision per download).
    pub commit: String,
    /// chunk index -> sha256 hex of the chunk's bytes as written.
    pub chunks: BTreeMap<u64, String>,
    /// chunk index -> how suspect it is (retries, drops, refreshes while it was fetched): a
    /// repair looks at the most suspect chunks first, also after a relaunch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suspicion: BTreeMap<u64, u32>,
    /// A repair after a whole-file mismatch, so a relaunch continues it (see `repair`).
    #[serde(default, skip_serializing_if = "RepairState::is_empty")]
    pub repair: RepairState,
}

/// How far a repair got: which chunks two agreeing copies confirm, and the copies seen of
/// chunks still under a vote.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RepairState {
    /// chunk index -> the SHA-256 two agreeing copies (a majority) confirm: a repair does not
    /// fetch the chunk again while its journalled hash is this one.
    #[serde(default)]
    pub confirmed: BTreeMap<u64, String>,
    /// chunk index -> SHA-256 of every copy fetched so far (the first is the one the
    /// whole-file check failed with); the last is the one on disk.
    #[serde(default)]
    pub votes: BTreeMap<u64, Vec<String>>,
}

impl RepairState {
    /// No repair under way.
    pub fn is_empty(&self) -> bool {
        self.confirmed.is_empty() && self.votes.is_empty()
    }
}

impl Journal {
    /// A fresh, empty journal.
    pub fn new(
        etag: &str,
        size: u64,
        chunk_size: u64,
        repo: &str,
        path: &str,
        commit: &str,
    ) -> Self {
        Journal {
            version: VERSION,
            etag: etag.to_string(),
            size,
            chunk_size: chunk_size.max(1),
            repo: repo.to_string(),
            path: path.to_string(),
            commit: commit.to_string(),
            chunks: BTreeMap::new(),
            suspicion: BTreeMap::new(),
            repair: RepairState::default(),
        }
    }

    /// Load a journal; `None` when absent, unreadable or from another format version.
    pub fn load(path: &Path) -> Option<Journal> {
        let data = fs::read(path).ok()?;
        match serde_json::from_slice::<Journal>(&data) {
            Ok(j) if j.version == VERSION && j.chunk_size > 0 => Some(j),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable journal");
                None
            }
        }
    }

    /// Atomically replace the journal on disk (temp file + fsync + rename + dir fsync).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("journal.tmp");
        let data = serde_json::to_vec(self)
            .map_err(|e| Error::io("encode the journal", std::io::Error::other(e)))?;
        {
            let mut f = File::create(&tmp)
                .map_err(|e| Error::io(format!("create {}", tmp.display()), e))?;
            f.write_all(&data)
                .map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
            f.sync_all()
                .map_err(|e| Error::io(format!("fsync {}", tmp.display()), e))?;
        }
        fs::rename(&tmp, path).map_err(|e| Error::io(format!("rename {}", path.display()), e))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir);
        }
        Ok(())
    }

    /// Number of chunks of the file.
    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.size, self.chunk_size)
    }

    /// Byte range `[start, end)` of chunk `idx`.
    pub fn chunk_range(&self, idx: u64) -> (u64, u64) {
        chunk_range(self.size, self.chunk_size, idx)
    }
}

/// Number of chunks of `size` bytes split in `chunk_size` pieces (a 0-byte file has none).
pub fn chunk_count(size: u64, chunk_size: u64) -> u64 {
    size.div_ceil(chunk_size.max(1))
}

/// Byte range `[start, end)` of chunk `idx`.
pub fn chunk_range(size: u64, chunk_size: u64, idx: u64) -> (u64, u64) {
    let start = idx.saturating_mul(chunk_size).min(size);
    (start, start.saturating_add(chunk_size).min(size))
}

/// fsync a directory so a rename in it is durable (best effort).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_roundtrip_and_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.journal");
        let mut j = Journal::new("abc", 100, 30, "o/r", "f.bin", "c0");
        assert_eq!(j.chunk_count(), 4);
        assert_eq!(j.chunk_range(3), (90, 100));
        j.chunks.insert(1, "deadbeef".into());
        j.save(&p).expect("save");
        assert_eq!(Journal::load(&p), Some(j.clone()));
        // A repair's progress survives a reload; a journal without one (older) still loads.
        j.suspicion.insert(2, 3);
        j.repair.confirmed.insert(0, "a".into());
        j.repair.votes.insert(1, vec!["a".into(), "b".into()]);
        j.save(&p).expect("save");
        assert_eq!(Journal::load(&p), Some(j));
        std::fs::write(
            &p,
            br#"{"version":1,"etag":"e","size":1,"chunkSize":1,"repo":"o/r","path":"f","commit":"c","chunks":{}}"#,
        )
        .expect("write");
        assert!(Journal::load(&p).is_some_and(|j| j.repair.is_empty()));
        assert!(!p.with_extension("journal.tmp").exists());
        std::fs::write(&p, b"{not json").expect("write");
        assert_eq!(Journal::load(&p), None);
        assert_eq!(chunk_count(0, 30), 0);
    }
}
