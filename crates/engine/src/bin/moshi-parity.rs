//! `moshi-parity <FIXTURE_DIR>`: runs every LM and Mimi parity check found in a fixture
//! directory (the layout of `shared/reference/moshi-tiny-seed0`), prints one line per check,
//! ends with `N passed, M failed`, and exits non-zero on any failure.

use anyhow::{bail, Context};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .context("usage: moshi-parity <FIXTURE_DIR>")?;
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let mut checks = engine::parity::lm::checks(&dir);
    checks.extend(engine::parity::mimi::checks(&dir));
    if checks.is_empty() {
        bail!("no fixture files found in {}", dir.display());
    }
    let (mut passed, mut failed) = (0, 0);
    for c in &checks {
        match &c.result {
            Ok(d) => {
                passed += 1;
                println!("PASS {}: {d}", c.name);
            }
            Err(d) => {
                failed += 1;
                println!("FAIL {}: {d}", c.name);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
