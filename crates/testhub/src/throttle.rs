//! Bandwidth caps: a pacer hands out send times so that bytes leave at `rate` bytes/s.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Virtual-time token bucket: each reservation of `n` bytes moves the "next free" instant by
/// `n / rate`; the caller sleeps until its reservation ends. Accurate over long runs because
/// sleeps never accumulate error (the schedule is absolute). A small burst allowance lets an
/// idle link start at once.
pub(crate) struct Pacer {
    rate: u64,
    next: Mutex<Option<Instant>>,
}

/// Idle time that may be "saved up" and spent in a burst.
const BURST: Duration = Duration::from_millis(20);

impl Pacer {
    pub fn new(rate: u64) -> Self {
        Pacer {
            rate: rate.max(1),
            next: Mutex::new(None),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Reserve `n` bytes; returns when they may be sent.
    pub fn reserve(&self, n: u64) -> Instant {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let start = match *next {
            Some(t) if t + BURST > now => t,
            _ => now.checked_sub(BURST).unwrap_or(now),
        };
        let end = start + Duration::from_secs_f64(n as f64 / self.rate as f64);
        *next = Some(end);
        end
    }
}

/// Chunk size that keeps pacing smooth for a rate (about 100 chunks per second, 1 KiB..64 KiB).
pub(crate) fn chunk_for_rate(rate: u64) -> usize {
    ((rate / 100).clamp(1024, 64 * 1024)) as usize
}
