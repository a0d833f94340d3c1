//! Audio devices: listing them for Settings, finding one by name, and opening an input or
//! output stream at the device's native rate, channel count and sample format, wired to the
//! real-time [`Capture`]/[`Playback`] callback state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Device, FromSample, Host, SampleFormat, SizedSample, Stream};
use serde::{Deserialize, Serialize};

use crate::capture_clock::CaptureStamps;
use crate::error::VoiceError;
use crate::realtime::RtPromotion;
use crate::ring::{AudioCounters, Capture, Playback};
use crate::route::{DeviceTraits, Form, Transport};

/// The reply of the app's `list_audio_devices` command (docs/ipc.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    /// Names of the devices that can record.
    pub inputs: Vec<String>,
    /// Names of the devices that can play.
    pub outputs: Vec<String>,
    /// The system's default input, if any.
    pub default_input: Option<String>,
    /// The system's default output, if any.
    pub default_output: Option<String>,
}

/// The audio host this crate uses: the platform default (CoreAudio on macOS; on Linux the
/// PulseAudio server when one runs, else ALSA). `MOSHIBAR_AUDIO_HOST=alsa|pulseaudio` picks
/// one explicitly (Linux).
pub fn host() -> Host {
    if let Ok(want) = std::env::var("MOSHIBAR_AUDIO_HOST") {
        if let Some(id) = cpal::available_hosts().into_iter().find(|id| {
            id.name().eq_ignore_ascii_case(&want) || format!("{id:?}").eq_ignore_ascii_case(&want)
        }) {
            if let Ok(h) = cpal::host_from_id(id) {
                return h;
            }
        }
    }
    // Linux: ALSA (through PulseAudio's plugin) stays the default until the native PulseAudio
    // host passes the device-loss test; MOSHIBAR_AUDIO_HOST=pulseaudio picks it.
    #[cfg(target_os = "linux")]
    if let Ok(h) = cpal::host_from_id(cpal::HostId::Alsa) {
        return h;
    }
    cpal::default_host()
}

/// Whether `host` runs its callbacks at normal priority, so they should ask for real-time
/// scheduling ([`crate::realtime`]): cpal's native PulseAudio host. ALSA's own threads are
/// left alone (at real-time priority its pulse plugin stopped delivering, see the README).
pub fn callbacks_need_realtime(host: &Host) -> bool {
    #[cfg(target_os = "linux")]
    {
        host.id() == cpal::HostId::PulseAudio
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = host;
        false
    }
}

/// The name shown to people and accepted back by [`find_device`]: the device's description.
pub fn device_name(d: &Device) -> String {
    d.description()
        .map(|desc| desc.name().to_string())
        .or_else(|_| d.id().map(|id| id.id().to_string()))
        .unwrap_or_else(|_| "unknown device".to_string())
}

fn matches(d: &Device, wanted: &str) -> bool {
    if device_name(d) == wanted {
        return true;
    }
    d.id()
        .map(|id| id.id() == wanted || id.to_string() == wanted)
        .unwrap_or(false)
}

/// Lists input and output devices and the defaults, for the Settings pickers.
pub fn list_devices() -> Result<DeviceList, VoiceError> {
    let host = host();
    let inputs = host
        .input_devices()
        .map_err(|e| VoiceError::Host(e.to_string()))?
        .map(|d| device_name(&d))
        .collect();
    let outputs = host
        .output_devices()
        .map_err(|e| VoiceError::Host(e.to_string()))?
        .map(|d| device_name(&d))
        .collect();
    let mut list = DeviceList {
        inputs,
        outputs,
        default_input: host.default_input_device().map(|d| device_name(&d)),
        default_output: host.default_output_device().map(|d| device_name(&d)),
    };
    // Some hosts (ALSA) do not enumerate their "default" device; list it so it can be picked.
    if let Some(d) = list.default_input.clone() {
        if !list.inputs.contains(&d) {
            list.inputs.insert(0, d);
        }
    }
    if let Some(d) = list.default_output.clone() {
        if !list.outputs.contains(&d) {
            list.outputs.insert(0, d);
        }
    }
    Ok(list)
}

/// Which way a device carries sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// A microphone.
    Input,
    /// A speaker.
    Output,
}

impl Direction {
    /// "input" or "output", for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// Finds a device by name (description or id), or the default one when `name` is `None`.
pub fn find_device(host: &Host, dir: Direction, name: Option<&str>) -> Result<Device, VoiceError> {
    match name {
        None => match dir {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        }
        .ok_or(VoiceError::NoDefaultDevice(dir.as_str())),
        Some(wanted) => {
            let default = match dir {
                Direction::Input => host.default_input_device(),
                Direction::Output => host.default_output_device(),
            };
            if let Some(d) = default.filter(|d| matches(d, wanted)) {
                return Ok(d);
            }
            let devices = match dir {
                Direction::Input => host.input_devices().map(|i| i.collect::<Vec<_>>()),
                Direction::Output => host.output_devices().map(|i| i.collect::<Vec<_>>()),
            }
            .map_err(|e| VoiceError::Host(e.to_string()))?;
            devices
                .into_iter()
                .find(|d| matches(d, wanted))
                .ok_or_else(|| VoiceError::DeviceNotFound {
                    direction: dir.as_str(),
                    name: wanted.to_string(),
                })
        }
    }
}

/// What kind of device this is (transport, speaker or worn), from the best source the
/// platform has (see [`RoutePlan`](crate::RoutePlan)).
pub fn device_traits(d: &Device, dir: Direction) -> DeviceTraits {
    let name = device_name(d);
    let mut t = DeviceTraits {
        name,
        ..Default::default()
    };
    if let Ok(desc) = d.description() {
        t.form = match desc.device_type() {
            cpal::DeviceType::Speaker => Form::Speaker,
            cpal::DeviceType::Headphones => Form::Headphones,
            cpal::DeviceType::Headset | cpal::DeviceType::Handset => Form::Headset,
            cpal::DeviceType::Microphone => Form::Microphone,
            _ => Form::Unknown,
        };
        t.transport = match desc.interface_type() {
            cpal::InterfaceType::BuiltIn => Transport::BuiltIn,
            cpal::InterfaceType::Bluetooth => Transport::Bluetooth,
            cpal::InterfaceType::Usb => Transport::Usb,
            cpal::InterfaceType::Virtual | cpal::InterfaceType::Aggregate => Transport::Virtual,
            cpal::InterfaceType::Unknown => Transport::Unknown,
            _ => Transport::Other,
        };
    }
    if let Some((transport, form)) = platform_traits(d, dir) {
        if transport != Transport::Unknown {
            t.transport = transport;
        }
        if form != Form::Unknown {
            t.form = form;
        }
    }
    t.guess_from_name()
}

/// The computer's own microphone, if the host lists one (to keep a Bluetooth headset out of
/// its call profile).
pub fn built_in_input(host: &Host) -> Option<Device> {
    host.input_devices().ok()?.find(|d| {
        let t = device_traits(d, Direction::Input);
        t.transport == Transport::BuiltIn && !t.is_worn()
    })
}

/// Linux: PulseAudio's properties of the device (ALSA's "default"/"pulse" PCMs are the
/// server's default sink or source; the native Pulse host names the sink or source itself).
#[cfg(target_os = "linux")]
fn platform_traits(d: &Device, dir: Direction) -> Option<(Transport, Form)> {
    let id = d.id().ok()?;
    let pulse_name = match id.id() {
        "default" | "pulse" | "sysdefault" => None,
        n if id.to_string().to_lowercase().contains("pulse") => Some(n.to_string()),
        _ => return None,
    };
    crate::route::pulse_traits(pulse_name.as_deref(), dir == Direction::Input)
}

/// macOS: CoreAudio's transport type, and for the built-in output whether headphones are in
/// the jack (its data source).
#[cfg(target_os = "macos")]
fn platform_traits(d: &Device, dir: Direction) -> Option<(Transport, Form)> {
    let uid = d.id().ok()?;
    crate::macos_route::traits(uid.id(), dir == Direction::Input)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn platform_traits(_d: &Device, _dir: Direction) -> Option<(Transport, Form)> {
    None
}

/// Whether a device with this name is present now (for noticing a device that vanished
/// while the audio system silently moved our stream elsewhere).
pub fn device_present(host: &Host, dir: Direction, name: &str) -> bool {
    find_device(host, dir, Some(name)).is_ok()
}

/// An open, playing stream and the native format it runs at.
pub struct OpenStream {
    /// Keep alive to keep the stream running; drop to close it (a cpal `Stream`, or on macOS
    /// the voice-processing unit that carries both directions).
    pub _stream: Box<dyn std::any::Any>,
    /// The device's native sample rate.
    pub rate: u32,
    /// The device's channel count.
    pub channels: u16,
    /// The device's name.
    pub name: String,
}

impl std::fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStream")
            .field("name", &self.name)
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .finish()
    }
}

/// The device's native configuration, with a callback period of `buffer_ms` when the device
/// allows it: the default period of some systems (PulseAudio: up to 2 s) would make the
/// input arrive in bursts and the output queue grow far beyond one frame.
fn stream_config(
    supported: &cpal::SupportedStreamConfig,
    buffer_ms: Option<u32>,
) -> cpal::StreamConfig {
    let mut config: cpal::StreamConfig = supported.config();
    if let Some(ms) = buffer_ms {
        let want = (config.sample_rate as u64 * u64::from(ms) / 1000) as u32;
        if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
            if (*min..=*max).contains(&want) {
                config.buffer_size = cpal::BufferSize::Fixed(want);
            }
        }
    }
    config
}

/// Errors after which the stream cannot go on. Xruns, reroutes and transient backend errors
/// (ALSA reports some under CPU pressure while the stream keeps running) are survivable; a
/// stream that silently died is caught by the session's stall check instead.
fn stream_is_gone(kind: cpal::ErrorKind) -> bool {
    matches!(
        kind,
        cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::StreamInvalidated
            | cpal::ErrorKind::HostUnavailable
    )
}

fn open_err(dir: Direction, name: &str, e: impl std::fmt::Display) -> VoiceError {
    VoiceError::DeviceOpen {
        direction: dir.as_str(),
        name: name.to_string(),
        message: e.to_string(),
    }
}

/// The real-time state one stream's callback drives, and what differs between an input and
/// an output stream: the default configuration, the cpal builder, and which counters its error
/// callback bumps. [`open_stream`] does everything else once for both.
trait StreamSide: Send + 'static {
    const DIRECTION: Direction;
    /// The device's default (native) configuration for this direction.
    fn default_config(device: &Device) -> Result<cpal::SupportedStreamConfig, String>;
    /// Builds the stream with `self` moved into the data callback (which first asks for
    /// real-time scheduling through `rt`).
    fn build<T>(
        self,
        device: &Device,
        config: cpal::StreamConfig,
        rt: RtPromotion,
        on_error: impl FnMut(cpal::Error) + Send + 'static,
    ) -> Result<Stream, cpal::Error>
    where
        T: SizedSample + FromSample<f32> + Send + 'static,
        f32: FromSample<T>;
    /// (stream gone, xruns, other non-fatal errors) for this direction.
    fn error_counters(c: &AudioCounters) -> (&AtomicBool, &AtomicU64, &AtomicU64);
}

/// The input callback: stamps when its first sample was captured ([`CaptureStamps`]), then
/// hands the data to [`Capture`].
struct InputSide {
    capture: Capture,
    stamps: CaptureStamps,
    counters: Arc<AudioCounters>,
}

impl StreamSide for InputSide {
    const DIRECTION: Direction = Direction::Input;
    fn default_config(device: &Device) -> Result<cpal::SupportedStreamConfig, String> {
        device.default_input_config().map_err(|e| e.to_string())
    }
    fn build<T>(
        mut self,
        device: &Device,
        config: cpal::StreamConfig,
        mut rt: RtPromotion,
        on_error: impl FnMut(cpal::Error) + Send + 'static,
    ) -> Result<Stream, cpal::Error>
    where
        T: SizedSample + FromSample<f32> + Send + 'static,
        f32: FromSample<T>,
    {
        device.build_input_stream::<T, _, _>(
            config,
            move |data: &[T], info: &cpal::InputCallbackInfo| {
                rt.once(&self.counters.rt_promoted, &self.counters.rt_refused);
                let t = info.timestamp();
                let age = t.callback.duration_since(t.capture);
                // The index (in mono samples since the stream opened) of this callback's first
                // sample is what the ring has been given so far.
                let first = self.counters.captured.load(Ordering::Relaxed);
                self.stamps.stamp(first, age);
                self.capture.note_device_latency(age);
                self.capture.process(data)
            },
            on_error,
            None,
        )
    }
    fn error_counters(c: &AudioCounters) -> (&AtomicBool, &AtomicU64, &AtomicU64) {
        (&c.input_failed, &c.input_xruns, &c.input_errors)
    }
}

impl StreamSide for Playback {
    const DIRECTION: Direction = Direction::Output;
    fn default_config(device: &Device) -> Result<cpal::SupportedStreamConfig, String> {
        device.default_output_config().map_err(|e| e.to_string())
    }
    fn build<T>(
        mut self,
        device: &Device,
        config: cpal::StreamConfig,
        mut rt: RtPromotion,
        on_error: impl FnMut(cpal::Error) + Send + 'static,
    ) -> Result<Stream, cpal::Error>
    where
        T: SizedSample + FromSample<f32> + Send + 'static,
        f32: FromSample<T>,
    {
        let counters = self.counters().clone();
        device.build_output_stream::<T, _, _>(
            config,
            move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
                rt.once(&counters.rt_promoted, &counters.rt_refused);
                let t = info.timestamp();
                self.note_device_latency(t.playback.duration_since(t.callback));
                self.process(data)
            },
            on_error,
            None,
        )
    }
    fn error_counters(c: &AudioCounters) -> (&AtomicBool, &AtomicU64, &AtomicU64) {
        (&c.output_failed, &c.output_xruns, &c.output_errors)
    }
}

/// Opens `device` at its default (native) configuration for `S`'s direction, with the callback
/// state built by `make(rate, channels)` once the format is known, and starts it.
fn open_stream<S: StreamSide>(
    device: &Device,
    buffer_ms: Option<u32>,
    realtime: bool,
    counters: Arc<AudioCounters>,
    make: impl FnOnce(u32, u16) -> S,
) -> Result<OpenStream, VoiceError> {
    let dir = S::DIRECTION;
    let name = device_name(device);
    let supported = S::default_config(device).map_err(|e| open_err(dir, &name, e))?;
    let format = supported.sample_format();
    let config = stream_config(&supported, buffer_ms);
    let side = make(config.sample_rate, config.channels);
    let rt = RtPromotion::new(realtime);
    let on_error = move |e: cpal::Error| {
        // Xruns and reroutes are survivable (counted); the rest means the stream is gone.
        let (gone, xruns, errors) = S::error_counters(&counters);
        if stream_is_gone(e.kind()) {
            gone.store(true, Ordering::SeqCst);
        } else if e.kind() == cpal::ErrorKind::Xrun {
            xruns.fetch_add(1, Ordering::Relaxed);
        } else {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    };
    let stream = match format {
        SampleFormat::F32 => side.build::<f32>(device, config, rt, on_error),
        SampleFormat::F64 => side.build::<f64>(device, config, rt, on_error),
        SampleFormat::I16 => side.build::<i16>(device, config, rt, on_error),
        SampleFormat::I32 => side.build::<i32>(device, config, rt, on_error),
        SampleFormat::U8 => side.build::<u8>(device, config, rt, on_error),
        SampleFormat::U16 => side.build::<u16>(device, config, rt, on_error),
        SampleFormat::I8 => side.build::<i8>(device, config, rt, on_error),
        other => {
            return Err(VoiceError::UnsupportedFormat {
                direction: dir.as_str(),
                format: other.to_string(),
            })
        }
    }
    .map_err(|e| open_err(dir, &name, e))?;
    stream.play().map_err(|e| open_err(dir, &name, e))?;
    Ok(OpenStream {
        _stream: Box::new(stream),
        rate: config.sample_rate,
        channels: config.channels,
        name,
    })
}

/// Opens `device` for recording at its default (native) configuration. The ring producer is
/// created by the caller via `make_capture(rate, channels)` once the format is known; the
/// callback also stamps each buffer's capture time into `stamps` (see [`crate::capture_clock`]).
pub fn open_input(
    device: &Device,
    buffer_ms: Option<u32>,
    realtime: bool,
    counters: Arc<AudioCounters>,
    stamps: CaptureStamps,
    make_capture: impl FnOnce(u32, u16) -> Capture,
) -> Result<OpenStream, VoiceError> {
    let c2 = counters.clone();
    open_stream(
        device,
        buffer_ms,
        realtime,
        counters,
        move |rate, channels| InputSide {
            capture: make_capture(rate, channels),
            stamps,
            counters: c2,
        },
    )
}

/// Opens `device` for playback at its default (native) configuration, with the playback
/// state built by `make_playback(rate, channels)`.
pub fn open_output(
    device: &Device,
    buffer_ms: Option<u32>,
    realtime: bool,
    counters: Arc<AudioCounters>,
    make_playback: impl FnOnce(u32, u16) -> Playback,
) -> Result<OpenStream, VoiceError> {
    open_stream(device, buffer_ms, realtime, counters, make_playback)
}
