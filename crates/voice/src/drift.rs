//! Clock-drift compensation: a microphone and a speaker run on different clocks (two devices,
//! or one audio server that falls behind real time), so a fixed resampling ratio makes the
//! queue between them grow or drain without end — latency that creeps up and then dropped
//! blocks, or underruns and gaps.
//!
//! A [`DriftController`] watches the depth of one such queue and steers the relative ratio of
//! the resampler that feeds it ([`crate::resample::AdaptiveResampler`]) with a PI controller:
//! the proportional part pulls the depth back to its target, the integral part learns the
//! clocks' real ratio, which is the drift estimate reported in the metrics (`driftPpm`). The
//! correction is bounded (`max_ppm`; a 1 000 ppm change is a 1.7-cent pitch shift, inaudible)
//! and changes smoothly, so the resampler never jumps.
//!
//! The session runs two: one on the speaker's queue (Moshi's 24 kHz output → the device rate;
//! the speaker's clock against the microphone's), one on the far end of the echo canceller
//! (what the speaker played → 24 kHz on the microphone's clock, [`FarEndClock`]), so the
//! canceller's reference stays lined up with its echo. Nothing here allocates; it runs on the
//! model thread.
//!
//! ```
//! use voice::DriftController;
//! // A queue drained at 48 kHz that should hold 40 ms (1920 samples).
//! let mut c = DriftController::new(48_000.0, 1920.0, 5_000.0);
//! let ppm = c.update(2400.0, 0.08); // fuller than wanted: produce a little less
//! assert!(ppm < 0.0);
//! ```

use crate::error::VoiceError;
use crate::resample::AdaptiveResampler;

/// Steers a resampler's relative ratio so that the queue it feeds keeps a target depth.
#[derive(Debug, Clone)]
pub struct DriftController {
    rate: f64,
    target: f64,
    kp: f64,
    ki: f64,
    max_ppm: f64,
    smooth_s: f64,
    filtered: Option<f64>,
    integral: f64,
    correction: f64,
    updates: u64,
}

/// Natural frequency of the control loop, rad/s: the depth settles in about 4/ω ≈ 40 s and
/// follows drift that changes over minutes, while the jitter of 20 ms callbacks and 80 ms
/// frames (filtered over [`SMOOTH_S`]) moves the ratio by only some 100 ppm.
const OMEGA: f64 = 0.1;
/// Damping of the loop (slightly under critical: settles fast, overshoots a few percent).
const ZETA: f64 = 0.8;
/// Time constant of the depth's low-pass filter, s.
const SMOOTH_S: f64 = 1.0;
/// Errors beyond this (s of audio) are offsets, not drift: the integral ignores them. The
/// price: a drift beyond about 2 400 ppm (whose proportional-only error exceeds this) is held by
/// the proportional part alone, with the queue that many ms above its target.
const INTEGRATE_WITHIN_S: f64 = 0.015;

impl DriftController {
    /// A controller for a queue consumed at `rate` samples per second that should hold
    /// `target` samples; the correction stays within ±`max_ppm`.
    pub fn new(rate: f64, target: f64, max_ppm: f64) -> Self {
        // The queue's error e (seconds of audio) integrates the rate mismatch: de/dt =
        // (d + u)·1e-6 for a drift d and a correction u in ppm. u = -(Kp·e + Ki·∫e) gives
        // s² + 1e-6·Kp·s + 1e-6·Ki: ω² = 1e-6·Ki, 2ζω = 1e-6·Kp.
        Self {
            rate: rate.max(1.0),
            target,
            kp: 2.0 * ZETA * OMEGA * 1e6,
            ki: OMEGA * OMEGA * 1e6,
            max_ppm: max_ppm.abs(),
            smooth_s: SMOOTH_S,
            filtered: None,
            integral: 0.0,
            correction: 0.0,
            updates: 0,
        }
    }

    /// Feeds the queue's depth (samples) measured `dt_s` seconds after the previous one;
    /// returns the correction to apply, ppm (the resampler's relative ratio is
    /// `1 + ppm·1e-6`). Negative: the consumer is slower, produce less.
    pub fn update(&mut self, depth: f64, dt_s: f64) -> f64 {
        let dt = dt_s.clamp(0.0, 1.0);
        let filtered = match self.filtered {
            None => depth,
            Some(f) => f + (depth - f) * dt / (self.smooth_s + dt),
        };
        self.filtered = Some(filtered);
        let err_s = (filtered - self.target) / self.rate;
        // Anti-windup: the integral alone never asks for more than the bound, and learns only
        // from small errors. A large one is an offset (the start, an underrun's refill, a
        // stall), which the proportional part drains; drift only ever shows as a small error.
        if err_s.abs() < INTEGRATE_WITHIN_S {
            self.integral =
                (self.integral + self.ki * err_s * dt).clamp(-self.max_ppm, self.max_ppm);
        }
        self.correction = (-(self.kp * err_s) - self.integral).clamp(-self.max_ppm, self.max_ppm);
        self.updates += 1;
        self.correction
    }

    /// The correction now applied, ppm.
    pub fn correction_ppm(&self) -> f64 {
        self.correction
    }

    /// The learned clock ratio, ppm: how much faster (+) or slower (−) the consumer's clock
    /// runs than the producer's. Settles on the real drift once the depth is back on target.
    pub fn drift_ppm(&self) -> f64 {
        -self.integral
    }

    /// The low-passed depth the controller acts on, samples.
    pub fn depth(&self) -> f64 {
        self.filtered.unwrap_or(self.target)
    }

    /// The depth it steers to, samples.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// Whether the correction sits at its bound (the clocks differ more than it can follow,
    /// e.g. an audio server far behind real time): drops or gaps will follow.
    pub fn saturated(&self) -> bool {
        self.correction.abs() >= self.max_ppm * 0.999
    }

    /// Updates so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }
}

/// The depth of the speaker's queue as if the device drained it continuously: `queued`
/// samples minus what the device has played of its current period (`since_callback_s` since
/// its latest callback, at `rate`). The raw count drops a whole period at each callback, and
/// when the clocks differ the callbacks' phase against the frames slides: a controller fed the
/// raw count would chase that slide.
pub fn fluid_depth(queued: usize, since_callback_s: f64, rate: f64) -> f64 {
    // A callback late by more than 50 ms is a stall, not a phase: do not extrapolate it.
    queued as f64 - since_callback_s.clamp(0.0, 0.05) * rate
}

/// The ppm a resampler needs to undo a correction of `ppm` (exact inverse ratio).
pub fn inverse_ppm(ppm: f64) -> f64 {
    (1.0 / (1.0 + ppm * 1e-6) - 1.0) * 1e6
}

/// Keeps the echo canceller's far end lined up with its echo: steers the ratio of the resampler
/// that maps what the speaker played (at the speaker's clock) onto the microphone's 24 kHz
/// clock so that the far end's backlog (samples waiting beyond the frame being cancelled) stays
/// where it settled.
///
/// The backlog *is* the alignment: the far end the canceller gets with a microphone frame was
/// played `backlog / 24 kHz` (plus constant device and tap latencies) before that frame, so a
/// steady backlog is a steady far-end → echo delay, and a backlog that runs out or piles up is
/// padded with silence or trimmed (a jump the canceller must re-converge from). Two shortcuts
/// fail (tests/clock_drift.rs, tests/live_echo.rs):
/// - the inverse of the output's *correction* also undoes the output's steering of its queue
///   depth (thousands of ppm for tens of seconds after a start): the far end slides against its
///   echo by as much as the speaker's queue changes (live ERLE 3-20 dB);
/// - the inverse of the output's *learned* drift lags a wandering clock: the backlog drifts by
///   the integral of that lag until it runs out (11 paddings in 5 minutes).
///
/// So the far end learns its own clock ratio from its own backlog ([`DriftController`]: the
/// integral learns the ratio, the proportional part holds the backlog), starting once the
/// backlog has settled (`FAR_SETTLE_S`), at the backlog it settled at (kept `FAR_MARGIN_S`
/// away from empty and from the most the far end may hold: never so low that jitter pads, never
/// so high that it is trimmed).
#[derive(Debug, Clone)]
pub struct FarEndClock {
    rate: f64,
    floor: f64,
    ceil: f64,
    max_ppm: f64,
    settle_s: f64,
    seen_s: f64,
    controller: Option<DriftController>,
}

/// How long the far end's backlog is watched before it is held where it settled, s.
pub const FAR_SETTLE_S: f64 = 1.0;
/// How far the held backlog stays from empty and from the far end's limit, s (half a 20 ms
/// device period).
pub const FAR_MARGIN_S: f64 = 0.01;

impl FarEndClock {
    /// A far end at `rate` (24 kHz) that may hold at most `max_backlog` samples beyond the
    /// frame being cancelled ([`crate::aec::FarEnd::new`]), its correction bounded by `max_ppm`.
    pub fn new(rate: f64, max_backlog: f64, max_ppm: f64) -> Self {
        let margin = (rate * FAR_MARGIN_S).max(max_backlog / 2.0 - rate * FAR_MARGIN_S);
        Self {
            rate,
            floor: margin,
            ceil: max_backlog - margin,
            max_ppm,
            settle_s: FAR_SETTLE_S,
            seen_s: 0.0,
            controller: None,
        }
    }

    /// Feeds the backlog (samples waiting after a frame was taken, [`fluid_depth`] at 24 kHz)
    /// `dt_s` after the previous observation; returns the far-end resampler's correction, ppm
    /// (0 while settling).
    pub fn observe(&mut self, backlog: f64, dt_s: f64) -> f64 {
        if let Some(c) = self.controller.as_mut() {
            return c.update(backlog, dt_s);
        }
        self.settle(backlog, dt_s)
    }

    /// Hybrid: the far end follows `learned_ppm` (the output's learned clock ratio, inverted)
    /// and the backlog is steered only when it leaves a ±`FAR_MARGIN_S` window around where it
    /// settled (the edge term pulls it back at 1 000 ppm per 10 ms outside).
    pub fn observe_learned(&mut self, backlog: f64, dt_s: f64, learned_ppm: f64) -> f64 {
        let Some(c) = self.controller.as_mut() else {
            self.settle(backlog, dt_s);
            return learned_ppm;
        };
        c.update(backlog, dt_s);
        let w = self.rate * FAR_MARGIN_S;
        let err = c.depth() - c.target();
        let beyond = if err > w {
            err - w
        } else if err < -w {
            err + w
        } else {
            0.0
        };
        (learned_ppm - beyond / self.rate * 1e5).clamp(-self.max_ppm, self.max_ppm)
    }

    fn settle(&mut self, backlog: f64, dt_s: f64) -> f64 {
        self.seen_s += dt_s.max(0.0);
        if self.seen_s >= self.settle_s {
            let target = backlog.clamp(self.floor, self.ceil);
            let mut c = DriftController::new(self.rate, target, self.max_ppm);
            let ppm = c.update(backlog, 0.0);
            self.controller = Some(c);
            return ppm;
        }
        0.0
    }

    /// The correction applied now, ppm.
    pub fn correction_ppm(&self) -> f64 {
        self.controller
            .as_ref()
            .map_or(0.0, DriftController::correction_ppm)
    }

    /// The backlog it holds, samples (`None` while settling).
    pub fn target(&self) -> Option<f64> {
        self.controller.as_ref().map(DriftController::target)
    }
}

/// Output path drift compensation: Moshi's 24 kHz output resampled to the speaker's rate by an
/// [`AdaptiveResampler`] whose ratio a [`DriftController`] steers from the depth of the
/// speaker's queue. The canceller's far end follows the speaker's clock with its own
/// [`FarEndClock`].
#[derive(Debug)]
pub struct DriftCompensator {
    resampler: AdaptiveResampler,
    controller: DriftController,
    last: Option<std::time::Instant>,
}

/// Largest correction the session applies, ppm (1 %: 17 cents of pitch, far more than any two
/// real clocks differ by; an audio server further behind real time than this is reported as
/// dropped output instead).
pub const MAX_PPM: f64 = 10_000.0;

impl DriftCompensator {
    /// Resamples `from` → `to` Hz, keeping the queue it feeds (drained at `to` Hz) at `target`
    /// samples, correcting by at most `max_ppm`.
    pub fn new(from: u32, to: u32, target: f64, max_ppm: f64) -> Result<Self, VoiceError> {
        Ok(Self {
            resampler: AdaptiveResampler::new(from, to, max_ppm)?,
            controller: DriftController::new(f64::from(to), target, max_ppm),
            last: None,
        })
    }

    /// Resamples with the current correction (see [`AdaptiveResampler::process`]).
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), VoiceError> {
        self.resampler.process(input, output)
    }

    /// Feeds the queue's depth ([`fluid_depth`]) measured `dt_s` after the previous one and
    /// applies the new correction.
    pub fn observe(&mut self, depth: f64, dt_s: f64) -> Result<(), VoiceError> {
        let ppm = self.controller.update(depth, dt_s);
        self.resampler.set_correction_ppm(ppm)
    }

    /// [`DriftCompensator::observe`] timed by the wall clock (the first call only starts it).
    pub fn observe_now(&mut self, depth: f64) -> Result<(), VoiceError> {
        let now = std::time::Instant::now();
        let dt = self
            .last
            .replace(now)
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        self.observe(depth, dt)
    }

    /// The resampler's delay, samples at the output rate.
    pub fn delay(&self) -> usize {
        self.resampler.delay()
    }

    /// Changes the depth the queue is steered to, samples.
    pub fn set_target(&mut self, target: f64) {
        self.controller.target = target;
    }

    /// The correction applied now, ppm.
    pub fn correction_ppm(&self) -> f64 {
        self.resampler.correction_ppm()
    }

    /// The speaker's clock against the microphone's as learned, ppm (−1 000: the speaker runs
    /// 0.1 % slow).
    pub fn drift_ppm(&self) -> f64 {
        self.controller.drift_ppm()
    }

    /// The controller (depth, target, saturation).
    pub fn controller(&self) -> &DriftController {
        &self.controller
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue filled at `prod` and drained at `cons` samples/s, the filling side scaled by the
    /// controller, stepped every 80 ms for `secs`: returns (controller, worst |error| in the
    /// last half, samples).
    fn run(prod: f64, cons: f64, secs: f64) -> (DriftController, f64) {
        let mut c = DriftController::new(cons, 2000.0, 5000.0);
        let mut q = 2000.0;
        let dt = 0.08;
        let steps = (secs / dt) as usize;
        let mut worst: f64 = 0.0;
        for k in 0..steps {
            let ppm = c.correction_ppm();
            q += prod * (1.0 + ppm * 1e-6) * dt - cons * dt;
            c.update(q, dt);
            if k > steps / 2 {
                worst = worst.max((q - 2000.0).abs());
            }
        }
        (c, worst)
    }

    #[test]
    fn learns_a_constant_drift_and_holds_the_depth() {
        let (c, worst) = run(48_000.0, 47_952.0, 300.0);
        assert!((c.drift_ppm() + 1000.0).abs() < 5.0, "{}", c.drift_ppm());
        assert!(worst < 5.0, "depth off by {worst} samples");
        let (c, _) = run(48_000.0, 48_048.0, 300.0);
        assert!((c.drift_ppm() - 1000.0).abs() < 5.0, "{}", c.drift_ppm());
        assert!(!c.saturated());
    }

    #[test]
    fn a_start_up_offset_is_drained_without_learning_a_drift() {
        // Equal clocks, but the queue starts 100 ms too full (prebuffer, device start).
        let mut c = DriftController::new(48_000.0, 2000.0, 10_000.0);
        let mut q = 2000.0 + 4800.0;
        let mut worst: f64 = 0.0;
        for _ in 0..(60.0 / 0.08) as usize {
            let ppm = c.correction_ppm();
            q += 48_000.0 * (1.0 + ppm * 1e-6) * 0.08 - 48_000.0 * 0.08;
            c.update(q, 0.08);
            worst = worst.max(c.drift_ppm().abs());
        }
        assert!((q - 2000.0).abs() < 50.0, "depth {q}");
        // 554 ppm measured (integrating large errors too: 6 010).
        assert!(
            worst < 700.0,
            "took the offset for a drift of {worst:.0} ppm"
        );
    }

    #[test]
    fn stays_within_its_bound() {
        // 2 % slower: more than the 5 000 ppm it may correct.
        let (c, _) = run(48_000.0, 47_040.0, 120.0);
        assert!(c.saturated());
        assert!((c.correction_ppm() + 5000.0).abs() < 1e-6);
        assert!(c.drift_ppm() >= -5000.0);
    }

    #[test]
    fn jitter_moves_the_ratio_only_a_little() {
        let mut c = DriftController::new(48_000.0, 2000.0, 5000.0);
        // Depth seen at frame times, ±20 ms of callback-phase jitter around the target.
        let mut worst: f64 = 0.0;
        for k in 0..3000 {
            let jitter = [960.0, -960.0, 480.0, -480.0, 0.0][k % 5];
            let ppm = c.update(2000.0 + jitter, 0.08);
            if k > 100 {
                worst = worst.max(ppm.abs());
            }
        }
        assert!(worst < 600.0, "jitter moved the ratio by {worst} ppm");
    }
}
