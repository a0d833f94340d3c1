//! What the app chooses when it starts a session ([`SessionConfig`]), apart from the session
//! itself so the frame loop, the file mode and the app can name it without importing the
//! live session.

use std::time::Duration;

/// What the app chooses when it starts a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Input device name (as [`crate::list_devices`] gives it); `None` = system default.
    pub input_device: Option<String>,
    /// Output device name; `None` = system default.
    pub output_device: Option<String>,
    /// Mic always reaches the model (no push-to-talk).
    pub hands_free: bool,
    /// Margin queued on top of one frame before playback starts (and restarts after an
    /// underrun), ms: absorbs the jitter of the model's step time and of the devices' periods.
    pub prebuffer_ms: u32,
    /// Complete input frames allowed to wait for the model; older ones are dropped (counted)
    /// so latency cannot grow when the model is slower than real time.
    pub max_backlog_frames: usize,
    /// How long to keep trying to reopen a lost device before giving up with an error.
    pub reopen_timeout: Duration,
    /// Audio callback period asked of the devices, ms (`None`: the system's default).
    pub device_buffer_ms: Option<u32>,
    /// Capacity of the event channel (events are dropped, never waited for, when it is full).
    pub event_capacity: usize,
    /// Remove the speaker's echo from the microphone (WebRTC AEC3 where it is built in). Off
    /// for headphones, or to hear the raw microphone.
    pub echo_cancellation: bool,
    /// Push-to-talk pre-roll, ms: microphone audio captured this long before a key-down still
    /// reaches the model, so the first syllable (spoken as the key goes down) is kept. While
    /// the key is held the model hears the person that much later; 0 turns it off.
    pub pre_roll_ms: u32,
    /// The model does not run until the push-to-talk key first lets the microphone through:
    /// a session opened ahead of the first press (the app's popover is up) captures, keeps
    /// its pre-roll and plays silence, so Moshi does not start talking to an empty room.
    /// Off: the model runs from the first frame (a conversation the person started).
    pub wait_for_talk: bool,
    /// Records what the canceller got into this directory when the session ends:
    /// `far.wav` (the far end it was given), `near.wav` (the microphone before it) and
    /// `out.wav` (after it), 24 kHz mono float, frame by frame as the session ran them, so
    /// `moshibar-voice aec --far far.wav --near near.wav` replays the session's cancellation
    /// exactly (for tests and for debugging a room). `None`: nothing is recorded.
    pub aec_dump: Option<std::path::PathBuf>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            input_device: None,
            output_device: None,
            hands_free: false,
            prebuffer_ms: 40,
            max_backlog_frames: 1,
            reopen_timeout: Duration::from_secs(10),
            device_buffer_ms: Some(20),
            event_capacity: 512,
            echo_cancellation: true,
            pre_roll_ms: 250,
            wait_for_talk: false,
            aec_dump: None,
        }
    }
}
