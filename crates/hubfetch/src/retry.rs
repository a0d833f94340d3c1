//! Retry policy: capped exponential backoff with full jitter, `Retry-After` for 429/503,
//! and an optional limit on transient retries (unlimited by default: weak links recover).

use std::time::Duration;

use rand::Rng;

/// Per-request backoff state (one per chunk or resolve call).
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay: uniform in `[0, min(cap, base * 2^attempt)]` ("full jitter").
    pub(crate) fn next_delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX));
        let ceiling = exp.min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let ms = ceiling.as_millis() as u64;
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
    }

    /// Progress was made: start over from the base delay.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Parse `Retry-After` (delta-seconds form; HTTP dates are treated as absent).
pub(crate) fn parse_retry_after(v: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let s = v?.to_str().ok()?.trim();
    let secs: u64 = s.parse().ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for _ in 0..50 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_seconds() {
        let v = reqwest::header::HeaderValue::from_static("7");
        assert_eq!(parse_retry_after(Some(&v)), Some(Duration::from_secs(7)));
        let d = reqwest::header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(Some(&d)), None);
        assert_eq!(parse_retry_after(None), None);
    }
}
