//! Connections that fit the link: start with a few, add one while the total receive rate
//! grows with it, step back when it stops growing, and shed connections on bursts of resets
//! **and** stalls. A lower limit applies at once: the transfers over it end at their next
//! received bytes (their data kept as durable pieces) and wait for a slot, instead of running
//! to the end of their chunk.
//!
//! Why: on the seed user's link ~10 connections carry ~1 MB/s, 20 carry no more and 30 carry
//! less (more resets and stalls), while a fast link wants as many as the server allows. A
//! fixed count is wrong for one of them; the receive rate per level is what tells them apart.
//!
//! The control loop, evaluated every `interval` of transfer:
//! - **probing**: measure the rate at the current level; if the previous step up raised it by
//!   at least `max(GAIN_FLOOR, 0.5 / n)` (half of what one more of `n` linear connections
//!   would add), step up again, else step back down and hold. Steps are half the level
//!   (like TCP's slow start) until one does not pay, one at a time after; when each
//!   connection carries ≥ `FAST_PER_CONNECTION` the slow-start step quadruples the level
//!   (2 → 8 after the first second on a link that needs 8);
//! - **holding**: keep the level for `HOLD_INTERVALS`, then probe again (links change);
//! - **failures**: `FAILURE_BURST` resets or stalls within `FAILURE_WINDOW_INTERVALS` shed a
//!   quarter of the connections (at least one) and hold. The first measured interval after
//!   the shed checks that it paid: on an overloaded link the remaining connections each carry
//!   more (the total holds); when each carries no more than `SHED_PAID` above what it did
//!   before, the failures were random (drops on a link whose connections are each capped) and
//!   the shed only cost throughput, so the connections come back at once (the hold stays).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Smallest relative rate gain that counts as "grew" when stepping up.
const GAIN_FLOOR: f64 = 0.04;
/// Intervals a level is held before probing again.
const HOLD_INTERVALS: u32 = 15;
/// Resets/stalls within this many intervals that count as a burst...
const FAILURE_WINDOW_INTERVALS: u32 = 10;
/// ...and how many make one.
const FAILURE_BURST: usize = 3;
/// A level whose connections each carry at least this much (bytes/s) is on a fast link:
/// slow start then quadruples the level instead of adding half of it. Far above what one
/// connection of a weak link carries (the seed's ~100 kB/s), where the careful ramp stays.
const FAST_PER_CONNECTION: f64 = 2e6;
/// The level's factor per slow-start step on a fast link.
const FAST_FACTOR: usize = 4;
/// A shed after failures is kept only when each remaining connection then carries at least
/// this much more (relative) than before it.
const SHED_PAID: f64 = 0.1;

/// The connection limit of one job and the slots that enforce it.
#[derive(Debug)]
pub(crate) struct ConnLimiter {
    /// The ceiling (`Options::connections`).
    pub max: usize,
    /// The current limit (1..=max).
    pub allowed: AtomicUsize,
    /// Transfers holding a slot now.
    active: AtomicUsize,
    freed: Notify,
    ctl: Mutex<Control>,
}

#[derive(Debug)]
struct Control {
    interval: Duration,
    adaptive: bool,
    window_start: Instant,
    window_bytes: u64,
    /// The first bytes were seen: windows are measured from then (not from the job's start,
    /// which includes resolving the file).
    started: bool,
    /// The limit changed: the next window is the transition, not a measurement.
    settling: bool,
    /// While probing: the level below the current one and its rate (bytes/s).
    below: Option<(usize, f64)>,
    /// Steps of half the level (like TCP's slow start) until the first step that did not pay.
    slow_start: bool,
    mode: Mode,
    failures: VecDeque<Instant>,
    /// The last measured interval: (level, total rate in bytes/s).
    last: Option<(usize, f64)>,
    /// After a shed on failures: (the level before it, the rate per connection before it),
    /// checked at the first busy measured interval.
    shed_check: Option<(usize, f64)>,
    /// (time, limit) at every change, for tests and logs.
    history: Vec<(Instant, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Measuring the current level, then deciding to step up or back.
    Probing,
    /// Keeping the level until then.
    Holding(Instant),
}

/// A transfer's permission to use a connection; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    lim: &'a ConnLimiter,
    held: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.held {
            self.lim.active.fetch_sub(1, Ordering::SeqCst);
            self.lim.freed.notify_waiters();
        }
    }
}

impl Slot<'_> {
    /// True when the limit fell below the transfers in flight and this one should give its
    /// slot back now (exactly the excess number of transfers are told so).
    pub(crate) fn should_shed(&mut self) -> bool {
        if !self.held {
            return true;
        }
        let lim = self.lim;
        let allowed = lim.allowed.load(Ordering::SeqCst);
        let mut cur = lim.active.load(Ordering::SeqCst);
        while cur > allowed {
            match lim
                .active
                .compare_exchange(cur, cur - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    self.held = false;
                    lim.freed.notify_waiters();
                    return true;
                }
                Err(now) => cur = now,
            }
        }
        false
    }
}

impl ConnLimiter {
    /// A limiter with ceiling `max`, starting at `initial`, re-evaluated every `interval`;
    /// with `initial >= max` the count is fixed (no probing, still shedding on failures).
    pub(crate) fn new(max: usize, initial: usize, interval: Duration) -> ConnLimiter {
        let max = max.max(1);
        let initial = initial.clamp(1, max);
        let now = Instant::now();
        ConnLimiter {
            max,
            allowed: AtomicUsize::new(initial),
            active: AtomicUsize::new(0),
            freed: Notify::new(),
            ctl: Mutex::new(Control {
                interval: interval.max(Duration::from_millis(10)),
                adaptive: initial < max,
                window_start: now,
                window_bytes: 0,
                started: false,
                settling: false,
                below: None,
                slow_start: true,
                mode: Mode::Probing,
                failures: VecDeque::new(),
                last: None,
                shed_check: None,
                history: vec![(now, initial)],
            }),
        }
    }

    /// The current limit.
    pub(crate) fn allowed(&self) -> usize {
        self.allowed.load(Ordering::SeqCst)
    }

    /// The limits over time (time, limit), first entry at the start.
    #[cfg(test)]
    pub(crate) fn history(&self) -> Vec<(Instant, usize)> {
        self.lock().history.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Control> {
        self.ctl.lock()
    }

    /// True when a new transfer could start now (a free slot under the limit).
    pub(crate) fn has_room(&self) -> bool {
        self.active.load(Ordering::SeqCst) < self.allowed()
    }

    /// Wait until a free slot under the limit, and take it (None: cancelled).
    pub(crate) async fn acquire(&self, cancel: &CancellationToken) -> Option<Slot<'_>> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let allowed = self.allowed();
            let cur = self.active.load(Ordering::SeqCst);
            if cur < allowed
                && self
                    .active
                    .compare_exchange(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                return Some(Slot {
                    lim: self,
                    held: true,
                });
            }
            if cur < allowed {
                continue; // lost a race: try again at once
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = &mut freed => {}
                // The limit may have grown without a slot being freed.
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    /// Bytes received so far by the whole job (monotone): drives the control loop.
    pub(crate) fn observe(&self, total_bytes: u64) {
        self.observe_at(total_bytes, Instant::now());
    }

    fn observe_at(&self, total_bytes: u64, now: Instant) {
        let mut c = self.lock();
        if !std::mem::replace(&mut c.started, true) {
            c.window_start = now;
            c.window_bytes = total_bytes;
            return;
        }
        let elapsed = now.saturating_duration_since(c.window_start);
        if elapsed < c.interval {
            return;
        }
        let rate = total_bytes.saturating_sub(c.window_bytes) as f64 / elapsed.as_secs_f64();
        c.window_start = now;
        c.window_bytes = total_bytes;
        if std::mem::take(&mut c.settling) {
            return;
        }
        let n = self.allowed();
        if !c.adaptive {
            // A fixed count that was shed after failures comes back one at a time.
            if let Mode::Holding(until) = c.mode {
                if now >= until && n < self.max {
                    self.set(&mut c, n + 1, now, "no more failures: one connection back");
                    c.mode = Mode::Holding(now + c.interval * HOLD_INTERVALS);
                }
            }
            return;
        }
        // Only a level that was in use says anything about the link (not the last chunks of
        // a file, fewer than the connections); transfers between chunks leave small gaps.
        let busy = self.active.load(Ordering::SeqCst) * 4 >= n * 3;
        if busy {
            c.last = Some((n, rate));
            if let Some((from, per_before)) = c.shed_check.take() {
                if from > n && rate / (n as f64) < per_before * (1.0 + SHED_PAID) {
                    // Each connection carries what it did before the shed: the failures were
                    // not from too many connections, and fewer only cost throughput.
                    self.set(&mut c, from, now, "the shed did not pay: connections back");
                    return;
                }
            }
        }
        match c.mode {
            Mode::Holding(until) if now < until => {}
            Mode::Holding(_) => {
                c.mode = Mode::Probing;
                c.below = None;
            }
            Mode::Probing if !busy => {}
            Mode::Probing => match c.below {
                // The first measurement at this level: step up and see.
                None => self.step_up(&mut c, n, rate, now),
                Some((n0, r0)) => {
                    let need = (0.5 * (n - n0) as f64 / n0.max(1) as f64).max(GAIN_FLOOR);
                    if rate >= r0 * (1.0 + need) && rate > 0.0 {
                        self.step_up(&mut c, n, rate, now);
                    } else if rate == 0.0 && r0 == 0.0 {
                        // Nothing flows at all: not a measurement.
                    } else if c.slow_start && n - n0 > 1 {
                        // Too big a step: go on one at a time from the last level that paid.
                        c.slow_start = false;
                        c.below = Some((n0, r0));
                        self.set(&mut c, n0 + 1, now, "probing one connection at a time");
                    } else {
                        c.below = None;
                        self.set(&mut c, n0, now, "throughput stopped growing: stepping back");
                        c.mode = Mode::Holding(now + c.interval * HOLD_INTERVALS);
                    }
                }
            },
        }
    }

    /// The level `n` carried `rate`: remember it and try more (or hold at the ceiling).
    fn step_up(&self, c: &mut Control, n: usize, rate: f64, now: Instant) {
        c.below = Some((n, rate));
        if n >= self.max {
            c.mode = Mode::Holding(now + c.interval * HOLD_INTERVALS);
            return;
        }
        // Slow start: half the level at a time, or four times the level when each connection
        // is fast (a link that needs 8 gets them after the first interval, not after four).
        let step = match c.slow_start {
            true if rate / n.max(1) as f64 >= FAST_PER_CONNECTION => n * (FAST_FACTOR - 1),
            true => (n / 2).max(1),
            false => 1,
        };
        self.set(
            c,
            (n + step).min(self.max),
            now,
            "more connections, more throughput",
        );
    }

    /// A transfer failed with a reset (refused, cut body) or a stall: a burst of them sheds
    /// connections at once.
    pub(crate) fn failure(&self) {
        let now = Instant::now();
        let mut c = self.lock();
        if c.adaptive && c.last.is_none() {
            // Before the first measured interval (still at the initial level) nothing says
            // the failures come from too many connections, and no rate could check a shed:
            // on a fast link early drops would hold it at one connection for the hold time.
            return;
        }
        let window = c.interval * FAILURE_WINDOW_INTERVALS;
        c.failures.push_back(now);
        while c
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            c.failures.pop_front();
        }
        if c.failures.len() < FAILURE_BURST {
            return;
        }
        c.failures.clear();
        let n = self.allowed();
        let to = n.saturating_sub((n / 4).max(1)).max(1);
        if to < n {
            self.set(&mut c, to, now, "resets or stalls: fewer connections");
            // Checked against the rate per connection of the last measured interval (at
            // whatever level it was); without one the shed stays.
            c.shed_check = match c.last {
                Some((l, r)) if c.adaptive && l > 0 && r > 0.0 => Some((n, r / l as f64)),
                _ => None,
            };
        }
        c.below = None;
        c.slow_start = false;
        c.mode = Mode::Holding(now + c.interval * HOLD_INTERVALS);
    }

    fn set(&self, c: &mut Control, to: usize, now: Instant, why: &str) {
        let from = self.allowed.swap(to, Ordering::SeqCst);
        if from != to {
            tracing::info!(from, to, why, "connections");
            c.history.push((now, to));
            c.settling = true;
            self.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated link: `per` bytes/s per connection up to `total` bytes/s in all, in
    /// virtual time (quarter-interval steps); returns the limit at the end.
    fn run(lim: &ConnLimiter, per: f64, total: f64, secs: f64) -> usize {
        let (step, t0) = {
            let c = lim.lock();
            (c.interval.as_secs_f64() / 4.0, c.window_start)
        };
        let (mut bytes, mut t) = (0.0, 0.0);
        while t < secs {
            let n = lim.allowed() as f64;
            lim.active.store(lim.allowed(), Ordering::SeqCst);
            bytes += (n * per).min(total) * step;
            t += step;
            lim.observe_at(bytes as u64, t0 + Duration::from_secs_f64(t));
        }
        lim.allowed()
    }

    #[test]
    fn grows_to_the_plateau_and_not_beyond() {
        // 100 kB/s per connection, 1 MB/s in all: ~10 connections, never 16.
        let lim = ConnLimiter::new(16, 2, Duration::from_secs(1));
        let n = run(&lim, 100e3, 1e6, 30.0);
        let h: Vec<usize> = lim.history().iter().map(|h| h.1).collect();
        assert!((10..=11).contains(&n), "settled at {n}: {h:?}");
        assert!(h.iter().all(|n| *n <= 14), "overshot: {h:?}");
        // Still there after holding and probing again.
        assert!((10..=11).contains(&run(&lim, 100e3, 1e6, 60.0)), "{h:?}");
    }

    #[test]
    fn a_fast_link_gets_the_ceiling() {
        let lim = ConnLimiter::new(16, 2, Duration::from_secs(1));
        assert_eq!(run(&lim, 20e6, 1e12, 20.0), 16, "{:?}", lim.history());
        // A link with room for only 3: 3 or 4, never more.
        let lim = ConnLimiter::new(16, 2, Duration::from_secs(1));
        let n = run(&lim, 30e3, 90e3, 30.0);
        assert!((3..=4).contains(&n), "{n}: {:?}", lim.history());
    }

    #[test]
    fn a_fast_link_that_needs_eight_gets_them_after_the_first_second() {
        // 5 MB/s per connection, 40 MB/s in all (the download benchmark's link): 8 after the
        // first interval (the careful ramp took 2, 3, 4, 6, 9: four more steps of two
        // intervals each), and it settles at 8-9, not at the ceiling.
        let lim = ConnLimiter::new(16, 2, Duration::from_secs(1));
        let n = run(&lim, 5e6, 40e6, 30.0);
        let h = lim.history();
        let t0 = h[0].0;
        let reached = h
            .iter()
            .find(|(_, n)| *n >= 8)
            .map(|(t, _)| t.duration_since(t0).as_secs_f64());
        assert!(reached.is_some_and(|t| t <= 1.5), "{reached:?}: {h:?}");
        assert!((8..=9).contains(&n), "settled at {n}: {h:?}");
        // A weak link never takes the fast step: 100 kB/s per connection goes 2 -> 3.
        let lim = ConnLimiter::new(16, 2, Duration::from_secs(1));
        run(&lim, 100e3, 1e6, 2.0);
        assert_eq!(lim.history().get(1).map(|h| h.1), Some(3));
    }

    #[test]
    fn a_shed_that_costs_throughput_is_undone_and_one_that_pays_is_kept() {
        // Drops on a link whose connections are each capped (5 MB/s, 40 MB/s in all: the
        // download benchmark's): shedding 8 -> 6 leaves each connection at 5 MB/s, so the 8
        // come back after one measured interval instead of after the hold (15 s at 6).
        let lim = ConnLimiter::new(16, 2, Duration::from_secs(1));
        assert_eq!(run(&lim, 5e6, 40e6, 10.0), 8, "{:?}", lim.history());
        for _ in 0..FAILURE_BURST {
            lim.failure();
        }
        assert_eq!(lim.allowed(), 6);
        let shed_at = lim.history().len();
        run(&lim, 5e6, 40e6, 3.0);
        let after: Vec<usize> = lim.history()[shed_at..].iter().map(|h| h.1).collect();
        assert_eq!(after.first(), Some(&8), "{:?}", lim.history());
        // Drops before the first measured interval do not shed (the 160 MB/s benchmark's
        // 4 early drops held it at 1 connection of 20 MB/s for 15 s).
        let lim = ConnLimiter::new(16, 2, Duration::from_secs(1));
        for _ in 0..FAILURE_BURST {
            lim.failure();
        }
        assert_eq!(lim.allowed(), 2);
        assert_eq!(run(&lim, 20e6, 160e6, 1.5), 8, "{:?}", lim.history());
        // An overloaded link (1 MB/s in all over 16 connections of up to 100 kB/s): after the
        // shed each of the 12 carries a third more, so 12 stay.
        let lim = ConnLimiter::new(16, 16, Duration::from_secs(1));
        lim.lock().adaptive = true;
        run(&lim, 100e3, 1e6, 3.0);
        for _ in 0..FAILURE_BURST {
            lim.failure();
        }
        assert_eq!(lim.allowed(), 12);
        run(&lim, 100e3, 1e6, 3.0);
        assert_eq!(lim.allowed(), 12, "{:?}", lim.history());
    }

    #[test]
    fn bursts_of_failures_shed_at_once_and_excess_slots_give_way() {
        let lim = ConnLimiter::new(12, 12, Duration::from_secs(10));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        rt.block_on(async {
            let cancel = CancellationToken::new();
            let mut slots = Vec::new();
            for _ in 0..12 {
                slots.push(lim.acquire(&cancel).await.expect("slot"));
            }
            lim.failure(); // resets and a stall, not yet a burst
            lim.failure();
            assert_eq!(lim.allowed(), 12);
            lim.failure(); // the third soon after: shed a quarter
            assert_eq!(lim.allowed(), 9);
            // Exactly the excess transfers are told to give their slot back.
            let shed = slots
                .iter_mut()
                .map(|s| s.should_shed())
                .filter(|b| *b)
                .count();
            assert_eq!(shed, 3);
            assert!(!lim.has_room());
            drop(slots);
            assert!(lim.has_room());
        });
        // A fixed count comes back once the failures stop (one per hold period).
        let t0 = lim.lock().window_start;
        let at = |s: u64| t0 + Duration::from_secs(s);
        lim.observe_at(0, at(1)); // the first bytes: windows are measured from here
        lim.observe_at(0, at(11)); // the window after the change: not measured
        lim.observe_at(0, at(200)); // hold over: one back
        assert_eq!(lim.allowed(), 10);
    }
}
