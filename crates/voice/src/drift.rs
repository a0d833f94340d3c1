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
//! The session steers two resamplers: the speaker's queue (Moshi's 24 kHz output → the device
//! rate; the speaker's clock against the microphone's) with a [`DriftController`], and the far
//! end of the echo canceller (what the speaker played → 24 kHz on the microphone's clock) with a
//! [`FarEndClock`], which keeps the ratio nominal unless a drift is shown, so the canceller's
//! reference stays lined up with its echo. Nothing here allocates after construction; it runs
//! on the model thread.
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

/// Keeps the echo canceller's far end lined up with its echo: the ratio of the resampler that
/// maps what the speaker played (at the speaker's clock) onto the microphone's 24 kHz clock.
///
/// The far end is lined up by counting samples: the far end the canceller gets with a
/// microphone frame is a fixed number of samples from its echo for as long as nothing is
/// padded, trimmed or stretched. So the ratio stays exactly nominal until a drift is shown,
/// and every correction slides the echo against its far end (tests/live_echo.rs: a far end
/// steered from its wandering backlog, or from the output's learned drift, slid 4-17 ms and
/// lost the canceller in 3 of 8 live runs).
///
/// What moves the far end's backlog (samples waiting beyond the frame being cancelled):
/// - buffering: the audio server's write-ahead grows and shrinks by tens of ms, callbacks come
///   in bursts. The backlog moves, the alignment does not: nothing to correct;
/// - an audio server that falls behind real time for a while: gaps in what the speaker plays
///   that the far end cannot see. Stretching the far end would not put them back;
/// - drift: a speaker clock 1 000 ppm slow drains it by 1 ms every second, without end.
///
/// Over seconds they look alike, over tens of seconds only drift goes on: the speaker's own
/// count of what it played, less what the microphone's frames took, is fitted with a line over
/// the last `FAR_FIT_S`; from `FAR_MIN_FIT_S` on, a slope of at least
/// `FAR_MIN_DRIFT_PPM`, four times its standard error, and the same in both halves of the
/// window (a stall is a step: steep in one half, flat in the other) is drift, and the ratio follows it
/// ([`FarEndClock::drift_ppm`]). Until then the far end is padded or trimmed where it must be
/// (a jump of a few ms the canceller re-converges from; tests/clock_drift.rs bounds them).
#[derive(Debug, Clone)]
pub struct FarEndClock {
    rate: f64,
    max_ppm: f64,
    seen_s: f64,
    fit: LineFit,
    drift: f64,
    correction: f64,
}

/// How long after the speaker starts the far end is not watched (its start's own jumps), s.
pub const FAR_SETTLE_S: f64 = 1.0;
/// The window the drift is fitted over, s.
pub const FAR_FIT_S: f64 = 24.0;
/// The shortest window a drift is believed from, s: an audio server that falls behind real
/// time for a few seconds looks like a drift of thousands of ppm over that long
/// (tests/live_echo.rs: 5 000-10 000 ppm "drifts" over 7 s; following them lost the canceller).
pub const FAR_MIN_FIT_S: f64 = 20.0;
/// Slopes below this are left alone, ppm.
pub const FAR_MIN_DRIFT_PPM: f64 = 100.0;
/// The slopes of the window's two halves must agree with the whole's within this factor.
const FAR_HALVES_AGREE: f64 = 1.5;
/// Most observations the fit keeps (one per 80 ms frame over FAR_FIT_S is 300).
const FAR_FIT_POINTS: usize = 400;

impl FarEndClock {
    /// A far end at `rate` (24 kHz), its correction bounded by `max_ppm`.
    pub fn new(rate: f64, max_ppm: f64) -> Self {
        Self {
            rate,
            max_ppm,
            seen_s: 0.0,
            fit: LineFit::new(FAR_FIT_POINTS),
            drift: 0.0,
            correction: 0.0,
        }
    }

    /// Watches `far` right after a frame was taken from it, `dt_s` after the previous
    /// observation, with the speaker at `speaker`; returns the far-end resampler's correction,
    /// ppm: exactly 0 until a drift is shown.
    pub fn observe(
        &mut self,
        far: &crate::aec::FarEnd,
        speaker: SpeakerPosition,
        dt_s: f64,
    ) -> f64 {
        self.seen_s += dt_s.clamp(0.0, 1.0);
        if self.seen_s < FAR_SETTLE_S {
            return 0.0;
        }
        // The far end's backlog as it would be at the nominal ratio, from the clocks' own
        // counts: what the speaker played (continued since its latest callback, as it plays
        // on) less what the microphone's frames took. The raw backlog would saw with the
        // callbacks' phase against the frames, a phase that slides with the very drift fitted.
        let since = speaker.since_callback_s.clamp(0.0, 0.05);
        let uncorrected = speaker.played + since * self.rate - far.taken as f64;
        self.fit.push(self.seen_s, uncorrected, FAR_FIT_S);
        self.drift = self.proven_drift();
        self.correction = (-self.drift).clamp(-self.max_ppm, self.max_ppm);
        self.correction
    }

    /// The drift the fit shows, ppm (0 while it shows none).
    fn proven_drift(&self) -> f64 {
        if self.fit.span() < FAR_MIN_FIT_S {
            return 0.0;
        }
        let Some((slope, se)) = self.fit.slope() else {
            return 0.0;
        };
        let Some((older, newer)) = self.fit.half_slopes() else {
            return 0.0;
        };
        let ppm = slope / self.rate * 1e6;
        let se_ppm = se / self.rate * 1e6;
        // A drift runs through the whole window; a stall or a change of buffering is a step,
        // steep in one half and flat in the other.
        let steady = [older, newer]
            .iter()
            .all(|&h| h / slope >= 1.0 / FAR_HALVES_AGREE && h / slope <= FAR_HALVES_AGREE);
        if ppm.abs() >= FAR_MIN_DRIFT_PPM && ppm.abs() >= 4.0 * se_ppm && steady {
            ppm
        } else {
            0.0
        }
    }

    /// The correction applied now, ppm.
    pub fn correction_ppm(&self) -> f64 {
        self.correction
    }

    /// The speaker's clock against the microphone's as the far end has shown it, ppm (+: the
    /// speaker runs fast); 0 while no drift is shown.
    pub fn drift_ppm(&self) -> f64 {
        self.drift
    }
}

/// Where the speaker is, for [`FarEndClock::observe`]: its device's own count of what it
/// played and when it last took samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpeakerPosition {
    /// Samples it has played up to its latest callback, counted at the far end's rate
    /// (`device count × 24 kHz / device rate`).
    pub played: f64,
    /// Seconds since that callback.
    pub since_callback_s: f64,
}

/// A least-squares line through the last observations (time, value) within a window: the slope
/// and its standard error. Fixed capacity, allocated once.
#[derive(Debug, Clone)]
struct LineFit {
    points: std::collections::VecDeque<(f64, f64)>,
    cap: usize,
}

impl LineFit {
    fn new(cap: usize) -> Self {
        Self {
            points: std::collections::VecDeque::with_capacity(cap),
            cap,
        }
    }

    /// Adds a point and forgets those older than `window_s` (or beyond the capacity).
    fn push(&mut self, t: f64, v: f64, window_s: f64) {
        while self
            .points
            .front()
            .is_some_and(|&(t0, _)| t - t0 > window_s)
        {
            self.points.pop_front();
        }
        if self.points.len() == self.cap {
            self.points.pop_front();
        }
        self.points.push_back((t, v));
    }

    fn span(&self) -> f64 {
        match (self.points.front(), self.points.back()) {
            (Some(a), Some(b)) => b.0 - a.0,
            _ => 0.0,
        }
    }

    /// Slope (value per second) and its standard error over all the points; `None` with
    /// fewer than 3.
    fn slope(&self) -> Option<(f64, f64)> {
        Self::fit(self.points.iter().copied(), self.points.len())
    }

    /// Slopes of the older and the newer half of the points (a step shows in one only).
    fn half_slopes(&self) -> Option<(f64, f64)> {
        let n = self.points.len();
        let h = n / 2;
        let older = Self::fit(self.points.iter().take(h).copied(), h)?;
        let newer = Self::fit(self.points.iter().skip(h).copied(), n - h)?;
        Some((older.0, newer.0))
    }

    fn fit(points: impl Iterator<Item = (f64, f64)> + Clone, n: usize) -> Option<(f64, f64)> {
        if n < 3 {
            return None;
        }
        let nf = n as f64;
        let (mt, mv) = points
            .clone()
            .fold((0.0, 0.0), |(a, b), (t, v)| (a + t / nf, b + v / nf));
        let (mut stt, mut stv) = (0.0, 0.0);
        for (t, v) in points.clone() {
            stt += (t - mt) * (t - mt);
            stv += (t - mt) * (v - mv);
        }
        if stt <= 0.0 {
            return None;
        }
        let slope = stv / stt;
        let rss: f64 = points
            .map(|(t, v)| {
                let r = v - mv - slope * (t - mt);
                r * r
            })
            .sum();
        let se = (rss / (nf - 2.0) / stt).sqrt();
        Some((slope, se))
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

    /// Observes a far end for `secs` at 80 ms frames: the speaker plays at `spk_hz` (24 kHz
    /// counting) in bursts of 40 ms callbacks, `jitter(t)` s late, with `stall(t)` seconds of
    /// its playing lost by time t (an audio server that fell behind); returns the corrections.
    fn far_run(
        spk_hz: f64,
        secs: f64,
        jitter: impl Fn(f64) -> f64,
        stall: impl Fn(f64) -> f64,
    ) -> (FarEndClock, Vec<f64>) {
        let mut clock = FarEndClock::new(24_000.0, MAX_PPM);
        let mut far = crate::aec::FarEnd::new(2400);
        let mut frame = [0.0f32; crate::FRAME_SAMPLES];
        let mut out = Vec::new();
        let mut played = 0.0;
        let mut last_cb = 0.0;
        let mut t = 0.0;
        while t < secs {
            t += 0.08;
            // Callbacks due by now (every 40 ms, each `jitter` late), less what stalled.
            let due = ((t - jitter(t)) / 0.04).floor() * 0.04;
            let now_played = ((due - stall(t)).max(0.0) * spk_hz).floor();
            if now_played > played {
                far.push(&vec![0.0; (now_played - played) as usize]);
                played = now_played;
                last_cb = due + jitter(t);
            }
            far.take(&mut frame);
            out.push(clock.observe(
                &far,
                SpeakerPosition {
                    played,
                    since_callback_s: t - last_cb,
                },
                0.08,
            ));
        }
        (clock, out)
    }

    #[test]
    fn the_far_end_stays_nominal_through_jitter_buffering_and_a_stall() {
        // Same clocks; callbacks up to 30 ms late, buffering that steps by 20 ms at 30 s and
        // back at 70 s, and the speaker 0.5 s behind from 50 s on.
        let jitter = |t: f64| {
            ((t * 7.3).sin() * 0.015 + 0.015) + if (30.0..70.0).contains(&t) { 0.02 } else { 0.0 }
        };
        let stall = |t: f64| if t > 50.0 { 0.5 } else { 0.0 };
        let (clock, out) = far_run(24_000.0, 120.0, jitter, stall);
        let worst = out.iter().fold(0.0f64, |m, &p| m.max(p.abs()));
        assert_eq!(
            worst, 0.0,
            "the far end was stretched by up to {worst:.0} ppm"
        );
        assert_eq!(clock.drift_ppm(), 0.0);
    }

    #[test]
    fn the_far_end_follows_a_drift_once_shown() {
        // The speaker 1 000 ppm slow, with the same callback jitter.
        let jitter = |t: f64| (t * 7.3).sin() * 0.015 + 0.015;
        let (clock, out) = far_run(23_976.0, 60.0, jitter, |_| 0.0);
        let first = out.iter().position(|&p| p != 0.0).unwrap_or(out.len()) as f64 * 0.08;
        assert!((20.0..26.0).contains(&first), "followed from {first:.1} s");
        assert!(
            (clock.drift_ppm() + 1000.0).abs() < 50.0,
            "{}",
            clock.drift_ppm()
        );
        assert!((clock.correction_ppm() - 1000.0).abs() < 50.0);
    }
}
