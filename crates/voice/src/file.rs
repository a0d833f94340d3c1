//! The headless mode: a WAV file in (any rate and channel count), through the same frame loop
//! as the live session, a 24 kHz mono WAV file out of the same duration. For tests, the
//! benchmark, and people without a microphone.

use std::path::Path;
use std::sync::Arc;

use crate::error::VoiceError;
use crate::frame_loop::{FrameLoop, Totals};
use crate::gate::Gate;
use crate::model::FrameModel;
use crate::session::SessionEvent;
use crate::{resample, wav, FRAME_SAMPLES, SAMPLE_RATE};

/// What a file run produced.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Frames stepped (the input padded up to whole frames).
    pub frames: u64,
    /// Samples written (24 kHz mono; the input's duration).
    pub output_samples: usize,
    /// The transcript, pieces joined.
    pub transcript: String,
    /// Timing totals.
    pub totals: Totals,
    /// RMS of the whole output.
    pub output_rms: f32,
}

/// Runs `model` over a whole 24 kHz mono signal in frames (the last one padded with silence)
/// and returns the output trimmed to the input's length, plus the report.
pub fn run_samples<M: FrameModel>(
    model: M,
    input_24k: &[f32],
) -> Result<(Vec<f32>, FileReport), VoiceError> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut fl = FrameLoop::new(model, Arc::new(Gate::new(true)), tx);
    fl.model.reset();
    fl.model.warmup()?;
    fl.model.reset();
    let n_frames = input_24k.len().div_ceil(FRAME_SAMPLES);
    let mut out = Vec::with_capacity(n_frames * FRAME_SAMPLES);
    let mut transcript = String::new();
    for k in 0..n_frames {
        let mut frame = [0.0f32; FRAME_SAMPLES];
        let chunk = &input_24k[k * FRAME_SAMPLES..((k + 1) * FRAME_SAMPLES).min(input_24k.len())];
        frame[..chunk.len()].copy_from_slice(chunk);
        let o = fl.step(&mut frame, None, 0, 0)?;
        if o.pcm.len() != FRAME_SAMPLES {
            return Err(VoiceError::Model(crate::ModelError::FrameSize {
                got: o.pcm.len(),
                expected: FRAME_SAMPLES,
            }));
        }
        out.extend_from_slice(&o.pcm);
        for e in rx.try_iter() {
            if let SessionEvent::Transcript(p) = e {
                transcript.push_str(&p.piece);
            }
        }
    }
    out.truncate(input_24k.len());
    let report = FileReport {
        frames: n_frames as u64,
        output_samples: out.len(),
        transcript,
        totals: fl.totals(),
        output_rms: crate::metrics::rms(&out),
    };
    Ok((out, report))
}

/// Reads `input` (any WAV), resamples it to 24 kHz mono, runs the model and writes `output` as
/// a 24 kHz mono 16-bit WAV of the same duration.
pub fn run_file<M: FrameModel>(
    model: M,
    input: &Path,
    output: &Path,
) -> Result<FileReport, VoiceError> {
    let (samples, rate) = wav::read_mono(input)?;
    let x = resample::resample_clip(&samples, rate, SAMPLE_RATE)?;
    let (y, report) = run_samples(model, &x)?;
    wav::write_mono_i16(output, &y, SAMPLE_RATE)?;
    Ok(report)
}
