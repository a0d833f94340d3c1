//! The on-device speed test as the flow and the popover see it.
//!
//! On a launch with no stored measurement for this machine and app version, the flow enters
//! [`crate::Stage::Measuring`] before it plans: the engine's speed test (the real 7B
//! architecture with random weights, per quality) runs off the UI thread, its result is stored
//! (`hardware::SpeedCache`) and the plan prefers it over the bandwidth estimate
//! (`hardware::plan_with_speed`). [`SpeedTestState`] is what the popover shows meanwhile and
//! afterwards (`AppState.speedTest`); [`SpeedProgress`] is one step the service reports.

use hardware::{Quality, SpeedReport};
use serde::Serialize;

/// One step of a running speed test, as the service reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedProgress {
    /// Fraction of the test done, 0..=1.
    pub fraction: f64,
    /// The quality the step belongs to (none for Mimi's part).
    pub quality: Option<Quality>,
    /// The engine's line for the step ("q4: 2 layers: 12.3 ms per step").
    pub line: String,
}

/// Where one quality's measurement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum SpeedTestStatus {
    /// Not timed yet.
    Pending,
    /// Being timed now.
    Measuring,
    /// Timed (the result is in the quality's `frameMs` once the whole test is done).
    Done,
}

/// One quality of the speed test.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SpeedTestQuality {
    /// The quality.
    pub quality: Quality,
    /// Where its measurement is.
    pub status: SpeedTestStatus,
    /// The predicted (or, when `lowerBound`, the least) wall time of one frame, ms.
    pub frame_ms: Option<f64>,
    /// The frame fits the real-time budget (64 ms of the 80 ms frame).
    pub real_time: Option<bool>,
    /// The test stopped early: `frameMs` is a lower bound, the quality is certainly too slow.
    pub lower_bound: bool,
    /// The planner's phrase for it ("measured 61 ms per frame at q4 — real time").
    pub summary: Option<String>,
}

/// The speed test as the popover shows it (`AppState.speedTest`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SpeedTestState {
    /// The test is running now ([`crate::Stage::Measuring`] while the flow waits for it).
    pub running: bool,
    /// The result is the stored one of an earlier launch (nothing was measured this time).
    pub cached: bool,
    /// Fraction done, 0..=1.
    pub fraction: f64,
    /// The latest step's line.
    pub line: Option<String>,
    /// Every quality timed, in the order they are timed.
    pub qualities: Vec<SpeedTestQuality>,
    /// How long the whole test took, s (once done).
    pub seconds: Option<f64>,
    /// Why the test failed; the plan then uses the bandwidth estimate.
    pub error: Option<String>,
}

impl SpeedTestState {
    /// A test starting on `qualities` (in the order it times them).
    pub(crate) fn measuring(qualities: &[Quality]) -> Self {
        SpeedTestState {
            running: true,
            cached: false,
            fraction: 0.0,
            line: None,
            qualities: qualities
                .iter()
                .map(|&quality| SpeedTestQuality {
                    quality,
                    status: SpeedTestStatus::Pending,
                    frame_ms: None,
                    real_time: None,
                    lower_bound: false,
                    summary: None,
                })
                .collect(),
            seconds: None,
            error: None,
        }
    }

    /// One step: the step's quality is being measured, those before it are done.
    pub(crate) fn progress(&mut self, p: &SpeedProgress) {
        self.fraction = p.fraction.clamp(0.0, 1.0).max(self.fraction);
        self.line = Some(p.line.clone());
        let Some(at) = p
            .quality
            .and_then(|q| self.qualities.iter().position(|s| s.quality == q))
        else {
            return;
        };
        for (i, s) in self.qualities.iter_mut().enumerate() {
            s.status = match i.cmp(&at) {
                std::cmp::Ordering::Less => SpeedTestStatus::Done,
                std::cmp::Ordering::Equal => SpeedTestStatus::Measuring,
                std::cmp::Ordering::Greater => SpeedTestStatus::Pending,
            };
        }
    }

    /// The finished test (`cached`: stored by an earlier launch).
    pub(crate) fn finished(report: &SpeedReport, cached: bool) -> Self {
        SpeedTestState {
            running: false,
            cached,
            fraction: 1.0,
            line: None,
            qualities: report
                .qualities
                .iter()
                .map(|q| SpeedTestQuality {
                    quality: q.quality,
                    status: SpeedTestStatus::Done,
                    frame_ms: Some(q.frame_ms),
                    real_time: Some(q.real_time()),
                    lower_bound: q.lower_bound,
                    summary: Some(q.describe()),
                })
                .collect(),
            seconds: Some(report.seconds),
            error: None,
        }
    }

    /// The test failed with `message`.
    pub(crate) fn failed(&mut self, message: &str) {
        self.running = false;
        self.error = Some(message.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(fraction: f64, quality: Option<Quality>) -> SpeedProgress {
        SpeedProgress {
            fraction,
            quality,
            line: format!("{quality:?}: a step"),
        }
    }

    #[test]
    fn progress_marks_the_step_quality_measuring_and_the_earlier_ones_done() {
        let mut s = SpeedTestState::measuring(&Quality::BEST_FIRST);
        assert!(s.running);
        assert!(s
            .qualities
            .iter()
            .all(|q| q.status == SpeedTestStatus::Pending));
        s.progress(&step(0.1, None));
        assert!(s
            .qualities
            .iter()
            .all(|q| q.status == SpeedTestStatus::Pending));
        s.progress(&step(0.5, Some(Quality::Q8)));
        let st: Vec<_> = s.qualities.iter().map(|q| q.status).collect();
        assert_eq!(
            st,
            [
                SpeedTestStatus::Done,
                SpeedTestStatus::Measuring,
                SpeedTestStatus::Pending
            ]
        );
        assert_eq!(s.fraction, 0.5);
        // The fraction never goes back.
        s.progress(&step(0.2, Some(Quality::Q8)));
        assert_eq!(s.fraction, 0.5);
        assert_eq!(s.line.as_deref(), Some("Some(Q8): a step"));
    }
}
