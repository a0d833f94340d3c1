//! Xet: the Hub's content-addressed storage, read over its own chunk protocol.
//!
//! [`format`] holds the wire and hash formats (chunk hashes, xorb/file Merkle hashes, CDC
//! chunking, xorb chunk parsing with bounds checks).

pub mod format;

pub use format::hash::{chunk_hash, file_hash, xorb_hash, XetHash};
