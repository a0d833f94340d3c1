//! The one error every IPC command returns ([`CommandError`]): a sentence for the person and,
//! when one helps, the same [`ErrorAction`] button an app error offers. The UI shows it in its
//! notice bar; `docs/ipc.md` and `ui/src/bindings.ts` (generated) name its shape.

use serde::{Deserialize, Serialize};

use crate::machine::Refusal;
use crate::state::{ErrorAction, UiError};

/// A refused or failed command as the UI receives it: `{"message": "…", "action": ErrorAction | null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[error("{message}")]
pub struct CommandError {
    /// What went wrong and what to do next.
    pub message: String,
    /// The button the UI offers next to the message, if any.
    pub action: Option<ErrorAction>,
}

impl CommandError {
    /// An error with a message and no action.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            action: None,
        }
    }

    /// The same error with `action` as its button.
    pub fn with_action(mut self, action: ErrorAction) -> Self {
        self.action = Some(action);
        self
    }

    /// A failure whose cause is only displayable (a join error, a plugin's error): its text,
    /// after `what` ("Could not show the folder").
    pub fn because(what: &str, cause: impl std::fmt::Display) -> Self {
        Self::new(format!("{what}: {cause}"))
    }

    /// The core's task has ended: the app is quitting.
    pub(crate) fn shutting_down() -> Self {
        Self::new("Moshibar is shutting down.")
    }
}

impl From<String> for CommandError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for CommandError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<Refusal> for CommandError {
    fn from(r: Refusal) -> Self {
        Self::new(r.0)
    }
}

impl From<UiError> for CommandError {
    /// An app error as a command's answer: its title and message, and its action.
    fn from(e: UiError) -> Self {
        Self {
            message: format!("{}: {}", e.title, e.message),
            action: e.action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_the_ui_reads_it() {
        let e = CommandError::new("Could not open the page").with_action(ErrorAction::OpenUrl {
            url: "https://huggingface.co/kyutai".into(),
        });
        assert_eq!(
            serde_json::to_value(&e).expect("serializes"),
            serde_json::json!({
                "message": "Could not open the page",
                "action": {"kind": "openUrl", "url": "https://huggingface.co/kyutai"}
            })
        );
        assert_eq!(
            serde_json::to_value(CommandError::from(Refusal(
                "No download is running.".into()
            )))
            .expect("serializes"),
            serde_json::json!({"message": "No download is running.", "action": null})
        );
    }

    #[test]
    fn an_app_error_keeps_its_title_and_action() {
        let e = CommandError::from(UiError::new(
            "Offline",
            "no network",
            Some(ErrorAction::Retry),
        ));
        assert_eq!(e.message, "Offline: no network");
        assert_eq!(e.action, Some(ErrorAction::Retry));
    }
}
