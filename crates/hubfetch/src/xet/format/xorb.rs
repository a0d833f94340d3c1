//! Xorb chunk format (spec `xorb.md`, xet-core `xorb_chunk_format.rs`): a xorb is a sequence of
//! chunks, each an 8-byte header — version (1 byte, 0), compressed length (3 bytes LE),
//! compression scheme (1 byte: 0 none, 1 LZ4 frame, 2 byte-grouping-4 + LZ4 frame),
//! uncompressed length (3 bytes LE) — then the compressed bytes; a footer (never served by a
//! range) follows the chunks.
//!
//! Every length is bounds-checked before it is used: a header may not claim more than
//! [`MAX_CHUNK`] uncompressed or `2 × MAX_CHUNK` compressed bytes, the payload must be exactly
//! its claimed length, and decompression stops at the claimed uncompressed length (a lying
//! header or an LZ4 bomb cannot make us allocate or write more). Self-contained (testhub
//! includes it with `#[path]`).

use std::io::Read;

use super::chunking::MAX_CHUNK;

/// Length of a chunk header.
pub const HEADER_LEN: usize = 8;
/// Largest compressed payload a header may claim.
pub const MAX_COMPRESSED: usize = 2 * MAX_CHUNK;
/// Bytes that start a xorb footer (`XETBLOB`): never a chunk header.
const FOOTER_IDENT: &[u8; 7] = b"XETBLOB";

/// How a chunk's payload is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Stored as is.
    None,
    /// One LZ4 frame.
    Lz4,
    /// Bytes regrouped by position mod 4 (all bytes 0 mod 4 first, ...), then one LZ4 frame:
    /// good for bf16/f32 weights.
    ByteGrouping4Lz4,
}

/// A xorb range that is not a well-formed sequence of chunks.
#[derive(Debug, thiserror::Error)]
pub enum XorbError {
    /// The data ended inside a header or a payload.
    #[error("xorb data truncated: {needed} more bytes needed at byte {at}")]
    Truncated {
        /// Offset in the range where the incomplete piece starts.
        at: u64,
        /// Bytes missing.
        needed: u64,
    },
    /// A header field is out of range.
    #[error("bad xorb chunk header at byte {at}: {what}")]
    BadHeader {
        /// Offset of the header in the range.
        at: u64,
        /// What is wrong.
        what: String,
    },
    /// The payload does not decompress to exactly the claimed length.
    #[error("xorb chunk at byte {at} does not decompress to its {expected} bytes: {what}")]
    BadPayload {
        /// Offset of the chunk's header in the range.
        at: u64,
        /// Claimed uncompressed length.
        expected: u32,
        /// What happened.
        what: String,
    },
}

/// A parsed, validated chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Compression of the payload.
    pub scheme: Scheme,
    /// Payload bytes after the header.
    pub compressed_len: u32,
    /// Bytes after decompression.
    pub uncompressed_len: u32,
}

fn u24(b: &[u8]) -> u32 {
    u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16
}

impl ChunkHeader {
    /// Parses and validates 8 header bytes found at offset `at` of a range.
    pub fn parse(b: &[u8; HEADER_LEN], at: u64) -> Result<Self, XorbError> {
        let bad = |what: String| XorbError::BadHeader { at, what };
        if &b[..7] == FOOTER_IDENT {
            return Err(bad("xorb footer where a chunk was expected".into()));
        }
        if b[0] != 0 {
            return Err(bad(format!("version {} (only 0 is known)", b[0])));
        }
        let scheme = match b[4] {
            0 => Scheme::None,
            1 => Scheme::Lz4,
            2 => Scheme::ByteGrouping4Lz4,
            s => return Err(bad(format!("compression scheme {s}"))),
        };
        let compressed_len = u24(&b[1..4]);
        let uncompressed_len = u24(&b[5..8]);
        if uncompressed_len as usize > MAX_CHUNK || uncompressed_len == 0 {
            return Err(bad(format!(
                "uncompressed length {uncompressed_len} (1..={MAX_CHUNK})"
            )));
        }
        if compressed_len as usize > MAX_COMPRESSED {
            return Err(bad(format!(
                "compressed length {compressed_len} (max {MAX_COMPRESSED})"
            )));
        }
        if scheme == Scheme::None && compressed_len != uncompressed_len {
            return Err(bad(format!(
                "uncompressed chunk with lengths {compressed_len} != {uncompressed_len}"
            )));
        }
        Ok(ChunkHeader {
            scheme,
            compressed_len,
            uncompressed_len,
        })
    }

    /// The 8 bytes of this header.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let c = self.compressed_len.to_le_bytes();
        let u = self.uncompressed_len.to_le_bytes();
        let s = match self.scheme {
            Scheme::None => 0,
            Scheme::Lz4 => 1,
            Scheme::ByteGrouping4Lz4 => 2,
        };
        [0, c[0], c[1], c[2], s, u[0], u[1], u[2]]
    }
}

/// Decompresses one payload into `out` (cleared first), never past the header's length.
pub fn decode_payload(
    header: &ChunkHeader,
    payload: &[u8],
    at: u64,
    out: &mut Vec<u8>,
) -> Result<(), XorbError> {
    let expected = header.uncompressed_len;
    let bad = |what: String| XorbError::BadPayload { at, expected, what };
    if payload.len() != header.compressed_len as usize {
        return Err(bad(format!("payload of {} bytes", payload.len())));
    }
    out.clear();
    match header.scheme {
        Scheme::None => out.extend_from_slice(payload),
        Scheme::Lz4 => lz4_bounded(payload, expected, out).map_err(bad)?,
        Scheme::ByteGrouping4Lz4 => {
            let mut grouped = Vec::with_capacity(expected as usize);
            lz4_bounded(payload, expected, &mut grouped).map_err(bad)?;
            regroup4(&grouped, out);
        }
    }
    if out.len() != expected as usize {
        return Err(bad(format!("got {} bytes", out.len())));
    }
    Ok(())
}

/// Decodes one LZ4 frame, reading at most `limit + 1` bytes out of it (so that a frame longer
/// than claimed is detected without decoding it all).
fn lz4_bounded(payload: &[u8], limit: u32, out: &mut Vec<u8>) -> Result<(), String> {
    out.reserve(limit as usize);
    let decoder = lz4_flex::frame::FrameDecoder::new(payload);
    decoder
        .take(u64::from(limit) + 1)
        .read_to_end(out)
        .map_err(|e| format!("LZ4: {e}"))?;
    Ok(())
}

/// Sizes of the 4 groups of a byte-grouped buffer of `n` bytes.
fn group_sizes(n: usize) -> [usize; 4] {
    let (q, r) = (n / 4, n % 4);
    [
        q + usize::from(r > 0),
        q + usize::from(r > 1),
        q + usize::from(r > 2),
        q,
    ]
}

/// Undoes byte grouping: `out[4i + k] = group_k[i]`.
pub fn regroup4(grouped: &[u8], out: &mut Vec<u8>) {
    let n = grouped.len();
    let sizes = group_sizes(n);
    let starts = [
        0,
        sizes[0],
        sizes[0] + sizes[1],
        sizes[0] + sizes[1] + sizes[2],
    ];
    out.clear();
    out.reserve(n);
    for i in 0..n {
        let (k, j) = (i % 4, i / 4);
        out.push(grouped[starts[k] + j]);
    }
}

/// Byte grouping: all bytes at positions 0 mod 4, then 1 mod 4, ... (the writer's side).
pub fn split4(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for k in 0..4 {
        out.extend(data.iter().skip(k).step_by(4));
    }
    out
}

/// Serializes one chunk (header + payload) with `scheme`, falling back to no compression when
/// compression does not make it smaller (as the reference writer does).
pub fn encode_chunk(data: &[u8], scheme: Scheme, out: &mut Vec<u8>) {
    let compressed = match scheme {
        Scheme::None => None,
        Scheme::Lz4 => Some(lz4_frame(data)),
        Scheme::ByteGrouping4Lz4 => Some(lz4_frame(&split4(data))),
    };
    let (scheme, payload): (Scheme, &[u8]) = match &compressed {
        Some(c) if c.len() < data.len() => (scheme, c),
        _ => (Scheme::None, data),
    };
    let header = ChunkHeader {
        scheme,
        compressed_len: payload.len() as u32,
        uncompressed_len: data.len() as u32,
    };
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(payload);
}

fn lz4_frame(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
    // Writing to a Vec cannot fail.
    if enc.write_all(data).is_err() {
        return data.to_vec();
    }
    enc.finish().unwrap_or_else(|_| data.to_vec())
}

/// Incremental parser of a byte stream of whole chunks (one fetched xorb range): push network
/// bytes in any pieces, get decompressed chunks out. Holds at most one chunk's payload.
pub struct ChunkStream {
    /// Bytes consumed so far (offset of `buf[0]` in the range).
    pos: u64,
    buf: Vec<u8>,
    header: Option<ChunkHeader>,
    chunk: Vec<u8>,
}

impl Default for ChunkStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkStream {
    /// A parser at the start of a range.
    pub fn new() -> Self {
        ChunkStream {
            pos: 0,
            buf: Vec::new(),
            header: None,
            chunk: Vec::new(),
        }
    }

    /// Feeds bytes; calls `on_chunk(uncompressed bytes)` for each chunk completed.
    pub fn push(
        &mut self,
        mut data: &[u8],
        mut on_chunk: impl FnMut(&[u8]) -> Result<(), XorbError>,
    ) -> Result<(), XorbError> {
        while !data.is_empty() {
            let want = match self.header {
                None => HEADER_LEN,
                Some(h) => h.compressed_len as usize,
            };
            let take = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < want {
                break;
            }
            self.step(&mut on_chunk)?;
        }
        // A zero-length payload is complete as soon as its header is.
        if let Some(h) = self.header {
            if h.compressed_len == 0 {
                self.step(&mut on_chunk)?;
            }
        }
        Ok(())
    }

    fn step(
        &mut self,
        on_chunk: &mut impl FnMut(&[u8]) -> Result<(), XorbError>,
    ) -> Result<(), XorbError> {
        match self.header.take() {
            None => {
                let mut h = [0u8; HEADER_LEN];
                h.copy_from_slice(&self.buf);
                self.header = Some(ChunkHeader::parse(&h, self.pos)?);
                self.buf.clear();
                self.buf
                    .reserve(self.header.map_or(0, |h| h.compressed_len as usize));
            }
            Some(header) => {
                decode_payload(&header, &self.buf, self.pos, &mut self.chunk)?;
                on_chunk(&self.chunk)?;
                self.pos += (HEADER_LEN + self.buf.len()) as u64;
                self.buf.clear();
            }
        }
        Ok(())
    }

    /// Ends the range: an error if it stopped inside a chunk.
    pub fn finish(&self) -> Result<(), XorbError> {
        let needed = match self.header {
            None if self.buf.is_empty() => return Ok(()),
            None => HEADER_LEN - self.buf.len(),
            Some(h) => h.compressed_len as usize - self.buf.len(),
        };
        Err(XorbError::Truncated {
            at: self.pos,
            needed: needed as u64,
        })
    }
}
