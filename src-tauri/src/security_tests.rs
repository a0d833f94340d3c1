//! Checks of the security configuration: the UI's capability lists exactly the app's commands,
//! and the CSP allows no remote origin.

use crate::ipc_commands::COMMANDS;

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

/// The capability file as generated from [`COMMANDS`]: the event listener, one `allow-*` per
/// command, and the opener for Hugging Face pages only.
fn capability() -> serde_json::Value {
    let mut permissions = vec![
        serde_json::json!("core:event:allow-listen"),
        serde_json::json!("core:event:allow-unlisten"),
    ];
    permissions.extend(
        COMMANDS
            .iter()
            .map(|c| serde_json::json!(format!("allow-{}", c.replace('_', "-")))),
    );
    permissions.push(serde_json::json!({
        "identifier": "opener:allow-open-url",
        "allow": [{ "url": "https://huggingface.co/*" }]
    }));
    serde_json::json!({
        "$schema": "../gen/schemas/desktop-schema.json",
        "identifier": "main",
        "description": "The popover: listen to Moshibar's events, call exactly the commands in docs/ipc.md (src/ipc_commands.rs; this file is generated from it), and open Hugging Face pages (gated-model terms, tokens) in the browser. Nothing else: no fs, shell, http, window control.",
        "windows": ["main"],
        "permissions": permissions,
    })
}

#[test]
fn capability_file_is_generated_from_the_command_list() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/capabilities/main.json");
    let want = serde_json::to_string_pretty(&capability()).expect("json") + "\n";
    if std::env::var_os("MOSHIBAR_UPDATE_IPC_SHAPES").is_some() {
        std::fs::write(path, &want).expect("write capability");
    }
    let got = std::fs::read_to_string(path).expect("capability file");
    assert_eq!(
        got, want,
        "capabilities/main.json is stale: MOSHIBAR_UPDATE_IPC_SHAPES=1 cargo test -p moshibar --lib security"
    );
}

#[test]
fn build_script_declares_the_same_commands() {
    let build = include_str!("../build.rs");
    assert!(
        build.contains("include!(\"src/ipc_commands.rs\")"),
        "build.rs takes the one command list"
    );
    let docs = include_str!("../../docs/ipc.md");
    for c in COMMANDS {
        assert!(docs.contains(&format!("`{c}`")), "docs/ipc.md lacks `{c}`");
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
