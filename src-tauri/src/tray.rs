//! The menu-bar icon: one template image per [`TrayState`], left click toggles the popover,
//! right click opens the menu (Open, Pause/Resume download, Reveal logs, Quit).

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::state::TrayState;

/// The tray icon's id.
pub const TRAY_ID: &str = "moshibar";
const MENU_OPEN: &str = "open";
const MENU_PAUSE: &str = "pause-resume";
const MENU_LOGS: &str = "reveal-logs";
const MENU_QUIT: &str = "quit";

/// PNG bytes of a state's icon. macOS gets the @2x image (the status bar draws it 18 pt high, so
/// Retina screens stay sharp); other systems get @1x.
fn icon_bytes(state: TrayState) -> &'static [u8] {
    macro_rules! pick {
        ($name:literal) => {
            if cfg!(target_os = "macos") {
                include_bytes!(concat!("../../icons/tray/", $name, "@2x.png")).as_slice()
            } else {
                include_bytes!(concat!("../../icons/tray/", $name, ".png")).as_slice()
            }
        };
    }
    match state {
        TrayState::Idle => pick!("idle"),
        TrayState::Downloading => pick!("downloading"),
        TrayState::Ready => pick!("ready"),
        TrayState::Listening => pick!("listening"),
        TrayState::Speaking => pick!("speaking"),
        TrayState::Error => pick!("error"),
    }
}

/// The decoded icon of a state.
pub fn icon(state: TrayState) -> tauri::Result<Image<'static>> {
    Image::from_bytes(icon_bytes(state))
}

/// Items whose text changes at run time.
pub struct TrayMenu<R: Runtime> {
    pause_resume: MenuItem<R>,
}

/// Creates the tray icon and its menu.
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<TrayIcon<R>> {
    let open = MenuItem::with_id(app, MENU_OPEN, "Open Moshibar", true, None::<&str>)?;
    let pause_resume = MenuItem::with_id(app, MENU_PAUSE, "Pause download", false, None::<&str>)?;
    let logs = MenuItem::with_id(app, MENU_LOGS, "Reveal logs", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, MENU_QUIT, "Quit Moshibar", true, Some("CmdOrCtrl+Q"))?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &pause_resume,
            &PredefinedMenuItem::separator(app)?,
            &logs,
            &quit,
        ],
    )?;
    app.manage(TrayMenu { pause_resume });

    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(TrayState::Idle)?)
        .icon_as_template(true)
        .tooltip("Moshibar")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            MENU_OPEN => crate::window::show(app),
            MENU_PAUSE => crate::commands::toggle_pause(app),
            MENU_LOGS => {
                if let Err(e) = crate::logs::reveal(app) {
                    tracing::warn!("reveal logs: {e}");
                }
            }
            MENU_QUIT => crate::commands::quit(app),
            other => tracing::debug!("unknown tray menu item {other}"),
        })
        .on_tray_icon_event(|tray, event| {
            let app = tray.app_handle();
            // Lets the positioner know where the icon is (TrayBottomCenter).
            tauri_plugin_positioner::on_tray_event(app, &event);
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::window::toggle_from_tray(app);
            }
        })
        .build(app)
}

/// Shows the icon for a state (no-op before the tray exists).
pub fn set_state<R: Runtime>(app: &AppHandle<R>, state: TrayState) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match icon(state) {
        Ok(image) => {
            if let Err(e) = tray.set_icon_with_as_template(Some(image), true) {
                tracing::warn!("tray icon {}: {e}", state.name());
            }
        }
        Err(e) => tracing::warn!("tray icon {}: {e}", state.name()),
    }
    let _ = tray.set_tooltip(Some(format!("Moshibar: {}", state.name())));
    tracing::debug!(tray = state.name(), "tray state");
}

/// Updates the Pause/Resume item: enabled while a download runs, with the right verb.
pub fn set_download_controls<R: Runtime>(app: &AppHandle<R>, downloading: bool, paused: bool) {
    if let Some(menu) = app.try_state::<TrayMenu<R>>() {
        let _ = menu.pause_resume.set_enabled(downloading || paused);
        let _ = menu.pause_resume.set_text(if paused {
            "Resume download"
        } else {
            "Pause download"
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tray_icon_decodes_as_a_template() {
        for state in TrayState::ALL {
            let image = icon(state).expect("decode");
            let (w, h) = (image.width(), image.height());
            let want = if cfg!(target_os = "macos") { 44 } else { 22 };
            assert_eq!(h, want, "{} height", state.name());
            assert!(w > 0);
            // Template images: black glyph on transparent (only alpha carries the shape).
            let rgba = image.rgba();
            assert!(
                rgba.chunks(4)
                    .all(|p| p[3] == 0 || (p[0] < 40 && p[1] < 40 && p[2] < 40)),
                "{} is not black + alpha",
                state.name()
            );
            assert!(
                rgba.chunks(4).any(|p| p[3] > 200),
                "{} is empty",
                state.name()
            );
        }
    }
}
