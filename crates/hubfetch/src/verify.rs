//! Whole-file verification without a second pass: a background thread hashes chunks in file
//! order as soon as they are durable (reading them back while they are still in the page
//! cache), and checks a `.safetensors` header as soon as it is complete. Also: re-hashing
//! journalled chunks on restart, and hashing whole files for `verify` and repairs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use parking_lot::Mutex;
use sha1::Digest;
use sha1::Sha1;

use crate::sha::Sha256;

use crate::error::{Error, Result};
use crate::journal::{chunk_range, Journal};
use crate::safetensors;

/// Which hash the Hub's ETag is: sha256 (LFS files) or git blob sha1 (small files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// The file's SHA-256 (LFS files), hex.
    Sha256(String),
    /// The git blob id (small files), hex.
    GitSha1(String),
    /// Not a content hash: only the size can be checked.
    Unknown,
}

impl Expected {
    /// Classify a normalised ETag.
    pub fn from_etag(etag: &str) -> Expected {
        let hex = etag.bytes().all(|b| b.is_ascii_hexdigit());
        match (etag.len(), hex) {
            (64, true) => Expected::Sha256(etag.to_ascii_lowercase()),
            (40, true) => Expected::GitSha1(etag.to_ascii_lowercase()),
            _ => Expected::Unknown,
        }
    }
    fn matches(&self, digest: &str) -> bool {
        match self {
            Expected::Sha256(h) | Expected::GitSha1(h) => h == digest,
            Expected::Unknown => true,
        }
    }
    /// The hash a user can compare with the Hub's page.
    pub fn hex(&self) -> Option<&str> {
        match self {
            Expected::Sha256(h) | Expected::GitSha1(h) => Some(h),
            Expected::Unknown => None,
        }
    }
}

/// Incremental whole-file hasher of the right kind.
#[derive(Clone)]
pub(crate) enum Whole {
    Sha256(Sha256),
    GitSha1(Sha1),
}

impl Whole {
    pub(crate) fn new(exp: &Expected, size: u64) -> Whole {
        match exp {
            Expected::GitSha1(_) => {
                let mut h = Sha1::new();
                h.update(format!("blob {size}\0").as_bytes());
                Whole::GitSha1(h)
            }
            _ => Whole::Sha256(Sha256::new()),
        }
    }
    pub(crate) fn update(&mut self, b: &[u8]) {
        match self {
            Whole::Sha256(h) => h.update(b),
            Whole::GitSha1(h) => h.update(b),
        }
    }
    pub(crate) fn finish(self) -> String {
        match self {
            Whole::Sha256(h) => h.finish_hex(),
            Whole::GitSha1(h) => hex::encode(h.finalize()),
        }
    }
}

/// Tracks the safetensors header while bytes flow in order.
#[derive(Clone)]
pub(crate) struct HeaderCheck {
    enabled: bool,
    buf: Vec<u8>,
    need: Option<u64>,
    done: bool,
}

impl HeaderCheck {
    pub(crate) fn new(path: &str) -> HeaderCheck {
        HeaderCheck {
            enabled: path.ends_with(".safetensors"),
            buf: Vec::new(),
            need: None,
            done: false,
        }
    }
    /// Feed in-order bytes; Some(error) once the header is known bad.
    fn feed(&mut self, b: &[u8], file_size: u64) -> Option<String> {
        if !self.enabled || self.done {
            return None;
        }
        let want = self.need.unwrap_or(8);
        let take = (want as usize).saturating_sub(self.buf.len()).min(b.len());
        self.buf.extend_from_slice(&b[..take]);
        if self.need.is_none() && self.buf.len() >= 8 {
            let mut first = [0u8; 8];
            first.copy_from_slice(&self.buf[..8]);
            let n = safetensors::header_len(&first);
            if n > safetensors::MAX_HEADER || 8 + n > file_size {
                self.done = true;
                return safetensors::validate(n, &[], file_size).err();
            }
            self.need = Some(8 + n);
            return self.feed(&b[take..], file_size);
        }
        if let Some(need) = self.need {
            if self.buf.len() as u64 >= need {
                self.done = true;
                let r = safetensors::validate(need - 8, &self.buf[8..], file_size).err();
                self.buf = Vec::new();
                return r;
            }
        }
        None
    }
}

/// State handed from the restart re-hash to the in-order hasher.
pub(crate) struct Prefix {
    pub whole: Whole,
    pub header: HeaderCheck,
    /// First chunk not yet fed to `whole`.
    pub next: u64,
    pub header_error: Option<String>,
}

/// Result of re-hashing the journalled chunks after a restart.
pub(crate) struct Rescued {
    pub good: BTreeSet<u64>,
    pub bad: Vec<u64>,
    pub prefix: Prefix,
}

fn read_exact_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(buf, off)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut f = f.try_clone()?;
        f.seek(SeekFrom::Start(off))?;
        f.read_exact(buf)
    }
}

const BUF: usize = 1 << 20;

/// Hash bytes `[start, end)` of `f`, feeding every extra sink.
fn hash_range(f: &File, start: u64, end: u64, mut sink: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUF.min((end - start) as usize).max(1)];
    let mut off = start;
    while off < end {
        let n = ((end - off) as usize).min(buf.len());
        read_exact_at(f, &mut buf[..n], off)?;
        sink(&buf[..n]);
        off += n as u64;
    }
    Ok(())
}

/// Re-hash every journalled chunk (blocking). Matching chunks are rescued; the contiguous
/// verified prefix is fed to the whole-file hasher at the same time.
pub(crate) fn rehash_journal(
    path: &Path,
    j: &Journal,
    exp: &Expected,
    file_path: &str,
) -> Result<Rescued> {
    let f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let mut prefix = Prefix {
        whole: Whole::new(exp, j.size),
        header: HeaderCheck::new(file_path),
        next: 0,
        header_error: None,
    };
    let mut good = BTreeSet::new();
    let mut bad = Vec::new();
    for (&idx, want) in &j.chunks {
        if idx >= j.chunk_count() {
            bad.push(idx);
            continue;
        }
        let (s, e) = chunk_range(j.size, j.chunk_size, idx);
        let in_prefix = idx == prefix.next;
        let mut h = Sha256::new();
        let mut whole = in_prefix.then(|| prefix.whole.clone());
        let mut header = in_prefix.then(|| prefix.header.clone());
        let mut herr = None;
        let r = hash_range(&f, s, e, |b| {
            h.update(b);
            if let Some(w) = whole.as_mut() {
                w.update(b);
            }
            if let Some(hc) = header.as_mut() {
                if herr.is_none() {
                    herr = hc.feed(b, j.size);
                }
            }
        });
        match r {
            Ok(()) if h.finish_hex() == *want => {
                good.insert(idx);
                if let (Some(w), Some(hc)) = (whole, header) {
                    prefix.whole = w;
                    prefix.header = hc;
                    prefix.next += 1;
                    if prefix.header_error.is_none() {
                        prefix.header_error = herr;
                    }
                }
            }
            _ => {
                tracing::warn!(
                    chunk = idx,
                    file = file_path,
                    "journalled chunk does not match its hash on disk: fetching it again"
                );
                bad.push(idx);
            }
        }
    }
    Ok(Rescued { good, bad, prefix })
}

enum Msg {
    Ready(u64),
}

/// Whole-file hash states at the start of chunks (chunk index -> state after all chunks
/// before it): a repair re-hashes only from the first replaced chunk on.
pub(crate) type Snapshots = BTreeMap<u64, Whole>;

/// The digest (None when chunks are missing) and the per-chunk snapshots.
type Finished = (Option<String>, Snapshots);

/// The in-order hasher thread: send it chunk indices as they become durable.
pub(crate) struct OrderedHasher {
    tx: Option<mpsc::Sender<Msg>>,
    handle: Option<std::thread::JoinHandle<Result<Finished>>>,
    /// Set as soon as the safetensors header is found malformed.
    pub header_error: Arc<Mutex<Option<String>>>,
}

impl OrderedHasher {
    /// Start hashing `path` (size, chunk size) from `prefix.next` on.
    pub(crate) fn start(
        path: PathBuf,
        size: u64,
        chunk_size: u64,
        prefix: Prefix,
    ) -> Result<OrderedHasher> {
        let f = File::open(&path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let header_error = Arc::new(Mutex::new(prefix.header_error.clone()));
        let herr = header_error.clone();
        let count = crate::journal::chunk_count(size, chunk_size);
        let handle = std::thread::Builder::new()
            .name("hubfetch-hash".into())
            .spawn(move || -> Result<Finished> {
                let Prefix {
                    mut whole,
                    mut header,
                    mut next,
                    ..
                } = prefix;
                let mut ready = BTreeSet::new();
                let mut snapshots = Snapshots::new();
                let mut buf = vec![0u8; BUF];
                while next < count {
                    match rx.recv() {
                        Ok(Msg::Ready(i)) => {
                            ready.insert(i);
                        }
                        Err(_) => return Ok((None, snapshots)), // dropped before the end: no digest
                    }
                    while ready.remove(&next) {
                        snapshots.insert(next, whole.clone());
                        let (s, e) = chunk_range(size, chunk_size, next);
                        let mut off = s;
                        while off < e {
                            let n = ((e - off) as usize).min(buf.len());
                            read_exact_at(&f, &mut buf[..n], off).map_err(|er| {
                                Error::io(format!("read back {}", path.display()), er)
                            })?;
                            whole.update(&buf[..n]);
                            if let Some(msg) = header.feed(&buf[..n], size) {
                                *herr.lock() = Some(msg);
                            }
                            off += n as u64;
                        }
                        next += 1;
                    }
                }
                Ok((Some(whole.finish()), snapshots))
            })
            .map_err(|e| Error::io("spawn hash thread", e))?;
        Ok(OrderedHasher {
            tx: Some(tx),
            handle: Some(handle),
            header_error,
        })
    }

    /// Chunk `idx` is durable and journalled.
    pub(crate) fn ready(&self, idx: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Ready(idx));
        }
    }

    /// Wait for the digest (None when chunks are missing) and the per-chunk snapshots.
    pub(crate) async fn finish(mut self) -> Result<Finished> {
        self.tx.take();
        let Some(h) = self.handle.take() else {
            return Ok((None, Snapshots::new()));
        };
        tokio::task::spawn_blocking(move || h.join())
            .await
            .map_err(Error::task("hash task"))?
            .map_err(|_| Error::Other("hash thread panicked".into()))?
    }

    /// The malformed-header message, if any.
    pub(crate) fn header_problem(&self) -> Option<String> {
        self.header_error.lock().clone()
    }
}

impl Drop for OrderedHasher {
    fn drop(&mut self) {
        self.tx.take(); // the thread sees the closed channel and exits
    }
}

/// Does this digest match what the Hub announced?
pub(crate) fn digest_ok(exp: &Expected, digest: &str) -> bool {
    exp.matches(digest)
}

/// Finish a whole-file hash from a saved state: hash bytes `[from, size)` of `path` into `w`
/// (blocking; a test helper: the repair refreshes the states as it goes, `repair::rehash_refresh`).
#[cfg(test)]
pub(crate) fn hash_from(path: &Path, mut w: Whole, from: u64, size: u64) -> Result<String> {
    let f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    hash_range(&f, from, size, |b| w.update(b))
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    Ok(w.finish())
}

/// Hash a whole file (blocking): for `verify` and after repairs.
pub fn hash_file(path: &Path, exp: &Expected, size: u64) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let mut w = Whole::new(exp, size);
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        w.update(&buf[..n]);
    }
    if total != size {
        return Ok(format!("size-mismatch-{total}"));
    }
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sha1_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello\n").expect("write");
        let exp = Expected::from_etag("ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(
            hash_file(&p, &exp, 6).expect("hash"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        let exp = Expected::from_etag(&"0".repeat(64));
        assert_eq!(
            hash_file(&p, &exp, 6).expect("hash"),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
    }

    #[test]
    fn ordered_hasher_and_header_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.safetensors");
        let hdr = br#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#;
        let mut data = (hdr.len() as u64).to_le_bytes().to_vec();
        data.extend_from_slice(hdr);
        data.extend_from_slice(b"abcd");
        std::fs::write(&p, &data).expect("write");
        let exp = Expected::Sha256(hex::encode(<sha2::Sha256 as Digest>::digest(&data)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        let prefix = Prefix {
            whole: Whole::new(&exp, data.len() as u64),
            header: HeaderCheck::new("m.safetensors"),
            next: 0,
            header_error: None,
        };
        let h = OrderedHasher::start(p.clone(), data.len() as u64, 10, prefix).expect("start");
        let n = crate::journal::chunk_count(data.len() as u64, 10);
        for i in (0..n).rev() {
            h.ready(i);
        }
        let d = rt.block_on(async {
            let hp = h.header_problem();
            (hp, h.finish().await)
        });
        let (digest, snaps) = d.1.expect("ok");
        assert_eq!(digest.as_deref(), exp.hex());
        // Re-hashing from any chunk's snapshot gives the same digest (the repair re-check).
        assert_eq!(snaps.len() as u64, n);
        for (c, w) in snaps {
            let from = chunk_range(data.len() as u64, 10, c).0;
            let again = hash_from(&p, w, from, data.len() as u64).expect("hash_from");
            assert_eq!(Some(again.as_str()), exp.hex());
        }
        // A header that claims more bytes than the file has.
        let mut hc = HeaderCheck::new("x.safetensors");
        assert!(hc.feed(&(1000u64).to_le_bytes(), 100).is_some());
    }
}
