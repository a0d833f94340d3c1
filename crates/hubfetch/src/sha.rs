//! The SHA-256 hubfetch uses for chunk and whole-file hashes: `ring`'s assembly implementation
//! (AVX2/AVX/SSSE3 code paths, SHA-NI when present), about 1.5–2× the portable `sha2` on CPUs
//! without SHA-NI (`examples/hash_bench.rs`).

/// Incremental SHA-256 (assembly-optimized).
#[derive(Clone)]
pub struct Sha256(ring::digest::Context);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// An empty hasher.
    pub fn new() -> Sha256 {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }
    /// Feed bytes.
    pub fn update(&mut self, b: &[u8]) {
        self.0.update(b);
    }
    /// The digest as lowercase hex.
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn same_digest_as_sha2() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 253) as u8).collect();
        let mut h = Sha256::new();
        for part in data.chunks(7919) {
            h.update(part);
        }
        assert_eq!(h.finish_hex(), hex::encode(sha2::Sha256::digest(&data)));
        assert_eq!(
            Sha256::new().finish_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
