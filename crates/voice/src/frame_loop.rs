//! One step of the session, shared by the live loop and the file mode: gate the mic frame,
//! run the model, turn its text into a transcript event, and fold its figures into metrics
//! events about four times a second.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::aec::{AecFigures, CancellerKind};
use crate::events::SessionEvent;
use crate::gate::Gate;
use crate::metrics::{rms, AudioHealth, FrameFigures, MetricsAccumulator, TranscriptPiece};
use crate::model::{FrameModel, ModelError, ModelFrame};

/// Frames per metrics event (3 × 80 ms ≈ 4 events a second).
pub const METRICS_EVERY: u32 = 3;

/// Running totals over a whole session, for reports and the benchmark.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Frames stepped.
    pub frames: u64,
    /// Sum of encode ms.
    pub encode_ms: f64,
    /// Sum of LM ms.
    pub lm_ms: f64,
    /// Sum of decode ms.
    pub decode_ms: f64,
    /// Sum of whole-step wall ms.
    pub step_ms: f64,
    /// Slowest step, ms.
    pub max_step_ms: f64,
    /// Events that could not be sent because the receiver was not keeping up.
    pub events_dropped: u64,
}

impl Totals {
    /// Mean processing time / audio time over the session.
    pub fn rtf(&self) -> f64 {
        let audio_ms = self.frames as f64 * 80.0;
        if audio_ms == 0.0 {
            0.0
        } else {
            self.step_ms / audio_ms
        }
    }
}

/// What the live loop knows beyond the model's step, copied into every metrics event.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LiveFigures {
    /// The echo canceller in use.
    pub echo_canceller: CancellerKind,
    /// Its figures.
    pub aec: AecFigures,
    /// Device accounting.
    pub audio: AudioHealth,
}

/// The model plus everything one step needs around it.
pub struct FrameLoop<M: FrameModel> {
    /// The model (returned to the caller when the session ends).
    pub model: M,
    gate: Arc<Gate>,
    events: Sender<SessionEvent>,
    acc: MetricsAccumulator,
    totals: Totals,
    last_open: bool,
    live: LiveFigures,
    mic_rms: Option<f32>,
}

impl<M: FrameModel> FrameLoop<M> {
    /// A loop around `model`, gated by `gate`, sending events on `events` (never blocking).
    pub fn new(model: M, gate: Arc<Gate>, events: Sender<SessionEvent>) -> Self {
        Self {
            model,
            gate,
            events,
            acc: MetricsAccumulator::default(),
            totals: Totals::default(),
            last_open: false,
            live: LiveFigures::default(),
            mic_rms: None,
        }
    }

    /// The RMS of the next frame before echo cancellation (the frame `step` gets is after it).
    pub fn set_mic_rms(&mut self, rms: f32) {
        self.mic_rms = Some(rms);
    }

    /// Updates the live figures the next metrics events carry.
    pub fn set_live(&mut self, live: LiveFigures) {
        self.live = live;
    }

    /// Totals so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    fn send(&mut self, e: SessionEvent) {
        if self.events.try_send(e).is_err() {
            self.totals.events_dropped += 1;
        }
    }

    /// Gates `frame` (24 kHz mono, [`crate::FRAME_SAMPLES`]) and runs the model on it.
    /// `latency_ms` is the live loop's estimate for this frame; `dropped`/`underruns` the
    /// session's running counts for the metrics event.
    pub fn step(
        &mut self,
        frame: &mut [f32],
        latency_ms: Option<f32>,
        dropped: u64,
        underruns: u64,
    ) -> Result<ModelFrame, ModelError> {
        let input_rms = rms(frame);
        let gated = self.gate.apply(frame);
        self.run(frame, input_rms, gated, latency_ms, dropped, underruns)
    }

    /// Like [`FrameLoop::step`] for a frame whose first sample was captured at `captured`:
    /// the gate silences the samples the push-to-talk key did not cover at the time they were
    /// captured ([`Gate::apply_captured`]), however late this runs.
    pub fn step_captured(
        &mut self,
        frame: &mut [f32],
        captured: Instant,
        latency_ms: Option<f32>,
        dropped: u64,
        underruns: u64,
    ) -> Result<ModelFrame, ModelError> {
        let input_rms = rms(frame);
        let gated = self.gate.apply_captured(frame, captured);
        self.run(frame, input_rms, gated, latency_ms, dropped, underruns)
    }

    fn run(
        &mut self,
        frame: &[f32],
        input_rms: f32,
        (open, index): (bool, u64),
        latency_ms: Option<f32>,
        dropped: u64,
        underruns: u64,
    ) -> Result<ModelFrame, ModelError> {
        self.last_open = open;
        let start = Instant::now();
        let out = self.model.process(frame)?;
        let step_ms = start.elapsed().as_secs_f64() * 1000.0;
        if let Some(text) = out.text.as_ref() {
            self.send(SessionEvent::Transcript(TranscriptPiece {
                piece: text.clone(),
                frame: index,
            }));
        }
        let t = &mut self.totals;
        t.frames += 1;
        t.encode_ms += f64::from(out.encode_ms);
        t.lm_ms += f64::from(out.lm_ms);
        t.decode_ms += f64::from(out.decode_ms);
        t.step_ms += step_ms;
        t.max_step_ms = t.max_step_ms.max(step_ms);
        self.acc.add(FrameFigures {
            input_rms,
            mic_rms: self.mic_rms.take().unwrap_or(input_rms),
            output_rms: rms(&out.pcm),
            encode_ms: out.encode_ms,
            lm_ms: out.lm_ms,
            decode_ms: out.decode_ms,
            step_ms: step_ms as f32,
            latency_ms,
        });
        if self.acc.frames() >= METRICS_EVERY {
            let mut m = self.acc.take(open, dropped, underruns);
            m.echo_canceller = self.live.echo_canceller;
            m.erle_db = self.live.aec.erle_db;
            m.echo_delay_ms = self.live.aec.delay_ms;
            m.audio = self.live.audio;
            self.send(SessionEvent::Metrics(m));
        }
        Ok(out)
    }
}
