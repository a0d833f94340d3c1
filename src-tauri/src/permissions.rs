//! Microphone permission (macOS privacy, TCC): checked and requested before the first session.
//!
//! Without it macOS hands the app digital silence and no error, so a person would talk to a
//! Moshi that never hears them. [`ensure_microphone`] is what the core calls before it opens the
//! audio devices: it asks macOS once (the system prompt; the popover stays up meanwhile, see
//! [`crate::window::HoldOpen`]) and turns "denied" into an error whose action
//! ([`ErrorAction::OpenMicrophoneSettings`]) opens the Privacy & Security pane
//! ([`open_microphone_settings`]). Off macOS there is no such gate: [`mic_permission`] is
//! [`MicPermission::Granted`].

use app_core::{CommandError, ErrorAction};
use serde::Serialize;
use tauri::{AppHandle, Runtime};

/// System Settings → Privacy & Security → Microphone.
pub const MICROPHONE_SETTINGS_URL: &str =
    "x-apple.systempreferences:com.apple.preference.security?Privacy_Microphone";

/// What macOS currently allows (AVAuthorizationStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MicPermission {
    /// The app may record.
    Granted,
    /// The person said no (or turned it off in System Settings).
    Denied,
    /// A policy (parental controls, MDM) forbids it; the person cannot change it.
    Restricted,
    /// Never asked: the first request shows the system prompt.
    NotDetermined,
}

/// Why a session cannot use the microphone; the text tells the person what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MicError {
    /// Denied: only the person can allow it again, in System Settings.
    #[error(
        "Moshibar is not allowed to use the microphone, so Moshi cannot hear you. Open System \
         Settings → Privacy & Security → Microphone, turn Moshibar on, then talk again."
    )]
    Denied,
    /// Restricted by a policy on this Mac.
    #[error(
        "A policy on this Mac (Screen Time or your organisation) does not allow Moshibar to use \
         the microphone. Ask whoever manages this Mac to allow it."
    )]
    Restricted,
}

impl MicError {
    /// A short title for the error banner.
    pub fn title(&self) -> &'static str {
        match self {
            MicError::Denied => "Microphone access is off",
            MicError::Restricted => "Microphone not allowed on this Mac",
        }
    }

    /// The banner's action: open the privacy settings when the person can change it.
    pub fn action(&self) -> Option<ErrorAction> {
        match self {
            MicError::Denied => Some(ErrorAction::OpenMicrophoneSettings),
            MicError::Restricted => None,
        }
    }
}

/// The current permission, without prompting.
pub fn mic_permission() -> MicPermission {
    #[cfg(target_os = "macos")]
    {
        mac::status()
    }
    #[cfg(not(target_os = "macos"))]
    {
        MicPermission::Granted
    }
}

/// Maps a permission to what a session may do: go on, or stop with the reason.
pub fn gate(permission: MicPermission) -> Result<(), MicError> {
    match permission {
        MicPermission::Granted => Ok(()),
        MicPermission::Denied => Err(MicError::Denied),
        MicPermission::Restricted => Err(MicError::Restricted),
        // Only reached when the prompt could not be shown; cpal would record silence.
        MicPermission::NotDetermined => Err(MicError::Denied),
    }
}

/// Checks the microphone permission and, if macOS never asked, shows the system prompt and
/// waits for the answer (the popover does not hide meanwhile). Call before opening the input
/// device. Never blocks a thread: the answer arrives on AVFoundation's queue.
pub async fn ensure_microphone<R: Runtime>(app: &AppHandle<R>) -> Result<(), MicError> {
    let now = mic_permission();
    if now != MicPermission::NotDetermined {
        return gate(now);
    }
    let _hold = crate::window::HoldOpen::new(app);
    tracing::info!("asking macOS for the microphone");
    let answer = request().await;
    tracing::info!(?answer, "microphone permission");
    gate(answer)
}

/// Shows the system prompt (only when not determined; macOS answers at once otherwise).
async fn request() -> MicPermission {
    #[cfg(target_os = "macos")]
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        mac::request(tx);
        match rx.await {
            Ok(true) => MicPermission::Granted,
            Ok(false) => MicPermission::Denied,
            Err(_) => mic_permission(),
        }
    }
    #[cfg(not(target_os = "macos"))]
    {
        MicPermission::Granted
    }
}

/// Opens System Settings at Privacy & Security → Microphone (the error banner's button).
#[tauri::command]
pub fn open_microphone_settings<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    use tauri_plugin_opener::OpenerExt;
    if !cfg!(target_os = "macos") {
        return Err("Microphone privacy settings exist only on macOS.".into());
    }
    app.opener()
        .open_url(MICROPHONE_SETTINGS_URL, None::<&str>)
        .map_err(|e| CommandError::because("Could not open System Settings", e))
}

#[cfg(target_os = "macos")]
mod mac {
    use parking_lot::Mutex;

    use block2::RcBlock;
    use objc2::runtime::Bool;
    use objc2_av_foundation::{AVAuthorizationStatus, AVCaptureDevice, AVMediaTypeAudio};

    use super::MicPermission;

    pub(super) fn status() -> MicPermission {
        // SAFETY: AVMediaTypeAudio is an immutable NSString constant of AVFoundation.
        let Some(audio) = (unsafe { AVMediaTypeAudio }) else {
            return MicPermission::NotDetermined;
        };
        // SAFETY: audio is one of the two media types the method accepts.
        let status = unsafe { AVCaptureDevice::authorizationStatusForMediaType(audio) };
        match status {
            AVAuthorizationStatus::Authorized => MicPermission::Granted,
            AVAuthorizationStatus::Denied => MicPermission::Denied,
            AVAuthorizationStatus::Restricted => MicPermission::Restricted,
            _ => MicPermission::NotDetermined,
        }
    }

    /// Sends the answer (granted?) on `tx` from AVFoundation's completion queue.
    pub(super) fn request(tx: tokio::sync::oneshot::Sender<bool>) {
        // SAFETY: as above.
        let Some(audio) = (unsafe { AVMediaTypeAudio }) else {
            let _ = tx.send(false);
            return;
        };
        let tx = Mutex::new(Some(tx));
        let done = RcBlock::new(move |granted: Bool| {
            if let Some(tx) = tx.lock().take() {
                let _ = tx.send(granted.as_bool());
            }
        });
        // SAFETY: audio is a valid media type; the block is copied by AVFoundation.
        unsafe { AVCaptureDevice::requestAccessForMediaType_completionHandler(audio, &done) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_opens_a_session() {
        assert_eq!(gate(MicPermission::Granted), Ok(()));
        assert_eq!(gate(MicPermission::Denied), Err(MicError::Denied));
        assert_eq!(gate(MicPermission::Restricted), Err(MicError::Restricted));
        assert_eq!(gate(MicPermission::NotDetermined), Err(MicError::Denied));
    }

    #[test]
    fn denied_offers_the_privacy_pane_restricted_does_not() {
        assert_eq!(
            MicError::Denied.action(),
            Some(ErrorAction::OpenMicrophoneSettings)
        );
        assert!(MicError::Denied.to_string().contains("Privacy & Security"));
        assert_eq!(MicError::Restricted.action(), None);
        assert!(MICROPHONE_SETTINGS_URL.ends_with("Privacy_Microphone"));
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn linux_has_no_microphone_gate() {
        assert_eq!(mic_permission(), MicPermission::Granted);
    }
}
