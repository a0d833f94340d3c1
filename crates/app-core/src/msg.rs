//! [`Msg`]: what the core's task receives on its one input channel. It sits below both
//! [`crate::core`] (which reads it) and [`crate::services`] (whose reporters send it), so that
//! neither of those two modules has to name the other's items.

use tokio::sync::oneshot;

use crate::machine::{Event, Refusal};
use crate::settings::Settings;

/// What the core's task receives.
#[derive(Debug)]
pub(crate) enum Msg {
    Event(Event),
    Command(Event, oneshot::Sender<Result<(), Refusal>>),
    SaveSettings(Settings, oneshot::Sender<Result<Settings, String>>),
    RestartQuestion(Settings, oneshot::Sender<Option<String>>),
    DeleteModel(String, oneshot::Sender<Result<u64, String>>),
}
