//! Reading what the reference writer (`hf_xet`) stored: MDB shards (the file-info section:
//! each file's hash, its terms and its SHA-256) and serialized xorbs (chunk headers walked to
//! find each chunk's offset), so the CAS can serve a file from `hf_xet`'s own bytes.
//!
//! Written against xet-core's `metadata_shard/shard_format.rs` and `file_structs.rs`
//! (`xet-core-structures` is not used: see hubfetch's `src/xet/README.md` for its weight).
//! Every length and count is bounds-checked against the bytes at hand: a broken shard is an
//! error, never a large allocation or a read out of range.

use super::format::hash::XetHash;
use super::format::xorb::{ChunkHeader, HEADER_LEN};

/// First 32 bytes of every shard (`MDB_SHARD_HEADER_TAG`).
const SHARD_TAG: [u8; 32] = [
    b'H', b'F', b'R', b'e', b'p', b'o', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a', 0, 85, 105,
    103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169,
];
/// Size of every file-info record (header, segment, verification, metadata ext).
const ENTRY: usize = 48;
/// `MDB_FILE_FLAG_WITH_VERIFICATION`: one verification entry per segment follows.
const FLAG_VERIFICATION: u32 = 1 << 31;
/// `MDB_FILE_FLAG_WITH_METADATA_EXT`: one metadata entry (the SHA-256) follows.
const FLAG_METADATA_EXT: u32 = 1 << 30;

/// One term of a file as the shard gives it: chunks `[start, end)` of a xorb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub xorb: XetHash,
    pub unpacked: u32,
    pub start: u32,
    pub end: u32,
}

/// A file of the shard's file-info section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardFile {
    pub hash: XetHash,
    pub segments: Vec<Segment>,
    /// The SHA-256 of the file's bytes (metadata extension), lower-case hex. `hf_xet` stores
    /// it as a Merkle hash parsed from that hex (each 8 bytes a little-endian word), so its
    /// Xet string form is the SHA-256's usual hex.
    pub sha256: Option<String>,
}

/// A shard that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("shard: {0}")]
pub(crate) struct ShardError(String);

fn bad(why: impl Into<String>) -> ShardError {
    ShardError(why.into())
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, ShardError> {
    let s = b.get(at..at + 4).ok_or_else(|| bad("truncated"))?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, ShardError> {
    let s = b.get(at..at + 8).ok_or_else(|| bad("truncated"))?;
    let mut w = [0u8; 8];
    w.copy_from_slice(s);
    Ok(u64::from_le_bytes(w))
}

fn hash_at(b: &[u8], at: usize) -> Result<XetHash, ShardError> {
    let s = b.get(at..at + 32).ok_or_else(|| bad("truncated"))?;
    let mut h = [0u8; 32];
    h.copy_from_slice(s);
    Ok(XetHash(h))
}

/// The files of a shard (its file-info section, up to the bookend).
pub(crate) fn files(b: &[u8]) -> Result<Vec<ShardFile>, ShardError> {
    if b.get(..32) != Some(&SHARD_TAG[..]) {
        return Err(bad("not an MDB shard (wrong tag)"));
    }
    let version = u64_at(b, 32)?;
    if version != 2 {
        return Err(bad(format!("header version {version}, not 2")));
    }
    let footer_size = usize::try_from(u64_at(b, 40)?).map_err(|_| bad("footer size"))?;
    let footer_at = b
        .len()
        .checked_sub(footer_size)
        .filter(|&a| a >= 48)
        .ok_or_else(|| bad("footer larger than the shard"))?;
    if u64_at(b, footer_at)? != 1 {
        return Err(bad("footer version is not 1"));
    }
    let mut at = usize::try_from(u64_at(b, footer_at + 8)?).map_err(|_| bad("offset"))?;
    let end = usize::try_from(u64_at(b, footer_at + 16)?)
        .map_err(|_| bad("offset"))?
        .min(footer_at);
    let mut out = Vec::new();
    loop {
        if at + ENTRY > end {
            return Err(bad("file info section has no bookend"));
        }
        let hash = hash_at(b, at)?;
        if hash.0 == [0xff; 32] {
            return Ok(out);
        }
        let flags = u32_at(b, at + 32)?;
        let n = u32_at(b, at + 36)? as usize;
        at += ENTRY;
        let records = n
            + if flags & FLAG_VERIFICATION != 0 { n } else { 0 }
            + usize::from(flags & FLAG_METADATA_EXT != 0);
        if records > (end - at) / ENTRY {
            return Err(bad(format!(
                "file {hash} claims {n} segments past the section"
            )));
        }
        let mut segments = Vec::with_capacity(n);
        for _ in 0..n {
            let s = Segment {
                xorb: hash_at(b, at)?,
                unpacked: u32_at(b, at + 36)?,
                start: u32_at(b, at + 40)?,
                end: u32_at(b, at + 44)?,
            };
            if s.end <= s.start {
                return Err(bad(format!("empty chunk range in file {hash}")));
            }
            segments.push(s);
            at += ENTRY;
        }
        if flags & FLAG_VERIFICATION != 0 {
            at += n * ENTRY;
        }
        let sha256 = if flags & FLAG_METADATA_EXT != 0 {
            // Stored as a Merkle hash parsed from the SHA-256's hex: its string form is that hex.
            let sha = hash_at(b, at)?;
            at += ENTRY;
            Some(sha.hex())
        } else {
            None
        };
        out.push(ShardFile {
            hash,
            segments,
            sha256,
        });
    }
}

/// A serialized xorb's chunk layout, from its chunk headers: the offset of each chunk's
/// header (plus the end of the last chunk) and each chunk's uncompressed length. The walk
/// stops at the footer (whose first byte is not a chunk header version) or the file's end.
pub(crate) fn xorb_layout(b: &[u8]) -> Result<(Vec<u64>, Vec<u32>), ShardError> {
    let mut offsets = Vec::new();
    let mut lens = Vec::new();
    let mut at = 0usize;
    while at + HEADER_LEN <= b.len() && b[at] == 0 {
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&b[at..at + HEADER_LEN]);
        let header = ChunkHeader::parse(&h, at as u64).map_err(|e| bad(format!("xorb: {e}")))?;
        let next = at + HEADER_LEN + header.compressed_len as usize;
        if next > b.len() {
            return Err(bad(format!("xorb: chunk at {at} runs past the end")));
        }
        offsets.push(at as u64);
        lens.push(header.uncompressed_len);
        at = next;
    }
    if lens.is_empty() {
        return Err(bad("xorb: no chunk"));
    }
    offsets.push(at as u64);
    Ok((offsets, lens))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of a test shard: hash, segments, SHA-256 bytes.
    type TestFile = (XetHash, Vec<Segment>, Option<[u8; 32]>);

    fn shard(files: &[TestFile]) -> Vec<u8> {
        let mut b = SHARD_TAG.to_vec();
        b.extend_from_slice(&2u64.to_le_bytes());
        b.extend_from_slice(&200u64.to_le_bytes());
        for (h, segs, sha) in files {
            b.extend_from_slice(&h.0);
            let flags = if sha.is_some() { FLAG_METADATA_EXT } else { 0 };
            b.extend_from_slice(&flags.to_le_bytes());
            b.extend_from_slice(&(segs.len() as u32).to_le_bytes());
            b.extend_from_slice(&[0; 8]);
            for s in segs {
                b.extend_from_slice(&s.xorb.0);
                b.extend_from_slice(&0u32.to_le_bytes());
                b.extend_from_slice(&s.unpacked.to_le_bytes());
                b.extend_from_slice(&s.start.to_le_bytes());
                b.extend_from_slice(&s.end.to_le_bytes());
            }
            if let Some(sha) = sha {
                b.extend_from_slice(sha);
                b.extend_from_slice(&[0; 16]);
            }
        }
        b.extend_from_slice(&[0xff; 32]);
        b.extend_from_slice(&[0; 16]);
        let xorb_info = b.len() as u64;
        let mut footer = vec![0u8; 200];
        footer[..8].copy_from_slice(&1u64.to_le_bytes());
        footer[8..16].copy_from_slice(&48u64.to_le_bytes());
        footer[16..24].copy_from_slice(&xorb_info.to_le_bytes());
        b.extend_from_slice(&footer);
        b
    }

    #[test]
    fn parses_files_and_refuses_lies() {
        let seg = Segment {
            xorb: XetHash([7; 32]),
            unpacked: 1000,
            start: 2,
            end: 5,
        };
        let b = shard(&[
            (XetHash([1; 32]), vec![seg, seg], Some([0xab; 32])),
            (XetHash([2; 32]), vec![seg], None),
        ]);
        let f = files(&b).expect("parses");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].segments, vec![seg, seg]);
        assert_eq!(f[0].sha256, Some(XetHash([0xab; 32]).hex()));
        assert_eq!(f[1].sha256, None);
        // A segment count past the section is refused, not allocated.
        let mut lying = b.clone();
        lying[48 + 36..48 + 40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(files(&lying).is_err());
        let mut tag = b.clone();
        tag[0] = b'X';
        assert!(files(&tag).is_err());
        assert!(files(&b[..100]).is_err());
    }
}
