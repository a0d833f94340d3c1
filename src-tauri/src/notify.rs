//! Desktop notifications: "Moshi is ready", and errors that need the person.
//!
//! Behind the `notification` feature (tauri-plugin-notification; on macOS it needs Apple's SDK to
//! build). Without it, notifications are only logged.

use tauri::{AppHandle, Runtime};

/// Shows a notification (and logs it, so tests and support can see it either way).
pub fn notify<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    tracing::info!(title, body, "notification");
    #[cfg(feature = "notification")]
    {
        use tauri_plugin_notification::NotificationExt;
        if let Err(e) = app.notification().builder().title(title).body(body).show() {
            tracing::warn!("notification failed: {e}");
        }
    }
    #[cfg(not(feature = "notification"))]
    let _ = app;
}
