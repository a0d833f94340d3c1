//! File contents (in memory, on disk or generated on the fly) and their hashes.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error::TestHubError;

/// Where a file's bytes come from; large files never need to be held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// Small contents held in memory.
    Bytes(Vec<u8>),
    /// A file on disk, read in chunks when served.
    Disk(PathBuf),
    /// Deterministic pseudo-random bytes (seeded), generated on the fly, never held in memory.
    /// See [`generated_bytes`] to compute the expected bytes in a test.
    Generated {
        /// Length in bytes.
        size: u64,
        /// Seed of the generator; a different seed gives different bytes.
        seed: u64,
    },
}

/// Fill `buf` with bytes `[offset, offset + buf.len())` of `FileContent::Generated { size, seed }`,
/// so tests can compute expected bytes and hashes without the server.
///
/// The generator is defined for every offset; `size` is not used to cut the output (callers
/// stay within `0..size`), it is only part of the signature to mirror the content it describes.
pub fn generated_bytes(size: u64, seed: u64, offset: u64, buf: &mut [u8]) {
    let _ = size;
    let mut pos = offset;
    let mut i = 0usize;
    // unaligned head
    while i < buf.len() && !pos.is_multiple_of(8) {
        let word = mix(seed, pos / 8).to_le_bytes();
        buf[i] = word[(pos % 8) as usize];
        i += 1;
        pos += 1;
    }
    // whole words
    let mut word_index = pos / 8;
    let mut words = buf[i..].chunks_exact_mut(8);
    for w in &mut words {
        w.copy_from_slice(&mix(seed, word_index).to_le_bytes());
        word_index += 1;
    }
    // tail
    let tail = words.into_remainder();
    if !tail.is_empty() {
        let word = mix(seed, word_index).to_le_bytes();
        let n = tail.len();
        tail.copy_from_slice(&word[..n]);
    }
}

/// splitmix64 of the word index, keyed by the seed: random access, fast, deterministic.
fn mix(seed: u64, word: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0xD6E8_FEB8_6659_FD93)
        .wrapping_add(word.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes of one content: what the Hub shows as `lfs.sha256` and as the git blob id.
#[derive(Debug, Clone)]
pub(crate) struct Hashes {
    pub size: u64,
    pub sha256: String,
    /// git blob sha1 of the content itself (`blob {len}\0{content}`), when asked for (it is
    /// slow in debug builds and LFS files do not need it).
    pub git_sha1: Option<String>,
}

const HASH_CHUNK: usize = 1 << 20;

/// Size of a content without reading it.
pub(crate) fn content_size(content: &FileContent) -> Result<u64, TestHubError> {
    match content {
        FileContent::Bytes(b) => Ok(b.len() as u64),
        FileContent::Disk(p) => Ok(std::fs::metadata(p)
            .map_err(|e| TestHubError::io(p, e))?
            .len()),
        FileContent::Generated { size, .. } => Ok(*size),
    }
}

/// Generated contents are hashed once per process (tests start many hubs with the same files).
fn generated_cache() -> &'static Mutex<HashMap<(u64, u64), Hashes>> {
    static CACHE: OnceLock<Mutex<HashMap<(u64, u64), Hashes>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// sha256 and (if `git_sha1`) git sha1 of a content, reading it in chunks (blocking: call from
/// a blocking thread for big files).
pub(crate) fn hash_content(content: &FileContent, git_sha1: bool) -> Result<Hashes, TestHubError> {
    if let FileContent::Generated { size, seed } = content {
        let cache = generated_cache();
        if let Some(h) = cache.lock().get(&(*size, *seed)) {
            if h.git_sha1.is_some() || !git_sha1 {
                return Ok(h.clone());
            }
        }
        if !git_sha1 {
            if let Some(sha256) = read_disk_cache(*size, *seed) {
                let h = Hashes {
                    size: *size,
                    sha256,
                    git_sha1: None,
                };
                cache.lock().insert((*size, *seed), h.clone());
                return Ok(h);
            }
        }
    }
    let size = content_size(content)?;
    // ring: its assembly is fast even in debug builds (sha2/sha1 crates run at ~2 MB/s there)
    let mut sha256 = ring::digest::Context::new(&ring::digest::SHA256);
    let mut sha1 = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha1.update(format!("blob {size}\0").as_bytes());
    let mut feed = |chunk: &[u8]| {
        sha256.update(chunk);
        if git_sha1 {
            sha1.update(chunk);
        }
    };
    match content {
        FileContent::Bytes(b) => feed(b),
        FileContent::Disk(p) => {
            let mut f = std::fs::File::open(p).map_err(|e| TestHubError::io(p, e))?;
            let mut buf = vec![0u8; HASH_CHUNK];
            let mut total = 0u64;
            loop {
                let n = f.read(&mut buf).map_err(|e| TestHubError::io(p, e))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                feed(&buf[..n]);
            }
            if total != size {
                return Err(TestHubError::io(
                    p,
                    std::io::Error::other("file changed size while hashing"),
                ));
            }
        }
        FileContent::Generated { size, seed } => {
            let mut buf = vec![0u8; HASH_CHUNK];
            let mut off = 0u64;
            while off < *size {
                let n = (*size - off).min(HASH_CHUNK as u64) as usize;
                generated_bytes(*size, *seed, off, &mut buf[..n]);
                feed(&buf[..n]);
                off += n as u64;
            }
        }
    }
    let hashes = Hashes {
        size,
        sha256: hex::encode(sha256.finish()),
        git_sha1: git_sha1.then(|| hex::encode(sha1.finish())),
    };
    if let FileContent::Generated { size, seed } = content {
        write_disk_cache(*size, *seed, &hashes.sha256);
        generated_cache()
            .lock()
            .insert((*size, *seed), hashes.clone());
    }
    Ok(hashes)
}

/// Where the sha256 of a generated content is remembered between runs (the generator is
/// deterministic, so the entry never goes stale; `v1` names the generator's version).
/// Hashing GBs takes tens of seconds on a busy machine; the benchmark restarts the hub often.
fn disk_cache_path(size: u64, seed: u64) -> PathBuf {
    std::env::temp_dir()
        .join("testhub-generated-sha256-v1")
        .join(format!("{size}-{seed}"))
}

/// Only contents of at least this size are remembered on disk.
const DISK_CACHE_MIN: u64 = 64 << 20;

fn read_disk_cache(size: u64, seed: u64) -> Option<String> {
    if size < DISK_CACHE_MIN {
        return None;
    }
    let s = std::fs::read_to_string(disk_cache_path(size, seed)).ok()?;
    let s = s.trim();
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_string())
}

fn write_disk_cache(size: u64, seed: u64, sha256: &str) {
    if size < DISK_CACHE_MIN {
        return;
    }
    let path = disk_cache_path(size, seed);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let res = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, sha256))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = res {
        tracing::debug!(error = %e, "cannot remember a generated file's sha256");
    }
}

/// git sha1 of arbitrary bytes, as git computes blob ids.
pub(crate) fn git_blob_sha1(data: &[u8]) -> String {
    let mut h = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex::encode(h.finish())
}

/// The git-lfs pointer file the Hub stores in git for an LFS file.
pub(crate) fn lfs_pointer(sha256: &str, size: u64) -> String {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n")
}

/// Reads chunks of one content for one response (keeps a disk file open between chunks).
pub(crate) enum ChunkReader {
    Bytes(Bytes),
    Disk {
        path: PathBuf,
        file: Option<tokio::fs::File>,
        pos: u64,
    },
    Generated {
        size: u64,
        seed: u64,
    },
}

impl ChunkReader {
    /// A reader for `content`, sharing in-memory bytes.
    pub(crate) fn new(content: &FileContent, shared: Option<&Bytes>) -> Self {
        match content {
            FileContent::Bytes(b) => {
                ChunkReader::Bytes(shared.cloned().unwrap_or_else(|| Bytes::from(b.clone())))
            }
            FileContent::Disk(p) => ChunkReader::Disk {
                path: p.clone(),
                file: None,
                pos: u64::MAX,
            },
            FileContent::Generated { size, seed } => ChunkReader::Generated {
                size: *size,
                seed: *seed,
            },
        }
    }

    /// Bytes `[offset, offset + len)`.
    pub(crate) async fn read(&mut self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        match self {
            ChunkReader::Bytes(b) => {
                let start = usize::try_from(offset).map_err(std::io::Error::other)?;
                let end = start
                    .checked_add(len)
                    .filter(|e| *e <= b.len())
                    .ok_or_else(|| std::io::Error::other("read past the end"))?;
                Ok(b[start..end].to_vec())
            }
            ChunkReader::Disk { path, file, pos } => {
                if file.is_none() {
                    *file = Some(tokio::fs::File::open(path.as_path()).await?);
                }
                let f = file
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("file not open"))?;
                if *pos != offset {
                    f.seek(std::io::SeekFrom::Start(offset)).await?;
                }
                let mut buf = vec![0u8; len];
                f.read_exact(&mut buf).await?;
                *pos = offset + len as u64;
                Ok(buf)
            }
            ChunkReader::Generated { size, seed } => {
                let mut buf = vec![0u8; len];
                generated_bytes(*size, *seed, offset, &mut buf);
                Ok(buf)
            }
        }
    }
}

/// Whether a file is stored with LFS when the repo does not say: big files and safetensors.
pub(crate) fn auto_lfs(path: &str, size: u64) -> bool {
    size > 1024 * 1024 || path.ends_with(".safetensors")
}

#[cfg(test)]
mod speed {
    /// `cargo test -p testhub --lib hash_speed -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn hash_speed() {
        let mut buf = vec![0u8; 8 << 20];
        let t = std::time::Instant::now();
        super::generated_bytes(8 << 20, 1, 0, &mut buf);
        eprintln!("generate 8 MiB: {:?}", t.elapsed());
        for (name, alg) in [
            ("sha256", &ring::digest::SHA256),
            ("sha1", &ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        ] {
            let t = std::time::Instant::now();
            let _ = ring::digest::digest(alg, &buf);
            eprintln!("{name} 8 MiB: {:?}", t.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-wise fast path gives the same bytes as reading byte by byte at any offset.
    #[test]
    fn generated_bytes_are_position_independent() {
        let mut whole = vec![0u8; 1000];
        generated_bytes(1000, 5, 0, &mut whole);
        for start in [0usize, 1, 3, 7, 8, 9, 500, 993] {
            for len in [0usize, 1, 2, 7, 8, 9, 17] {
                let len = len.min(1000 - start);
                let mut part = vec![0u8; len];
                generated_bytes(1000, 5, start as u64, &mut part);
                assert_eq!(part, &whole[start..start + len], "start {start} len {len}");
            }
        }
        let mut other = vec![0u8; 1000];
        generated_bytes(1000, 6, 0, &mut other);
        assert_ne!(whole, other);
    }

    #[test]
    fn git_blob_id_matches_git() {
        // `printf 'hello' | git hash-object --stdin`
        assert_eq!(
            git_blob_sha1(b"hello"),
            "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0"
        );
    }
}
