//! Everything a session tells the app ([`SessionEvent`]): one enum, serialized as the app's
//! IPC events (docs/ipc.md). Its own module so the frame loop (which sends transcript and
//! metrics events) and the live session do not import each other.

use serde::{Deserialize, Serialize};

use crate::devices::Direction;
use crate::metrics::{Metrics, TranscriptPiece};
use crate::route::RouteNotice;

/// Everything the session tells the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum SessionEvent {
    /// Warm-up done, devices open, frames flowing.
    Ready {
        /// Input device in use.
        input_device: String,
        /// Output device in use.
        output_device: String,
        /// Its native rate.
        input_rate: u32,
        /// Its native rate.
        output_rate: u32,
        /// What the person should know about this route (speakers without a canceller:
        /// "use headphones"); `RouteNotice::message` is the sentence.
        notice: Option<RouteNotice>,
        /// Whether the echo canceller runs (off for headphones and headsets).
        echo_cancelled: bool,
    },
    /// A piece of Moshi's transcript (the UI's `transcript` event).
    Transcript(TranscriptPiece),
    /// Levels and timings (the UI's `session-metrics` event).
    Metrics(Metrics),
    /// A device failed or disappeared; the session is trying to reopen.
    DeviceLost {
        /// Which one.
        direction: Direction,
        /// Its name.
        name: String,
        /// What happened.
        message: String,
    },
    /// Devices reopened after a loss (possibly the defaults instead of the lost one).
    DeviceReopened {
        /// Input device now in use.
        input_device: String,
        /// Output device now in use.
        output_device: String,
        /// As in `Ready`, for the new route.
        notice: Option<RouteNotice>,
        /// As in `Ready`.
        echo_cancelled: bool,
    },
    /// The session cannot go on; the message says what to do.
    Error {
        /// For the person.
        message: String,
    },
    /// The model thread has ended.
    Stopped,
}
