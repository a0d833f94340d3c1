//! Push-to-talk: decides which microphone samples reach the model, by when they were
//! CAPTURED, not when the model thread happens to handle them.
//!
//! Moshi is full duplex, so the model keeps running while the key is up; it hears silence and
//! can go on talking (its output is never gated). [`Gate`] is shared with the app: it records
//! each key-down and key-up with its instant ([`Gate::set_talking_at`]). A sample captured at
//! `t` reaches the model when the key was down at `t` or went down within the pre-roll after
//! `t` (default 250 ms: the first syllable, spoken while the finger travels, is kept). A model
//! thread that runs late gates exactly the same samples as one that runs on time.
//!
//! Pre-roll audio was usually handled (as silence) before the key-down was known, so
//! [`PreRoll`] keeps the last few frames: at a key-down it rewinds the model's input to the
//! first frame that should have been heard, and the model hears the person that much later
//! while the key is held; once the key is up and the rest is silence it skips ahead again.
//! Only audio the model heard as silence is replayed or skipped, and the model still steps once
//! per captured frame, so Moshi's output is never delayed or cut by the key.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Key edges kept (older ones are forgotten; the oldest kept says the state before it).
const MAX_EDGES: usize = 64;

/// Default pre-roll: samples captured this long before a key-down still reach the model.
pub const DEFAULT_PRE_ROLL: Duration = Duration::from_millis(250);

/// A key-down (`down`) or key-up at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edge {
    at: Instant,
    down: bool,
}

/// Shared between the app (which presses the key) and the model thread (which reads it).
#[derive(Debug)]
pub struct Gate {
    talking: AtomicBool,
    hands_free: AtomicBool,
    submitted: AtomicU64,
    pre_roll: Duration,
    /// Key changes, oldest first; they alternate down/up.
    edges: Mutex<VecDeque<Edge>>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new(false)
    }
}

/// Samples per second at the model's rate, as f64.
const RATE: f64 = SAMPLE_RATE as f64;

impl Gate {
    /// A gate, open all the time when `hands_free`, with the default pre-roll.
    pub fn new(hands_free: bool) -> Self {
        Self::with_pre_roll(hands_free, DEFAULT_PRE_ROLL)
    }

    /// A gate whose key-downs also let through what was captured `pre_roll` before them.
    pub fn with_pre_roll(hands_free: bool, pre_roll: Duration) -> Self {
        Self {
            talking: AtomicBool::new(false),
            hands_free: AtomicBool::new(hands_free),
            submitted: AtomicU64::new(0),
            pre_roll,
            edges: Mutex::new(VecDeque::with_capacity(MAX_EDGES + 1)),
        }
    }

    /// The pre-roll this gate applies.
    pub fn pre_roll(&self) -> Duration {
        self.pre_roll
    }

    /// Push-to-talk key down (`true`) or up (`false`), now.
    pub fn set_talking(&self, talking: bool) {
        self.set_talking_at(talking, Instant::now());
    }

    /// Push-to-talk key down or up at `at` (e.g. the instant the hotkey event was made, which
    /// may be a little in the past): the samples captured from then on follow it. An edge
    /// older than the latest one recorded is taken as happening at the latest one.
    pub fn set_talking_at(&self, talking: bool, at: Instant) {
        let mut edges = self.edges.lock();
        if self.talking.swap(talking, Ordering::SeqCst) == talking {
            return;
        }
        let at = edges.back().map_or(at, |last| at.max(last.at));
        edges.push_back(Edge { at, down: talking });
        while edges.len() > MAX_EDGES {
            edges.pop_front();
        }
    }

    /// Switches hands-free mode (mic always reaches the model), from the next frame handled.
    pub fn set_hands_free(&self, on: bool) {
        self.hands_free.store(on, Ordering::SeqCst);
    }

    /// Whether hands-free mode is on.
    pub fn is_hands_free(&self) -> bool {
        self.hands_free.load(Ordering::SeqCst)
    }

    /// Whether the key is down or hands-free is on, now.
    pub fn is_open(&self) -> bool {
        self.is_hands_free() || self.talking.load(Ordering::SeqCst)
    }

    /// Frames handed to the model so far (the index the next one's transcript carries).
    pub fn frames_submitted(&self) -> u64 {
        self.submitted.load(Ordering::SeqCst)
    }

    /// Called by the model thread for each frame when capture times are unknown (the file
    /// mode): counts it, then silences it if the gate is closed now. Returns whether the mic
    /// got through and the frame's index.
    pub fn apply(&self, frame: &mut [f32]) -> (bool, u64) {
        let index = self.submitted.fetch_add(1, Ordering::SeqCst);
        let open = self.is_open();
        if !open {
            frame.fill(0.0);
        }
        (open, index)
    }

    /// Called by the model thread for each frame whose first sample was captured at
    /// `captured` (24 kHz): counts it and silences every sample the key did not cover (with
    /// the pre-roll). Returns whether any mic sample got through and the frame's index.
    pub fn apply_captured(&self, frame: &mut [f32], captured: Instant) -> (bool, u64) {
        let index = self.submitted.fetch_add(1, Ordering::SeqCst);
        if self.is_hands_free() {
            return (true, index);
        }
        let mut keep = [(0usize, 0usize); MAX_EDGES / 2 + 1];
        let n = self.open_ranges(captured, frame.len(), &mut keep);
        let mut next = 0;
        for &(a, b) in &keep[..n] {
            frame[next..a].fill(0.0);
            next = b;
        }
        frame[next..].fill(0.0);
        (n > 0, index)
    }

    /// Whether any sample of a `len`-sample frame captured from `captured` on gets through.
    pub fn any_open(&self, captured: Instant, len: usize) -> bool {
        if self.is_hands_free() {
            return true;
        }
        let mut keep = [(0usize, 0usize); MAX_EDGES / 2 + 1];
        self.open_ranges(captured, len, &mut keep) > 0
    }

    /// The sample ranges `[a, b)` of a frame of `len` samples starting at `start` that the key
    /// covers (pre-roll included), in order and disjoint; returns how many were written.
    fn open_ranges(&self, start: Instant, len: usize, out: &mut [(usize, usize)]) -> usize {
        let edges = self.edges.lock();
        // Sample index (clamped to 0..=len) of an instant.
        let idx = |t: Instant| -> usize {
            // The first sample captured at or after `t` (exact in integer nanoseconds).
            let ns = t.saturating_duration_since(start).as_nanos();
            let i = (ns * u128::from(SAMPLE_RATE)).div_ceil(1_000_000_000);
            i.min(len as u128) as usize
        };
        let mut n = 0;
        // The state before the oldest edge kept is the opposite of that edge.
        let mut open_from: Option<usize> = match edges.front() {
            Some(e) if !e.down => Some(0),
            _ => None,
        };
        for e in edges.iter() {
            if e.down {
                let from = e.at.checked_sub(self.pre_roll).unwrap_or(e.at);
                open_from = Some(idx(from));
            } else if let Some(a) = open_from.take() {
                n = push_range(out, n, a, idx(e.at));
            }
        }
        if let Some(a) = open_from {
            n = push_range(out, n, a, len);
        }
        n
    }
}

/// Appends `[a, b)` to `out[..n]`, merging with the previous range; returns the new count.
fn push_range(out: &mut [(usize, usize)], n: usize, a: usize, b: usize) -> usize {
    if b <= a {
        return n;
    }
    if n > 0 && a <= out[n - 1].1 {
        out[n - 1].1 = out[n - 1].1.max(b);
        return n;
    }
    if n < out.len() {
        out[n] = (a, b);
        return n + 1;
    }
    n
}

/// One frame of the microphone after echo cancellation, with its capture time.
#[derive(Debug, Clone, Copy)]
struct Held {
    frame: [f32; FRAME_SAMPLES],
    captured: Instant,
    /// Whether the model heard any of it unsilenced (then it must not be replayed).
    heard: bool,
}

/// The model thread's last few microphone frames, so that a key-down's pre-roll can be heard
/// although those frames were handled before the key went down (see the module doc).
#[derive(Debug)]
pub struct PreRoll {
    held: VecDeque<Held>,
    capacity: usize,
    /// Frames the model's input lags behind the newest frame.
    lag: usize,
}

impl PreRoll {
    /// Enough history for `pre_roll` (whole frames, rounded up).
    pub fn new(pre_roll: Duration) -> Self {
        let frame_s = FRAME_SAMPLES as f64 / RATE;
        let frames = (pre_roll.as_secs_f64() / frame_s).ceil() as usize;
        Self {
            held: VecDeque::with_capacity(frames + 1),
            capacity: frames + 1,
            lag: 0,
        }
    }

    /// Frames the model's input lags behind the microphone now (0 unless a pre-roll is being
    /// heard), for the latency estimate.
    pub fn lag_frames(&self) -> usize {
        self.lag
    }

    /// Forgets everything (after the devices were reopened: the times start anew).
    pub fn clear(&mut self) {
        self.held.clear();
        self.lag = 0;
    }

    /// Takes the newest microphone `frame` (captured from `captured` on) and writes into it
    /// the frame the model should step on now, returning that frame's capture time. Exactly
    /// one frame in, one frame out: the model keeps Moshi's pace.
    pub fn next(
        &mut self,
        gate: &Gate,
        frame: &mut [f32; FRAME_SAMPLES],
        captured: Instant,
    ) -> Instant {
        if self.held.len() == self.capacity {
            self.held.pop_front();
        }
        self.held.push_back(Held {
            frame: *frame,
            captured,
            heard: false,
        });
        let newest = self.held.len() - 1;
        self.lag = self.lag.min(newest);
        // Skip ahead over frames nobody would hear (key up, no pre-roll reaching them).
        while self.lag > 0 && !gate.any_open(self.held[newest - self.lag].captured, FRAME_SAMPLES) {
            self.lag -= 1;
        }
        // Rewind over frames the model heard only as silence but that a key-down now covers.
        if gate.any_open(self.held[newest - self.lag].captured, FRAME_SAMPLES) {
            let mut back = self.lag;
            while back < newest {
                let older = &self.held[newest - back - 1];
                if older.heard || !gate.any_open(older.captured, FRAME_SAMPLES) {
                    break;
                }
                back += 1;
            }
            self.lag = back;
        }
        let pick = &mut self.held[newest - self.lag];
        pick.heard = pick.heard || gate.any_open(pick.captured, FRAME_SAMPLES);
        *frame = pick.frame;
        pick.captured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn closed_gate_silences_open_gate_passes() {
        let g = Gate::new(false);
        let mut f = [0.3f32; 8];
        assert_eq!(g.apply(&mut f), (false, 0));
        assert!(f.iter().all(|s| *s == 0.0));
        g.set_talking(true);
        let mut f = [0.3f32; 8];
        assert_eq!(g.apply(&mut f), (true, 1));
        assert!(f.iter().all(|s| *s == 0.3));
        g.set_talking(false);
        g.set_hands_free(true);
        assert!(g.is_open());
        assert_eq!(g.frames_submitted(), 2);
    }

    #[test]
    fn samples_are_gated_by_capture_time_with_pre_roll() {
        let t0 = Instant::now();
        let g = Gate::with_pre_roll(false, ms(20));
        g.set_talking_at(true, t0 + ms(50));
        g.set_talking_at(false, t0 + ms(70));
        // A frame of 2400 samples (100 ms) from t0: open from 30 ms (50 - 20) to 70 ms.
        let mut f = [1.0f32; 2400];
        let (open, _) = g.apply_captured(&mut f, t0);
        assert!(open);
        let first = f.iter().position(|s| *s != 0.0);
        let last = f.iter().rposition(|s| *s != 0.0);
        assert_eq!(first, Some(720));
        assert_eq!(last, Some(1679));
        // A frame captured wholly before the pre-roll is silent, whenever it is handled.
        let mut f = [1.0f32; 240];
        assert!(!g.apply_captured(&mut f, t0).0);
        assert!(f.iter().all(|s| *s == 0.0));
    }

    #[test]
    fn hands_free_passes_everything() {
        let g = Gate::new(true);
        let mut f = [0.5f32; 100];
        assert!(g.apply_captured(&mut f, Instant::now()).0);
        assert!(f.iter().all(|s| *s == 0.5));
    }
}
