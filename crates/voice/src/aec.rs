//! Echo cancellation: removes what the speaker played from what the microphone heard, so Moshi
//! does not hear (and answer) itself on a laptop's own speakers.
//!
//! The canceller is WebRTC's AEC3 (through the `webrtc-audio-processing` crate, built from its
//! bundled source) on 24 kHz mono in 10 ms chunks, with its own delay estimator. The far end is
//! exactly what the output callback played (including the silence it inserted), tapped in the
//! callback and resampled to 24 kHz; [`FarEnd`] lines it up with the microphone frame by frame.
//! `moshibar-voice aec` runs the same [`EchoCanceller`] and [`FarEnd`] over WAV files.
//!
//! On macOS the session asks for Apple's voice-processing I/O unit instead (see the README), so
//! there this module only reports that no software canceller is built in.

use serde::{Deserialize, Serialize};

use crate::error::VoiceError;
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Samples per canceller chunk: 10 ms at 24 kHz (WebRTC's processing unit).
pub const CHUNK: usize = SAMPLE_RATE as usize / 100;

/// Which echo canceller a session runs (reported in the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum CancellerKind {
    /// No cancellation: headphones, the person turned it off, or none is available.
    #[default]
    Off,
    /// WebRTC AEC3 on the model thread (Linux, Windows).
    WebrtcAec3,
    /// Apple's voice-processing I/O unit (macOS): the system cancels before we see the mic.
    VoiceProcessingIo,
}

/// The canceller's own view of how it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AecFigures {
    /// Echo return loss enhancement, dB (how much echo the canceller removes), when known.
    pub erle_db: Option<f32>,
    /// Echo return loss, dB (far-end level minus echo level at the mic), when known.
    pub erl_db: Option<f32>,
    /// The current estimate of the delay from far end to echo, ms ([`DelayEstimator`]; the
    /// canceller's own figure is `aec3_delay_ms`).
    pub delay_ms: Option<f32>,
    /// AEC3's internal render-buffer delay, ms (not the acoustic delay: AEC3 places the echo
    /// path inside its adaptive filter with some headroom).
    pub aec3_delay_ms: Option<f32>,
}

fn aec_err(e: impl std::fmt::Display) -> VoiceError {
    VoiceError::EchoCanceller(e.to_string())
}

/// WebRTC AEC3 for 24 kHz mono frames.
pub struct EchoCanceller {
    #[cfg(not(target_os = "macos"))]
    apm: webrtc_audio_processing::Processor,
    chunks: u64,
}

impl std::fmt::Debug for EchoCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoCanceller")
            .field("chunks", &self.chunks)
            .finish()
    }
}

impl EchoCanceller {
    /// The software canceller this build has ([`CancellerKind::Off`] on macOS, where the
    /// system's voice-processing unit is used instead).
    pub const KIND: CancellerKind = if cfg!(target_os = "macos") {
        CancellerKind::Off
    } else {
        CancellerKind::WebrtcAec3
    };

    /// A fresh canceller (AEC3 with delay estimation and the high-pass filter it wants; no noise
    /// suppression or gain control, so the person's level is kept).
    #[cfg(not(target_os = "macos"))]
    pub fn new() -> Result<Self, VoiceError> {
        use webrtc_audio_processing::config::{EchoCanceller as Ec, HighPassFilter};
        let apm = webrtc_audio_processing::Processor::new(SAMPLE_RATE).map_err(aec_err)?;
        apm.set_config(webrtc_audio_processing::Config {
            echo_canceller: Some(Ec::Full {
                stream_delay_ms: None,
            }),
            high_pass_filter: Some(HighPassFilter::default()),
            ..Default::default()
        });
        Ok(Self { apm, chunks: 0 })
    }

    /// No software canceller on macOS (the voice-processing I/O unit cancels there).
    #[cfg(target_os = "macos")]
    pub fn new() -> Result<Self, VoiceError> {
        Err(aec_err(
            "no software echo canceller on macOS; the voice-processing I/O unit is used",
        ))
    }

    /// Removes the echo of `far` (what the speaker played) from `near` (what the microphone
    /// heard over the same span), in place. Both are 24 kHz mono, of equal length, a multiple of
    /// `CHUNK`.
    pub fn process(&mut self, far: &[f32], near: &mut [f32]) -> Result<(), VoiceError> {
        if far.len() != near.len() || !near.len().is_multiple_of(CHUNK) {
            return Err(aec_err(format!(
                "far ({}) and near ({}) must be equal multiples of {CHUNK} samples",
                far.len(),
                near.len()
            )));
        }
        for (f, n) in far.chunks_exact(CHUNK).zip(near.chunks_exact_mut(CHUNK)) {
            self.chunk(f, n)?;
            self.chunks += 1;
        }
        Ok(())
    }

    #[cfg(not(target_os = "macos"))]
    fn chunk(&mut self, far: &[f32], near: &mut [f32]) -> Result<(), VoiceError> {
        self.apm.analyze_render_frame([far]).map_err(aec_err)?;
        self.apm.process_capture_frame([near]).map_err(aec_err)
    }

    #[cfg(target_os = "macos")]
    fn chunk(&mut self, _far: &[f32], _near: &mut [f32]) -> Result<(), VoiceError> {
        Ok(())
    }

    /// The canceller's latest figures.
    pub fn figures(&self) -> AecFigures {
        #[cfg(not(target_os = "macos"))]
        {
            let s = self.apm.get_stats();
            AecFigures {
                erle_db: s.echo_return_loss_enhancement.map(|v| v as f32),
                erl_db: s.echo_return_loss.map(|v| v as f32),
                delay_ms: None,
                aec3_delay_ms: s.delay_ms.map(|v| v as f32),
            }
        }
        #[cfg(target_os = "macos")]
        AecFigures::default()
    }
}

/// Lines the far end (what was played, 24 kHz) up with the microphone, one frame at a time:
/// each microphone frame takes the same number of far-end samples, oldest first. Missing
/// samples (the speaker had not played yet) are silence; a backlog beyond `max_backlog` (the
/// speaker ran ahead, e.g. clock drift) is trimmed, so the far end never lags the echo by more
/// than that. Both are counted: each is a delay jump the canceller has to re-track.
#[derive(Debug)]
pub struct FarEnd {
    buf: std::collections::VecDeque<f32>,
    max_backlog: usize,
    /// Far-end samples made up as silence because none had been played yet.
    pub padded: u64,
    /// Far-end samples dropped because they piled up beyond `max_backlog`.
    pub trimmed: u64,
    /// Samples taken so far (one microphone frame's worth each time).
    pub taken: u64,
}

impl FarEnd {
    /// A far-end queue keeping at most `max_backlog` samples beyond the frame being taken.
    pub fn new(max_backlog: usize) -> Self {
        Self {
            buf: std::collections::VecDeque::with_capacity(FRAME_SAMPLES * 8 + max_backlog),
            max_backlog,
            padded: 0,
            trimmed: 0,
            taken: 0,
        }
    }

    /// Appends samples the speaker played (24 kHz).
    pub fn push(&mut self, samples: &[f32]) {
        self.buf.extend(samples.iter().copied());
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fills `out` with the far end matching the next microphone frame of the same length.
    pub fn take(&mut self, out: &mut [f32]) {
        let have = self.buf.len().min(out.len());
        for (o, s) in out.iter_mut().zip(self.buf.drain(..have)) {
            *o = s;
        }
        out[have..].fill(0.0);
        self.padded += (out.len() - have) as u64;
        self.taken += out.len() as u64;
        if self.buf.len() > self.max_backlog {
            let excess = self.buf.len() - self.max_backlog;
            self.buf.drain(..excess);
            self.trimmed += excess as u64;
        }
    }
}

/// Rate the delay estimator works at (24 kHz decimated by 3).
const EST_RATE: usize = 8_000;
/// Samples in the estimator's window (2 s at 8 kHz).
const EST_WINDOW: usize = 16_384;
/// Longest far-end → echo delay looked for, samples at 8 kHz (500 ms).
const EST_MAX_LAG: usize = EST_RATE / 2;

/// Estimates and tracks the delay from the far end (as the canceller gets it) to its echo in
/// the microphone, independently of the canceller: GCC-PHAT over the last 2 s at 8 kHz, once a
/// second, kept only when the far end was playing and the correlation peak stands out.
pub struct DelayEstimator {
    far: std::collections::VecDeque<f32>,
    near: std::collections::VecDeque<f32>,
    fwd: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    inv: std::sync::Arc<dyn realfft::ComplexToReal<f32>>,
    buf: Vec<f32>,
    far_spec: Vec<realfft::num_complex::Complex<f32>>,
    near_spec: Vec<realfft::num_complex::Complex<f32>>,
    corr: Vec<f32>,
    since: usize,
    estimate: Option<f32>,
    /// Estimates made (kept or not), for the benchmark.
    pub attempts: u64,
}

impl std::fmt::Debug for DelayEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayEstimator")
            .field("estimate", &self.estimate)
            .finish()
    }
}

impl Default for DelayEstimator {
    fn default() -> Self {
        Self::new()
    }
}

impl DelayEstimator {
    /// An estimator with no estimate yet.
    pub fn new() -> Self {
        let mut planner = realfft::RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(EST_WINDOW);
        let inv = planner.plan_fft_inverse(EST_WINDOW);
        let far_spec = fwd.make_output_vec();
        let near_spec = fwd.make_output_vec();
        Self {
            far: std::collections::VecDeque::with_capacity(EST_WINDOW + FRAME_SAMPLES),
            near: std::collections::VecDeque::with_capacity(EST_WINDOW + FRAME_SAMPLES),
            buf: fwd.make_input_vec(),
            corr: inv.make_output_vec(),
            fwd,
            inv,
            far_spec,
            near_spec,
            since: 0,
            estimate: None,
            attempts: 0,
        }
    }

    /// The latest kept estimate, ms.
    pub fn delay_ms(&self) -> Option<f32> {
        self.estimate
    }

    /// Adds one span of far end and microphone (24 kHz, equal lengths, the mic before
    /// cancellation); re-estimates once a second of new audio has come in.
    pub fn push(&mut self, far: &[f32], near: &[f32]) {
        for (dst, src) in [(&mut self.far, far), (&mut self.near, near)] {
            dst.extend(
                src.chunks(3)
                    .map(|c| c.iter().sum::<f32>() / c.len() as f32),
            );
            let excess = dst.len().saturating_sub(EST_WINDOW);
            dst.drain(..excess);
        }
        self.since += near.len() / 3;
        if self.since >= EST_RATE && self.far.len() == EST_WINDOW && self.near.len() == EST_WINDOW {
            self.since = 0;
            self.estimate_now();
        }
    }

    fn estimate_now(&mut self) {
        self.attempts += 1;
        let far_power = self.far.iter().map(|s| s * s).sum::<f32>() / EST_WINDOW as f32;
        if far_power < 1e-5 {
            return; // the speaker was (nearly) silent: nothing to measure
        }
        for (b, s) in self.buf.iter_mut().zip(self.far.iter()) {
            *b = *s;
        }
        if self.fwd.process(&mut self.buf, &mut self.far_spec).is_err() {
            return;
        }
        for (b, s) in self.buf.iter_mut().zip(self.near.iter()) {
            *b = *s;
        }
        if self
            .fwd
            .process(&mut self.buf, &mut self.near_spec)
            .is_err()
        {
            return;
        }
        // Cross-spectrum with PHAT weighting: every frequency votes equally for the lag.
        for (n, f) in self.near_spec.iter_mut().zip(self.far_spec.iter()) {
            let c = *n * f.conj();
            *n = c / (c.norm() + 1e-9);
        }
        self.near_spec[0].im = 0.0;
        if let Some(last) = self.near_spec.last_mut() {
            last.im = 0.0;
        }
        if self
            .inv
            .process(&mut self.near_spec, &mut self.corr)
            .is_err()
        {
            return;
        }
        let lags = &self.corr[..EST_MAX_LAG];
        let (lag, peak) =
            lags.iter().enumerate().fold(
                (0, f32::MIN),
                |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
            );
        let mean = lags.iter().map(|v| v.abs()).sum::<f32>() / lags.len() as f32;
        if peak > 8.0 * mean {
            self.estimate = Some(lag as f32 * 1000.0 / EST_RATE as f32);
        }
    }
}

/// What a session's canceller was given and gave back, frame by frame
/// ([`crate::SessionConfig::aec_dump`]): replaying `far` and `near` through [`cancel_clip`]
/// gives `out` again.
#[derive(Debug, Default)]
pub struct AecRecording {
    /// The far end each microphone frame was cancelled with.
    pub far: Vec<f32>,
    /// The microphone before the canceller.
    pub near: Vec<f32>,
    /// The microphone after it.
    pub out: Vec<f32>,
    /// How the far end was kept in line with its echo, one row a frame once the speaker plays
    /// (written as `clock.csv`).
    pub clock: Vec<FarClockRow>,
}

/// One frame of the far end's clock keeping, for `clock.csv`: what the far end's resampler was
/// steered from and to. A backlog that moves with the device latencies is buffering; one that
/// moves on its own is drift.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FarClockRow {
    /// Seconds since the session's devices opened.
    pub t_s: f64,
    /// Far-end samples (24 kHz) waiting beyond the frame just cancelled.
    pub backlog: f64,
    /// The output device's reported latency (callback → playback), ms.
    pub out_latency_ms: f64,
    /// The input device's reported latency (capture → callback), ms.
    pub in_latency_ms: f64,
    /// The far-end resampler's correction applied, ppm.
    pub far_ppm: f64,
    /// The output resampler's correction applied, ppm.
    pub out_ppm: f64,
    /// Far-end samples padded and trimmed so far ([`FarEnd::padded`], [`FarEnd::trimmed`]).
    pub padded: u64,
    /// See `padded`.
    pub trimmed: u64,
}

impl AecRecording {
    /// Writes `far.wav`, `near.wav` and `out.wav` (24 kHz mono float) and `clock.csv` into `dir`
    /// (created).
    pub fn write(&self, dir: &std::path::Path) -> Result<(), VoiceError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::wav::wav_err(dir, hound::Error::IoError(e)))?;
        for (name, samples) in [("far", &self.far), ("near", &self.near), ("out", &self.out)] {
            crate::wav::write_mono_f32(&dir.join(format!("{name}.wav")), samples, SAMPLE_RATE)?;
        }
        let mut csv = String::from(
            "t_s,backlog,out_latency_ms,in_latency_ms,far_ppm,out_ppm,padded,trimmed\n",
        );
        for r in &self.clock {
            csv.push_str(&format!(
                "{:.3},{:.1},{:.3},{:.3},{:.1},{:.1},{},{}\n",
                r.t_s,
                r.backlog,
                r.out_latency_ms,
                r.in_latency_ms,
                r.far_ppm,
                r.out_ppm,
                r.padded,
                r.trimmed
            ));
        }
        let path = dir.join("clock.csv");
        std::fs::write(&path, csv).map_err(|e| crate::wav::wav_err(&path, hound::Error::IoError(e)))
    }
}

/// Runs the session's canceller over whole 24 kHz mono clips: `far` is what the speaker played,
/// `near` what the microphone heard (same clock, starting together); returns `near` with the
/// echo removed (same length) and the canceller's final figures. This is what
/// `moshibar-voice aec` does.
pub fn cancel_clip(far: &[f32], near: &[f32]) -> Result<(Vec<f32>, AecFigures), VoiceError> {
    let mut aec = EchoCanceller::new()?;
    let mut delay = DelayEstimator::new();
    let mut far_end = FarEnd::new(FRAME_SAMPLES);
    let mut out = Vec::with_capacity(near.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES);
    let mut f = [0.0f32; FRAME_SAMPLES];
    for (k, n) in near.chunks(FRAME_SAMPLES).enumerate() {
        let start = k * FRAME_SAMPLES;
        let played = far.get(start..(start + FRAME_SAMPLES).min(far.len()));
        far_end.push(played.unwrap_or(&[]));
        far_end.take(&mut f);
        let mut frame = [0.0f32; FRAME_SAMPLES];
        frame[..n.len()].copy_from_slice(n);
        delay.push(&f, &frame);
        aec.process(&f, &mut frame)?;
        out.extend_from_slice(&frame[..n.len()]);
    }
    let mut figures = aec.figures();
    figures.delay_ms = delay.delay_ms();
    Ok((out, figures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_end_pads_then_trims() {
        let mut fe = FarEnd::new(4);
        let mut out = [9.0f32; 3];
        fe.push(&[1.0, 2.0]);
        fe.take(&mut out);
        assert_eq!(out, [1.0, 2.0, 0.0]);
        assert_eq!(fe.padded, 1);
        fe.push(&[3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        fe.take(&mut out);
        assert_eq!(out, [3.0, 4.0, 5.0]);
        assert_eq!((fe.len(), fe.trimmed), (4, 1));
        fe.take(&mut out);
        assert_eq!(out, [7.0, 8.0, 9.0]);
    }

    #[test]
    fn delay_estimator_finds_a_delay_and_ignores_silence() {
        let mut est = DelayEstimator::new();
        let mut x = 12345u32;
        let mut noise = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let far: Vec<f32> = (0..24_000 * 4).map(|_| noise() * 0.3).collect();
        let d = 24 * 73; // 73 ms
        let near: Vec<f32> = (0..far.len())
            .map(|i| if i >= d { far[i - d] * 0.2 } else { 0.0 } + noise() * 0.01)
            .collect();
        for (f, n) in far.chunks(FRAME_SAMPLES).zip(near.chunks(FRAME_SAMPLES)) {
            est.push(f, n);
        }
        let got = est.delay_ms().unwrap_or(-1.0);
        assert!((got - 73.0).abs() <= 0.5, "estimated {got} ms");
        let mut quiet = DelayEstimator::new();
        let zeros = [0.0f32; FRAME_SAMPLES];
        for n in near.chunks(FRAME_SAMPLES) {
            quiet.push(&zeros, n);
        }
        assert_eq!(quiet.delay_ms(), None);
        assert!(quiet.attempts > 0);
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn rejects_ragged_input() -> Result<(), VoiceError> {
        let mut aec = EchoCanceller::new()?;
        let mut near = [0.0f32; CHUNK + 1];
        assert!(aec.process(&[0.0; CHUNK + 1], &mut near).is_err());
        let mut near = [0.0f32; CHUNK];
        assert!(aec.process(&[0.0; CHUNK * 2], &mut near).is_err());
        aec.process(&[0.0; CHUNK], &mut near)?;
        Ok(())
    }

    /// A recording written under a path whose parent is a file fails with the path and keeps the
    /// I/O error as its source (what a person debugging their room sees as "caused by").
    #[test]
    fn write_error_keeps_the_io_error_as_its_source() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, b"x")?;
        let rec = AecRecording {
            far: vec![0.0; 4],
            near: vec![0.0; 4],
            out: vec![0.0; 4],
            clock: Vec::new(),
        };
        let Err(err) = rec.write(&blocker.join("rec")) else {
            return Err("writing under a file succeeded".into());
        };
        assert!(err.to_string().contains("a-file"), "{err}");
        let source = std::error::Error::source(&err).ok_or("no source")?;
        let hound::Error::IoError(_) = source.downcast_ref::<hound::Error>().ok_or("not hound")?
        else {
            return Err(format!("not an I/O error: {source}").into());
        };
        Ok(())
    }
}
