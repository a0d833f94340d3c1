//! Durable progress inside a chunk: the piece log.
//!
//! Between two syncs a record is appended unsynced every [`PIECE_RECORD_BYTES`] or
//! [`PIECE_RECORD_TIME`], so a SIGKILL (data and records both in the page cache) loses at most
//! that much per connection; the
//! XXH3 check on restart makes an unsynced record that outlived its data (power loss) harmless.
//!
//! A chunk (8 MiB by default, 32 MiB before) takes ~13 min at 87 KB/s over 8 connections, so a chunk-level
//! journal loses everything in flight on a quit, crash or sleep-kill. While a chunk streams in,
//! every [`PIECE_MAX_BYTES`] or [`PIECE_MAX_TIME`] (whichever comes first) the bytes received
//! since the last piece are made durable (`fdatasync`), then a line recording the piece's range
//! and its XXH3-64 hash is appended to `blobs/{etag}.chunked.pieces` and synced. A SIGKILL
//! thus loses at most about one piece per connection.
//!
//! On restart the log is replayed: for every chunk not complete in the journal, the
//! contiguous run of pieces from the chunk's start is re-hashed from disk **once** (XXH3 check
//! of the piece, and the same bytes feed the chunk's SHA-256) and kept; fetching resumes after
//! it. XXH3 only guards against torn writes and bit rot; the file's identity stays the Hub's
//! SHA-256 (whole-file hash).
//!
//! Format (text, one record a line, a torn last line is ignored):
//! `P {chunk} {start} {end} {xxh3 hex}` a durable piece `[start, end)` of `chunk`;
//! `R {chunk} {from}` the chunk is (re)fetched from `from`: forget its pieces beyond it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use twox_hash::XxHash3_64;

use crate::error::{Error, Result};
use crate::journal::{chunk_range, sync_dir};

/// Received bytes are made durable (`fdatasync`, then the log synced) after this many bytes ...
pub const PIECE_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// ... or after this long, whichever comes first.
pub const PIECE_MAX_TIME: Duration = Duration::from_millis(500);
/// Between two syncs a record is appended (not synced) every this many bytes: after a SIGKILL
/// (the app quit, a crash; not a power loss) both the data and these records are in the page
/// cache, so a restart keeps all but the last `PIECE_RECORD_BYTES` of each transfer. After a
/// power loss an unsynced record may outlive its data: its XXH3 check fails on restart and
/// the piece is fetched again, so the records need no sync to be safe.
pub const PIECE_RECORD_BYTES: u64 = 64 * 1024;
/// ... or every this long when a connection is slower than `PIECE_RECORD_BYTES` per
/// `PIECE_RECORD_TIME` (a weak link: 64 KiB took 0.13 s at 500 kB/s a connection, 0.6 s at
/// 100 kB/s), so a SIGKILL loses about this much transfer time per connection, not 64 KiB.
pub const PIECE_RECORD_TIME: Duration = Duration::from_millis(20);
/// ... and as soon as no new byte came for this long after the last unrecorded ones (the
/// link paused between two reads): on a slow link every read is recorded about this long
/// after it, so a SIGKILL loses little more than the bytes in flight (the weak-link bench
/// lost 0-4 pacer chunks of 10 kB a kill with the 20 ms rule alone: at 2 connections of
/// 500 kB/s the reads came ~20 ms apart and about half of them were left unrecorded).
pub const PIECE_RECORD_IDLE: Duration = Duration::from_millis(2);

/// One durable piece of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceRecord {
    /// The chunk the piece belongs to.
    pub chunk: u64,
    /// Absolute file offsets `[start, end)`.
    pub start: u64,
    /// See `start`.
    pub end: u64,
    /// XXH3-64 of the bytes.
    pub hash: u64,
}

/// XXH3-64 of `data` (the piece hash).
pub fn piece_hash(data: &[u8]) -> u64 {
    XxHash3_64::oneshot(data)
}

/// A streaming piece hash.
#[derive(Clone)]
pub(crate) struct PieceHasher(XxHash3_64);

impl PieceHasher {
    pub(crate) fn new() -> PieceHasher {
        PieceHasher(XxHash3_64::with_seed(0))
    }
    pub(crate) fn update(&mut self, b: &[u8]) {
        self.0.write(b);
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// Pieces per chunk: for each chunk, the contiguous run from the chunk's start.
pub type Pieces = BTreeMap<u64, Vec<PieceRecord>>;

/// Read the log at `path` (absent or unreadable: no pieces), keeping per chunk of a file of
/// `size` bytes in `chunk_size` chunks only the contiguous run from its start.
pub fn replay(path: &Path, size: u64, chunk_size: u64) -> Pieces {
    let mut out: Pieces = BTreeMap::new();
    let Ok(text) = fs::read(path) else {
        return out;
    };
    let text = String::from_utf8_lossy(&text);
    for line in text.split_inclusive('\n') {
        let Some(line) = line.strip_suffix('\n') else {
            break; // torn last line
        };
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["P", c, s, e, h] => {
                let (Ok(chunk), Ok(start), Ok(end), Ok(hash)) = (
                    c.parse::<u64>(),
                    s.parse::<u64>(),
                    e.parse::<u64>(),
                    u64::from_str_radix(h, 16),
                ) else {
                    break;
                };
                let (cs, ce) = chunk_range(size, chunk_size, chunk);
                if start >= end || end > ce {
                    continue;
                }
                let run = out.entry(chunk).or_default();
                let expected_start = run.last().map_or(cs, |r| r.end);
                if start == expected_start {
                    run.push(PieceRecord {
                        chunk,
                        start,
                        end,
                        hash,
                    });
                }
            }
            ["R", c, from] => {
                let (Ok(chunk), Ok(from)) = (c.parse::<u64>(), from.parse::<u64>()) else {
                    break;
                };
                if let Some(run) = out.get_mut(&chunk) {
                    run.retain(|r| r.end <= from);
                }
            }
            _ => break,
        }
    }
    out.retain(|_, v| !v.is_empty());
    out
}

/// The open, append-only piece log of one partial file.
#[derive(Debug)]
pub(crate) struct PieceLog {
    file: Mutex<File>,
    path: PathBuf,
}

impl PieceLog {
    /// Replace the log atomically with exactly `keep` (compaction), then open it for appends.
    pub(crate) fn rewrite(path: &Path, keep: &Pieces) -> Result<PieceLog> {
        let tmp = path.with_extension("pieces.tmp");
        {
            let mut f = File::create(&tmp)
                .map_err(|e| Error::io(format!("create {}", tmp.display()), e))?;
            let mut text = String::new();
            for r in keep.values().flatten() {
                text.push_str(&line(r));
            }
            f.write_all(text.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
        }
        fs::rename(&tmp, path).map_err(|e| Error::io(format!("rename {}", path.display()), e))?;
        if let Some(d) = path.parent() {
            sync_dir(d);
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        Ok(PieceLog {
            file: Mutex::new(file),
            path: path.to_path_buf(),
        })
    }

    /// Append a durable piece (the data must already be synced) and sync the log.
    pub(crate) fn append(&self, r: &PieceRecord) -> Result<()> {
        let mut f = self.file.lock();
        f.write_all(line(r).as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(format!("append to {}", self.path.display()), e))
    }

    /// Append a piece without syncing anything (see [`PIECE_RECORD_BYTES`]): the next
    /// [`PieceLog::append`] makes it durable together with its data.
    pub(crate) fn append_unsynced(&self, r: &PieceRecord) -> Result<()> {
        let mut f = self.file.lock();
        f.write_all(line(r).as_bytes())
            .map_err(|e| Error::io(format!("append to {}", self.path.display()), e))
    }

    /// Make the records appended so far durable.
    pub(crate) fn sync(&self) -> Result<()> {
        let f = self.file.lock();
        f.sync_data()
            .map_err(|e| Error::io(format!("sync {}", self.path.display()), e))
    }

    /// The chunk is fetched (again) from `from`: its pieces beyond are stale. Not synced on
    /// its own: the next piece's sync makes it durable (and without one nothing depends on it).
    pub(crate) fn restart(&self, chunk: u64, from: u64) -> Result<()> {
        let mut f = self.file.lock();
        f.write_all(format!("R {chunk} {from}\n").as_bytes())
            .map_err(|e| Error::io(format!("append to {}", self.path.display()), e))
    }
}

fn line(r: &PieceRecord) -> String {
    format!("P {} {} {} {:016x}\n", r.chunk, r.start, r.end, r.hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_contiguous_runs_honours_restarts_and_ignores_a_torn_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.pieces");
        let rec = |chunk, start, end| PieceRecord {
            chunk,
            start,
            end,
            hash: 0xabc,
        };
        let log = PieceLog::rewrite(&p, &BTreeMap::new()).expect("log");
        log.append(&rec(0, 0, 10)).expect("append");
        log.append(&rec(0, 10, 20)).expect("append");
        log.append(&rec(1, 150, 160))
            .expect("not at the chunk start: ignored");
        log.append(&rec(1, 100, 130)).expect("append");
        log.restart(0, 10).expect("restart");
        log.append(&rec(0, 10, 25)).expect("append");
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&p).expect("open");
        f.write_all(b"P 1 130 1").expect("torn");
        let got = replay(&p, 1000, 100);
        assert_eq!(got[&0], vec![rec(0, 0, 10), rec(0, 10, 25)]);
        assert_eq!(got[&1], vec![rec(1, 100, 130)]);
        // Compaction keeps exactly what it is given.
        let log = PieceLog::rewrite(&p, &got).expect("rewrite");
        drop(log);
        assert_eq!(replay(&p, 1000, 100), got);
        assert_eq!(
            replay(&dir.path().join("absent"), 1000, 100),
            BTreeMap::new()
        );
    }

    #[test]
    fn streaming_and_oneshot_hashes_agree() {
        let mut h = PieceHasher::new();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), piece_hash(b"hello world"));
    }
}
