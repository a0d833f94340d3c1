//! Moshibar: a Tauri 2 adapter over `app-core` (the flow, as a tested state machine) and the
//! crates (hardware, hubfetch, engine, voice).
//!
//! Modules: [`flow`] (the core wired to this app's services), [`state`] (publishing the one
//! `AppState`: UI, tray, state file), [`actions`] (what the hotkey, tray and commands do; below
//! all three), [`commands`] (docs/ipc.md), [`download`] (hubfetch), [`engine`] (the engine
//! thread that owns the model), [`speedtest`] (the on-device speed test before the first
//! plan), [`session`] (voice), [`hotkey`], [`settings`], [`keychain`],
//! [`tray`], [`window`], [`notify`], [`autostart`].

pub mod actions;
pub mod autostart;
pub mod commands;
pub mod download;
pub mod engine;
pub mod flow;
pub mod hotkey;
/// The one list of the popover's commands, shared with `build.rs` and the security tests.
pub mod ipc_commands;
pub mod keychain;
pub mod logs;
pub mod metallib;
pub mod model_files;
pub mod notify;
pub mod permissions;
pub mod session;
pub mod settings;
pub mod speedtest;
pub mod state;
pub mod test_hooks;
pub mod tray;
pub mod window;

use tauri::Manager;

/// Logs to stderr and a rotated file (logs.rs); `RUST_LOG` filters.
fn init_logging() {
    logs::init();
}

/// Builds and runs the app.
pub fn run() {
    init_logging();
    let builder = tauri::Builder::default();
    // First: a second launch must hand over to the running app before anything else starts.
    let builder = match window::single_instance() {
        Some(plugin) => builder.plugin(plugin),
        None => builder,
    };
    let builder = builder
        .plugin(tauri_plugin_positioner::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_global_shortcut::Builder::new().build())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ));
    #[cfg(feature = "notification")]
    let builder = builder.plugin(tauri_plugin_notification::init());

    let result = builder
        .invoke_handler(tauri::generate_handler![
            commands::get_state,
            commands::get_progress,
            commands::get_settings,
            commands::save_settings,
            commands::restart_question,
            commands::set_hf_token,
            commands::pause_download,
            commands::resume_download,
            commands::retry_download,
            commands::dismiss_error,
            commands::list_audio_devices,
            commands::start_session,
            commands::stop_session,
            commands::set_talking,
            commands::quit_app,
            permissions::open_microphone_settings,
            model_files::delete_model,
            model_files::reveal_model,
            model_files::pick_cache_dir,
        ])
        .setup(|app| {
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            setup(app.handle())?;
            Ok(())
        })
        .build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(|app, event| {
            window::on_run_event(app, &event);
            // A menu-bar app keeps running with its popover hidden; only Quit (code set) exits.
            if let tauri::RunEvent::ExitRequested {
                code: None, api, ..
            } = event
            {
                api.prevent_exit();
            }
        }),
        Err(e) => {
            tracing::error!("Moshibar could not start: {e}");
            std::process::exit(1);
        }
    }
}

/// Everything after the event loop exists: state, tray, window, shortcut, then the flow.
fn setup(app: &tauri::AppHandle) -> Result<(), Box<dyn std::error::Error>> {
    let config_dir = app.path().app_config_dir()?;
    let settings = match settings::Settings::load(&config_dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("{e}; using the defaults");
            settings::Settings::default()
        }
    };
    tracing::info!(config = %config_dir.display(), "settings loaded");
    app.manage(state::ShellState::from_env());
    app.manage(keychain::TokenStore::default());
    app.manage(hotkey::Registered::default());

    tray::create(app)?;
    window::setup(app);
    let shortcut = hotkey::register(app, &settings.hotkey).map_err(|e| e.to_string());
    window::show_at_launch(app);
    notify::init(app);
    metallib::use_bundled(app);
    flow::start(app, settings, config_dir, shortcut)?;
    Ok(())
}

#[cfg(test)]
mod ipc_contract_tests;
#[cfg(test)]
mod security_tests;
