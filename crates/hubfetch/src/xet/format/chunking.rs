//! Xet content-defined chunking (spec `chunking.md`, xet-core `deduplication/chunking.rs`):
//! a gear rolling hash over the bytes; a boundary where `hash & MASK == 0` (the 16 top bits),
//! no boundary before 8 KiB, a forced one at 128 KiB, the rest at the end of the file.
//!
//! Streaming and allocation-free: feed any slices to [`Chunker::push`], which reports chunk
//! lengths and hashes as boundaries are found. Self-contained (testhub includes it with
//! `#[path]`, next to `hash.rs`).

use super::hash::{chunk_hasher, XetHash};

/// Target chunk size (64 KiB).
pub const TARGET_CHUNK: usize = 64 * 1024;
/// No boundary before this many bytes (8 KiB).
pub const MIN_CHUNK: usize = TARGET_CHUNK / 8;
/// A boundary is forced here (128 KiB): also the largest chunk a xorb may hold.
pub const MAX_CHUNK: usize = TARGET_CHUNK * 2;
const WINDOW: usize = 64;
/// `(TARGET - 1)` shifted to the top bits: 0xffff000000000000.
const MASK: u64 = ((TARGET_CHUNK as u64) - 1) << ((TARGET_CHUNK as u64) - 1).leading_zeros();

/// Streaming chunker that hashes each chunk as it goes.
pub struct Chunker {
    gear: gearhash::Hasher<'static>,
    cur_len: usize,
    hasher: blake3::Hasher,
}

impl Default for Chunker {
    fn default() -> Self {
        Self::new()
    }
}

impl Chunker {
    /// A chunker at the start of a file.
    pub fn new() -> Self {
        Chunker {
            gear: gearhash::Hasher::default(),
            cur_len: 0,
            hasher: chunk_hasher(),
        }
    }

    /// Where the current chunk ends in `data` (bytes of `data` it takes), if it ends there.
    fn next_boundary(&mut self, data: &[u8]) -> Option<usize> {
        if data.is_empty() {
            return None;
        }
        let prev = self.cur_len;
        let mut idx = 0;
        if prev + WINDOW < MIN_CHUNK {
            idx = (MIN_CHUNK - prev - WINDOW - 1).min(data.len());
        }
        let read_end = data.len().min(idx + MAX_CHUNK - prev);
        let mut found = false;
        loop {
            match self.gear.next_match(&data[idx..read_end], MASK) {
                Some(m) => {
                    idx += m;
                    // A match before MIN_CHUNK comes from the previous chunk's window: go on.
                    if idx + prev < MIN_CHUNK {
                        continue;
                    }
                    found = true;
                }
                None => idx = read_end,
            }
            break;
        }
        self.finish_scan(idx, found)
    }

    fn finish_scan(&mut self, mut idx: usize, mut found: bool) -> Option<usize> {
        let prev = self.cur_len;
        if idx + prev >= MAX_CHUNK {
            idx = MAX_CHUNK - prev;
            found = true;
        }
        if found {
            self.gear.set_hash(0);
            Some(idx)
        } else {
            None
        }
    }

    /// Feeds bytes; calls `on_chunk(hash, len)` for every chunk completed inside them.
    pub fn push(&mut self, mut data: &[u8], mut on_chunk: impl FnMut(XetHash, u64)) {
        while !data.is_empty() {
            match self.next_boundary(data) {
                Some(cut) => {
                    self.hasher.update(&data[..cut]);
                    let len = (self.cur_len + cut) as u64;
                    on_chunk(XetHash(*self.hasher.finalize().as_bytes()), len);
                    self.hasher = chunk_hasher();
                    self.cur_len = 0;
                    data = &data[cut..];
                }
                None => {
                    self.hasher.update(data);
                    self.cur_len += data.len();
                    data = &[];
                }
            }
        }
    }

    /// Ends the file: the bytes since the last boundary (if any) are the last chunk.
    pub fn finish(self) -> Option<(XetHash, u64)> {
        (self.cur_len > 0).then(|| {
            (
                XetHash(*self.hasher.finalize().as_bytes()),
                self.cur_len as u64,
            )
        })
    }
}

/// All chunks `(hash, length)` of an in-memory buffer.
pub fn chunk_all(data: &[u8]) -> Vec<(XetHash, u64)> {
    let mut chunker = Chunker::new();
    let mut out = Vec::with_capacity(data.len() / TARGET_CHUNK + 1);
    chunker.push(data, |h, l| out.push((h, l)));
    out.extend(chunker.finish());
    out
}
