//! The model seen by the session: anything that turns one 80 ms frame of 24 kHz mono audio into
//! one frame of audio out (plus maybe a text piece). `engine::Moshi` implements it (feature
//! `engine`); [`EchoModel`] is a deterministic model for testing and measuring the audio path.

use std::collections::VecDeque;

use crate::FRAME_SAMPLES;

/// A failure inside the model. The backend's own error is kept as the `source()`: the
/// engine's `EngineError` (feature `engine`) as a typed variant, any other loader's error
/// boxed, so a caller can match or downcast instead of parsing a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The engine failed (loading, warm-up or a frame).
    #[cfg(feature = "engine")]
    #[error("{0}")]
    Engine(#[from] engine::EngineError),
    /// The model could not be loaded; the loader's error (with its chain) is kept.
    #[error("loading the model: {}", Chain(.0.as_ref()))]
    Load(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A frame of the wrong length went into or came out of the model.
    #[error("frame of {got} samples, expected {expected}")]
    FrameSize {
        /// Samples in the frame.
        got: usize,
        /// Samples a frame has ([`FRAME_SAMPLES`]).
        expected: usize,
    },
    /// A quality name that is not `bf16`, `q8` or `q4`.
    #[error("unknown quality \"{0}\"; use bf16, q8 or q4")]
    UnknownQuality(String),
    /// There is no model to answer (not loaded yet, or its thread has stopped); the message
    /// says which.
    #[error("{0}")]
    Unavailable(String),
}

impl ModelError {
    /// A [`ModelError::Load`] keeping `source` (an `anyhow::Error` converts too).
    pub fn load(source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        ModelError::Load(source.into())
    }

    /// A [`ModelError::Unavailable`] saying why.
    pub fn unavailable(why: impl Into<String>) -> Self {
        ModelError::Unavailable(why.into())
    }
}

/// Displays an error and its sources as `a: b: c`, the way `anyhow`'s `{:#}` does.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// What the model produced for one input frame.
#[derive(Debug, Clone, Default)]
pub struct ModelFrame {
    /// [`FRAME_SAMPLES`] samples of 24 kHz mono audio to play.
    pub pcm: Vec<f32>,
    /// A piece of transcript (Moshi's text token, decoded), if this frame produced one.
    pub text: Option<String>,
    /// Milliseconds spent encoding the input frame (Mimi encoder).
    pub encode_ms: f32,
    /// Milliseconds spent in the language model step.
    pub lm_ms: f32,
    /// Milliseconds spent decoding the output frame (Mimi decoder).
    pub decode_ms: f32,
}

/// The session's view of a speech-to-speech model, so the audio machinery does not depend on
/// the engine (and tests can drive it with a deterministic model).
pub trait FrameModel: Send {
    /// Runs the model once on silence so the first real frame is not slow (kernel compilation,
    /// caches); called before the devices open.
    fn warmup(&mut self) -> Result<(), ModelError>;
    /// Forgets the conversation so the next session starts fresh.
    fn reset(&mut self);
    /// Processes one frame of [`FRAME_SAMPLES`] samples (24 kHz mono, -1..1).
    fn process(&mut self, pcm_in: &[f32]) -> Result<ModelFrame, ModelError>;
}

impl FrameModel for Box<dyn FrameModel> {
    fn warmup(&mut self) -> Result<(), ModelError> {
        (**self).warmup()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn process(&mut self, pcm_in: &[f32]) -> Result<ModelFrame, ModelError> {
        (**self).process(pcm_in)
    }
}

impl<M: FrameModel + ?Sized> FrameModel for &mut M {
    fn warmup(&mut self) -> Result<(), ModelError> {
        (**self).warmup()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn process(&mut self, pcm_in: &[f32]) -> Result<ModelFrame, ModelError> {
        (**self).process(pcm_in)
    }
}

/// A deterministic model that plays back its input `delay_frames` frames later, scaled by
/// `gain`, and emits the text piece `"<n>"` on every frame whose input was not silent. It lets
/// tests verify gating (silence in → silence out), measure end-to-end latency (a click in comes
/// out exactly `delay_frames` frames later) and exercise the whole loop without MLX.
#[derive(Debug, Clone)]
pub struct EchoModel {
    delay: VecDeque<Vec<f32>>,
    delay_frames: usize,
    gain: f32,
    frames: u64,
    /// Every input frame received, if recording was enabled: lets tests see what the gate let in.
    pub received: Option<Vec<Vec<f32>>>,
    /// Extra time each step sleeps, to simulate a model slower than real time.
    pub step_delay: std::time::Duration,
}

impl EchoModel {
    /// An echo with the given delay in frames (0 = the same frame comes straight back).
    pub fn new(delay_frames: usize) -> Self {
        Self {
            delay: VecDeque::new(),
            delay_frames,
            gain: 1.0,
            frames: 0,
            received: None,
            step_delay: std::time::Duration::ZERO,
        }
    }

    /// Keeps a copy of every input frame in [`EchoModel::received`].
    pub fn recording(mut self) -> Self {
        self.received = Some(Vec::new());
        self
    }

    /// Scales the echo (below 1, a feedback loop through the devices decays: used to measure
    /// the round-trip latency).
    pub fn with_gain(mut self, gain: f32) -> Self {
        self.gain = gain;
        self
    }

    /// Makes every step take at least `d` (a model that cannot keep up).
    pub fn with_step_delay(mut self, d: std::time::Duration) -> Self {
        self.step_delay = d;
        self
    }
}

impl FrameModel for EchoModel {
    fn warmup(&mut self) -> Result<(), ModelError> {
        let silence = vec![0.0; FRAME_SAMPLES];
        self.process(&silence)?;
        self.reset();
        Ok(())
    }

    fn reset(&mut self) {
        self.delay.clear();
        self.frames = 0;
        if let Some(r) = self.received.as_mut() {
            r.clear();
        }
    }

    fn process(&mut self, pcm_in: &[f32]) -> Result<ModelFrame, ModelError> {
        if pcm_in.len() != FRAME_SAMPLES {
            return Err(ModelError::FrameSize {
                got: pcm_in.len(),
                expected: FRAME_SAMPLES,
            });
        }
        let start = std::time::Instant::now();
        if let Some(r) = self.received.as_mut() {
            r.push(pcm_in.to_vec());
        }
        self.delay
            .push_back(pcm_in.iter().map(|s| s * self.gain).collect());
        let pcm = if self.delay.len() > self.delay_frames {
            self.delay.pop_front().unwrap_or_default()
        } else {
            vec![0.0; FRAME_SAMPLES]
        };
        let text = if pcm_in.iter().any(|s| *s != 0.0) {
            Some(format!(" {}", self.frames))
        } else {
            None
        };
        self.frames += 1;
        if !self.step_delay.is_zero() {
            std::thread::sleep(self.step_delay);
        }
        Ok(ModelFrame {
            pcm,
            text,
            encode_ms: 0.0,
            lm_ms: start.elapsed().as_secs_f32() * 1000.0,
            decode_ms: 0.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_delays_by_whole_frames() -> Result<(), ModelError> {
        let mut m = EchoModel::new(1);
        let a = vec![0.5; FRAME_SAMPLES];
        let z = vec![0.0; FRAME_SAMPLES];
        let o1 = m.process(&a)?;
        assert!(o1.pcm.iter().all(|s| *s == 0.0));
        assert_eq!(o1.text.as_deref(), Some(" 0"));
        let o2 = m.process(&z)?;
        assert!(o2.pcm.iter().all(|s| *s == 0.5));
        assert_eq!(o2.text, None);
        assert!(matches!(
            m.process(&[0.0; 10]),
            Err(ModelError::FrameSize {
                got: 10,
                expected: FRAME_SAMPLES
            })
        ));
        Ok(())
    }

    /// A loader's error chain survives: shown in the message and kept as the source.
    #[test]
    fn load_errors_keep_their_chain() {
        let inner = anyhow::anyhow!("model.q8.safetensors: not found").context("loading Moshi");
        let e = ModelError::load(inner);
        assert_eq!(
            e.to_string(),
            "loading the model: loading Moshi: model.q8.safetensors: not found"
        );
        let source = std::error::Error::source(&e).expect("kept");
        assert_eq!(source.to_string(), "loading Moshi");
    }

    /// The engine's error is the typed variant and stays the source.
    #[cfg(feature = "engine")]
    #[test]
    fn engine_errors_are_kept_typed() {
        let e = ModelError::from(engine::EngineError::Input("code 9999 out of range".into()));
        assert!(matches!(
            e,
            ModelError::Engine(engine::EngineError::Input(_))
        ));
        assert!(e.to_string().contains("code 9999"), "{e}");
    }
}
