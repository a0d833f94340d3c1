//! The IPC contract between the app and the UI (docs/ipc.md), checked from both ends: this test
//! serializes a fully populated value of every type the UI receives and compares their shapes
//! (field names, nesting, JSON kinds) with `ui/tests/ipc-shapes.json`; the UI's Vitest
//! (`ui/tests/ipc-contract.test.ts`) checks that the TypeScript fixtures, which `tsc` checks
//! against `ui/src/types.ts`, have the same shapes. A field added, renamed or removed on either
//! side fails one of them. Regenerate after an intended change:
//! `MOSHIBAR_UPDATE_IPC_SHAPES=1 cargo test -p moshibar --lib ipc_contract`.

use serde_json::{json, Map, Value};

/// The JSON kind tree of a value: objects keep their keys, arrays their first element,
/// scalars become "string" / "number" / "boolean" / "null".
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("boolean"),
        Value::Null => json!("null"),
    }
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("serialize")
}

/// Every Option is Some, every Vec has an element: the shapes then show every field.
fn samples() -> Map<String, Value> {
    let mut hw = hardware::profile::parse("m2-pro-16").expect("profile");
    hw.bandwidth_gbps.get_or_insert(200.0);
    hw.performance_cores.get_or_insert(8);
    let mut plan = hardware::plan(&hw, &hardware::PlanOptions::default());
    plan.warning = Some("will not run in real time".into());

    let settings = app_core::Settings {
        input_device: Some("Shure MV7".into()),
        output_device: Some("AirPods Pro".into()),
        cache_dir: Some("/Volumes/Big/hf".into()),
        ..Default::default()
    };

    let mut state = app_core::AppState::initial(&settings);
    state.hardware = Some(hw.clone());
    state.plan = Some(plan.clone());
    state.error = Some(app_core::UiError::new(
        "t",
        "m",
        Some(app_core::ErrorAction::OpenUrl {
            url: "https://huggingface.co/kyutai/moshiko-mlx-bf16".into(),
        }),
    ));
    state.disk_free_bytes = Some(1);
    state.model_dir = Some("/m".into());
    state.session.key_to_model_ms = Some(12.0);
    state.speed_test = Some(app_core::SpeedTestState {
        running: false,
        cached: false,
        fraction: 1.0,
        line: Some("q4: 1 layers: 2.0 ms per step".into()),
        qualities: vec![app_core::SpeedTestQuality {
            quality: hardware::Quality::Q4,
            status: app_core::SpeedTestStatus::Done,
            frame_ms: Some(61.2),
            real_time: Some(true),
            lower_bound: false,
            summary: Some("measured 61 ms per frame at q4 — real time".into()),
        }],
        seconds: Some(14.2),
        error: Some("e".into()),
    });

    // hubfetch's progress types are #[non_exhaustive]: built by assignment.
    let mut file = hubfetch::FileProgress::default();
    file.sha256 = Some("ab".into());
    let mut progress = hubfetch::Progress::default();
    progress.file = Some("model.q4.safetensors".into());
    progress.eta_secs = Some(1.0);
    progress.files = vec![file];
    progress.error = Some(hubfetch::ProgressError::new(
        hubfetch::ErrorKind::Network,
        "m",
    ));
    progress.last_error = Some("no network".into());
    let metrics = voice::Metrics {
        latency_ms: Some(180.0),
        erle_db: Some(20.0),
        echo_delay_ms: Some(40.0),
        ..Default::default()
    };
    let devices = crate::session::AudioDevices {
        inputs: vec!["a".into()],
        outputs: vec!["b".into()],
        default_input: Some("a".into()),
        default_output: Some("b".into()),
    };
    let folder = crate::model_files::FolderCheck {
        path: "/x".into(),
        writable: true,
        free_bytes: Some(1),
        needed_bytes: 1,
        error: Some("e".into()),
    };
    let mut m = Map::new();
    m.insert("AppState".into(), shape(&to_value(&state)));
    m.insert("Settings".into(), shape(&to_value(&settings)));
    m.insert("Progress".into(), shape(&to_value(&progress)));
    m.insert("Metrics".into(), shape(&to_value(&metrics)));
    let piece = voice::TranscriptPiece {
        piece: " hi".into(),
        frame: 1,
    };
    m.insert("TranscriptPiece".into(), shape(&to_value(&piece)));
    m.insert("AudioDevices".into(), shape(&to_value(&devices)));
    m.insert("FolderCheck".into(), shape(&to_value(&folder)));
    m
}

const SHAPES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/tests/ipc-shapes.json");

#[test]
fn ipc_shapes_match_the_committed_contract() {
    let now = Value::Object(samples());
    let text = serde_json::to_string_pretty(&now).expect("json") + "\n";
    if std::env::var_os("MOSHIBAR_UPDATE_IPC_SHAPES").is_some() {
        std::fs::write(SHAPES, &text).expect("write ipc-shapes.json");
        return;
    }
    let committed = std::fs::read_to_string(SHAPES).unwrap_or_default();
    let committed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    assert!(
        committed == now,
        "the IPC types changed: ui/tests/ipc-shapes.json is stale. Update ui/src/types.ts and the \
         UI, then run MOSHIBAR_UPDATE_IPC_SHAPES=1 cargo test -p moshibar --lib ipc_contract.\n\
         now:\n{text}"
    );
}

const BINDINGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/bindings.ts");

/// `ui/src/bindings.ts`: the TypeScript of every type the UI receives or sends, generated from
/// the Rust types with ts-rs: the app's own (app-core, src-tauri) and the crates' (moshi-repo's
/// `Quality`/`Voice`, hardware's `Hardware`/`Plan`, hubfetch's `Progress`, voice's `Metrics` and
/// `TranscriptPiece`; their `ts` features, on in src-tauri's dev-dependencies). Large integers
/// (`u64` byte counts) are `number`: JSON numbers, exact up to 2^53 (8 PiB).
fn bindings() -> String {
    use ts_rs::TS;
    let cfg = ts_rs::Config::new().with_large_int("number");
    let decls = [
        // moshi-repo: the model vocabulary.
        hardware::moshi_repo::Quality::decl(&cfg),
        hardware::moshi_repo::Voice::decl(&cfg),
        // hardware: the machine and the plan.
        hardware::Tier::decl(&cfg),
        hardware::Chip::decl(&cfg),
        hardware::BudgetSource::decl(&cfg),
        hardware::Hardware::decl(&cfg),
        hardware::Source::decl(&cfg),
        hardware::PlanFile::decl(&cfg),
        hardware::Alternative::decl(&cfg),
        hardware::Plan::decl(&cfg),
        // hubfetch: the download-progress event.
        hubfetch::Phase::decl(&cfg),
        hubfetch::ErrorKind::decl(&cfg),
        hubfetch::ProgressError::decl(&cfg),
        hubfetch::FileProgress::decl(&cfg),
        hubfetch::Progress::decl(&cfg),
        // voice: the transcript and session-metrics events.
        voice::TranscriptPiece::decl(&cfg),
        voice::CancellerKind::decl(&cfg),
        voice::AudioHealth::decl(&cfg),
        voice::Metrics::decl(&cfg),
        // app-core and src-tauri: the app's state, settings and command results.
        app_core::Stage::decl(&cfg),
        app_core::QualityOverride::decl(&cfg),
        app_core::ErrorAction::decl(&cfg),
        app_core::UiError::decl(&cfg),
        app_core::CommandError::decl(&cfg),
        app_core::SessionState::decl(&cfg),
        app_core::SpeedTestStatus::decl(&cfg),
        app_core::SpeedTestQuality::decl(&cfg),
        app_core::SpeedTestState::decl(&cfg),
        app_core::AppState::decl(&cfg),
        app_core::Settings::decl(&cfg),
        crate::model_files::FolderCheck::decl(&cfg),
        crate::session::AudioDevices::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust IPC types (moshi-repo, hardware, hubfetch, voice, app-core,\n\
         // src-tauri) by ts-rs: do not edit.\n\
         // Regenerate: MOSHIBAR_UPDATE_IPC_SHAPES=1 cargo test -p moshibar --lib ipc_contract\n",
    );
    for d in decls {
        out.push_str("\nexport ");
        out.push_str(d.trim());
        out.push('\n');
    }
    out
}

#[test]
fn typescript_bindings_are_generated_from_the_rust_types() {
    let want = bindings();
    if std::env::var_os("MOSHIBAR_UPDATE_IPC_SHAPES").is_some() {
        std::fs::write(BINDINGS, &want).expect("write bindings.ts");
    }
    let got = std::fs::read_to_string(BINDINGS).unwrap_or_default();
    assert!(
        got == want,
        "ui/src/bindings.ts is stale: MOSHIBAR_UPDATE_IPC_SHAPES=1 cargo test -p moshibar --lib \
         ipc_contract\nnow:\n{want}"
    );
}

#[test]
fn shape_keeps_names_and_kinds() {
    let v = json!({"a": [{"b": 1}], "c": null, "d": "x", "e": true});
    assert_eq!(
        shape(&v),
        json!({"a": [{"b": "number"}], "c": "null", "d": "string", "e": "boolean"})
    );
}
