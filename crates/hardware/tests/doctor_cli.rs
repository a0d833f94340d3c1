//! The `moshibar-hw doctor` command, run as a person would.

use std::process::Command;

fn doctor(args: &[&str], profile_env: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moshibar-hw"));
    cmd.arg("doctor").args(args);
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
