//! The emulated CAS's content: every LFS file cut into chunks (Xet CDC), the chunks packed into
//! xorbs (≤ `max_xorb_bytes` of chunk data and ≤ 8192 chunks, compressed per chunk as the
//! reference writer does), chunks already stored reused (dedup, so terms can point back into
//! an earlier xorb), and each file's reconstruction as a list of terms.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::format::chunking::Chunker;
use super::format::hash::{file_hash, xorb_hash, XetHash};
use super::format::xorb::{encode_chunk, Scheme};
use crate::content::generated_bytes;
use crate::error::TestHubError;
use crate::FileContent;

/// Largest number of chunks in one xorb (xet-core `MAX_XORB_CHUNKS`).
const MAX_XORB_CHUNKS: usize = 8 * 1024;

/// A stored xorb: its serialized chunks, then a footer (never in a served range).
#[derive(Debug)]
pub(crate) struct Xorb {
    pub hash: XetHash,
    /// Where the serialized bytes are.
    pub data: XorbData,
    /// Length of the serialized xorb.
    pub size: u64,
    /// Byte offset of each chunk's header, plus the end of the last chunk.
    pub chunk_offsets: Vec<u64>,
    /// Uncompressed length of each chunk.
    pub chunk_lens: Vec<u32>,
    /// Written by the reference writer (`hf_xet`) and imported as is, not built here.
    pub imported: bool,
}

/// Where a xorb's bytes live: in memory (small tests) or in a file (GB-sized files, and the
/// xorbs `hf_xet` wrote), read and streamed per request.
#[derive(Debug, Clone)]
pub(crate) enum XorbData {
    Memory(Bytes),
    Disk(PathBuf),
}

impl Xorb {
    /// Uncompressed length of chunk `i` (0 past the end).
    pub fn chunk_len(&self, i: u32) -> u64 {
        self.chunk_lens.get(i as usize).map_or(0, |&l| u64::from(l))
    }

    /// Bytes `[a, b]` (inclusive) of the serialized xorb (blocking for disk xorbs).
    pub fn read(&self, a: u64, b: u64) -> std::io::Result<Vec<u8>> {
        if b < a || b >= self.size {
            return Err(std::io::Error::other("range past the xorb"));
        }
        let len = usize::try_from(b - a + 1).map_err(std::io::Error::other)?;
        match &self.data {
            XorbData::Memory(bytes) => Ok(bytes[a as usize..a as usize + len].to_vec()),
            XorbData::Disk(p) => {
                use std::io::{Seek, SeekFrom};
                let mut f = std::fs::File::open(p)?;
                f.seek(SeekFrom::Start(a))?;
                let mut buf = vec![0u8; len];
                f.read_exact(&mut buf)?;
                Ok(buf)
            }
        }
    }
}

/// One term of a file's reconstruction: chunks `[start, end)` of a xorb.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Term {
    pub xorb: usize,
    pub start: u32,
    pub end: u32,
    pub unpacked_len: u64,
}

/// A file as the CAS knows it.
#[derive(Debug)]
pub(crate) struct XetFile {
    pub hash: XetHash,
    pub size: u64,
    pub terms: Vec<Term>,
}

/// All xorbs and files.
#[derive(Debug, Default)]
pub(crate) struct Cas {
    pub xorbs: Vec<Arc<Xorb>>,
    pub xorb_index: HashMap<XetHash, usize>,
    /// By sha256 (the store's blob key) and by Xet hash.
    pub by_sha: HashMap<String, Arc<XetFile>>,
    pub by_hash: HashMap<XetHash, Arc<XetFile>>,
    /// Where each stored chunk lives: (xorb, chunk index).
    chunk_at: HashMap<XetHash, (usize, u32)>,
    pub max_xorb_bytes: usize,
    /// Built xorbs are written here (one file each) instead of kept in memory.
    pub dir: Option<PathBuf>,
}

/// A xorb being filled.
#[derive(Default)]
struct Open {
    bytes: Vec<u8>,
    offsets: Vec<u64>,
    lens: Vec<u32>,
    hashes: Vec<(XetHash, u64)>,
    data_len: usize,
}

impl Cas {
    /// An empty CAS cutting xorbs at `max_xorb_bytes` of chunk data (64 MiB on the Hub).
    pub fn new(max_xorb_bytes: usize, dir: Option<PathBuf>) -> Self {
        Cas {
            max_xorb_bytes: max_xorb_bytes.max(1),
            dir,
            ..Cas::default()
        }
    }

    /// Imports what the reference writer stored under `dir` (a `local://` CAS of `hf_xet`, or
    /// any folder with its `*.mdb` shards and `default.{hash}` / `{hash}` xorb files): every
    /// file of every shard becomes servable by its Xet hash and, when the shard names it, by its
    /// SHA-256 (so the repo file with those bytes is served from these xorbs, not chunked here).
    /// The xorbs are served from their files as `hf_xet` wrote them. Returns the files imported.
    pub fn import(&mut self, dir: &Path) -> Result<usize, TestHubError> {
        let err =
            |e: String| TestHubError::InvalidRepo(format!("xet import {}: {e}", dir.display()));
        let mut shards = Vec::new();
        let mut xorb_files = HashMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(|e| err(e.to_string()))? {
                let p = e.map_err(|e| err(e.to_string()))?.path();
                let name = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string();
                if p.is_dir() {
                    stack.push(p);
                } else if name.ends_with(".mdb") {
                    shards.push(p);
                } else if let Ok(h) =
                    XetHash::from_hex(name.strip_prefix("default.").unwrap_or(&name))
                {
                    xorb_files.insert(h, p);
                }
            }
        }
        shards.sort();
        let mut imported = 0;
        for shard in shards {
            let bytes = std::fs::read(&shard).map_err(|e| err(e.to_string()))?;
            let files = super::shard::files(&bytes)
                .map_err(|e| err(format!("{}: {e}", shard.display())))?;
            for f in files {
                if self.by_hash.contains_key(&f.hash) {
                    continue;
                }
                let mut terms = Vec::with_capacity(f.segments.len());
                let mut size = 0u64;
                for s in &f.segments {
                    let xorb = match self.xorb_index.get(&s.xorb) {
                        Some(&i) => i,
                        None => {
                            let p = xorb_files.get(&s.xorb).ok_or_else(|| {
                                err(format!(
                                    "file {} needs xorb {}, not in the folder",
                                    f.hash, s.xorb
                                ))
                            })?;
                            self.import_xorb(s.xorb, p).map_err(err)?
                        }
                    };
                    let x = &self.xorbs[xorb];
                    let len: u64 = (s.start..s.end).map(|i| x.chunk_len(i)).sum();
                    if s.end as usize > x.chunk_lens.len() || len != u64::from(s.unpacked) {
                        return Err(err(format!(
                            "file {}: term {}..{} of xorb {} does not match the xorb",
                            f.hash, s.start, s.end, s.xorb
                        )));
                    }
                    size += len;
                    terms.push(Term {
                        xorb,
                        start: s.start,
                        end: s.end,
                        unpacked_len: len,
                    });
                }
                let file = Arc::new(XetFile {
                    hash: f.hash,
                    size,
                    terms,
                });
                if let Some(sha) = f.sha256 {
                    self.by_sha.insert(sha, file.clone());
                }
                self.by_hash.insert(f.hash, file);
                imported += 1;
            }
        }
        Ok(imported)
    }

    /// Registers one xorb file of the reference writer (its chunk layout read from its headers).
    fn import_xorb(&mut self, hash: XetHash, path: &Path) -> Result<usize, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (chunk_offsets, chunk_lens) =
            super::shard::xorb_layout(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let idx = self.xorbs.len();
        self.xorbs.push(Arc::new(Xorb {
            hash,
            data: XorbData::Disk(path.to_path_buf()),
            size: bytes.len() as u64,
            chunk_offsets,
            chunk_lens,
            imported: true,
        }));
        self.xorb_index.insert(hash, idx);
        Ok(idx)
    }

    /// Adds a file (blocking: reads and chunks all of it); returns its record.
    pub fn add(
        &mut self,
        sha256: &str,
        content: &FileContent,
        scheme: Scheme,
    ) -> Result<Arc<XetFile>, TestHubError> {
        if let Some(f) = self.by_sha.get(sha256) {
            return Ok(f.clone());
        }
        let mut reader = ContentReader::new(content)?;
        let mut chunker = Chunker::new();
        let mut carry: Vec<u8> = Vec::new();
        let mut chunks: Vec<(XetHash, u64)> = Vec::new();
        let mut places: Vec<(usize, u32)> = Vec::new();
        let mut open = Open::default();
        let mut block = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = reader.read(&mut block)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            carry.extend_from_slice(&block[..n]);
            let mut cut = Vec::new();
            chunker.push(&block[..n], |h, l| cut.push((h, l)));
            let mut at = 0usize;
            for (h, l) in cut {
                let data = &carry[at..at + l as usize];
                places.push(self.place(h, data, scheme, &mut open)?);
                chunks.push((h, l));
                at += l as usize;
            }
            carry.drain(..at);
        }
        if let Some((h, l)) = chunker.finish() {
            let data = std::mem::take(&mut carry);
            places.push(self.place(h, &data[..l as usize], scheme, &mut open)?);
            chunks.push((h, l));
        }
        self.seal(&mut open)?;
        let terms = self.terms(&places, &chunks);
        let file = Arc::new(XetFile {
            hash: file_hash(&chunks),
            size,
            terms,
        });
        self.by_sha.insert(sha256.to_string(), file.clone());
        self.by_hash.insert(file.hash, file.clone());
        Ok(file)
    }

    /// Where a chunk is stored: an existing copy, or appended to the open xorb.
    fn place(
        &mut self,
        h: XetHash,
        data: &[u8],
        scheme: Scheme,
        open: &mut Open,
    ) -> Result<(usize, u32), TestHubError> {
        if let Some(&at) = self.chunk_at.get(&h) {
            return Ok(at);
        }
        if open.data_len + data.len() > self.max_xorb_bytes || open.lens.len() >= MAX_XORB_CHUNKS {
            self.seal(open)?;
        }
        let at = (self.xorbs.len(), open.lens.len() as u32);
        open.offsets.push(open.bytes.len() as u64);
        encode_chunk(data, scheme, &mut open.bytes);
        open.lens.push(data.len() as u32);
        open.hashes.push((h, data.len() as u64));
        open.data_len += data.len();
        // Not yet in `chunk_at` for the open xorb's own later chunks would be fine too, but the
        // reference dedups within a xorb as well.
        self.chunk_at.insert(h, at);
        Ok(at)
    }

    /// Closes the open xorb (if it has chunks) and stores it.
    fn seal(&mut self, open: &mut Open) -> Result<(), TestHubError> {
        if open.lens.is_empty() {
            return Ok(());
        }
        let mut o = std::mem::take(open);
        o.offsets.push(o.bytes.len() as u64);
        // Stand-in footer: the real one (hashes, boundaries) is never part of a served range.
        o.bytes.extend_from_slice(b"XETBLOB\x01testhub-footer");
        let hash = xorb_hash(&o.hashes);
        let size = o.bytes.len() as u64;
        let data = match &self.dir {
            Some(dir) => {
                let p = dir.join(hash.hex());
                std::fs::write(&p, &o.bytes).map_err(|e| {
                    TestHubError::InvalidRepo(format!("xet: cannot write {}: {e}", p.display()))
                })?;
                XorbData::Disk(p)
            }
            None => XorbData::Memory(Bytes::from(o.bytes)),
        };
        let xorb = Xorb {
            hash,
            data,
            size,
            chunk_offsets: o.offsets,
            chunk_lens: o.lens,
            imported: false,
        };
        self.xorb_index.insert(hash, self.xorbs.len());
        self.xorbs.push(Arc::new(xorb));
        Ok(())
    }

    /// Consecutive chunks of one xorb make one term.
    fn terms(&self, places: &[(usize, u32)], chunks: &[(XetHash, u64)]) -> Vec<Term> {
        let mut terms: Vec<Term> = Vec::new();
        for (&(xorb, idx), &(_, len)) in places.iter().zip(chunks) {
            match terms.last_mut() {
                Some(t) if t.xorb == xorb && t.end == idx => {
                    t.end += 1;
                    t.unpacked_len += len;
                }
                _ => terms.push(Term {
                    xorb,
                    start: idx,
                    end: idx + 1,
                    unpacked_len: len,
                }),
            }
        }
        terms
    }
}

/// Reads a file's bytes in order, whatever its kind of content.
enum ContentReader<'a> {
    Bytes(&'a [u8]),
    Disk(std::fs::File),
    Generated { size: u64, seed: u64, at: u64 },
}

impl<'a> ContentReader<'a> {
    fn new(content: &'a FileContent) -> Result<Self, TestHubError> {
        Ok(match content {
            FileContent::Bytes(b) => ContentReader::Bytes(b),
            FileContent::Disk(p) => ContentReader::Disk(std::fs::File::open(p).map_err(|e| {
                TestHubError::InvalidRepo(format!("xet: cannot read {}: {e}", p.display()))
            })?),
            FileContent::Generated { size, seed } => ContentReader::Generated {
                size: *size,
                seed: *seed,
                at: 0,
            },
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TestHubError> {
        Ok(match self {
            ContentReader::Bytes(b) => {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                *b = &b[n..];
                n
            }
            ContentReader::Disk(f) => f
                .read(buf)
                .map_err(|e| TestHubError::InvalidRepo(format!("xet: read: {e}")))?,
            ContentReader::Generated { size, seed, at } => {
                let n = (*size - *at).min(buf.len() as u64) as usize;
                generated_bytes(*size, *seed, *at, &mut buf[..n]);
                *at += n as u64;
                n
            }
        })
    }
}
