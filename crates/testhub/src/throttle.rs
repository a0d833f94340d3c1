//! Bandwidth caps: a pacer hands out send times so that bytes leave at `rate` bytes/s.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// Virtual-time token bucket: each reservation of `n` bytes moves the "next free" instant by
/// `n / rate`; the caller sleeps until its reservation ends. Accurate over long runs because
/// sleeps never accumulate error (the schedule is absolute). A small burst allowance lets an
/// idle link start at once.
pub(crate) struct Pacer {
    rate: u64,
    burst: Duration,
    next: Mutex<Option<Instant>>,
}

/// How far behind schedule a pacer may fall and still catch up (wake-ups are late on a busy
/// machine; without catch-up the rate would fall short). Also the most idle time that can be
/// spent in a burst.
pub(crate) const CATCH_UP: Duration = Duration::from_millis(50);

impl Pacer {
    /// A pacer for `rate` bytes/s, starting now with no credit; `burst` = how far behind it may
    /// fall and catch up (see `CATCH_UP`).
    pub fn new(rate: u64, burst: Duration) -> Self {
        Pacer {
            rate: rate.max(1),
            burst,
            // no credit at start: a new response (or a new cap) begins at the exact rate
            next: Mutex::new(Some(Instant::now())),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Reserve `n` bytes; returns when they may be sent.
    pub fn reserve(&self, n: u64) -> Instant {
        let now = Instant::now();
        let mut next = self.next.lock();
        let earliest = now.checked_sub(self.burst).unwrap_or(now);
        let start = next.map_or(earliest, |t| t.max(earliest));
        let end = start + Duration::from_secs_f64(n as f64 / self.rate as f64);
        *next = Some(end);
        end
    }
}

/// Chunk size that keeps pacing smooth for a rate (about 100 chunks per second, 1 KiB..64 KiB).
pub(crate) fn chunk_for_rate(rate: u64) -> usize {
    ((rate / 100).clamp(1024, 64 * 1024)) as usize
}
