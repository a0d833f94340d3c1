//! The emulated CAS's content: every LFS file cut into chunks (Xet CDC), the chunks packed into
//! xorbs (≤ `max_xorb_bytes` of chunk data and ≤ 8192 chunks, compressed per chunk as the
//! reference writer does), chunks already stored reused (dedup, so terms can point back into
//! an earlier xorb), and each file's reconstruction as a list of terms.

use std::collections::HashMap;
use std::io::Read;
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

/// A stored xorb: its serialized chunks (then a stand-in footer, never in a served range).
#[derive(Debug)]
pub(crate) struct Xorb {
    pub hash: XetHash,
    /// Chunks, then the footer.
    pub bytes: Bytes,
    /// Byte offset of each chunk's header, plus the end of the last chunk.
    pub chunk_offsets: Vec<u64>,
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
    pub fn new(max_xorb_bytes: usize) -> Self {
        Cas {
            max_xorb_bytes: max_xorb_bytes.max(1),
            ..Cas::default()
        }
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
                places.push(self.place(h, data, scheme, &mut open));
                chunks.push((h, l));
                at += l as usize;
            }
            carry.drain(..at);
        }
        if let Some((h, l)) = chunker.finish() {
            let data = std::mem::take(&mut carry);
            places.push(self.place(h, &data[..l as usize], scheme, &mut open));
            chunks.push((h, l));
        }
        self.seal(&mut open);
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
    fn place(&mut self, h: XetHash, data: &[u8], scheme: Scheme, open: &mut Open) -> (usize, u32) {
        if let Some(&at) = self.chunk_at.get(&h) {
            return at;
        }
        if open.data_len + data.len() > self.max_xorb_bytes || open.lens.len() >= MAX_XORB_CHUNKS {
            self.seal(open);
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
        at
    }

    /// Closes the open xorb (if it has chunks) and stores it.
    fn seal(&mut self, open: &mut Open) {
        if open.lens.is_empty() {
            return;
        }
        let mut o = std::mem::take(open);
        o.offsets.push(o.bytes.len() as u64);
        // Stand-in footer: the real one (hashes, boundaries) is never part of a served range.
        o.bytes.extend_from_slice(b"XETBLOB\x01testhub-footer");
        let hash = xorb_hash(&o.hashes);
        let xorb = Xorb {
            hash,
            bytes: Bytes::from(o.bytes),
            chunk_offsets: o.offsets,
        };
        self.xorb_index.insert(hash, self.xorbs.len());
        self.xorbs.push(Arc::new(xorb));
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
