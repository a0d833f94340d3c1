//! The `moshibar-hw doctor` command, run as a person would.

use std::process::Command;

fn doctor(args: &[&str], profile_env: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moshibar-hw"));
    cmd.arg("doctor").args(args);
    // Never the person's own speed cache: a measurement stored there would change the plan.
    cmd.env(
        hardware::SPEED_CACHE_ENV,
        std::env::temp_dir().join("moshibar-doctor-test-no-speed-cache.json"),
    );
    match profile_env {
        Some(p) => cmd.env("MOSHIBAR_HARDWARE_PROFILE", p),
        None => cmd.env_remove("MOSHIBAR_HARDWARE_PROFILE"),
    };
    let out = cmd.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn this_linux_machine_gets_the_not_apple_silicon_verdict() {
    if cfg!(target_os = "macos") {
        return;
    }
    let (ok, out, err) = doctor(&["--json"], None);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON on stdout");
    assert_eq!(v["hardware"]["appleSilicon"], false);
    assert_eq!(v["plan"]["realTime"], false);
    let reason = v["plan"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not an Apple Silicon Mac"), "{reason}");
    assert!(v["hardware"]["memoryBytes"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn a_simulated_profile_from_the_environment_or_the_flag() {
    let (ok, out, _) = doctor(&[], Some("m3-max-36"));
    assert!(ok);
    assert!(out.contains("Chip           M3 Max"), "{out}");
    assert!(out.contains("Quality        bf16"), "{out}");
    assert!(out.contains("Real time      yes"), "{out}");

    let (ok, out, _) = doctor(&["--profile", "m2-16", "--json"], Some("m4-max-128"));
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        v["plan"]["quality"], "q4",
        "the flag wins over the environment"
    );
}

#[test]
fn a_bad_profile_is_a_clear_error() {
    let (ok, _, err) = doctor(&[], Some("m2-huge-16"));
    assert!(!ok);
    assert!(err.contains("bad hardware profile"), "{err}");
    assert!(err.contains("MOSHIBAR_HARDWARE_PROFILE"), "{err}");
}

/// A speed test stored for this machine and version decides the plan and is shown.
#[test]
fn the_doctor_plans_with_the_stored_measurement() {
    let hw = hardware::detect().expect("detect");
    let cache_file =
        std::env::temp_dir().join(format!("moshibar-doctor-speed-{}.json", std::process::id()));
    let cache = hardware::SpeedCache::at(&cache_file);
    let q = |quality, frame_ms| hardware::QualitySpeed {
        quality,
        frame_ms,
        per_layer_ms: frame_ms / 40.0,
        fixed_ms: frame_ms / 5.0,
        mimi_ms: 800.0,
        layers_timed: vec![1, 2],
        full_layers: 32,
        lower_bound: false,
    };
    let mut report = hardware::SpeedReport {
        machine: hardware::machine_id(&hw),
        app_version: env!("CARGO_PKG_VERSION").into(),
        measured_at: 0,
        seconds: 300.0,
        qualities: vec![
            q(hardware::Quality::Bf16, 61_000.0),
            q(hardware::Quality::Q8, 52_000.0),
            q(hardware::Quality::Q4, 9_400.0),
        ],
    };
    cache.store(&report).expect("store");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_moshibar-hw"))
            .arg("doctor")
            .args(args)
            .env(hardware::SPEED_CACHE_ENV, &cache_file)
            .env_remove("MOSHIBAR_HARDWARE_PROFILE")
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let v: serde_json::Value = serde_json::from_str(&run(&["--json"])).expect("JSON");
    assert_eq!(v["plan"]["quality"], "q4");
    assert_eq!(v["plan"]["realTime"], false);
    assert_eq!(v["plan"]["measuredFrameMs"], 9400.0);
    let reason = v["plan"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("measured 9.4 s per frame at q4"),
        "{reason}"
    );
    assert_eq!(v["speed"]["qualities"][2]["frameMs"], 9400.0);
    let text = run(&[]);
    assert!(text.contains("Speed test"), "{text}");
    assert!(text.contains("measured 61.0 s per frame at bf16"), "{text}");
    // --no-speed ignores it; another version's report is not used.
    let v: serde_json::Value = serde_json::from_str(&run(&["--json", "--no-speed"])).expect("JSON");
    assert!(v["plan"].get("measuredFrameMs").is_none());
    report.app_version = "0.0.0-other".into();
    std::fs::remove_file(&cache_file).expect("remove");
    cache.store(&report).expect("store");
    let v: serde_json::Value = serde_json::from_str(&run(&["--json"])).expect("JSON");
    assert!(
        v["plan"].get("measuredFrameMs").is_none(),
        "another version's measurement was used"
    );
    let _ = std::fs::remove_file(&cache_file);
}
