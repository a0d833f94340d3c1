//! Checks of the security configuration: the UI's capability lists exactly the app's commands,
//! and the CSP allows no remote origin.

const COMMANDS: &[&str] = &[
    "get_state",
    "get_progress",
    "get_settings",
    "save_settings",
    "set_hf_token",
    "pause_download",
    "resume_download",
    "retry_download",
    "list_audio_devices",
    "start_session",
    "stop_session",
    "set_talking",
    "quit_app",
    "open_microphone_settings",
    "delete_model",
    "reveal_model",
    "pick_cache_dir",
];

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn capability_allows_exactly_the_ipc_commands() {
    let cap = json(include_str!("../capabilities/main.json"));
    let perms: Vec<String> = cap["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .map(|p| match p {
            serde_json::Value::String(s) => s.clone(),
            other => other["identifier"].as_str().expect("identifier").to_owned(),
        })
        .collect();
    for c in COMMANDS {
        let want = format!("allow-{}", c.replace('_', "-"));
        assert!(perms.contains(&want), "missing {want}");
    }
    let others: Vec<&String> = perms.iter().filter(|p| !p.starts_with("allow-")).collect();
    assert_eq!(
        others,
        [
            "core:event:allow-listen",
            "core:event:allow-unlisten",
            "opener:allow-open-url"
        ],
        "no other plugin permission"
    );
    assert_eq!(perms.len(), COMMANDS.len() + 3);
    // The opener may only open Hugging Face pages.
    let opener = cap["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .find(|p| p["identifier"] == "opener:allow-open-url")
        .expect("opener permission");
    assert_eq!(opener["allow"][0]["url"], "https://huggingface.co/*");
    assert_eq!(cap["windows"], serde_json::json!(["main"]));
}

#[test]
fn build_script_declares_the_same_commands() {
    let build = include_str!("../build.rs");
    for c in COMMANDS {
        assert!(build.contains(&format!("\"{c}\"")), "build.rs lacks {c}");
    }
    let lib = include_str!("lib.rs");
    for c in COMMANDS {
        assert!(lib.contains(&format!("::{c},")), "invoke_handler lacks {c}");
    }
}

#[test]
fn csp_is_strict_and_local() {
    let conf = json(include_str!("../tauri.conf.json"));
    let csp = conf["app"]["security"]["csp"].as_str().expect("csp");
    assert!(csp.contains("default-src 'self'"));
    assert!(
        csp.contains("script-src 'self';"),
        "no inline or remote scripts"
    );
    assert!(csp.contains("object-src 'none'"));
    assert!(
        !csp.contains("http://localhost") && !csp.contains("https:"),
        "no remote origin: {csp}"
    );
    assert!(!csp.contains("'unsafe-eval'"));
    // The only window is the local popover.
    assert_eq!(conf["app"]["windows"].as_array().map(Vec::len), Some(1));
    assert_eq!(conf["app"]["windows"][0]["visible"], false);
}
