//! Sample-rate conversion between the devices' native rates and Moshi's 24 kHz (rubato's FFT
//! resampler): whole clips for the file mode, and a streaming resampler for the live loop that
//! takes any number of samples per call and allocates nothing after construction.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Adjustable, Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters,
    WindowFunction,
};

use crate::error::VoiceError;

fn resample_err(from: u32, to: u32, e: impl std::fmt::Display) -> VoiceError {
    VoiceError::Resample {
        from,
        to,
        message: e.to_string(),
    }
}

/// The chunked feed both streaming resamplers share: input is collected into whole chunks of
/// `chunk_in` samples, each chunk goes through the resampler, and what it writes is appended to
/// the caller's output. Buffers are sized at construction, so feeding allocates nothing.
struct ChunkFeed {
    pending: Vec<f32>,
    out_chunk: Vec<f32>,
    chunk_in: usize,
    from: u32,
    to: u32,
}

impl ChunkFeed {
    fn new(chunk_in: usize, out_max: usize, from: u32, to: u32) -> Self {
        Self {
            pending: Vec::with_capacity(chunk_in * 2 + 65_536),
            out_chunk: vec![0.0; out_max],
            chunk_in,
            from,
            to,
        }
    }

    /// Feeds `input` through `r`, appending every output sample it can produce now to
    /// `output`; returns the input samples consumed and output samples produced.
    fn feed<R: Resampler<f32>>(
        &mut self,
        r: &mut R,
        input: &[f32],
        output: &mut Vec<f32>,
    ) -> Result<(u64, u64), VoiceError> {
        let (from, to) = (self.from, self.to);
        let (mut consumed, mut produced) = (0u64, 0u64);
        let mut input = input;
        while !input.is_empty() || self.pending.len() >= self.chunk_in {
            let room = self.chunk_in.saturating_sub(self.pending.len());
            let take = room.min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < self.chunk_in {
                break;
            }
            let inp = InterleavedSlice::new(&self.pending[..self.chunk_in], 1, self.chunk_in)
                .map_err(|e| resample_err(from, to, e))?;
            let cap = self.out_chunk.len();
            let mut out = InterleavedSlice::new_mut(&mut self.out_chunk[..], 1, cap)
                .map_err(|e| resample_err(from, to, e))?;
            let (read, written) = r
                .process_into_buffer(&inp, &mut out, None)
                .map_err(|e| resample_err(from, to, e))?;
            output.extend_from_slice(&self.out_chunk[..written]);
            self.pending.drain(..read.min(self.chunk_in));
            consumed += read as u64;
            produced += written as u64;
        }
        Ok((consumed, produced))
    }
}

/// Resamples a whole mono clip (delay trimmed, so the result lines up with the input).
pub fn resample_clip(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, VoiceError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let mut r = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Both)
        .map_err(|e| resample_err(from, to, e))?;
    let input =
        InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| resample_err(from, to, e))?;
    let out = r
        .process_all(&input, samples.len(), None)
        .map_err(|e| resample_err(from, to, e))?;
    let mut v = out.take_data();
    let expected = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    v.truncate(expected);
    Ok(v)
}

/// A streaming mono resampler: feed it whatever arrived, it appends what it can produce.
/// Buffers are sized at construction; `process` does not allocate as long as `output` has
/// capacity for what it appends.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    feed: ChunkFeed,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.feed.from)
            .field("to", &self.feed.to)
            .field("chunk_in", &self.feed.chunk_in)
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz working in chunks of about 10 ms (a pass-through
    /// when the rates are equal).
    pub fn new(from: u32, to: u32) -> Result<Self, VoiceError> {
        if from == to {
            return Ok(Self {
                inner: None,
                feed: ChunkFeed::new(0, 0, from, to),
            });
        }
        let chunk = (from as usize / 100).max(64);
        let r = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
            .map_err(|e| resample_err(from, to, e))?;
        let chunk_in = r.input_frames_next();
        let out_max = r.output_frames_max();
        Ok(Self {
            inner: Some(r),
            feed: ChunkFeed::new(chunk_in, out_max, from, to),
        })
    }

    /// Samples of delay the resampler adds, at the output rate.
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Input samples held back until a full chunk is there.
    pub fn pending(&self) -> usize {
        self.feed.pending.len()
    }

    /// Resamples `input`, appending every output sample it can produce now to `output`.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), VoiceError> {
        let Some(r) = self.inner.as_mut() else {
            output.extend_from_slice(input);
            return Ok(());
        };
        self.feed.feed(r, input, output)?;
        Ok(())
    }
}

/// A streaming mono resampler whose ratio can be nudged while it runs, for clock-drift
/// compensation ([`DriftController`](crate::DriftController)): rubato's asynchronous sinc resampler (128 taps), nominal
/// ratio `to / from`, corrected by up to ±`max_ppm`. Ratio changes are ramped over one 10 ms
/// chunk, so a correction never clicks. Buffers are sized at construction; `process` does not
/// allocate as long as `output` has capacity for what it appends.
pub struct AdaptiveResampler {
    inner: Async<f32>,
    feed: ChunkFeed,
    max_ppm: f64,
    ppm: f64,
    consumed: u64,
    produced: u64,
}

impl std::fmt::Debug for AdaptiveResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveResampler")
            .field("from", &self.feed.from)
            .field("to", &self.feed.to)
            .field("ppm", &self.ppm)
            .finish()
    }
}

impl AdaptiveResampler {
    /// A resampler from `from` Hz to `to` Hz (equal rates too: it still follows the drift) in
    /// chunks of 10 ms of input, whose ratio may be corrected by up to ±`max_ppm`.
    pub fn new(from: u32, to: u32, max_ppm: f64) -> Result<Self, VoiceError> {
        let chunk = (from as usize / 100).max(64);
        let max_ppm = max_ppm.abs();
        let params = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2)
            .oversampling_factor(128);
        let inner = Async::<f32>::new_sinc(
            f64::from(to) / f64::from(from),
            // rubato's bound is symmetric in ratio (max and 1/max): cover -max_ppm too.
            1.0 / (1.0 - (max_ppm * 1e-6).min(0.5)) + 1e-9,
            &params,
            chunk,
            1,
            FixedAsync::Input,
        )
        .map_err(|e| resample_err(from, to, e))?;
        let chunk_in = inner.input_frames_next();
        let out_max = inner.output_frames_max();
        Ok(Self {
            inner,
            feed: ChunkFeed::new(chunk_in, out_max, from, to),
            max_ppm,
            ppm: 0.0,
            consumed: 0,
            produced: 0,
        })
    }

    /// Sets the correction: the ratio becomes `to / from · (1 + ppm·1e-6)` (clamped to the
    /// bound given at construction). Positive: more output per input.
    pub fn set_correction_ppm(&mut self, ppm: f64) -> Result<(), VoiceError> {
        let ppm = ppm.clamp(-self.max_ppm, self.max_ppm);
        let (from, to) = (self.feed.from, self.feed.to);
        self.inner
            .set_resample_ratio_relative(1.0 + ppm * 1e-6, true)
            .map_err(|e| resample_err(from, to, e))?;
        self.ppm = ppm;
        Ok(())
    }

    /// The correction now applied, ppm.
    pub fn correction_ppm(&self) -> f64 {
        self.ppm
    }

    /// Samples of delay the resampler adds, at the output rate.
    pub fn delay(&self) -> usize {
        self.inner.output_delay()
    }

    /// Input samples held back until a full chunk is there.
    pub fn pending(&self) -> usize {
        self.feed.pending.len()
    }

    /// Input samples consumed and output samples produced since the start: their ratio is
    /// the ratio really applied.
    pub fn totals(&self) -> (u64, u64) {
        (self.consumed, self.produced)
    }

    /// Resamples `input`, appending every output sample it can produce now to `output`.
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) -> Result<(), VoiceError> {
        let (consumed, produced) = self.feed.feed(&mut self.inner, input, output)?;
        self.consumed += consumed;
        self.produced += produced;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn clip_length_and_tone_survive() -> Result<(), VoiceError> {
        let x = sine(48_000, 440.0, 48_000);
        let y = resample_clip(&x, 48_000, 24_000)?;
        assert_eq!(y.len(), 24_000);
        let rms = crate::metrics::rms(&y[1000..23_000]);
        assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.01, "rms {rms}");
        let z = resample_clip(&x, 44_100, 24_000)?;
        assert_eq!(z.len(), (48_000u64 * 24_000).div_ceil(44_100) as usize);
        Ok(())
    }

    #[test]
    fn stream_produces_the_ratio_for_any_chunking() -> Result<(), VoiceError> {
        for (from, to) in [
            (48_000, 24_000),
            (44_100, 24_000),
            (24_000, 48_000),
            (16_000, 24_000),
        ] {
            let mut r = StreamResampler::new(from, to)?;
            let x = sine(from, 300.0, from as usize);
            let mut out = Vec::new();
            for chunk in x.chunks(333) {
                r.process(chunk, &mut out)?;
            }
            let expected = to as usize;
            let produced = out.len() + r.pending() * to as usize / from as usize;
            assert!(
                produced.abs_diff(expected) <= 1,
                "{from}->{to}: {produced} vs {expected}"
            );
            // After the resampler's delay, the tone is there at the right level.
            let tail = &out[r.delay() + 200..out.len() - 200];
            let rms = crate::metrics::rms(tail);
            assert!((rms - 0.354).abs() < 0.01, "{from}->{to}: rms {rms}");
        }
        let mut same = StreamResampler::new(24_000, 24_000)?;
        let mut out = Vec::new();
        same.process(&[0.1, 0.2], &mut out)?;
        assert_eq!(out, vec![0.1, 0.2]);
        Ok(())
    }

    #[test]
    fn adaptive_follows_its_correction() -> Result<(), VoiceError> {
        for (from, to) in [(24_000, 48_000), (48_000, 24_000), (24_000, 24_000)] {
            let mut r = AdaptiveResampler::new(from, to, 5000.0)?;
            let x = sine(from, 300.0, from as usize * 4);
            let mut out = Vec::new();
            r.process(&x[..from as usize], &mut out)?;
            let (c0, p0) = r.totals();
            r.set_correction_ppm(-2000.0)?;
            for chunk in x[from as usize..].chunks(1920) {
                r.process(chunk, &mut out)?;
            }
            let (c1, p1) = r.totals();
            let ratio = (p1 - p0) as f64 / (c1 - c0) as f64 / (f64::from(to) / f64::from(from));
            let ppm = (ratio - 1.0) * 1e6;
            assert!(
                (ppm + 2000.0).abs() < 150.0,
                "{from}->{to}: applied {ppm:.0} ppm"
            );
            // The tone survives at its level (no clicks or gaps from the ratio change).
            let tail = &out[r.delay() + 200..out.len() - 200];
            let rms = crate::metrics::rms(tail);
            assert!((rms - 0.354).abs() < 0.01, "{from}->{to}: rms {rms}");
            // Beyond the bound: clamped, not an error.
            r.set_correction_ppm(1e6)?;
            assert_eq!(r.correction_ppm(), 5000.0);
            r.set_correction_ppm(-1e6)?;
            assert_eq!(r.correction_ppm(), -5000.0);
        }
        Ok(())
    }
}
