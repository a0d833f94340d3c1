//! The real-time Moshi voice session: microphone → model → speaker on a dedicated model thread,
//! with push-to-talk, transcript pieces and metrics streamed as events.
//!
//! Audio callbacks only convert samples, mix to mono and move them through lock-free SPSC ring
//! buffers ([`ring`]); resampling to and from Moshi's 24 kHz ([`resample`]), gating
//! ([`gate`]) and the model ([`model`]) run on the model thread ([`session`]). The same frame loop
//! ([`frame_loop`]) also drives the headless WAV-to-WAV mode ([`mod@file`]). The microphone is
//! cleaned of the speaker's echo first ([`aec`]: WebRTC AEC3 fed with exactly what the output
//! callback played); [`echo_room`] is the synthetic room the tests and benchmark measure it in.
//! On macOS Apple's voice-processing unit (`vpio`) carries both directions and cancels instead.
//! [`route`] decides per route: headphones skip the canceller, a Bluetooth output records
//! through the built-in microphone, speakers without a canceller bring a "use headphones"
//! notice. Push-to-talk ([`gate`]) gates frames by their capture time ([`capture_clock`]),
//! with a pre-roll that keeps the first syllable. The app configures a session with
//! [`SessionConfig`] and hears from it through [`SessionEvent`]s.

pub mod aec;
pub mod capture_clock;
pub mod config;
pub mod devices;
pub mod drift;
pub mod echo_room;
pub mod error;
pub mod events;
pub mod file;
pub mod frame_loop;
pub mod gate;
#[cfg(target_os = "macos")]
mod macos_route;
pub mod metrics;
pub mod model;
pub mod realtime;
pub mod resample;
pub mod ring;
pub mod route;
pub mod session;
#[cfg(target_os = "macos")]
pub mod vpio;
pub mod wav;

#[cfg(feature = "engine")]
pub mod engine_model;

pub use aec::{AecFigures, CancellerKind, EchoCanceller};
pub use config::SessionConfig;
pub use devices::{list_devices, DeviceList};
pub use error::VoiceError;
pub use events::SessionEvent;
pub use file::{run_file, FileReport};
pub use metrics::{Metrics, TranscriptPiece};
pub use model::{EchoModel, FrameModel, ModelError, ModelFrame};
pub use route::{DeviceTraits, RouteNotice, RoutePlan};
pub use session::Session;

/// Moshi's sample rate: every frame the model sees or produces is mono at this rate.
pub const SAMPLE_RATE: u32 = 24_000;
/// Samples in one Moshi frame (80 ms at 24 kHz): the unit the model steps on.
pub const FRAME_SAMPLES: usize = 1920;
