//! Helpers shared by the integration tests of several crates, so each lives once: the venv's
//! Python (the reference `huggingface_hub` / `hf_xet` clients) and a child server that
//! announces its endpoint on its first line (`testhub serve`). A dev-dependency only
//! (`publish = false`); nothing here is part of a shipped crate.
//!
//! ```no_run
//! let py = test_util::venv_python();
//! let out = std::process::Command::new(py)
//!     .args(["-c", "import huggingface_hub"])
//!     .status()
//!     .expect("python");
//! assert!(out.success());
//! ```

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The Python of the project's venv, with `huggingface_hub` and `hf_xet` (`scripts/setup.sh`
/// makes it in `.venv` at the workspace root; `MOSHIBAR_VENV` points elsewhere). Panics with
/// what to run when it is missing: a test that needs the reference client fails, never skips.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("MOSHIBAR_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "no Python venv with huggingface_hub and hf_xet at {}: run `bash scripts/setup.sh` \
         (or set MOSHIBAR_VENV)",
        venv.display()
    );
    py
}

/// A child process killed (and reaped) when dropped, so a failing test leaves no server behind.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` (a server such as `testhub serve`) with piped stdin and stdout and reads its
/// first line, `HF_ENDPOINT=<url>`; returns the running child and the URL. Panics when the
/// first line is anything else.
pub fn spawn_hub(cmd: &mut Command) -> (KillOnDrop, String) {
    let mut child = KillOnDrop(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the server"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read endpoint");
    let endpoint = line
        .trim()
        .strip_prefix("HF_ENDPOINT=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, endpoint)
}
