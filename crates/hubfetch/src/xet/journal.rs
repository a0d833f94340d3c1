//! The Xet read's journal: one JSON line per term whose bytes are durable (`fdatasync` first),
//! appended and synced; a torn last line (crash mid-append) is ignored. Terms finish out of
//! order (several transfers run at once), so the journal holds any set of non-overlapping
//! terms. A relaunch re-hashes each journalled term's chunks from disk (bit rot and torn writes
//! are caught: that term alone is dropped), and the reader asks the reconstruction API only
//! from the first byte the journal lacks, keeping the journalled terms after it.
//!
//! Memory: a 15 GB file's journal holds ~230 000 chunk hashes (~20 MB of text). It is read
//! and rewritten line by line, and the hashes are kept as 32 bytes each, not as hex strings,
//! so a relaunch stays within the reader's memory bound (peak RSS < 100 MB, issue 11).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use super::format::hash::{chunk_hash, XetHash};
use super::XetError;

/// One durable term.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct TermRecord {
    /// File offset of the term.
    pub offset: u64,
    /// Xorb hash (string form).
    pub xorb: String,
    /// Chunk range in the xorb.
    pub start: u64,
    pub end: u64,
    /// `(chunk hash, length)` of its chunks, in order (hex strings in the file).
    #[serde(serialize_with = "chunks_as_hex")]
    pub chunks: Vec<(XetHash, u64)>,
    /// Whether its whole xorb matched the xorb hash.
    pub verified: bool,
}

impl TermRecord {
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(|c| c.1).sum()
    }
}

/// A journal line as written: the chunk hashes in their string form. Parsed one line at a
/// time and turned into a [`TermRecord`] at once.
#[derive(Deserialize)]
struct LineRecord {
    offset: u64,
    xorb: String,
    start: u64,
    end: u64,
    chunks: Vec<(String, u64)>,
    verified: bool,
}

impl LineRecord {
    /// `None` when a chunk hash is not a Xet hash (that term alone is dropped).
    fn into_record(self) -> Option<TermRecord> {
        let chunks = self
            .chunks
            .iter()
            .map(|(h, l)| XetHash::from_hex(h).ok().map(|h| (h, *l)))
            .collect::<Option<Vec<_>>>()?;
        Some(TermRecord {
            offset: self.offset,
            xorb: self.xorb,
            start: self.start,
            end: self.end,
            chunks,
            verified: self.verified,
        })
    }
}

fn chunks_as_hex<S: Serializer>(chunks: &[(XetHash, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(chunks.iter().map(|(h, l)| (h.hex(), *l)))
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
        let records = match read_records(path, &head).await? {
            Some(by_offset) => recheck(data, non_overlapping(by_offset)).await?,
            None => Vec::new(),
        };
        // Rewrite it with what survived (atomically), then append from there.
        let tmp = path.with_extension("xet-journal.tmp");
        write_records(&tmp, &head, &records).await?;
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

/// The journal's terms by offset, read line by line; `None` when there is no journal or it
/// belongs to another file. A line that does not parse ends the journal (a torn tail).
async fn read_records(
    path: &Path,
    head: &Head,
) -> Result<Option<BTreeMap<u64, TermRecord>>, XetError> {
    let Ok(file) = tokio::fs::File::open(path).await else {
        return Ok(None);
    };
    let mut lines = tokio::io::BufReader::new(file).lines();
    let same = match lines.next_line().await {
        Ok(Some(l)) => serde_json::from_str::<Head>(&l).is_ok_and(|h| h == *head),
        _ => false,
    };
    if !same {
        return Ok(None);
    }
    let mut by_offset = BTreeMap::new();
    // A read error (e.g. invalid UTF-8 in a torn tail) ends the journal like a bad line.
    while let Ok(Some(l)) = lines.next_line().await {
        let Ok(line) = serde_json::from_str::<LineRecord>(&l) else {
            break; // torn tail
        };
        if let Some(r) = line.into_record() {
            by_offset.insert(r.offset, r);
        }
    }
    Ok(Some(by_offset))
}

/// Writes `head` and `records` to `path`, one line each, and syncs it.
async fn write_records(path: &Path, head: &Head, records: &[TermRecord]) -> Result<(), XetError> {
    let file = tokio::fs::File::create(path).await.map_err(XetError::Io)?;
    let mut out = tokio::io::BufWriter::new(file);
    let head = serde_json::to_string(head).map_err(|e| XetError::Protocol(e.to_string()))?;
    write_line(&mut out, head).await?;
    for r in records {
        let line = serde_json::to_string(r).map_err(|e| XetError::Protocol(e.to_string()))?;
        write_line(&mut out, line).await?;
    }
    out.flush().await.map_err(XetError::Io)?;
    out.into_inner().sync_all().await.map_err(XetError::Io)
}

async fn write_line(
    out: &mut tokio::io::BufWriter<tokio::fs::File>,
    mut line: String,
) -> Result<(), XetError> {
    line.push('\n');
    out.write_all(line.as_bytes()).await.map_err(XetError::Io)
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
        f.seek(std::io::SeekFrom::Start(r.offset))
            .await
            .map_err(XetError::Io)?;
        for &(h, len) in &r.chunks {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A data file of `sizes` chunks (chunk `i` is `i` repeated) and the record of each chunk.
    fn chunks(dir: &Path, sizes: &[usize]) -> (PathBuf, Vec<TermRecord>) {
        let data = dir.join("model.bin");
        let mut bytes = Vec::new();
        let mut records = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let chunk = vec![i as u8; n];
            records.push(TermRecord {
                offset: bytes.len() as u64,
                xorb: format!("{:064x}", i),
                start: 0,
                end: 1,
                chunks: vec![(chunk_hash(&chunk), n as u64)],
                verified: i % 2 == 0,
            });
            bytes.extend_from_slice(&chunk);
        }
        std::fs::write(&data, bytes).expect("write data");
        (data, records)
    }

    async fn journal_with(data: &Path, records: &[TermRecord]) -> PathBuf {
        let path = Journal::path_for(data);
        let size = std::fs::metadata(data).expect("data").len();
        let (mut j, kept) = Journal::open(&path, data, &XetHash::default(), size)
            .await
            .expect("open");
        assert!(kept.is_empty(), "a new journal holds nothing");
        for r in records {
            j.append(r).await.expect("append");
        }
        path
    }

    async fn reopen(path: &Path, data: &Path) -> Vec<TermRecord> {
        let size = std::fs::metadata(data).expect("data").len();
        Journal::open(path, data, &XetHash::default(), size)
            .await
            .expect("reopen")
            .1
    }

    #[tokio::test]
    async fn journalled_terms_survive_a_relaunch_with_their_hashes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, records) = chunks(dir.path(), &[100, 7, 4096]);
        let path = journal_with(&data, &records).await;
        assert_eq!(reopen(&path, &data).await, records);
        // The rewrite keeps them too, and keeps the string form of the hashes on disk.
        assert_eq!(reopen(&path, &data).await, records);
        let text = std::fs::read_to_string(&path).expect("journal");
        assert!(text.contains(&records[2].chunks[0].0.hex()), "{text}");
    }

    #[tokio::test]
    async fn a_torn_tail_and_a_bad_hash_lose_only_their_own_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, records) = chunks(dir.path(), &[10, 20, 30]);
        let path = journal_with(&data, &records).await;
        let text = std::fs::read_to_string(&path).expect("journal");
        let bad = text.replace(&records[0].chunks[0].0.hex(), "not-a-hash");
        std::fs::write(&path, format!("{bad}{{\"offset\": 60, \"xo")).expect("write");
        assert_eq!(reopen(&path, &data).await, records[1..].to_vec());
    }

    #[tokio::test]
    async fn a_term_whose_bytes_changed_on_disk_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, records) = chunks(dir.path(), &[10, 20, 30]);
        let path = journal_with(&data, &records).await;
        let mut bytes = std::fs::read(&data).expect("data");
        bytes[15] ^= 1;
        std::fs::write(&data, bytes).expect("write");
        let kept = reopen(&path, &data).await;
        assert_eq!(kept, vec![records[0].clone(), records[2].clone()]);
    }

    #[tokio::test]
    async fn a_journal_of_another_file_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, records) = chunks(dir.path(), &[10, 20]);
        let path = journal_with(&data, &records).await;
        let size = std::fs::metadata(&data).expect("data").len();
        let other = XetHash([1; 32]);
        let (_, kept) = Journal::open(&path, &data, &other, size)
            .await
            .expect("open");
        assert!(kept.is_empty());
    }
}
