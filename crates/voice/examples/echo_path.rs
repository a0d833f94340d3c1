//! The echo path in a session's canceller recording ([`voice::SessionConfig::aec_dump`],
//! `moshibar-voice live --aec-dump DIR`): estimates the impulse response from the far end the
//! canceller was given to the microphone (cross spectrum over auto spectrum, averaged over
//! overlapping windows where the far end plays), prints its strongest taps (delay, level), how
//! long the path is, and the main tap's delay in each `--every` seconds, to see whether the
//! delay moves during the run.
//!
//! ```sh
//! cargo run -p voice --no-default-features --example echo_path -- DIR/far.wav DIR/near.wav
//! ```

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

const N: usize = 16_384;
const HOP: usize = N / 4;

/// H(f) = Σ X*·Y / Σ X*·X over windows of `far`/`near` in `range` where the far end plays;
/// returns the impulse response (first N/2 taps) and the windows used.
fn impulse(far: &[f32], near: &[f32], range: std::ops::Range<usize>) -> Option<(Vec<f32>, usize)> {
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(N);
    let inv = planner.plan_fft_inverse(N);
    let mut sxy = vec![Complex::new(0.0f64, 0.0); N / 2 + 1];
    let mut sxx = vec![0.0f64; N / 2 + 1];
    let mut buf = fwd.make_input_vec();
    let mut xs = fwd.make_output_vec();
    let mut ys = fwd.make_output_vec();
    let mut used = 0;
    let mut start = range.start;
    while start + N <= range.end.min(far.len()).min(near.len()) {
        let x = &far[start..start + N];
        let power = x.iter().map(|v| v * v).sum::<f32>() / N as f32;
        if power > 1e-5 {
            // Hann window on both: the echo of the window's far end mostly lands inside it.
            let w = |i: usize| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / N as f32).cos();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = x[i] * w(i);
            }
            fwd.process(&mut buf, &mut xs).ok()?;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = near[start + i] * w(i);
            }
            fwd.process(&mut buf, &mut ys).ok()?;
            for k in 0..xs.len() {
                let (x, y) = (xs[k], ys[k]);
                let cross = x.conj() * y;
                sxy[k] += Complex::new(f64::from(cross.re), f64::from(cross.im));
                sxx[k] += f64::from(x.norm_sqr());
            }
            used += 1;
        }
        start += HOP;
    }
    if used == 0 {
        return None;
    }
    let floor = sxx.iter().sum::<f64>() / sxx.len() as f64 * 1e-3;
    let mut h: Vec<Complex<f32>> = sxy
        .iter()
        .zip(&sxx)
        .map(|(c, p)| {
            let v = c / (p + floor);
            Complex::new(v.re as f32, v.im as f32)
        })
        .collect();
    h[0].im = 0.0;
    if let Some(last) = h.last_mut() {
        last.im = 0.0;
    }
    let mut out = inv.make_output_vec();
    inv.process(&mut h, &mut out).ok()?;
    for v in &mut out {
        *v /= N as f32;
    }
    out.truncate(N / 2);
    Some((out, used))
}

fn db(v: f32) -> f32 {
    20.0 * v.abs().max(1e-9).log10()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: echo_path FAR.wav NEAR.wav [--every SECONDS]".into());
    }
    let (far, rate) = voice::wav::read_mono(std::path::Path::new(&args[0]))?;
    let (near, _) = voice::wav::read_mono(std::path::Path::new(&args[1]))?;
    let every = args
        .iter()
        .position(|a| a == "--every")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<f32>().ok())
        .unwrap_or(2.0);
    let ms = |tap: usize| tap as f32 * 1000.0 / rate as f32;
    let (h, used) = impulse(&far, &near, 0..far.len()).ok_or("the far end never plays")?;
    let peak = h.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    // Strongest taps, at least 2 ms apart.
    let mut order: Vec<usize> = (0..h.len()).collect();
    order.sort_by(|a, b| h[*b].abs().total_cmp(&h[*a].abs()));
    let mut taps: Vec<usize> = Vec::new();
    for i in order {
        if taps.len() == 8 {
            break;
        }
        if taps.iter().all(|t| t.abs_diff(i) > rate as usize / 500) {
            taps.push(i);
        }
    }
    println!("whole run: {used} windows; strongest taps (delay ms, level dB, dB below the peak):");
    for t in &taps {
        println!(
            "  {:7.2} ms  {:6.1} dB  {:6.1}",
            ms(*t),
            db(h[*t]),
            db(h[*t]) - db(peak)
        );
    }
    // The path's span: where it stays within 30 dB of its peak.
    let strong: Vec<usize> = (0..h.len())
        .filter(|i| db(h[*i]) > db(peak) - 30.0)
        .collect();
    if let (Some(a), Some(b)) = (strong.first(), strong.last()) {
        println!(
            "span within 30 dB of the peak: {:.1}..{:.1} ms ({:.1} ms long)",
            ms(*a),
            ms(*b),
            ms(*b) - ms(*a)
        );
    }
    let step = (every * rate as f32) as usize;
    let mut start = 0;
    println!("main tap per {every} s (start s: delay ms, level dB):");
    while start + N <= far.len() {
        let end = (start + step).max(start + N + HOP);
        if let Some((h, _)) = impulse(&far, &near, start..end.min(far.len())) {
            let (i, v) = h.iter().enumerate().fold((0, 0.0f32), |b, (i, v)| {
                if v.abs() > b.1 {
                    (i, v.abs())
                } else {
                    b
                }
            });
            println!(
                "  {:6.1}: {:7.2} ms {:6.1} dB",
                start as f32 / rate as f32,
                ms(i),
                db(v)
            );
        }
        start += step;
    }
    Ok(())
}
