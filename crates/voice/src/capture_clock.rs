//! When each microphone sample was captured, on the same clock as [`Instant::now`]: the input
//! callback stamps its first sample ([`CaptureStamps`], real-time safe: one clock read and a
//! push into a lock-free ring), and the model thread maps any sample index back to an instant
//! ([`CaptureClock`]). Push-to-talk gates frames by this time ([`crate::gate`]), so a frame the
//! model thread handles late is judged by when it was spoken, not when it was processed.

use std::time::{Duration, Instant};

/// Stamps kept for smoothing: the callback's clock read lags the true capture time by its
/// scheduling jitter, never leads it, so the earliest origin over the last stamps is the best.
const WINDOW: usize = 16;

/// One input callback: its first sample's index (mono samples since the stream opened) and
/// when that sample was captured.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    index: u64,
    at: Instant,
}

/// The input callback's side.
pub struct CaptureStamps {
    producer: rtrb::Producer<Stamp>,
}

impl std::fmt::Debug for CaptureStamps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureStamps").finish_non_exhaustive()
    }
}

impl CaptureStamps {
    /// The callback's first sample (`index`) was captured `age` before now. Real-time safe:
    /// no allocation, lock or wait (a full ring drops the stamp).
    pub fn stamp(&mut self, index: u64, age: Duration) {
        let now = Instant::now();
        let at = now.checked_sub(age).unwrap_or(now);
        let _ = self.producer.push(Stamp { index, at });
    }
}

/// The model thread's side: sample index → capture instant.
#[derive(Debug)]
pub struct CaptureClock {
    consumer: rtrb::Consumer<Stamp>,
    rate: f64,
    recent: [Option<Stamp>; WINDOW],
    next: usize,
}

/// A connected pair for a stream at `rate` Hz.
pub fn capture_clock(rate: u32) -> (CaptureStamps, CaptureClock) {
    let (producer, consumer) = rtrb::RingBuffer::new(256);
    (
        CaptureStamps { producer },
        CaptureClock {
            consumer,
            rate: f64::from(rate.max(1)),
            recent: [None; WINDOW],
            next: 0,
        },
    )
}

impl CaptureClock {
    /// Sets the stream's rate (known only once the device is open).
    pub fn set_rate(&mut self, rate: u32) {
        self.rate = f64::from(rate.max(1));
    }

    /// When sample `index` was captured, from the stamps so far (`None` before the first).
    pub fn time_of(&mut self, index: u64) -> Option<Instant> {
        while let Ok(s) = self.consumer.pop() {
            self.recent[self.next] = Some(s);
            self.next = (self.next + 1) % WINDOW;
        }
        // The stamp implying the earliest time for `index` is the least delayed one.
        self.recent
            .iter()
            .flatten()
            .map(|s| self.shift(s.at, s.index, index))
            .min()
    }

    fn shift(&self, at: Instant, from: u64, to: u64) -> Instant {
        if to >= from {
            at + Duration::from_secs_f64((to - from) as f64 / self.rate)
        } else {
            let back = Duration::from_secs_f64((from - to) as f64 / self.rate);
            at.checked_sub(back).unwrap_or(at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_indices_through_the_least_delayed_stamp() {
        let (mut stamps, mut clock) = capture_clock(48_000);
        assert!(clock.time_of(0).is_none());
        let t0 = Instant::now();
        // Push stamps by hand: index 0 at t0, index 960 "late" by 5 ms of jitter.
        stamps.producer.push(Stamp { index: 0, at: t0 }).ok();
        stamps
            .producer
            .push(Stamp {
                index: 960,
                at: t0 + Duration::from_millis(25),
            })
            .ok();
        let t = clock.time_of(4800).unwrap_or(t0);
        // 4800 samples = 100 ms after index 0; the jittered stamp would say 105 ms.
        let ms = t.duration_since(t0).as_secs_f64() * 1000.0;
        assert!((ms - 100.0).abs() < 0.01, "{ms}");
        let back = clock.time_of(0).unwrap_or(t0 + Duration::from_secs(1));
        assert_eq!(back, t0);
    }

    #[test]
    fn a_stamp_is_now_minus_the_age() {
        let (mut stamps, mut clock) = capture_clock(24_000);
        let before = Instant::now();
        stamps.stamp(2400, Duration::from_millis(30));
        let t = clock
            .time_of(2400)
            .unwrap_or(before + Duration::from_secs(9));
        assert!(t <= before);
        assert!(before.duration_since(t) < Duration::from_millis(40));
    }
}
