//! Xet formats against the reference: xet-core's published Merkle vectors
//! (`aggregated_hashes.rs::test_correctness`, in `xet_merkle_vectors.json`), its hash-string
//! endianness vector, and the reference client `hf_xet.hash_files` (PyPI `hf-xet`, in the venv
//! from `scripts/setup-python.sh`) on files made here; xorb chunk parsing with lying headers.

use std::path::{Path, PathBuf};
use std::process::Command;

use hubfetch::xet::format::chunking::{chunk_all, Chunker, MAX_CHUNK, MIN_CHUNK};
use hubfetch::xet::format::hash::{chunk_hash, file_hash, file_hash_with_salt, xorb_hash, XetHash};
use hubfetch::xet::format::xorb::{
    encode_chunk, regroup4, split4, ChunkHeader, ChunkStream, Scheme, XorbError, HEADER_LEN,
};

fn h(s: &str) -> XetHash {
    XetHash::from_hex(s).expect("vector hash")
}

#[test]
fn merkle_vectors_from_xet_core() {
    let text = include_str!("xet_merkle_vectors.json");
    let cases: Vec<serde_json::Value> = serde_json::from_str(text).expect("vectors json");
    assert_eq!(cases.len(), 18);
    for (i, case) in cases.iter().enumerate() {
        let chunks: Vec<(XetHash, u64)> = case["chunks"]
            .as_array()
            .expect("chunks")
            .iter()
            .map(|c| (h(c[0].as_str().expect("hash")), c[1].as_u64().expect("len")))
            .collect();
        let want = h(case["xorb"].as_str().expect("xorb"));
        assert_eq!(xorb_hash(&chunks), want, "xorb hash, case {i}");
        for pair in case["salted"].as_array().expect("salted") {
            let salt = h(pair[0].as_str().expect("salt"));
            let want = h(pair[1].as_str().expect("file"));
            assert_eq!(
                file_hash_with_salt(&chunks, &salt.0),
                want,
                "file hash, case {i}"
            );
        }
    }
}

#[test]
fn hash_string_is_little_endian_words() {
    // xet-core data_hash.rs test_hash_hex_string_endianness.
    let raw: [u8; 32] = [
        22, 175, 58, 132, 4, 75, 131, 214, 190, 153, 138, 66, 226, 3, 153, 242, 204, 86, 80, 234,
        249, 153, 80, 99, 159, 80, 65, 138, 236, 231, 149, 78,
    ];
    let s = "d6834b04843aaf16f29903e2428a99be635099f9ea5056cc4e95e7ec8a41509f";
    assert_eq!(XetHash(raw).hex(), s);
    assert_eq!(XetHash::from_hex(s).expect("parse").0, raw);
    assert!(XetHash::from_hex(&s[1..]).is_err());
    assert!(XetHash::from_hex(&format!("{}g", &s[1..])).is_err());
}

/// `hf_xet.hash_files` on each path: (xet hash string, size).
fn hf_xet_hashes(paths: &[PathBuf]) -> Vec<(String, u64)> {
    let script = "import sys, hf_xet\n\
                  for r in hf_xet.hash_files(sys.argv[1:]):\n    print(r.hash, r.file_size)";
    let out = Command::new(test_util::venv_python())
        .arg("-c")
        .arg(script)
        .args(paths)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "hf_xet.hash_files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| {
            let (h, s) = l.split_once(' ').expect("hash size");
            (h.to_string(), s.parse().expect("size"))
        })
        .collect()
}

/// Deterministic test bytes: random, low-entropy (long runs: forced 128 KiB cuts) and
/// bf16-like (structured every 2 bytes).
fn make_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    };
    let mut files = vec![
        ("empty", Vec::new()),
        ("one", vec![7u8]),
        ("small", rand(5000)),
        ("min_chunk_edge", rand(MIN_CHUNK + 1)),
        ("random_3m", rand(3 << 20)),
        ("zeros_1m", vec![0u8; 1 << 20]),
    ];
    let mut bf16 = Vec::with_capacity(2 << 20);
    for (i, b) in rand(1 << 20).into_iter().enumerate() {
        bf16.push(b);
        bf16.push(0x3f + (i % 2) as u8);
    }
    files.push(("bf16_like", bf16));
    let mut mixed = rand(700_000);
    mixed.extend(vec![b'a'; 400_000]);
    mixed.extend(rand(300_001));
    files.push(("mixed", mixed));
    files
        .into_iter()
        .map(|(name, data)| {
            let p = dir.join(name);
            std::fs::write(&p, &data).expect("write");
            (p, data)
        })
        .collect()
}

#[test]
fn file_hash_matches_hf_xet_hash_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = make_files(dir.path());
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let reference = hf_xet_hashes(&paths);
    assert_eq!(reference.len(), files.len());
    for ((path, data), (want, size)) in files.iter().zip(&reference) {
        let chunks = chunk_all(data);
        assert_eq!(*size, data.len() as u64);
        assert_eq!(chunks.iter().map(|c| c.1).sum::<u64>(), data.len() as u64);
        assert!(chunks.iter().all(|c| c.1 as usize <= MAX_CHUNK));
        assert_eq!(&file_hash(&chunks).hex(), want, "{}", path.display());
    }
}

#[test]
fn streaming_chunker_equals_one_shot_in_any_pieces() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (_, data) in make_files(dir.path()) {
        let whole = chunk_all(&data);
        for piece in [1usize, 63, 4096, 100_003] {
            let mut chunker = Chunker::new();
            let mut got = Vec::new();
            for part in data.chunks(piece.max(1)) {
                chunker.push(part, |h, l| got.push((h, l)));
            }
            got.extend(chunker.finish());
            assert_eq!(got, whole, "piece size {piece}");
        }
        // Each chunk hash is the keyed BLAKE3 of its bytes.
        let mut at = 0usize;
        for (hash, len) in &whole {
            assert_eq!(*hash, chunk_hash(&data[at..at + *len as usize]));
            at += *len as usize;
        }
    }
}

fn sample(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 7) % 251) as u8 ^ (i / 4096) as u8)
        .collect()
}

fn decode_all(bytes: &[u8], piece: usize) -> Result<Vec<Vec<u8>>, XorbError> {
    let mut stream = ChunkStream::new();
    let mut out = Vec::new();
    for part in bytes.chunks(piece) {
        stream.push(part, |c| {
            out.push(c.to_vec());
            Ok(())
        })?;
    }
    stream.finish()?;
    Ok(out)
}

#[test]
fn xorb_chunks_round_trip_in_every_scheme() {
    let chunks = [
        sample(65_536),
        sample(1),
        sample(13),
        sample(MAX_CHUNK),
        vec![0u8; 40_003],
    ];
    for scheme in [Scheme::None, Scheme::Lz4, Scheme::ByteGrouping4Lz4] {
        let mut xorb = Vec::new();
        for c in &chunks {
            encode_chunk(c, scheme, &mut xorb);
        }
        for piece in [1, 7, 8, 9, 1000, xorb.len()] {
            let got = decode_all(&xorb, piece).expect("decode");
            assert_eq!(got, chunks, "{scheme:?} piece {piece}");
        }
    }
    // Compressible data really is compressed, in the scheme asked for.
    let mut one = Vec::new();
    encode_chunk(&vec![0u8; 40_003], Scheme::ByteGrouping4Lz4, &mut one);
    let header = ChunkHeader::parse(one[..8].try_into().expect("8"), 0).expect("header");
    assert_eq!(header.scheme, Scheme::ByteGrouping4Lz4);
    assert!(one.len() < 1000);
}

#[test]
fn byte_grouping_odd_lengths() {
    for n in 0..19 {
        let data: Vec<u8> = (0..n as u8).collect();
        let grouped = split4(&data);
        let mut back = Vec::new();
        regroup4(&grouped, &mut back);
        assert_eq!(back, data, "n = {n}");
    }
    // Layout: positions 0 mod 4 first.
    assert_eq!(split4(&[0, 1, 2, 3, 4, 5]), vec![0, 4, 1, 5, 2, 3]);
}

fn header(scheme: u8, compressed: u32, uncompressed: u32) -> [u8; HEADER_LEN] {
    let c = compressed.to_le_bytes();
    let u = uncompressed.to_le_bytes();
    [0, c[0], c[1], c[2], scheme, u[0], u[1], u[2]]
}

#[test]
fn lying_headers_are_rejected_without_allocating() {
    // Lengths beyond the format's limits (3-byte fields allow 16 MiB).
    for h in [
        header(1, 0xFF_FFFF, 1000),
        header(1, 1000, 0xFF_FFFF),
        header(0, 10, 11),
    ] {
        assert!(
            matches!(ChunkHeader::parse(&h, 0), Err(XorbError::BadHeader { .. })),
            "{h:?}"
        );
    }
    assert!(
        ChunkHeader::parse(&header(3, 10, 10), 0).is_err(),
        "unknown scheme"
    );
    let mut v1 = header(0, 10, 10);
    v1[0] = 1;
    assert!(ChunkHeader::parse(&v1, 0).is_err(), "unknown version");
    assert!(ChunkHeader::parse(b"XETBLOB\0", 0).is_err(), "footer");

    // A header claiming more bytes than the range holds: truncated, at the right offset.
    let mut xorb = Vec::new();
    encode_chunk(&sample(5000), Scheme::Lz4, &mut xorb);
    let first_len = xorb.len() as u64;
    encode_chunk(&sample(5000), Scheme::None, &mut xorb);
    xorb.truncate(xorb.len() - 10);
    match decode_all(&xorb, 512) {
        Err(XorbError::Truncated { at, needed }) => {
            assert_eq!((at, needed), (first_len, 10));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }

    // A header that lies about the uncompressed length of a valid LZ4 frame: caught, both
    // when the frame is longer (decoding stops at claim + 1) and when it is shorter.
    for claim in [4999u32, 5001] {
        let mut xorb = Vec::new();
        encode_chunk(&sample(5000), Scheme::Lz4, &mut xorb);
        let c = u32::from_le_bytes([xorb[1], xorb[2], xorb[3], 0]);
        xorb[..8].copy_from_slice(&header(1, c, claim));
        assert!(
            matches!(decode_all(&xorb, 4096), Err(XorbError::BadPayload { .. })),
            "claim {claim}"
        );
    }
    // A flipped byte inside an LZ4 payload never yields a chunk of the wrong length.
    let mut xorb = Vec::new();
    encode_chunk(&sample(60_000), Scheme::Lz4, &mut xorb);
    for i in (8..xorb.len()).step_by(97) {
        let mut bad = xorb.clone();
        bad[i] ^= 0xFF;
        if let Ok(chunks) = decode_all(&bad, 1 << 20) {
            assert_eq!(chunks[0].len(), 60_000);
        }
    }
}
