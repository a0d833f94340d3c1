//! The real-time Moshi voice session: microphone → model → speaker on a dedicated model thread,
//! with push-to-talk, transcript pieces and metrics streamed as events.
//!
//! The app configures a [`Session`] with a [`SessionConfig`], gives it a [`FrameModel`] (the
//! real Moshi through `engine_model` with the `engine` feature, or the [`EchoModel`] stand-in)
//! and hears from it through [`SessionEvent`]s ([`Metrics`], [`TranscriptPiece`]s, errors).
//!
//! - Audio callbacks only convert samples, mix to mono and move them through lock-free SPSC
//!   rings ([`ring`], [`Capture`], [`Playback`]); they never allocate, lock, log or wait.
//! - On the model thread: resampling to and from Moshi's 24 kHz ([`AdaptiveResampler`], its
//!   ratio steered by [`DriftController`] so two clocks do not drift apart), push-to-talk
//!   ([`Gate`], by capture time, with a [`PreRoll`] that keeps the first syllable), the model
//!   step ([`FrameLoop`]).
//! - The microphone is cleaned of the speaker's echo first ([`EchoCanceller`]: WebRTC AEC3 fed
//!   with exactly what the output callback played, [`FarEnd`]); [`echo_room`] is the synthetic
//!   room the tests and `moshibar-voice bench` measure it in. On macOS Apple's voice-processing
//!   unit carries both directions and cancels instead.
//! - [`RoutePlan`] decides per route: headphones skip the canceller, a Bluetooth output records
//!   through the built-in microphone, speakers without a canceller bring a "use headphones"
//!   [`RouteNotice`].
//! - The same frame loop drives the headless WAV-to-WAV mode ([`run_file`], [`run_samples`]) and
//!   the offline canceller ([`cancel_clip`]), so tests run the session's own code.
//!
//! ```
//! use voice::{run_samples, EchoModel, FRAME_SAMPLES, SAMPLE_RATE};
//!
//! // One second of a 440 Hz tone through the echo stand-in, frame by frame, as a session would.
//! let tone: Vec<f32> = (0..SAMPLE_RATE as usize)
//!     .map(|i| 0.3 * (i as f32 * 440.0 * std::f32::consts::TAU / SAMPLE_RATE as f32).sin())
//!     .collect();
//! let (out, report) = run_samples(EchoModel::new(1), &tone)?;
//! assert_eq!(out.len(), tone.len());
//! assert_eq!(report.frames, tone.len().div_ceil(FRAME_SAMPLES) as u64);
//! assert!(report.output_rms > 0.1, "the echo model plays the tone back");
//! # Ok::<(), voice::VoiceError>(())
//! ```

// The modules are private; the crate's surface is the curated re-exports below, plus modules
// with an API of their own: `wav` (the mono WAV files of the file mode, tests and tools),
// `echo_room` (the synthetic room the echo tests and `moshibar-voice bench` measure in) and, with
// the `engine` feature, `engine_model` (the real Moshi as a `FrameModel`).
mod aec;
mod capture_clock;
mod config;
mod devices;
mod drift;
pub mod echo_room;
mod error;
mod events;
mod file;
mod frame_loop;
mod gate;
#[cfg(target_os = "macos")]
mod macos_route;
mod metrics;
mod model;
mod realtime;
mod resample;
mod ring;
mod route;
mod session;
#[cfg(target_os = "macos")]
mod vpio;
pub mod wav;

#[cfg(feature = "engine")]
pub mod engine_model;

pub use aec::{
    cancel_clip, AecFigures, AecRecording, CancellerKind, DelayEstimator, EchoCanceller,
    FarClockRow, FarEnd,
};
pub use config::SessionConfig;
pub use devices::{device_traits, find_device, host, list_devices, DeviceList, Direction};
pub use drift::{
    fluid_depth, DriftCompensator, DriftController, FarEndClock, SpeakerPosition, MAX_PPM,
};
pub use error::VoiceError;
pub use events::SessionEvent;
pub use file::{run_file, run_samples, FileReport};
pub use frame_loop::{FrameLoop, LiveFigures, Totals, METRICS_EVERY};
pub use gate::{Gate, PreRoll};
pub use metrics::{rms, AudioHealth, FrameFigures, Metrics, MetricsAccumulator, TranscriptPiece};
pub use model::{EchoModel, FrameModel, ModelError, ModelFrame};
pub use resample::{resample_clip, AdaptiveResampler};
pub use ring::{ring, AudioCounters, Capture, Playback};
pub use route::{DeviceTraits, Form, RouteNotice, RoutePlan, Transport};
pub use session::{Session, SessionStats};

/// Moshi's sample rate: every frame the model sees or produces is mono at this rate.
pub const SAMPLE_RATE: u32 = 24_000;
/// Samples in one Moshi frame (80 ms at 24 kHz): the unit the model steps on.
pub const FRAME_SAMPLES: usize = 1920;
