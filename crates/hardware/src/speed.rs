//! Frame times measured on this machine, and where they are kept.
//!
//! The bandwidth model ([`crate::bandwidth`]) is a guess from a table; the engine's speed test
//! (`moshi-speedtest`, in the `engine` crate, which this crate must not depend on) times the real
//! 7B architecture with random weights for each quality and writes a [`SpeedReport`]. The planner
//! prefers that measurement ([`crate::plan_with_speed`]): a quality is real time when its
//! measured frame fits in [`SPEED_MARGIN`] of the 80 ms frame.
//!
//! Reports are cached per machine ([`machine_id`]) and app version in one JSON file
//! ([`SpeedCache`]): a new chip, more memory, or a new engine means a new measurement.

use crate::host::Hardware;
use crate::needs::Quality;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One Moshi frame: 80 ms of audio, so every stage must finish within it.
pub const FRAME_MS: f64 = 80.0;

/// The share of the 80 ms frame a measured frame may take and still count as real time
/// (64 ms): the remaining 20 % is for audio I/O, echo cancellation, the other apps and thermal
/// throttling during a long conversation, none of which a 10-second speed test sees.
pub const SPEED_MARGIN: f64 = 0.80;

/// The environment variable that overrides the speed cache file (tests, CI, the doctor).
pub const SPEED_CACHE_ENV: &str = "MOSHIBAR_SPEEDTEST_CACHE";

/// The measured frame time of one quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualitySpeed {
    /// The quality timed.
    pub quality: Quality,
    /// Predicted wall time of one frame of the full model: LM step (all layers, extrapolated
    /// from the timed ones) plus depformer plus Mimi encode and decode, in sequence.
    pub frame_ms: f64,
    /// Time per temporal-transformer layer (the slope of the fit).
    pub per_layer_ms: f64,
    /// Step time that does not depend on the layer count: embeddings, text head, depformer
    /// (the intercept of the fit).
    pub fixed_ms: f64,
    /// Mimi encode + decode of one frame.
    pub mimi_ms: f64,
    /// The layer counts that were timed (the fit's points).
    pub layers_timed: Vec<usize>,
    /// Layers of the full model the prediction is for (32 for the 7B).
    pub full_layers: usize,
    /// The test stopped early because the answer was already certain: the smallest model
    /// timed (fewer layers than the full one, plus Mimi) was already slower than real time,
    /// so the full model is too. `frame_ms` is then a lower bound, not a prediction.
    #[serde(default)]
    pub lower_bound: bool,
}

impl QualitySpeed {
    /// True when the measured frame fits in [`SPEED_MARGIN`] of the frame (a non-positive or
    /// non-finite time is a broken measurement, never real time; a lower bound never is).
    pub fn real_time(&self) -> bool {
        !self.lower_bound
            && self.frame_ms.is_finite()
            && self.frame_ms > 0.0
            && self.frame_ms <= FRAME_MS * SPEED_MARGIN
    }

    /// One phrase for a plan's reason, e.g. "measured 61 ms per frame at q4 — real time", or
    /// for a test that stopped early "measured at least 3.6 s per frame at q4 (1 of 32 layers
    /// timed) — at least 45× too slow for real time (needs ≤ 64 ms)".
    pub fn describe(&self) -> String {
        let t = human_ms(self.frame_ms);
        if self.lower_bound {
            let timed = self.layers_timed.iter().max().copied().unwrap_or(0);
            format!(
                "measured at least {t} per frame at {} ({timed} of {} layers timed) — at least \
                 {:.1}× too slow for real time (needs ≤ {:.0} ms)",
                self.quality,
                self.full_layers,
                self.frame_ms / FRAME_MS,
                FRAME_MS * SPEED_MARGIN
            )
        } else if self.real_time() {
            format!("measured {t} per frame at {} — real time", self.quality)
        } else {
            format!(
                "measured {t} per frame at {} — {:.1}× too slow for real time (needs ≤ {:.0} ms)",
                self.quality,
                self.frame_ms / FRAME_MS,
                FRAME_MS * SPEED_MARGIN
            )
        }
    }
}

/// `61 ms` or `2.3 s`.
fn human_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// A whole speed test on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeedReport {
    /// [`machine_id`] of the machine measured.
    pub machine: String,
    /// The app (engine) version that measured it.
    pub app_version: String,
    /// When, in seconds since the Unix epoch.
    pub measured_at: u64,
    /// How long the speed test took, in seconds.
    pub seconds: f64,
    /// One entry per quality timed.
    pub qualities: Vec<QualitySpeed>,
}

impl SpeedReport {
    /// The measurement of `quality`, if it was timed.
    pub fn get(&self, quality: Quality) -> Option<&QualitySpeed> {
        self.qualities.iter().find(|q| q.quality == quality)
    }
}

/// What identifies "this machine" for the cache: chip (or CPU), memory, OS and architecture.
pub fn machine_id(hw: &Hardware) -> String {
    format!(
        "{} | {} bytes | {} | {}",
        hw.cpu_brand, hw.memory_bytes, hw.os, hw.arch
    )
}

/// Reading or writing the speed cache failed.
#[derive(Debug, thiserror::Error)]
pub enum SpeedCacheError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The cache file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a speed cache.
    #[error("{}: not a speed cache: {source}", path.display())]
    Json {
        /// The cache file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    reports: Vec<SpeedReport>,
}

/// The speed cache: one JSON file holding one report per (machine, app version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeedCache {
    path: PathBuf,
}

impl SpeedCache {
    /// A cache at an explicit path.
    pub fn at(path: impl Into<PathBuf>) -> SpeedCache {
        SpeedCache { path: path.into() }
    }

    /// The default location: `$MOSHIBAR_SPEEDTEST_CACHE`, else the app's data directory on macOS
    /// (`~/Library/Application Support/org.moshibar.app/speedtest.json`), else the XDG cache
    /// directory (`$XDG_CACHE_HOME` or `~/.cache`, `moshibar/speedtest.json`), beside the
    /// Hugging Face cache. `None` when there is no home directory.
    pub fn default_location() -> Option<SpeedCache> {
        if let Some(p) = std::env::var_os(SPEED_CACHE_ENV) {
            return Some(SpeedCache::at(p));
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if cfg!(target_os = "macos") {
            return home.map(|h| {
                SpeedCache::at(
                    h.join("Library/Application Support/org.moshibar.app/speedtest.json"),
                )
            });
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".cache")))?;
        Some(SpeedCache::at(base.join("moshibar/speedtest.json")))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<CacheFile, SpeedCacheError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SpeedCacheError::Json {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CacheFile::default()),
            Err(source) => Err(SpeedCacheError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The report for this machine and app version, if one was stored.
    pub fn load(
        &self,
        machine: &str,
        app_version: &str,
    ) -> Result<Option<SpeedReport>, SpeedCacheError> {
        Ok(self
            .read()?
            .reports
            .into_iter()
            .find(|r| r.machine == machine && r.app_version == app_version))
    }

    /// Stores `report`, replacing the one of the same machine and app version; written to a
    /// temporary file and renamed, so a crash never leaves half a cache.
    pub fn store(&self, report: &SpeedReport) -> Result<(), SpeedCacheError> {
        let io = |source| SpeedCacheError::Io {
            path: self.path.clone(),
            source,
        };
        // A corrupt cache is replaced rather than blocking every later measurement.
        let mut file = self.read().unwrap_or_default();
        file.reports
            .retain(|r| !(r.machine == report.machine && r.app_version == report.app_version));
        file.reports.push(report.clone());
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&file).map_err(|source| SpeedCacheError::Json {
            path: self.path.clone(),
            source,
        })?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn speed(quality: Quality, frame_ms: f64) -> QualitySpeed {
        QualitySpeed {
            quality,
            frame_ms,
            per_layer_ms: frame_ms / 40.0,
            fixed_ms: frame_ms / 10.0,
            mimi_ms: frame_ms / 10.0,
            layers_timed: vec![1, 2, 4],
            full_layers: 32,
            lower_bound: false,
        }
    }

    fn report(machine: &str, version: &str, ms: f64) -> SpeedReport {
        SpeedReport {
            machine: machine.into(),
            app_version: version.into(),
            measured_at: 1,
            seconds: 9.5,
            qualities: vec![speed(Quality::Q4, ms)],
        }
    }

    #[test]
    fn the_margin_is_64_ms() {
        assert!(speed(Quality::Q4, 64.0).real_time());
        assert!(!speed(Quality::Q4, 64.5).real_time());
        assert!(!speed(Quality::Q8, -153_649.0).real_time(), "a broken fit");
        assert!(!speed(Quality::Q8, f64::NAN).real_time());
        assert_eq!(
            speed(Quality::Q4, 61.2).describe(),
            "measured 61 ms per frame at q4 — real time"
        );
        let bound = QualitySpeed {
            lower_bound: true,
            layers_timed: vec![1],
            ..speed(Quality::Q4, 3600.0)
        };
        assert!(!bound.real_time());
        assert_eq!(
            bound.describe(),
            "measured at least 3.6 s per frame at q4 (1 of 32 layers timed) — at least 45.0× \
             too slow for real time (needs ≤ 64 ms)"
        );
        // A lower bound is never real time, even a small one (it is only a bound).
        assert!(!QualitySpeed {
            lower_bound: true,
            ..speed(Quality::Q4, 10.0)
        }
        .real_time());
        let slow = speed(Quality::Q8, 2300.0).describe();
        assert!(
            slow.starts_with("measured 2.3 s per frame at q8 — 28.8× too slow"),
            "{slow}"
        );
    }

    #[test]
    fn cache_keeps_one_report_per_machine_and_version() {
        let dir = std::env::temp_dir().join(format!("speedcache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = SpeedCache::at(dir.join("sub/speedtest.json"));
        assert_eq!(cache.load("m", "1").expect("empty cache reads"), None);
        cache.store(&report("m", "1", 70.0)).expect("store");
        cache.store(&report("m", "2", 50.0)).expect("store");
        cache.store(&report("other", "1", 10.0)).expect("store");
        cache.store(&report("m", "1", 60.0)).expect("replace");
        let got = cache.load("m", "1").expect("load").expect("present");
        assert_eq!(got.qualities[0].frame_ms, 60.0);
        assert_eq!(
            cache
                .load("m", "2")
                .expect("load")
                .expect("present")
                .qualities[0]
                .frame_ms,
            50.0
        );
        assert_eq!(cache.load("m", "3").expect("load"), None);
        let text = std::fs::read_to_string(cache.path()).expect("file");
        assert_eq!(text.matches("\"machine\"").count(), 3, "{text}");
        std::fs::write(cache.path(), "not json").expect("write");
        assert!(matches!(
            cache.load("m", "1"),
            Err(SpeedCacheError::Json { .. })
        ));
        cache
            .store(&report("m", "1", 60.0))
            .expect("a corrupt cache is replaced");
        assert!(cache.load("m", "1").expect("load").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
