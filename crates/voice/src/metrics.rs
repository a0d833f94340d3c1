//! The `transcript` and `session-metrics` event payloads (docs/ipc.md) and the accumulator that
//! averages per-frame figures into one [`Metrics`] about four times a second.

use serde::{Deserialize, Serialize};

/// One piece of Moshi's transcript, as the UI's `transcript` event carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TranscriptPiece {
    /// The decoded text (SentencePiece pieces start with a space at word starts).
    pub piece: String,
    /// Index of the 80 ms frame that produced it, counted from the session's start.
    pub frame: u64,
}

/// The `session-metrics` event: levels, per-stage times and health of the real-time loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Metrics {
    /// Whether mic frames reach the model (push-to-talk held or hands-free).
    pub talking: bool,
    /// Whether Moshi is audibly speaking (output level above a small threshold).
    pub speaking: bool,
    /// RMS of the microphone signal (before the gate), 0..1.
    pub input_level: f32,
    /// RMS of the model's output, 0..1.
    pub output_level: f32,
    /// Mean Mimi encode time per frame over the period, ms.
    pub encode_ms: f32,
    /// Mean LM step time per frame, ms.
    pub lm_ms: f32,
    /// Mean Mimi decode time per frame, ms.
    pub decode_ms: f32,
    /// Processing time / audio time over the period (< 1 keeps up).
    pub rtf: f32,
    /// Input frames dropped since the start because the model fell behind.
    pub frames_dropped: u64,
    /// Times the speaker ran dry since the start (after the first output frame).
    pub underruns: u64,
    /// Estimated mic-sample-to-speaker-sample latency in ms, when known.
    pub latency_ms: Option<f32>,
    /// RMS of the microphone before echo cancellation, 0..1 (`input_level` is after it): their
    /// ratio while only Moshi talks is the echo removed.
    pub mic_level: f32,
    /// Which echo canceller runs.
    pub echo_canceller: crate::aec::CancellerKind,
    /// Echo return loss enhancement reported by the canceller, dB.
    pub erle_db: Option<f32>,
    /// Estimated delay from what the speaker played to its echo in the microphone, ms.
    pub echo_delay_ms: Option<f32>,
    /// How the devices keep time (played/captured vs wall clock, xruns, drops).
    pub audio: AudioHealth,
}

/// Honest accounting of the live devices since the session's devices opened: what the
/// speaker and the microphone really moved against the wall clock, and everything lost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AudioHealth {
    /// Wall time since the devices opened, s.
    pub wall_s: f64,
    /// Audio the output callback handed to the device (its queue and the silence it inserted),
    /// s at the device's rate. Falling behind `wall_s` = the device consumes slower than real
    /// time (a starved audio server, clock drift).
    pub played_s: f64,
    /// Audio the input callback delivered, s. Behind `wall_s` = capture is losing time.
    pub captured_s: f64,
    /// Non-fatal xruns reported by the streams (input + output).
    pub xruns: u64,
    /// Other non-fatal stream errors (the streams kept running).
    pub stream_errors: u64,
    /// Model output dropped because the speaker's queue was full, ms.
    pub output_dropped_ms: f64,
    /// Microphone audio dropped because the model thread did not empty the ring in time, ms.
    pub capture_dropped_ms: f64,
    /// The speaker's clock against the microphone's as the drift compensator learned it, ppm
    /// (−1 000: the speaker plays 0.1 % slower; [`DriftController`](crate::DriftController)).
    pub drift_ppm: f64,
    /// The correction the output resampler applies now, ppm (at ±10 000 it is saturated: the
    /// speaker is further off real time than resampling can follow).
    pub drift_correction_ppm: f64,
}

/// Output RMS above which Moshi counts as speaking (about -46 dBFS).
pub const SPEAKING_RMS: f32 = 0.005;

/// Root mean square of a block of samples (0 for an empty block).
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|s| f64::from(*s) * f64::from(*s)).sum();
    (sum / samples.len() as f64).sqrt() as f32
}

/// Sums per-frame figures until [`MetricsAccumulator::take`] turns them into one [`Metrics`].
#[derive(Debug, Default, Clone)]
pub struct MetricsAccumulator {
    frames: u32,
    input_sq: f64,
    mic_sq: f64,
    output_sq: f64,
    encode_ms: f64,
    lm_ms: f64,
    decode_ms: f64,
    step_ms: f64,
    latency_ms: Option<f32>,
}

/// The figures of one processed frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameFigures {
    /// RMS of the mic frame before gating.
    pub input_rms: f32,
    /// RMS of the mic frame before echo cancellation (= `input_rms` without a canceller).
    pub mic_rms: f32,
    /// RMS of the model's output frame.
    pub output_rms: f32,
    /// Stage times in ms.
    pub encode_ms: f32,
    /// LM step in ms.
    pub lm_ms: f32,
    /// Decode in ms.
    pub decode_ms: f32,
    /// Wall time of the whole step in ms (for the RTF).
    pub step_ms: f32,
    /// Latency estimate for this frame, if the loop knows one.
    pub latency_ms: Option<f32>,
}

impl MetricsAccumulator {
    /// Adds one frame's figures.
    pub fn add(&mut self, f: FrameFigures) {
        self.frames += 1;
        self.input_sq += f64::from(f.input_rms).powi(2);
        self.mic_sq += f64::from(f.mic_rms).powi(2);
        self.output_sq += f64::from(f.output_rms).powi(2);
        self.encode_ms += f64::from(f.encode_ms);
        self.lm_ms += f64::from(f.lm_ms);
        self.decode_ms += f64::from(f.decode_ms);
        self.step_ms += f64::from(f.step_ms);
        if f.latency_ms.is_some() {
            self.latency_ms = f.latency_ms;
        }
    }

    /// Frames added since the last `take`.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Averages what was added into a [`Metrics`] and starts over.
    pub fn take(&mut self, talking: bool, frames_dropped: u64, underruns: u64) -> Metrics {
        let n = f64::from(self.frames.max(1));
        let output_level = (self.output_sq / n).sqrt() as f32;
        let frame_ms = crate::FRAME_SAMPLES as f64 * 1000.0 / f64::from(crate::SAMPLE_RATE);
        let m = Metrics {
            talking,
            speaking: output_level > SPEAKING_RMS,
            input_level: (self.input_sq / n).sqrt() as f32,
            mic_level: (self.mic_sq / n).sqrt() as f32,
            output_level,
            encode_ms: (self.encode_ms / n) as f32,
            lm_ms: (self.lm_ms / n) as f32,
            decode_ms: (self.decode_ms / n) as f32,
            rtf: (self.step_ms / n / frame_ms) as f32,
            frames_dropped,
            underruns,
            latency_ms: self.latency_ms,
            ..Default::default()
        };
        *self = Self::default();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_json_matches_the_ipc_contract() -> Result<(), serde_json::Error> {
        let m = Metrics {
            talking: true,
            latency_ms: Some(180.0),
            ..Default::default()
        };
        let v = serde_json::to_value(&m)?;
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for k in [
            "talking",
            "speaking",
            "inputLevel",
            "outputLevel",
            "encodeMs",
            "lmMs",
            "decodeMs",
            "rtf",
            "framesDropped",
            "underruns",
            "latencyMs",
            "micLevel",
            "echoCanceller",
            "erleDb",
            "echoDelayMs",
            "audio",
        ] {
            assert!(keys.contains(&k), "missing {k} in {v}");
        }
        assert_eq!(keys.len(), 16);
        for k in [
            "wallS",
            "playedS",
            "capturedS",
            "xruns",
            "streamErrors",
            "outputDroppedMs",
            "captureDroppedMs",
            "driftPpm",
            "driftCorrectionPpm",
        ] {
            assert!(v["audio"].get(k).is_some(), "missing audio.{k} in {v}");
        }
        // Older payloads (without the new fields) still parse.
        let old: Metrics = serde_json::from_str(r#"{"talking":true,"rtf":0.5}"#)?;
        assert!(old.talking && old.audio == AudioHealth::default());
        let t = serde_json::to_string(&TranscriptPiece {
            piece: " hello".into(),
            frame: 42,
        })?;
        assert_eq!(t, r#"{"piece":" hello","frame":42}"#);
        let none = serde_json::to_value(Metrics::default())?;
        assert!(none["latencyMs"].is_null());
        Ok(())
    }

    #[test]
    fn accumulator_averages_and_resets() {
        let mut a = MetricsAccumulator::default();
        for _ in 0..3 {
            a.add(FrameFigures {
                input_rms: 0.5,
                output_rms: 0.0,
                lm_ms: 40.0,
                step_ms: 40.0,
                ..Default::default()
            });
        }
        let m = a.take(true, 2, 1);
        assert!((m.input_level - 0.5).abs() < 1e-6);
        assert!((m.lm_ms - 40.0).abs() < 1e-6);
        assert!((m.rtf - 0.5).abs() < 1e-6);
        assert!(!m.speaking);
        assert_eq!((m.frames_dropped, m.underruns), (2, 1));
        assert_eq!(a.frames(), 0);
        assert!((rms(&[1.0, -1.0]) - 1.0).abs() < 1e-6);
    }
}
