//! The planner prefers a frame time measured on this machine over the bandwidth estimate.

use hardware::{
    plan, plan_with_speed, profile, PlanOptions, Quality, QualitySpeed, SpeedReport, FRAME_MS,
    SPEED_MARGIN,
};

fn speed(quality: Quality, frame_ms: f64) -> QualitySpeed {
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

fn report(times: &[(Quality, f64)]) -> SpeedReport {
    SpeedReport {
        machine: "test".into(),
        app_version: "0".into(),
        measured_at: 0,
        seconds: 10.0,
        qualities: times.iter().map(|&(q, ms)| speed(q, ms)).collect(),
    }
}

#[test]
fn a_measurement_overrules_the_bandwidth_table() {
    // The bandwidth model calls an M2 Max 64 GB real time at bf16 …
    let hw = profile::parse("m2-max-64").expect("profile");
    let estimate = plan(&hw, &PlanOptions::default());
    assert_eq!(estimate.quality, Quality::Bf16);
    assert!(estimate.real_time);
    // … but if the speed test measured bf16 and q8 too slow and q4 at 61 ms, q4 is chosen.
    let r = report(&[
        (Quality::Bf16, 140.0),
        (Quality::Q8, 90.0),
        (Quality::Q4, 61.0),
    ]);
    let p = plan_with_speed(&hw, &PlanOptions::default(), Some(&r));
    assert_eq!(p.quality, Quality::Q4);
    assert!(p.real_time);
    assert_eq!(p.measured_frame_ms, Some(61.0));
    assert!(
        p.reason
            .contains("measured 61 ms per frame at q4 — real time"),
        "{}",
        p.reason
    );
    assert!(
        p.reason.contains("measured 140 ms per frame at bf16"),
        "{}",
        p.reason
    );
    assert!(p.warning.is_none());
    let json = serde_json::to_value(&p).expect("serializes");
    assert_eq!(json["measuredFrameMs"], 61.0);
}

#[test]
fn the_margin_decides_at_64_ms() {
    let hw = profile::parse("m3-pro-36").expect("profile");
    let limit = FRAME_MS * SPEED_MARGIN;
    for (ms, rt) in [(limit, true), (limit + 1.0, false)] {
        let r = report(&[
            (Quality::Bf16, 500.0),
            (Quality::Q8, 500.0),
            (Quality::Q4, ms),
        ]);
        let p = plan_with_speed(&hw, &PlanOptions::default(), Some(&r));
        assert_eq!(p.quality, Quality::Q4);
        assert_eq!(p.real_time, rt, "{ms} ms: {}", p.reason);
    }
}

#[test]
fn a_slow_machine_is_told_in_seconds() {
    // This Linux box: every quality takes seconds per frame.
    let hw = profile::parse("intel-16").expect("profile");
    let r = report(&[
        (Quality::Bf16, 21_000.0),
        (Quality::Q8, 30_000.0),
        (Quality::Q4, 9_400.0),
    ]);
    let p = plan_with_speed(&hw, &PlanOptions::default(), Some(&r));
    assert_eq!(p.quality, Quality::Q4);
    assert!(!p.real_time);
    assert!(
        p.reason.contains("measured 9.4 s per frame at q4"),
        "{}",
        p.reason
    );
    let w = p.warning.expect("a warning");
    assert!(
        w.contains("measured 9.4 s per frame at q4 — 117.5× too slow"),
        "{w}"
    );
}

#[test]
fn unmeasured_qualities_keep_the_estimate() {
    let hw = profile::parse("m2-pro-16").expect("profile");
    let base = plan(&hw, &PlanOptions::default());
    let none = plan_with_speed(&hw, &PlanOptions::default(), Some(&report(&[])));
    assert_eq!(none, base);
    // Measuring only bf16 (does not fit 16 GB anyway) changes nothing for q4.
    let r = report(&[(Quality::Bf16, 30.0)]);
    let p = plan_with_speed(&hw, &PlanOptions::default(), Some(&r));
    assert_eq!(p.quality, base.quality);
    assert_eq!(p.measured_frame_ms, None);
}

#[test]
fn memory_still_rules_out_a_fast_measurement() {
    // bf16 measured fast, but 15 GB of weights do not fit a 16 GB Mac's budget.
    let hw = profile::parse("m4-pro-16").expect("profile");
    let r = report(&[
        (Quality::Bf16, 30.0),
        (Quality::Q8, 40.0),
        (Quality::Q4, 50.0),
    ]);
    let p = plan_with_speed(&hw, &PlanOptions::default(), Some(&r));
    assert_ne!(p.quality, Quality::Bf16);
    assert!(p.real_time);
}
