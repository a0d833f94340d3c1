//! The Xet read's journal: one JSON line per term whose bytes are durable (`fdatasync` first),
//! appended and synced; a torn last line (crash mid-append) is ignored. Terms finish out of
//! order (several transfers run at once), so the journal holds any set of non-overlapping
//! terms. A relaunch re-hashes each journalled term's chunks from disk (bit rot and torn writes
//! are caught: that term alone is dropped), and the reader asks the reconstruction API only
//! from the first byte the journal lacks, keeping the journalled terms after it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use super::format::hash::{chunk_hash, XetHash};
use super::XetError;

/// One durable term.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct TermRecord {
    /// File offset of the term.
    pub offset: u64,
    /// Xorb hash (string form).
    pub xorb: String,
    /// Chunk range in the xorb.
    pub start: u64,
    pub end: u64,
    /// `(chunk hash, length)` of its chunks, in order.
    pub chunks: Vec<(String, u64)>,
    /// Whether its whole xorb matched the xorb hash.
    pub verified: bool,
}

impl TermRecord {
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(|c| c.1).sum()
    }

    pub fn hashes(&self) -> Option<Vec<(XetHash, u64)>> {
        self.chunks
            .iter()
            .map(|(h, l)| XetHash::from_hex(h).ok().map(|h| (h, *l)))
            .collect()
    }
}

/// Header line: which file the journal belongs to.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Head {
    file_hash: String,
    size: u64,
}

/// An open journal.
pub(crate) struct Journal {
    path: PathBuf,
    file: tokio::fs::File,
}

impl Journal {
    /// The journal of `out`.
    pub fn path_for(out: &Path) -> PathBuf {
        let mut p = out.as_os_str().to_owned();
        p.push(".xet-journal");
        PathBuf::from(p)
    }

    /// Opens (or starts) the journal; returns the durable terms (in file order, without
    /// overlaps), re-hashed from `data`.
    pub async fn open(
        path: &Path,
        data: &Path,
        file_hash: &XetHash,
        size: u64,
    ) -> Result<(Journal, Vec<TermRecord>), XetError> {
        let head = Head {
            file_hash: file_hash.hex(),
            size,
        };
        let mut records = Vec::new();
        if let Ok(text) = tokio::fs::read_to_string(path).await {
            let mut lines = text.lines();
            let same = lines
                .next()
                .and_then(|l| serde_json::from_str::<Head>(l).ok())
                .is_some_and(|h| h == head);
            if same {
                let mut by_offset = BTreeMap::new();
                for l in lines {
                    match serde_json::from_str::<TermRecord>(l) {
                        Ok(r) => {
                            by_offset.insert(r.offset, r);
                        }
                        Err(_) => break, // torn tail
                    }
                }
                records = non_overlapping(by_offset);
                records = recheck(data, records).await?;
            }
        }
        // Rewrite it with what survived (atomically), then append from there.
        let mut text =
            serde_json::to_string(&head).map_err(|e| XetError::Protocol(e.to_string()))?;
        text.push('\n');
        for r in &records {
            text.push_str(
                &serde_json::to_string(r).map_err(|e| XetError::Protocol(e.to_string()))?,
            );
            text.push('\n');
        }
        let tmp = path.with_extension("xet-journal.tmp");
        tokio::fs::write(&tmp, text.as_bytes())
            .await
            .map_err(XetError::Io)?;
        tokio::fs::File::open(&tmp)
            .await
            .map_err(XetError::Io)?
            .sync_all()
            .await
            .map_err(XetError::Io)?;
        tokio::fs::rename(&tmp, path).await.map_err(XetError::Io)?;
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .await
            .map_err(XetError::Io)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
            },
            records,
        ))
    }

    /// Appends a term (its bytes must already be durable) and syncs.
    pub async fn append(&mut self, r: &TermRecord) -> Result<(), XetError> {
        let mut line = serde_json::to_string(r).map_err(|e| XetError::Protocol(e.to_string()))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .await
            .map_err(XetError::Io)?;
        self.file.sync_data().await.map_err(XetError::Io)
    }

    /// Done: the file is complete and verified.
    pub async fn remove(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

/// The terms in file order, dropping any that overlaps the one before it.
fn non_overlapping(by_offset: BTreeMap<u64, TermRecord>) -> Vec<TermRecord> {
    let mut out: Vec<TermRecord> = Vec::new();
    let mut end = 0;
    for (off, r) in by_offset {
        if off < end {
            continue;
        }
        end = off + r.len();
        out.push(r);
    }
    out
}

/// Re-hashes each journalled term's chunks from disk; drops those that differ.
async fn recheck(data: &Path, records: Vec<TermRecord>) -> Result<Vec<TermRecord>, XetError> {
    let Ok(mut f) = tokio::fs::File::open(data).await else {
        return Ok(Vec::new());
    };
    let mut good = Vec::with_capacity(records.len());
    let mut buf = Vec::new();
    'terms: for r in records {
        let Some(hashes) = r.hashes() else { continue };
        f.seek(std::io::SeekFrom::Start(r.offset))
            .await
            .map_err(XetError::Io)?;
        for (h, len) in hashes {
            buf.resize(len as usize, 0);
            if f.read_exact(&mut buf).await.is_err() || chunk_hash(&buf) != h {
                tracing::info!(
                    offset = r.offset,
                    "xet: journalled term differs on disk, fetching it again"
                );
                continue 'terms;
            }
        }
        good.push(r);
    }
    Ok(good)
}
