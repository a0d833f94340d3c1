//! macOS: Apple's voice-processing I/O unit (`kAudioUnitSubType_VoiceProcessingIO`) as the
//! session's microphone and speaker. It is one unit for both directions on the system's
//! default devices: the system cancels the speaker's echo (with the real output signal and its
//! knowledge of the built-in speaker/microphone geometry) before our input callback sees the
//! samples, so no software canceller runs. Both sides run at Moshi's 24 kHz mono float (the
//! unit converts), and the callbacks drive the same [`Capture`]/[`Playback`] state as cpal's
//! streams, so the rest of the session is unchanged.
//!
//! Compiled and type-checked for aarch64-apple-darwin (scripts/check-macos.sh) but never run
//! here: this project's machine is Linux. What to check on a Mac is in the crate README.

use std::sync::Arc;
use std::time::Duration;

use coreaudio::audio_unit::audio_format::LinearPcmFlags;
use coreaudio::audio_unit::render_callback::{self, data};
use coreaudio::audio_unit::{AudioUnit, Element, IOType, SampleFormat, Scope, StreamFormat};

use crate::capture_clock::CaptureStamps;
use crate::error::VoiceError;
use crate::ring::{AudioCounters, Capture, Playback};

/// `kAudioOutputUnitProperty_EnableIO` (AudioToolbox's AUComponent.h).
const ENABLE_IO: u32 = 2003;
/// `kAudioUnitProperty_StreamFormat`.
const STREAM_FORMAT: u32 = 8;

/// The running unit; dropping it stops it and closes both devices.
pub struct VoiceUnit {
    _unit: AudioUnit,
}

impl std::fmt::Debug for VoiceUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceUnit").finish_non_exhaustive()
    }
}

fn err(step: &str, e: impl std::fmt::Display) -> VoiceError {
    VoiceError::DeviceOpen {
        direction: "input",
        name: "voice processing".into(),
        message: format!("{step}: {e}"),
    }
}

type Args = render_callback::Args<data::NonInterleaved<f32>>;

/// Opens the voice-processing unit at `rate` Hz mono with both directions enabled and starts
/// it; the input callback stamps capture times into `stamps` and feeds `capture`, the render
/// callback plays from `playback`.
pub fn open(
    rate: u32,
    counters: Arc<AudioCounters>,
    mut stamps: CaptureStamps,
    mut capture: Capture,
    mut playback: Playback,
) -> Result<VoiceUnit, VoiceError> {
    let mut unit =
        AudioUnit::new_uninitialized(IOType::VoiceProcessingIO).map_err(|e| err("create", e))?;
    let on = 1u32;
    unit.set_property(ENABLE_IO, Scope::Input, Element::Input, Some(&on))
        .map_err(|e| err("enable input", e))?;
    unit.set_property(ENABLE_IO, Scope::Output, Element::Output, Some(&on))
        .map_err(|e| err("enable output", e))?;
    let format = StreamFormat {
        sample_rate: f64::from(rate),
        sample_format: SampleFormat::F32,
        flags: LinearPcmFlags::IS_FLOAT
            | LinearPcmFlags::IS_PACKED
            | LinearPcmFlags::IS_NON_INTERLEAVED,
        channels: 1,
    }
    .to_asbd();
    // What the unit hands us from the microphone, and what we hand it for the speaker.
    unit.set_property(STREAM_FORMAT, Scope::Output, Element::Input, Some(&format))
        .map_err(|e| err("input format", e))?;
    unit.set_property(STREAM_FORMAT, Scope::Input, Element::Output, Some(&format))
        .map_err(|e| err("output format", e))?;

    let period = move |frames: usize| Duration::from_secs_f64(frames as f64 / f64::from(rate));
    unit.set_input_callback(move |args: Args| {
        // The buffer's first sample was captured about one buffer before this callback.
        let first = counters.captured.load(std::sync::atomic::Ordering::Relaxed);
        let age = period(args.num_frames);
        stamps.stamp(first, age);
        capture.note_device_latency(age);
        if let Some(mono) = args.data.channels().next() {
            capture.process(mono);
        }
        Ok(())
    })
    .map_err(|e| err("input callback", e))?;
    unit.set_render_callback(move |mut args: Args| {
        let mut channels = args.data.channels_mut();
        if let Some(mono) = channels.next() {
            playback.process(mono);
        }
        Ok(())
    })
    .map_err(|e| err("render callback", e))?;
    unit.initialize().map_err(|e| err("initialize", e))?;
    unit.start().map_err(|e| err("start", e))?;
    Ok(VoiceUnit { _unit: unit })
}
