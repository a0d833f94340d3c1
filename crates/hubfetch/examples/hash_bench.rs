//! SHA-256 throughput: `sha2` (portable Rust, SHA-NI only when the CPU has it) vs `ring`
//! (assembly with AVX2/AVX/SSSE3 paths) vs the hasher hubfetch uses.
//!
//! `cargo run --release -p hubfetch --example hash_bench [MB]`

use std::time::Instant;

use sha2::Digest;

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let buf: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 31 % 251) as u8).collect();
    let run = |name: &str, f: &dyn Fn() -> String| {
        let t = Instant::now();
        let d = f();
        let s = t.elapsed().as_secs_f64();
        println!(
            "{name:>10}: {:7.0} MB/s  ({})",
            (mb as f64) * 1.048_576 / s,
            &d[..16]
        );
    };
    run("sha2", &|| {
        let mut h = sha2::Sha256::new();
        for _ in 0..mb {
            h.update(&buf);
        }
        hex::encode(h.finalize())
    });
    run("ring", &|| {
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        for _ in 0..mb {
            h.update(&buf);
        }
        hex::encode(h.finish())
    });
    run("hubfetch", &|| {
        let mut h = hubfetch::Sha256::new();
        for _ in 0..mb {
            h.update(&buf);
        }
        h.finish_hex()
    });
}
