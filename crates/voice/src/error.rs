//! Errors of the voice crate, worded so the app can show them to the person as they are.

use crate::model::ModelError;

/// Everything that can go wrong when opening devices, running a session or converting a file.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// No audio host could be used (e.g. no PulseAudio/CoreAudio service).
    #[error("no audio system available: {0}")]
    Host(String),
    /// The named device is not present now; the person should pick another one in Settings.
    #[error("{direction} device \"{name}\" not found; pick another one in Settings")]
    DeviceNotFound {
        /// "input" or "output".
        direction: &'static str,
        /// The name that was asked for.
        name: String,
    },
    /// There is no default device of that direction (nothing plugged in).
    #[error("no default {0} device; plug in or enable one")]
    NoDefaultDevice(&'static str),
    /// The device refused to open or to start.
    #[error("could not open the {direction} device \"{name}\": {message}")]
    DeviceOpen {
        /// "input" or "output".
        direction: &'static str,
        /// The device's name.
        name: String,
        /// What the audio system said.
        message: String,
    },
    /// The device's native sample format is one this crate does not convert.
    #[error("the {direction} device uses the sample format {format}, which is not supported")]
    UnsupportedFormat {
        /// "input" or "output".
        direction: &'static str,
        /// The format's name.
        format: String,
    },
    /// The resampler could not be built for these rates.
    #[error("cannot resample {from} Hz to {to} Hz: {message}")]
    Resample {
        /// Source rate.
        from: u32,
        /// Target rate.
        to: u32,
        /// Why.
        message: String,
    },
    /// The model failed (load, warm-up or a step).
    #[error("model: {0}")]
    Model(#[from] ModelError),
    /// Reading or writing a WAV file failed.
    #[error("WAV file {path}: {source}")]
    Wav {
        /// The file.
        path: String,
        /// What went wrong (an I/O error arrives as `hound::Error::IoError`).
        #[source]
        source: hound::Error,
    },
    /// The echo canceller could not be created or rejected a frame.
    #[error("echo canceller: {0}")]
    EchoCanceller(String),
    /// The model thread could not be started or ended unexpectedly.
    #[error("session thread: {0}")]
    Thread(String),
    /// A device was lost during a session and nothing could be opened in its place before the
    /// reopen timeout; `source` is the last attempt's error.
    #[error(
        "the {direction} device \"{name}\" was lost and no device could be opened instead; \
         check the audio devices in Settings and start again"
    )]
    DeviceLost {
        /// "input" or "output".
        direction: &'static str,
        /// The lost device's name.
        name: String,
        /// Why the last reopen failed (`None`: no attempt finished before the timeout).
        #[source]
        source: Option<Box<VoiceError>>,
    },
}

impl VoiceError {
    /// The error and its causes in one line ("a: b: c"), as the session's `Error` event and the
    /// app show it.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_device_keeps_the_last_reopen_error_as_its_source() {
        let e = VoiceError::DeviceLost {
            direction: "input",
            name: "USB mic".into(),
            source: Some(Box::new(VoiceError::NoDefaultDevice("input"))),
        };
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("no default input device; plug in or enable one")
        );
        assert!(e
            .chain()
            .starts_with("the input device \"USB mic\" was lost"));
        assert!(e
            .chain()
            .ends_with(": no default input device; plug in or enable one"));
    }
}
