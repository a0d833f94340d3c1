//! The on-device speed test as the core's [`app_core::SpeedTest`] service: the engine's
//! `speedtest` (the real 7B architecture with random weights, per quality) run on a thread of
//! its own, and its result kept in `hardware`'s [`SpeedCache`] per machine and app version
//! (the file `moshibar-hw doctor` and `moshi-speedtest` use too).
//!
//! Test hook [`CONFIG_ENV`] (`MOSHIBAR_SPEEDTEST_CONFIG`): a JSON file that replaces the
//! test's options, so the end-to-end test times a tiny model in a second instead of the 7B:
//!
//! ```json
//! { "lmConfig": "/path/to/a/kyutai/config.json", "qualities": ["q4"], "layers": [1, 2],
//!   "steps": 1, "warmup": 0, "mimiFrames": 0 }
//! ```
//!
//! Every key is optional (the default is the full test of the 7B); `lmConfig` is a repo's
//! `config.json` in Kyutai's format, relative to the options file. `MOSHIBAR_SPEEDTEST_CACHE`
//! (hardware's) moves the cache file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use app_core::{BoxFuture, SpeedTestReporter, UiError};
use hardware::{machine_id, Hardware, Quality, SpeedCache, SpeedReport};
use serde::Deserialize;

/// Environment variable (test hook): a JSON file of speed test options (see the module doc).
pub const CONFIG_ENV: &str = "MOSHIBAR_SPEEDTEST_CONFIG";

/// The app version a measurement is stored under (a new engine means a new measurement).
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

const TITLE: &str = "Speed test failed";

/// The options file of [`CONFIG_ENV`].
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestOptions {
    /// A Kyutai `config.json` whose LM is timed instead of the 7B (relative to the file).
    pub lm_config: Option<PathBuf>,
    /// Qualities to time, in order.
    pub qualities: Option<Vec<Quality>>,
    /// Temporal layer counts to time.
    pub layers: Option<Vec<usize>>,
    /// Timed LM steps per point.
    pub steps: Option<usize>,
    /// Untimed steps before them.
    pub warmup: Option<usize>,
    /// Timed Mimi frames (0: Mimi is not timed).
    pub mimi_frames: Option<usize>,
}

/// Why the options file of [`CONFIG_ENV`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid options.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl TestOptions {
    /// Reads the options file; a relative `lmConfig` is made relative to the file.
    pub fn load(path: &Path) -> Result<TestOptions, OptionsError> {
        let text = std::fs::read(path).map_err(|source| OptionsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut opts: TestOptions =
            serde_json::from_slice(&text).map_err(|source| OptionsError::Parse {
                path: path.to_owned(),
                source,
            })?;
        if let (Some(cfg), Some(dir)) = (&opts.lm_config, path.parent()) {
            if cfg.is_relative() {
                opts.lm_config = Some(dir.join(cfg));
            }
        }
        Ok(opts)
    }
}

/// The quality a progress line of the engine's speed test belongs to ("q4: 2 layers: …"), none
/// for Mimi's line and others.
pub fn line_quality(line: &str) -> Option<Quality> {
    line.split_once(':')?.0.parse().ok()
}

/// The speed test service: the engine's test on its own thread, results in the speed cache.
pub struct EngineSpeedTest {
    cache: Option<SpeedCache>,
    options: Result<TestOptions, String>,
    cancel: Arc<AtomicBool>,
}

impl EngineSpeedTest {
    /// The service with the default cache location and the options of [`CONFIG_ENV`], if set.
    pub fn from_env() -> Self {
        let options = match crate::test_hooks::var_os(CONFIG_ENV) {
            None => Ok(TestOptions::default()),
            Some(p) => {
                let path = PathBuf::from(p);
                tracing::info!(file = %path.display(), "speed test options from {CONFIG_ENV}");
                TestOptions::load(&path).map_err(|e| e.to_string())
            }
        };
        Self::new(SpeedCache::default_location(), options)
    }

    /// The service with this cache (none: nothing is stored) and these options (an error:
    /// every measurement fails with it).
    pub fn new(cache: Option<SpeedCache>, options: Result<TestOptions, String>) -> Self {
        EngineSpeedTest {
            cache,
            options,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl app_core::SpeedTest for EngineSpeedTest {
    fn qualities(&self) -> Vec<Quality> {
        self.options
            .as_ref()
            .ok()
            .and_then(|o| o.qualities.clone())
            .unwrap_or_else(|| Quality::BEST_FIRST.to_vec())
    }

    fn cached(&self, hw: &Hardware) -> Result<Option<SpeedReport>, String> {
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        cache
            .load(&machine_id(hw), APP_VERSION)
            .map_err(|e| e.to_string())
    }

    fn measure(
        &self,
        hw: &Hardware,
        report: SpeedTestReporter,
    ) -> BoxFuture<Result<SpeedReport, UiError>> {
        let options = self.options.clone();
        let cancel = Arc::clone(&self.cancel);
        let machine = machine_id(hw);
        Box::pin(async move {
            let options = options.map_err(|e| UiError::new(TITLE, e, None))?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            let spawned = std::thread::Builder::new()
                .name("speedtest".into())
                .spawn(move || {
                    let result = run(&options, &machine, &cancel, &report);
                    let _ = tx.send(result);
                });
            if let Err(e) = spawned {
                return Err(UiError::new(TITLE, format!("no thread for it: {e}"), None));
            }
            rx.await.unwrap_or_else(|_| {
                Err(UiError::new(
                    TITLE,
                    "the speed test stopped unexpectedly".to_owned(),
                    None,
                ))
            })
        })
    }

    fn store(&self, report: &SpeedReport) -> Result<(), String> {
        let Some(cache) = &self.cache else {
            return Err("no home directory for the speed cache".into());
        };
        cache.store(report).map_err(|e| e.to_string())?;
        tracing::info!(file = %cache.path().display(), "speed test stored");
        Ok(())
    }

    fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// Runs the engine's speed test on this thread (MLX arrays stay on the thread that made them).
#[cfg(feature = "engine")]
fn run(
    options: &TestOptions,
    machine: &str,
    cancel: &AtomicBool,
    report: &SpeedTestReporter,
) -> Result<SpeedReport, UiError> {
    use app_core::SpeedProgress;
    use engine::speedtest::{self, SpeedTestOptions};
    let fail = |e: String| UiError::new(TITLE, e, None);
    let mut opts = SpeedTestOptions::default();
    if let Some(path) = &options.lm_config {
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        opts.config = engine::config::RepoConfig::from_json_str(&text)
            .map_err(|e| fail(format!("{}: {e}", path.display())))?
            .lm;
    }
    if let Some(q) = &options.qualities {
        opts.qualities = q.clone();
    }
    if let Some(l) = &options.layers {
        opts.layers = l.clone();
    }
    opts.steps = options.steps.unwrap_or(opts.steps);
    opts.warmup = options.warmup.unwrap_or(opts.warmup);
    opts.mimi_frames = options.mimi_frames.unwrap_or(opts.mimi_frames);
    tracing::info!(
        qualities = ?opts.qualities,
        layers = ?opts.layers,
        full_layers = opts.config.transformer.num_layers,
        "speed test starting"
    );
    let result = speedtest::run(&opts, |fraction, line| {
        if cancel.load(Ordering::SeqCst) {
            return;
        }
        tracing::info!("speed test: {line}");
        report.progress(SpeedProgress {
            fraction,
            quality: line_quality(line),
            line: line.to_owned(),
        });
    })
    .map_err(|e| fail(e.to_string()))?;
    if cancel.load(Ordering::SeqCst) {
        return Err(fail("cancelled".into()));
    }
    let report = result.report(machine, APP_VERSION);
    for q in &report.qualities {
        tracing::info!("speed test: {}", q.describe());
    }
    tracing::info!(seconds = report.seconds, "speed test finished");
    Ok(report)
}

/// This build has no engine: nothing to time.
#[cfg(not(feature = "engine"))]
fn run(
    _options: &TestOptions,
    _machine: &str,
    _cancel: &AtomicBool,
    _report: &SpeedTestReporter,
) -> Result<SpeedReport, UiError> {
    Err(UiError::new(
        TITLE,
        "this build was made without the `engine` feature".to_owned(),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app_core::SpeedTest as _;

    #[test]
    fn progress_lines_name_their_quality() {
        assert_eq!(
            line_quality("q4: 2 layers: 12.3 ms per step"),
            Some(Quality::Q4)
        );
        assert_eq!(
            line_quality("bf16: predicted 61.0 ms per frame"),
            Some(Quality::Bf16)
        );
        assert_eq!(line_quality("mimi: 12.0 ms per frame"), None);
        assert_eq!(line_quality("no colon"), None);
    }

    #[test]
    fn options_file_is_strict_and_relative_to_itself() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("opts.json");
        std::fs::write(
            &path,
            r#"{"lmConfig": "tiny/config.json", "qualities": ["q4"], "layers": [1, 2]}"#,
        )
        .expect("write");
        let o = TestOptions::load(&path).expect("options");
        assert_eq!(o.lm_config, Some(dir.path().join("tiny/config.json")));
        assert_eq!(o.qualities, Some(vec![Quality::Q4]));
        assert_eq!(o.layers, Some(vec![1, 2]));
        std::fs::write(&path, r#"{"qualitiez": ["q4"]}"#).expect("write");
        assert!(matches!(
            TestOptions::load(&path),
            Err(OptionsError::Parse { .. })
        ));
        let svc = EngineSpeedTest::new(None, Ok(o));
        assert_eq!(svc.qualities(), vec![Quality::Q4]);
    }

    #[test]
    fn the_cache_is_per_machine_and_app_version() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = SpeedCache::at(dir.path().join("speedtest.json"));
        let svc = EngineSpeedTest::new(Some(cache), Ok(TestOptions::default()));
        let hw = hardware::profile::parse("m2-pro-16").expect("profile");
        assert_eq!(svc.cached(&hw), Ok(None));
        let report = SpeedReport {
            machine: machine_id(&hw),
            app_version: APP_VERSION.into(),
            measured_at: 1,
            seconds: 2.0,
            qualities: Vec::new(),
        };
        svc.store(&report).expect("stored");
        assert_eq!(svc.cached(&hw), Ok(Some(report.clone())));
        let other = hardware::profile::parse("m1-8").expect("profile");
        assert_eq!(
            svc.cached(&other),
            Ok(None),
            "another machine measures again"
        );
        svc.store(&SpeedReport {
            app_version: "0.0.0-old".into(),
            ..report.clone()
        })
        .expect("stored");
        assert_eq!(
            svc.cached(&hw),
            Ok(Some(report)),
            "another version's is not used"
        );
    }
}
