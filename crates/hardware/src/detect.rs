//! Reads this machine's hardware with `sysinfo` (and, on macOS, `sysctl` and
//! Metal for what `sysinfo` cannot give).

use crate::host::Hardware;
use crate::profile;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// The environment variable that replaces detection with a simulated
/// profile (see [`profile::parse`]), for tests, demos and support.
pub const PROFILE_ENV: &str = "MOSHIBAR_HARDWARE_PROFILE";

/// Errors from hardware detection.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// `MOSHIBAR_HARDWARE_PROFILE` was set to something unreadable.
    #[error("{0} (from {PROFILE_ENV})")]
    Profile(#[from] profile::BadProfile),
    /// The operating system would not tell us the CPU or the memory.
    #[error("could not read the CPU and memory from the system")]
    System(#[source] sysinfo::Error),
}

/// Detects the hardware, or returns the simulated profile named by
/// `MOSHIBAR_HARDWARE_PROFILE` when it is set.
pub fn detect() -> Result<Hardware, DetectError> {
    if let Ok(p) = std::env::var(PROFILE_ENV) {
        if !p.trim().is_empty() {
            return Ok(profile::parse(&p)?);
        }
    }
    detect_real()
}

/// Detects the real hardware of this machine, ignoring any profile.
pub fn detect_real() -> Result<Hardware, DetectError> {
    let sys = System::new_with_specifics(
        RefreshKind::nothing()
            .with_memory(MemoryRefreshKind::nothing().with_ram())
            .with_cpu(CpuRefreshKind::nothing()),
    )
    .map_err(DetectError::System)?;
    let mut brand = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_string())
        .unwrap_or_default();
    let mut memory = sys.total_memory();
    let os = format!(
        "{} {}",
        System::name().unwrap_or_else(|_| std::env::consts::OS.to_string()),
        System::os_version().unwrap_or_default()
    )
    .trim()
    .to_string();
    let arch = std::env::consts::ARCH.to_string();

    let extra = crate::macos::extra();
    if let Some(b) = extra.brand {
        if brand.is_empty() {
            brand = b;
        }
    }
    if let Some(m) = extra.memsize {
        memory = m;
    }
    let os = if cfg!(target_os = "macos") && !os.starts_with("macOS") {
        format!("macOS {}", System::os_version().unwrap_or_default())
    } else {
        os
    };
    tracing::debug!(%brand, memory, %os, %arch, "detected hardware");
    Ok(Hardware::from_facts(
        &brand,
        memory,
        extra.gpu_budget,
        &os,
        &arch,
        extra.performance_cores,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_system_error_keeps_its_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no /proc");
        let e = DetectError::System(sysinfo::Error::Io(io));
        let cause = e.source().expect("the system error is the source");
        assert_eq!(cause.to_string(), "no /proc");
        assert_eq!(
            e.to_string(),
            "could not read the CPU and memory from the system"
        );
    }
}
