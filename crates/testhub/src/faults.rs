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
    /// Probability that a data response carries one flipped byte (xor 0xFF) at a random offset
    /// of its body (seeded by `seed`): a link that corrupts at random.
    pub flip_probability: f64,
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
    /// Answer the first N hub or CDN requests like a captive portal: `200 text/html` with a
    /// login page (no Hub headers), whatever was asked.
    pub captive_portal: u32,
    /// Like `captive_portal` but only for CDN (data) requests.
    pub captive_portal_cdn: u32,
    /// The branch moves once this many resolve requests were answered: `move_main_path`
    /// (same size) gets new bytes, hence a new commit. The old commit keeps resolving to the
    /// old files, as on the Hub.
    pub move_main_after_resolves: Option<u32>,
    /// The file that changes when the branch moves.
    pub move_main_path: Option<String>,
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
    /// Resolves seen towards `move_main_after_resolves`.
    pub moved_after: u32,
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
            moved_after: 0,
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

/// Why a `--faults` specification could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("bad fault spec {item:?}: {reason}")]
pub struct FaultSpecError {
    /// The `key=value` item.
    pub item: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::str::FromStr for Faults {
    type Err = FaultSpecError;

    /// Parse the binary's `--faults` format: comma-separated `key=value` items, e.g.
    /// `drops=3,flip=1,stall=1,bw-conn=20MB,bw-total=160MB,503=2` (see the crate README).
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut f = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let err = |reason: &str| FaultSpecError {
                item: item.to_string(),
                reason: reason.to_string(),
            };
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| err("expected key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            let count = || v.parse::<u32>().map_err(|_| err("expected a count"));
            let size =
                || parse_size(v).ok_or_else(|| err("expected a size like 1000, 64KiB, 20MB"));
            let dur =
                || parse_duration(v).ok_or_else(|| err("expected a duration like 5s, 500ms, 2m"));
            match k {
                "drops" | "drop" => f.drop_mid_body = count()?,
                "drop-prob" => {
                    f.drop_probability = v
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or_else(|| err("expected a probability in 0..1"))?
                }
                "seed" => f.seed = v.parse().map_err(|_| err("expected a number"))?,
                "flip" => f.flip_byte = count()?,
                "flip-prob" => {
                    f.flip_probability = v
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or_else(|| err("expected a probability in 0..1"))?
                }
                "flip-at" => f.flip_byte_at = Some(size()?),
                "flip-at-count" => f.flip_byte_at_count = count()?,
                "stall" => f.stall = count()?,
                "stall-after" => f.stall_after_bytes = size()?,
                "stall-max" => f.stall_max = Some(dur()?),
                "429" => f.status_429 = count()?,
                "503" => f.status_503 = count()?,
                "resolve-503" => f.resolve_503 = count()?,
                "cdn-503" => f.cdn_503 = count()?,
                "retry-after" => {
                    f.retry_after_secs = v.parse().map_err(|_| err("expected seconds"))?
                }
                "ignore-range" => f.ignore_range = count()?,
                "truncate" => f.truncate_body = count()?,
                "change-after" => f.change_upstream_after_bytes = Some(size()?),
                "retire-old" => f.retire_old_blobs = matches!(v, "1" | "true" | "yes"),
                "expire-urls" => f.expire_signed_urls_after = Some(dur()?),
                "bw-conn" => f.bandwidth_per_connection = Some(size()?),
                "bw-total" => f.bandwidth_total = Some(size()?),
                "captive-portal" => f.captive_portal = count()?,
                "captive-portal-cdn" => f.captive_portal_cdn = count()?,
                "move-main-after" => f.move_main_after_resolves = Some(count()?),
                "move-main-path" => f.move_main_path = Some(v.to_string()),
                _ => return Err(err("unknown fault (see the testhub README)")),
            }
        }
        Ok(f)
    }
}

/// `1000`, `64KiB`, `20MB`, `1.5GB`, `4k`: decimal (`KB`, `MB`, `GB`, `k`, `M`, `G`) or binary
/// (`KiB`, `MiB`, `GiB`) units; a trailing `/s` is ignored (for rates).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().trim_end_matches("/s");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let v = num * mult;
    (v.is_finite() && v >= 0.0).then_some(v.round() as u64)
}

/// `5s`, `500ms`, `2m`, or plain seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v * mult))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_binary_format() {
        let f: Faults = "drops=3,flip=1,stall=1,bw-conn=20MB,bw-total=160MB,503=2,expire-urls=500ms,flip-at=1KiB"
            .parse()
            .expect("parse");
        assert_eq!(f.drop_mid_body, 3);
        assert_eq!(f.flip_byte, 1);
        assert_eq!(f.stall, 1);
        assert_eq!(f.bandwidth_per_connection, Some(20_000_000));
        assert_eq!(f.bandwidth_total, Some(160_000_000));
        assert_eq!(f.status_503, 2);
        assert_eq!(f.expire_signed_urls_after, Some(Duration::from_millis(500)));
        assert_eq!(f.flip_byte_at, Some(1024));
        let f: Faults = "flip-prob=0.15,seed=4".parse().expect("parse");
        assert_eq!((f.flip_probability, f.seed), (0.15, 4));
        assert!("flip-prob=2".parse::<Faults>().is_err());
        assert!("bogus=1".parse::<Faults>().is_err());
        assert!("drops".parse::<Faults>().is_err());
        assert_eq!(parse_size("1.5GB"), Some(1_500_000_000));
        assert_eq!(parse_size("2MiB/s"), Some(2 * 1024 * 1024));
    }
}
