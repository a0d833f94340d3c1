//! Never trust an unverified blob: a blob hubfetch verified itself carries a stamp (size,
//! mtime, inode) in `{repo folder}/.hubfetch/verified/{etag}`; any other blob in the cache
//! (written by another tool, or changed since) is hashed once before it is handed back.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cache::RepoCache;
use crate::error::{Error, Result};
use crate::verify::{self, Expected};

fn stamp_path(rc: &RepoCache, etag: &str) -> PathBuf {
    rc.storage.join(".hubfetch").join("verified").join(etag)
}

fn fingerprint(blob: &Path) -> Option<String> {
    let md = fs::metadata(blob).ok()?;
    let mtime = md
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&md);
    #[cfg(not(unix))]
    let ino = 0u64;
    Some(format!("{} {mtime} {ino}", md.len()))
}

/// Record that we verified `blob` (best effort: without a stamp it is hashed again next time).
pub(crate) fn stamp(rc: &RepoCache, etag: &str, blob: &Path) {
    let (Some(fp), p) = (fingerprint(blob), stamp_path(rc, etag)) else {
        return;
    };
    if let Some(d) = p.parent() {
        let _ = fs::create_dir_all(d);
    }
    let _ = fs::write(p, fp);
}

/// True when `blob` matches its content hash `etag` (blocking: hashes it unless stamped).
pub(crate) fn blob_is_good(rc: &RepoCache, etag: &str, blob: &Path, size: u64) -> Result<bool> {
    let exp = Expected::from_etag(etag);
    if exp == Expected::Unknown {
        return Err(Error::Corrupt(format!(
            "{etag} is not a content hash (sha256 or git sha1): the file cannot be verified"
        )));
    }
    let fp = fingerprint(blob);
    if fp.is_some() && fs::read_to_string(stamp_path(rc, etag)).ok() == fp {
        return Ok(true);
    }
    let got = verify::hash_file(blob, &exp, size)?;
    let ok = verify::digest_ok(&exp, &got);
    if ok {
        stamp(rc, etag, blob);
    } else {
        tracing::warn!(blob = %blob.display(), want = etag, got = %got, "a cached blob does not match its hash: it is not used");
    }
    Ok(ok)
}
