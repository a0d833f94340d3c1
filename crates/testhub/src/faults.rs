//! Fault injection: what to break, how many times, and the bookkeeping of what was broken.
//!
//! Counts mean "inject this many times, then behave". A "data response" is a response that
//! carries file bytes (a CDN blob `GET`, or a `GET` of a small non-LFS file on the hub).

use std::collections::HashMap;
use std::time::Duration;

/// Faults to inject. `Faults::default()` injects nothing. Change at run time with
/// `TestHub::set_faults` (which also restarts all counts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Close the connection after sending half of the body, for the first N data responses.
    pub drop_mid_body: u32,
    /// Probability that a data response is cut at a random point (seeded by `seed`).
    pub drop_probability: f64,
    /// Seed for all random decisions (drop points), for reproducible runs.
    pub seed: u64,
    /// Flip (xor 0xFF) the middle byte of the body of the first N data responses; headers stay right.
    pub flip_byte: u32,
    /// Corrupt the byte at this absolute file offset whenever it is served (see `flip_byte_at_count`).
    pub flip_byte_at: Option<u64>,
    /// How many times `flip_byte_at` applies; 0 = always.
    pub flip_byte_at_count: u32,
    /// Send `stall_after_bytes` bytes then go silent (connection kept open) for the first N data responses.
    pub stall: u32,
    /// Bytes sent before a stall (capped to the body length minus one).
    pub stall_after_bytes: u64,
    /// How long a stall lasts at most before the server closes the connection (default 120 s).
    pub stall_max: Option<Duration>,
    /// Answer the first N resolve or CDN requests with 429 + `Retry-After`.
    pub status_429: u32,
    /// Answer the first N resolve or CDN requests with 503 + `Retry-After`.
    pub status_503: u32,
    /// Like `status_503` but only for hub resolve requests.
    pub resolve_503: u32,
    /// Like `status_503` but only for CDN requests.
    pub cdn_503: u32,
    /// `Retry-After` value, in seconds, of injected 429/503 answers.
    pub retry_after_secs: u64,
    /// Answer 200 with the whole file to the first N requests that carry a `Range`.
    pub ignore_range: u32,
    /// Send only three quarters of the body (less than `Content-Length`) then close, first N data responses.
    pub truncate_body: u32,
    /// After this many body bytes have been served (since `set_faults`), the file being served
    /// changes upstream: new content (same size), new sha256/ETag, new commit on the branch.
    /// Old blob URLs keep serving the old bytes (the CDN is content-addressed and immutable, as
    /// on the real Hub) unless `retire_old_blobs` is set, then they answer 404.
    pub change_upstream_after_bytes: Option<u64>,
    /// With `change_upstream_after_bytes`: old blobs disappear from the CDN (404).
    pub retire_old_blobs: bool,
    /// Signed CDN URLs stop working (403) this long after they were issued.
    pub expire_signed_urls_after: Option<Duration>,
    /// Cap of each response's body rate, bytes/s.
    pub bandwidth_per_connection: Option<u64>,
    /// Cap of all bodies together, bytes/s.
    pub bandwidth_total: Option<u64>,
}

/// Default cap of a stall.
pub(crate) const DEFAULT_STALL_MAX: Duration = Duration::from_secs(120);

/// The current faults and how many of each were used.
pub(crate) struct FaultState {
    pub cfg: Faults,
    used: HashMap<&'static str, u32>,
    rng: u64,
    /// Body bytes counted towards `change_upstream_after_bytes`.
    pub upstream_bytes: u64,
    pub upstream_fired: bool,
}

impl FaultState {
    pub fn new(cfg: Faults) -> Self {
        let rng = cfg.seed ^ 0x5DEE_CE66_D1A4_F87D;
        FaultState {
            cfg,
            used: HashMap::new(),
            rng,
            upstream_bytes: 0,
            upstream_fired: false,
        }
    }

    /// Use one of `limit` injections of `name`; false when all are used (0 = never).
    pub fn take(&mut self, name: &'static str, limit: u32) -> bool {
        let used = self.used.entry(name).or_default();
        if *used < limit {
            *used += 1;
            true
        } else {
            false
        }
    }

    /// Next pseudo-random number (xorshift64*), deterministic for a seed.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        (self.next_random() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Which endpoint a status fault is considered for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    Resolve,
    Cdn,
}

/// Body faults planned for one data response, as offsets relative to the body start.
#[derive(Debug, Default, Clone)]
pub(crate) struct BodyPlan {
    /// Abort the connection once this many bytes were sent.
    pub drop_at: Option<u64>,
    /// Byte positions to xor with 0xFF.
    pub flips: Vec<u64>,
    /// Go silent once this many bytes were sent.
    pub stall_at: Option<u64>,
    pub stall_max: Duration,
    /// End the body (short of Content-Length) once this many bytes were sent.
    pub truncate_at: Option<u64>,
}
