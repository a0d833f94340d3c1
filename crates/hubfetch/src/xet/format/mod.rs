//! The Xet formats, from the spec and checked against the reference (`hf_xet`): hashes,
//! content-defined chunking, xorb chunks. No I/O and nothing crate-specific (only `blake3`,
//! `gearhash`, `lz4_flex`, `thiserror`), so that testhub's emulated CAS uses the very same code
//! through `#[path]` instead of a second copy.

pub mod chunking;
pub mod hash;
pub mod xorb;
