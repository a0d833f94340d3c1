//! `testhub serve --xet`: every LFS file is also Xet-backed, as on the Hub today.
//!
//! - The resolve `HEAD`/`GET` carries `X-Xet-Hash` and `Link: <…/xet-read-token/{commit}>;
//!   rel="xet-auth", <{cas}/v1/reconstructions/{hash}>; rel="xet-reconstruction-info"` (the
//!   302 to the CDN stays, so HTTP clients still work).
//! - `GET {hub}/api/models/{repo}/xet-read-token/{rev}` → `{accessToken, exp, casUrl}` (and
//!   the `X-Xet-*` headers `huggingface_hub` reads); the token expires after
//!   [`XetOptions::token_lifetime`]; the CAS answers 401 after that.
//! - `GET {cas}/v1|v2/reconstructions/{file_hash}` with an optional `Range: bytes=a-b`
//!   (trimmed to the file, 416 past its end): terms, `offset_into_first_range`, and fetch info
//!   with signed URLs bound to their byte ranges.
//! - `GET {cdn}/xorbs/default/{xorb_hash}?…`: the xorb bytes, only for exactly a signed range
//!   (403 otherwise, and once expired), single ranges through the same body path (and faults)
//!   as blobs, several ranges as `multipart/byteranges`.
//!
//! The formats (hashes, CDC, chunk layout) are hubfetch's `xet::format`, included by path: one
//! implementation, checked against xet-core's vectors and `hf_xet` in hubfetch's tests, and
//! end to end here by the real `huggingface_hub` + `hf_xet` downloading from this CAS.

#[path = "../../../hubfetch/src/xet/format/mod.rs"]
#[allow(dead_code)]
pub(crate) mod format;

mod cas;
mod routes;
mod shard;
mod token;

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

use axum::http::response::Builder;

pub(crate) use routes::{cas_routes, hub_routes, transfer_routes};

use crate::stats::XetStats;
use crate::store::Entry;
use crate::Inner;
use cas::{Cas, XetFile};
use format::xorb::Scheme;

/// How the emulated Xet storage behaves.
#[derive(Debug, Clone)]
pub struct XetOptions {
    /// Largest xorb, in bytes of chunk data (the Hub: 64 MiB). Small values give files of many
    /// xorbs in small tests.
    pub max_xorb_bytes: usize,
    /// Lifetime of a Xet read token (`exp` = now + this).
    pub token_lifetime: Duration,
    /// Lifetime of a signed xorb URL (shortened further by the `expire-urls` fault).
    pub url_lifetime: Duration,
    /// Compression of stored chunks (the reference writer picks LZ4 or byte-grouping-4 LZ4 per
    /// chunk; incompressible chunks are always stored as is).
    pub compression: XetCompression,
    /// Answer `/v2/reconstructions` (false: 404 there, so clients fall back to v1).
    pub v2: bool,
    /// Faults of the Xet path only (the `--faults` list applies to xorb transfers too).
    pub faults: XetFaults,
    /// Write the xorbs built here into this folder (one file each) and serve them from there,
    /// streamed, instead of holding them in memory: GB-sized files. `None`: in memory.
    pub xorb_dir: Option<std::path::PathBuf>,
    /// How a xorb request naming several ranges is answered.
    pub multi_range: MultiRange,
    /// Folders written by the reference writer (`hf_xet` with a `local://` endpoint: shards
    /// and xorbs) to import before anything is chunked here: a repo file whose SHA-256 a
    /// shard names is served from `hf_xet`'s own xorbs, byte for byte.
    pub import: Vec<std::path::PathBuf>,
}

/// Faults only the Xet path has (counts: inject this many times, then behave). Counted in
/// `Stats::faults_injected` under the names given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XetFaults {
    /// Answer the first N xorb transfers with 503 (`xorb_503`; blobs are not affected).
    pub xorb_503: u32,
    /// The first N xorb transfers carry a first chunk header whose compressed length lies
    /// (claims 7 bytes more than its payload; the body keeps its length) (`xorb_lying_header`).
    pub lying_header: u32,
    /// A signed URL serves each of its ranges once; using it again answers 403
    /// (`xorb_reused_range`), as a CDN whose signatures are single-use would.
    pub signed_once: bool,
    /// The first N `multipart/byteranges` answers are malformed: their second part's
    /// `Content-Range` names bytes one past the ones asked (and sent) (`xorb_bad_multipart`).
    pub bad_multipart: u32,
}

/// How the xorb server answers a request whose `Range` names several ranges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MultiRange {
    /// `206` `multipart/byteranges`, one part per range (RFC 9110), as a CDN that supports
    /// multi-range does.
    #[default]
    Parts,
    /// `206` with the first range only (a server that serves one range per request).
    FirstOnly,
    /// `200` with the whole xorb, the `Range` ignored (as S3 does with several ranges).
    Whole,
}

/// Chunk compression of the emulated CAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XetCompression {
    /// No compression.
    None,
    /// LZ4 frames.
    Lz4,
    /// Byte-grouping-4 + LZ4 (what the reference picks for bf16/f32 weights).
    ByteGrouping4Lz4,
}

impl Default for XetOptions {
    fn default() -> Self {
        XetOptions {
            max_xorb_bytes: 64 << 20,
            token_lifetime: Duration::from_secs(3600),
            url_lifetime: Duration::from_secs(3600),
            compression: XetCompression::Lz4,
            v2: true,
            faults: XetFaults::default(),
            xorb_dir: None,
            import: Vec::new(),
            multi_range: MultiRange::Parts,
        }
    }
}

/// The Xet side of a running testhub.
pub(crate) struct XetState {
    pub opts: XetOptions,
    pub cas: Mutex<Cas>,
    pub stats: Mutex<XetStats>,
    /// Xorbs as servable entries, built on first transfer.
    pub entries: Mutex<std::collections::HashMap<format::hash::XetHash, Arc<Entry>>>,
    /// Xet faults used so far: (503s, lying headers, bad multiparts).
    pub used: Mutex<(u32, u32, u32)>,
    /// Signed (signature, range) pairs already served (`XetFaults::signed_once`).
    pub served: Mutex<std::collections::HashSet<(String, u64, u64)>>,
}

impl XetState {
    pub fn new(opts: XetOptions) -> Self {
        XetState {
            cas: Mutex::new(Cas::new(opts.max_xorb_bytes, opts.xorb_dir.clone())),
            opts,
            stats: Mutex::default(),
            entries: Mutex::default(),
            used: Mutex::default(),
            served: Mutex::default(),
        }
    }

    fn cas(&self) -> parking_lot::MutexGuard<'_, Cas> {
        self.cas.lock()
    }

    pub fn count(&self, f: impl FnOnce(&mut XetStats)) {
        f(&mut self.stats.lock());
    }

    fn scheme(&self) -> Scheme {
        match self.opts.compression {
            XetCompression::None => Scheme::None,
            XetCompression::Lz4 => Scheme::Lz4,
            XetCompression::ByteGrouping4Lz4 => Scheme::ByteGrouping4Lz4,
        }
    }

    /// The Xet record of an LFS file, chunked on first use (blocking).
    pub fn file(&self, entry: &Entry) -> Result<Arc<XetFile>, crate::TestHubError> {
        let scheme = self.scheme();
        self.cas().add(&entry.sha256, &entry.content, scheme)
    }
}

/// The CAS base URL (`casUrl`): on the hub's listener.
pub(crate) fn cas_url(inner: &Inner) -> String {
    format!("{}/_xet-cas", inner.hub_url)
}

/// Hook of the resolve endpoint: the Xet headers of an LFS file, when Xet is on.
pub(crate) fn decorate_resolve(
    inner: &Inner,
    repo_id: &str,
    commit: &str,
    entry: &Entry,
    resp: Builder,
) -> Builder {
    let Some(xet) = inner.xet.get() else {
        return resp;
    };
    match xet.file(entry) {
        Ok(file) => {
            let hash = file.hash.hex();
            let link = format!(
                "<{}/api/models/{repo_id}/xet-read-token/{commit}>; rel=\"xet-auth\", \
                 <{}/v1/reconstructions/{hash}>; rel=\"xet-reconstruction-info\"",
                inner.hub_url,
                cas_url(inner)
            );
            resp.header("x-xet-hash", hash).header("link", link)
        }
        Err(e) => {
            tracing::error!(error = %e, path = %entry.path, "xet: cannot chunk file");
            resp
        }
    }
}

/// Turns Xet on and chunks every LFS file of every repo (blocking).
pub(crate) fn enable(inner: &Inner, opts: XetOptions) -> Result<(), crate::TestHubError> {
    let xet = inner.xet.get_or_init(|| Arc::new(XetState::new(opts)));
    if let Some(dir) = &xet.opts.xorb_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            crate::TestHubError::InvalidRepo(format!("xet: {}: {e}", dir.display()))
        })?;
    }
    for dir in &xet.opts.import {
        let n = xet.cas().import(dir)?;
        tracing::info!(files = n, dir = %dir.display(), "xet: imported the reference writer's CAS");
    }
    let entries: Vec<Arc<Entry>> = {
        let store = inner.store();
        store
            .repos
            .values()
            .flat_map(|r| {
                r.head
                    .files
                    .values()
                    .filter(|e| e.lfs)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    for e in entries {
        xet.file(&e)?;
    }
    Ok(())
}

/// The Xet counters (zeros when off).
pub(crate) fn stats(inner: &Inner) -> XetStats {
    inner
        .xet
        .get()
        .map(|x| x.stats.lock().clone())
        .unwrap_or_default()
}

/// A `--xet-options` value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("bad Xet option {0:?} (max-xorb=SIZE, token=DURATION, urls=DURATION, v2=0|1, compression=none|lz4|bg4, xorb-503=N, lying-header=N, signed-once=0|1, bad-multipart=N, multi-range=parts|first|whole, xorb-dir=DIR, import=DIR)")]
pub struct XetOptionsError(String);

impl std::str::FromStr for XetOptions {
    type Err = XetOptionsError;

    /// `max-xorb=1MiB,token=5s,urls=1m,v2=0,compression=bg4,xorb-503=2,lying-header=1,
    /// signed-once=1,bad-multipart=1,multi-range=first,xorb-dir=/tmp/x,import=/tmp/cas` (any
    /// subset; empty =
    /// defaults; `import` may repeat).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut o = XetOptions::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || XetOptionsError(item.to_string());
            let (k, v) = item.split_once('=').ok_or_else(bad)?;
            match k {
                "max-xorb" => o.max_xorb_bytes = crate::parse_size(v).ok_or_else(bad)? as usize,
                "token" => o.token_lifetime = crate::parse_duration(v).ok_or_else(bad)?,
                "urls" => o.url_lifetime = crate::parse_duration(v).ok_or_else(bad)?,
                "v2" => o.v2 = v != "0",
                "xorb-503" => o.faults.xorb_503 = v.parse().map_err(|_| bad())?,
                "lying-header" => o.faults.lying_header = v.parse().map_err(|_| bad())?,
                "signed-once" => o.faults.signed_once = v != "0",
                "bad-multipart" => o.faults.bad_multipart = v.parse().map_err(|_| bad())?,
                "xorb-dir" => o.xorb_dir = Some(v.into()),
                "multi-range" => {
                    o.multi_range = match v {
                        "parts" => MultiRange::Parts,
                        "first" => MultiRange::FirstOnly,
                        "whole" => MultiRange::Whole,
                        _ => return Err(bad()),
                    }
                }
                "import" => o.import.push(v.into()),
                "compression" => {
                    o.compression = match v {
                        "none" => XetCompression::None,
                        "lz4" => XetCompression::Lz4,
                        "bg4" => XetCompression::ByteGrouping4Lz4,
                        _ => return Err(bad()),
                    }
                }
                _ => return Err(bad()),
            }
        }
        Ok(o)
    }
}
