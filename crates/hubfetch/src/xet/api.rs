//! The Xet HTTP APIs a reader needs: the Hub's read-token endpoint and the CAS
//! reconstruction query (v2, falling back to v1 on 404/501), as JSON types.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::XetError;

/// `GET {hub}/api/models/{repo}/xet-read-token/{rev}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadToken {
    /// Bearer token for the CAS (never logged).
    pub access_token: String,
    /// Unix seconds when it expires.
    pub exp: u64,
    /// Base URL of the CAS.
    pub cas_url: String,
}

impl ReadToken {
    /// True when the token should be refreshed (30 s before `exp`, as xet-core does, or
    /// earlier for short-lived tokens: half their remaining life).
    pub fn stale(&self, issued: SystemTime) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let exp = Duration::from_secs(self.exp);
        let life = exp.saturating_sub(issued.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO));
        let margin = Duration::from_secs(30).min(life / 2);
        now + margin >= exp
    }
}

/// A chunk range `[start, end)` or an inclusive byte range, as the CAS writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Span {
    /// First index.
    pub start: u64,
    /// End (exclusive for chunks, inclusive for bytes).
    pub end: u64,
}

/// One term: chunks `range` of xorb `hash`, `unpacked_length` bytes once decompressed.
#[derive(Debug, Clone, Deserialize)]
pub struct Term {
    /// Xorb hash (Xet string form).
    pub hash: String,
    /// Decompressed length of the term.
    pub unpacked_length: u64,
    /// Chunk range in the xorb.
    pub range: Span,
}

/// A signed URL and the chunk/byte ranges it may be asked for.
#[derive(Debug, Clone, Deserialize)]
pub struct Fetch {
    /// Signed URL (bound to `ranges` on the Hub's CDN: ask for exactly those).
    pub url: String,
    /// Chunk range and the xorb byte range (inclusive) holding it.
    pub ranges: Vec<FetchRange>,
}

/// One range of a [`Fetch`].
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct FetchRange {
    /// Chunks `[start, end)`.
    pub chunks: Span,
    /// Bytes `start..=end` of the xorb.
    pub bytes: Span,
}

/// A reconstruction (v2 shape; v1 answers are converted).
#[derive(Debug, Clone, Deserialize)]
pub struct Reconstruction {
    /// Bytes of the first term before the requested range.
    pub offset_into_first_range: u64,
    /// The terms in file order.
    pub terms: Vec<Term>,
    /// Fetch info per xorb hash.
    pub xorbs: HashMap<String, Vec<Fetch>>,
}

#[derive(Deserialize)]
struct V1Fetch {
    range: Span,
    url: String,
    url_range: Span,
}

#[derive(Deserialize)]
struct V1 {
    offset_into_first_range: u64,
    terms: Vec<Term>,
    fetch_info: HashMap<String, Vec<V1Fetch>>,
}

impl Reconstruction {
    /// Parses a v2 answer.
    pub fn from_v2(body: &[u8]) -> Result<Self, XetError> {
        serde_json::from_slice(body).map_err(|e| XetError::Protocol(format!("v2 JSON: {e}")))
    }

    /// Parses a v1 answer into the v2 shape.
    pub fn from_v1(body: &[u8]) -> Result<Self, XetError> {
        let v1: V1 = serde_json::from_slice(body)
            .map_err(|e| XetError::Protocol(format!("v1 JSON: {e}")))?;
        let xorbs = v1
            .fetch_info
            .into_iter()
            .map(|(h, fs)| {
                let fetches = fs
                    .into_iter()
                    .map(|f| Fetch {
                        url: f.url,
                        ranges: vec![FetchRange {
                            chunks: f.range,
                            bytes: f.url_range,
                        }],
                    })
                    .collect();
                (h, fetches)
            })
            .collect();
        Ok(Reconstruction {
            offset_into_first_range: v1.offset_into_first_range,
            terms: v1.terms,
            xorbs,
        })
    }

    /// The signed URL and byte range whose chunks contain `term`'s.
    pub fn fetch_for(&self, term: &Term) -> Option<(String, FetchRange)> {
        self.xorbs.get(&term.hash)?.iter().find_map(|f| {
            f.ranges
                .iter()
                .find(|r| r.chunks.start <= term.range.start && term.range.end <= r.chunks.end)
                .map(|r| (f.url.clone(), *r))
        })
    }
}
