//! Xet hashes (spec `hashing.md`): chunk hashes (BLAKE3 keyed with `DATA_KEY`), the
//! aggregated Merkle hash over `(chunk hash, length)` pairs (BLAKE3 keyed with
//! `INTERNAL_NODE_KEY`), the xorb hash (that Merkle root) and the file hash (the root, keyed
//! once more with a 32-byte salt, zeros on the Hub).
//!
//! This file is self-contained (only `blake3` and `thiserror`): testhub includes it with
//! `#[path]` so that the emulator and the client share one implementation, which is itself
//! checked against the reference vectors and `hf_xet.hash_files`.

use std::fmt;

/// Key of the chunk (leaf) hash.
const DATA_KEY: [u8; 32] = [
    102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16,
    155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41,
];

/// Key of the internal Merkle node hash.
const INTERNAL_NODE_KEY: [u8; 32] = [
    1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55,
    199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63,
];

/// Mean branching factor of the aggregated tree (a node is cut after a child whose hash is
/// 0 mod 4, with at least 2 and at most 9 children).
const BRANCHING: u64 = 4;
const MAX_GROUP: usize = 2 * BRANCHING as usize + 1;

/// A 32-byte Xet hash, stored as the raw BLAKE3 output bytes.
///
/// Its string form (`X-Xet-Hash`, URLs, JSON) is *not* plain hex of the bytes: each 8-byte
/// group is read as a little-endian `u64` and printed as 16 hex digits (spec `api.md`,
/// "converting hashes to strings").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct XetHash(pub [u8; 32]);

/// A string that is not a 64-digit Xet hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Xet hash (64 hex digits): {0:?}")]
pub struct BadXetHash(pub String);

impl XetHash {
    /// Parses the Hub's string form (64 hex digits, each 16 a little-endian `u64`).
    pub fn from_hex(s: &str) -> Result<Self, BadXetHash> {
        let bad = || BadXetHash(s.chars().take(80).collect());
        if s.len() != 64 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, group) in out.chunks_exact_mut(8).enumerate() {
            let word = u64::from_str_radix(&s[i * 16..i * 16 + 16], 16).map_err(|_| bad())?;
            group.copy_from_slice(&word.to_le_bytes());
        }
        Ok(XetHash(out))
    }

    /// The Hub's string form (see the type's doc).
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for group in self.0.chunks_exact(8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(group);
            s.push_str(&format!("{:016x}", u64::from_le_bytes(word)));
        }
        s
    }

    /// The last 64-bit word, used for the tree's cut rule (`hash % 4 == 0`).
    fn last_word(&self) -> u64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[24..32]);
        u64::from_le_bytes(word)
    }
}

impl fmt::Display for XetHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for XetHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XetHash({})", self.hex())
    }
}

/// Hash of one chunk's (uncompressed) bytes.
pub fn chunk_hash(data: &[u8]) -> XetHash {
    XetHash(*blake3::keyed_hash(&DATA_KEY, data).as_bytes())
}

/// Incremental chunk hasher, for chunks that arrive in pieces.
pub fn chunk_hasher() -> blake3::Hasher {
    blake3::Hasher::new_keyed(&DATA_KEY)
}

/// One internal node: `"{hash} : {len}\n"` per child, keyed with `INTERNAL_NODE_KEY`.
fn merge(children: &[(XetHash, u64)]) -> (XetHash, u64) {
    let mut hasher = blake3::Hasher::new_keyed(&INTERNAL_NODE_KEY);
    let mut total = 0u64;
    for (hash, len) in children {
        hasher.update(hash.hex().as_bytes());
        hasher.update(b" : ");
        hasher.update(len.to_string().as_bytes());
        hasher.update(b"\n");
        total = total.saturating_add(*len);
    }
    (XetHash(*hasher.finalize().as_bytes()), total)
}

/// Where the next group of children ends (exclusive), from the start of `level`.
fn next_cut(level: &[(XetHash, u64)]) -> usize {
    if level.len() <= 2 {
        return level.len();
    }
    let end = MAX_GROUP.min(level.len());
    (2..end)
        .find(|&i| level[i].0.last_word().is_multiple_of(BRANCHING))
        .map_or(end, |i| i + 1)
}

/// The aggregated Merkle root over `(chunk hash, uncompressed length)` pairs (zeros if empty).
pub fn merkle_root(chunks: &[(XetHash, u64)]) -> XetHash {
    if chunks.is_empty() {
        return XetHash::default();
    }
    let mut level = chunks.to_vec();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len() / 2 + 1);
        let mut start = 0;
        while start < level.len() {
            let end = start + next_cut(&level[start..]);
            next.push(merge(&level[start..end]));
            start = end;
        }
        level = next;
    }
    level[0].0
}

/// The hash of a xorb: the Merkle root of its chunks.
pub fn xorb_hash(chunks: &[(XetHash, u64)]) -> XetHash {
    merkle_root(chunks)
}

/// The file hash with a salt (the Hub uses zeros: [`file_hash`]).
pub fn file_hash_with_salt(chunks: &[(XetHash, u64)], salt: &[u8; 32]) -> XetHash {
    if chunks.is_empty() {
        return XetHash::default();
    }
    XetHash(*blake3::keyed_hash(salt, &merkle_root(chunks).0).as_bytes())
}

/// The file's Xet hash (`X-Xet-Hash`) from all its chunks in order.
pub fn file_hash(chunks: &[(XetHash, u64)]) -> XetHash {
    file_hash_with_salt(chunks, &[0; 32])
}
