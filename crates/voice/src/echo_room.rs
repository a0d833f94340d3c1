//! A synthetic room for measuring echo cancellation without a real one: a slightly non-linear
//! laptop speaker, a sparse room impulse response (direct path after a delay, then a decaying
//! tail of reflections), and the figures the tests and `moshibar-voice bench` report (ERLE,
//! level change). Deterministic: the same seed gives the same room.

/// Mild speaker non-linearity (cubic soft saturation: 0.7 dB of compression at 0.9 full scale,
/// about 1 % distortion at 0.3), as a small laptop speaker: a linear canceller cannot model it
/// exactly.
pub fn speaker(x: f32) -> f32 {
    let x = x.clamp(-1.0, 1.0);
    x - 0.1 * x * x * x
}

/// A room: the echo path from the speaker signal to the microphone.
#[derive(Debug, Clone)]
pub struct Room {
    /// (delay in samples, gain) of each path, direct path first.
    taps: Vec<(usize, f32)>,
}

impl Room {
    /// A room at `rate` Hz whose direct path arrives after `delay_ms` with gain `direct_gain`,
    /// followed by 40 reflections over `tail_ms` whose gains decay by 60 dB over the tail
    /// (random signs and spacing from `seed`).
    pub fn new(rate: u32, delay_ms: f32, tail_ms: f32, direct_gain: f32, seed: u64) -> Self {
        let mut rng = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut next = || {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (rng >> 33) as f32 / (1u64 << 31) as f32
        };
        let ms = |m: f32| (m * rate as f32 / 1000.0).round() as usize;
        let d0 = ms(delay_ms);
        let mut taps = vec![(d0, direct_gain)];
        for _ in 0..40 {
            let t = next() * tail_ms;
            let decay = 10f32.powf(-3.0 * t / tail_ms); // -60 dB at the end of the tail
            let sign = if next() < 0.5 { -1.0 } else { 1.0 };
            taps.push((d0 + ms(1.0 + t), sign * direct_gain * 0.5 * decay));
        }
        Self { taps }
    }

    /// The direct path's delay in samples.
    pub fn delay(&self) -> usize {
        self.taps[0].0
    }

    /// What the microphone hears of `played` (through the speaker and the room), same length.
    pub fn echo(&self, played: &[f32]) -> Vec<f32> {
        let driven: Vec<f32> = played.iter().map(|s| speaker(*s)).collect();
        let mut out = vec![0.0f32; played.len()];
        for &(d, g) in &self.taps {
            if d >= out.len() {
                continue;
            }
            for (o, s) in out[d..].iter_mut().zip(driven.iter()) {
                *o += g * s;
            }
        }
        out
    }
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|s| f64::from(*s) * f64::from(*s)).sum()
}

/// Echo return loss enhancement in dB over `range` (sample indices): echo energy before the
/// canceller over residual energy after it, counting only 20 ms blocks where the echo is
/// audible (speech has pauses). `None` when no block qualifies.
pub fn erle_db(echo: &[f32], out: &[f32], range: std::ops::Range<usize>) -> Option<f64> {
    let end = range.end.min(echo.len()).min(out.len());
    let block = 480;
    let (mut e, mut r) = (0.0, 0.0);
    let mut start = range.start;
    while start + block <= end {
        let eb = energy(&echo[start..start + block]);
        if eb / block as f64 > 1e-5 {
            e += eb;
            r += energy(&out[start..start + block]);
        }
        start += block;
    }
    (e > 0.0).then(|| 10.0 * (e / r.max(1e-20)).log10())
}

/// Level of `out` relative to `reference` over `range`, dB (0 = same level).
pub fn level_change_db(reference: &[f32], out: &[f32], range: std::ops::Range<usize>) -> f64 {
    let end = range.end.min(reference.len()).min(out.len());
    let r = energy(&reference[range.start..end]);
    let o = energy(&out[range.start..end]);
    10.0 * (o.max(1e-20) / r.max(1e-20)).log10()
}

/// How much of `reference` is in `out` over `range`, allowing `out` to lag by up to `max_lag`
/// samples (a canceller may add a few ms of delay): at the best lag, the gain (dB) of `out`'s
/// projection on `reference`, the normalised correlation (1 = the same waveform) and the lag.
pub fn presence(
    reference: &[f32],
    out: &[f32],
    range: std::ops::Range<usize>,
    max_lag: usize,
) -> (f64, f64, usize) {
    let end = range.end.min(reference.len());
    let r = &reference[range.start..end];
    let er = energy(r).max(1e-20);
    let mut best = (f64::MIN, 0.0, 0);
    for lag in 0..=max_lag {
        let Some(o) = out.get(range.start + lag..end + lag) else {
            break;
        };
        let dot: f64 = r
            .iter()
            .zip(o)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let corr = dot / (er * energy(o).max(1e-20)).sqrt();
        if corr > best.0 {
            best = (corr, 20.0 * (dot / er).abs().max(1e-10).log10(), lag);
        }
    }
    (best.1, best.0, best.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_delays_and_decays() {
        let r = Room::new(24_000, 40.0, 150.0, 0.5, 7);
        assert_eq!(r.delay(), 960);
        let mut x = vec![0.0f32; 24_000];
        x[0] = 0.5;
        let y = r.echo(&x);
        assert!(y[..960].iter().all(|s| *s == 0.0), "echo before the delay");
        assert!((y[960] - 0.5 * speaker(0.5)).abs() < 0.05);
        let tail: f32 = y[961 + 24 * 152..].iter().map(|s| s.abs()).sum();
        assert!(tail < 1e-6, "tail too long: {tail}");
        assert!(speaker(0.9) < 0.9 && speaker(0.9) > 0.8);
    }

    #[test]
    fn figures() {
        let echo = vec![0.1f32; 4800];
        let out: Vec<f32> = echo.iter().map(|s| s * 0.01).collect();
        let e = erle_db(&echo, &out, 0..4800).unwrap_or(0.0);
        assert!((e - 40.0).abs() < 0.01, "{e}");
        assert!((level_change_db(&echo, &out, 0..4800) + 40.0).abs() < 0.01);
        let (g, c, lag) = presence(&echo, &out, 0..4800, 0);
        assert!((g + 40.0).abs() < 0.01 && (c - 1.0).abs() < 1e-6 && lag == 0);
        let ramp: Vec<f32> = (0..4800)
            .map(|i| ((i * i) % 97) as f32 / 97.0 - 0.5)
            .collect();
        let mut late = vec![0.0f32; 10];
        late.extend_from_slice(&ramp);
        let (g, c, lag) = presence(&ramp, &late, 0..4000, 20);
        assert!(
            g.abs() < 0.01 && (c - 1.0).abs() < 1e-6 && lag == 10,
            "{g} {c} {lag}"
        );
    }
}
