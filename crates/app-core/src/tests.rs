//! Journeys of the flow: the pure machine, then the core with fake services.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardware::{Plan, Quality, Source};

use crate::*;

fn hw() -> hardware::Hardware {
    hardware::profile::parse("m2-pro-16").expect("profile")
}

fn err(title: &str) -> UiError {
    UiError::new(title, "what happened", Some(ErrorAction::Retry))
}

/// Runs a launch up to the plan; returns the effects of the plan step.
fn to_plan(m: &mut Machine, complete: BTreeSet<Quality>) -> Vec<Effect> {
    let fx = m.handle(Event::Launch).expect("launch");
    let Effect::Detect { epoch } = fx[0] else {
        panic!("{fx:?}")
    };
    let fx = m
        .handle(Event::Detected {
            epoch,
            result: Ok(hw()),
        })
        .expect("detected");
    assert!(matches!(fx[..], [Effect::ProbeCache { .. }]), "{fx:?}");
    m.handle(Event::CacheProbed {
        epoch,
        complete,
        disk_free: Some(1 << 40),
    })
    .expect("probed")
}

fn all_cached() -> BTreeSet<Quality> {
    Quality::BEST_FIRST.into_iter().collect()
}

fn download_of(fx: &[Effect]) -> Option<(u64, &Plan, bool)> {
    fx.iter().find_map(|e| match e {
        Effect::Download {
            epoch,
            plan,
            paused,
        } => Some((*epoch, &**plan, *paused)),
        _ => None,
    })
}

/// Runs a launch with every quality cached up to the plan; returns the `UseCache` epoch.
fn plan_from_cache(m: &mut Machine) -> u64 {
    let fx = to_plan(m, all_cached());
    let Some(Effect::UseCache { epoch, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    *epoch
}

/// Runs a launch from the cache up to the load, which ends with `result`; returns the effects
/// of `Loaded`.
fn load_from_cache(m: &mut Machine, result: Result<(), UiError>) -> Vec<Effect> {
    let epoch = plan_from_cache(m);
    m.handle(Event::ModelFiles {
        epoch,
        result: Ok(PathBuf::from("/cache/snap")),
    })
    .expect("files");
    m.handle(Event::Loaded { epoch, result }).expect("loaded")
}

/// A machine in Ready (from the cache).
fn ready() -> Machine {
    let mut m = Machine::new(Settings::default(), false);
    load_from_cache(&mut m, Ok(()));
    assert_eq!(m.state().stage, Stage::Ready);
    m
}

fn open_session_id(fx: &[Effect]) -> Option<u64> {
    fx.iter().find_map(|e| match e {
        Effect::OpenSession { id, .. } => Some(*id),
        _ => None,
    })
}

/// Handles `event` (a press, Talk, Start, the popover), which must open a session, and reports
/// the session open; returns its id.
fn open_with(m: &mut Machine, event: Event) -> u64 {
    let fx = m.handle(event).expect("event");
    let id = open_session_id(&fx).expect("the event opens a session");
    m.handle(Event::SessionOpened { id, result: Ok(()) })
        .expect("opened");
    id
}

#[test]
fn offline_launch_with_the_model_cached_neither_lists_nor_downloads() {
    let mut m = Machine::new(Settings::default(), false);
    let fx = to_plan(&mut m, all_cached());
    assert!(download_of(&fx).is_none(), "{fx:?}");
    let Some(Effect::UseCache { epoch, plan }) = fx.first() else {
        panic!("expected UseCache, got {fx:?}")
    };
    assert_eq!(plan.source, Source::Cache);
    assert_ne!(m.state().stage, Stage::Downloading);
    let epoch = *epoch;
    let fx = m
        .handle(Event::ModelFiles {
            epoch,
            result: Ok(PathBuf::from("/cache/snap")),
        })
        .expect("files");
    assert!(matches!(fx[..], [Effect::Load { .. }]), "{fx:?}");
    assert_eq!(m.state().stage, Stage::Loading);
    let fx = m
        .handle(Event::Loaded {
            epoch,
            result: Ok(()),
        })
        .expect("loaded");
    assert_eq!(m.state().stage, Stage::Ready);
    assert_eq!(m.state().model_dir.as_deref(), Some("/cache/snap"));
    let Some(Effect::Notify { title, body }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert_eq!(title, "Moshi is ready");
    assert!(body.contains("Hold Alt+Space"), "{body}");
}

#[test]
fn nothing_cached_downloads_the_plan() {
    let mut m = Machine::new(Settings::default(), false);
    let fx = to_plan(&mut m, BTreeSet::new());
    let (_, plan, paused) = download_of(&fx).expect("a download");
    assert_eq!(plan.source, Source::Download);
    assert!(!paused);
    assert_eq!(m.state().stage, Stage::Downloading);
    assert!(m.is_downloading());
}

#[test]
fn quit_mid_download_cancels_and_relaunch_downloads_again() {
    let mut m = Machine::new(Settings::default(), false);
    let fx = to_plan(&mut m, BTreeSet::new());
    let (_, first, _) = download_of(&fx).expect("download");
    let first = first.clone();
    let fx = m.handle(Event::Quit).expect("quit");
    assert_eq!(fx, vec![Effect::CancelDownload, Effect::Exit]);
    // Nothing happens after quit.
    assert!(m
        .handle(Event::Key { pressed: true })
        .expect("key")
        .is_empty());

    // Relaunch: the same plan goes to hubfetch again (its journal resumes the bytes).
    let mut again = Machine::new(Settings::default(), false);
    let fx = to_plan(&mut again, BTreeSet::new());
    let (_, plan, paused) = download_of(&fx).expect("download after relaunch");
    assert_eq!(plan.repo, first.repo);
    assert_eq!(plan.files, first.files);
    assert!(!paused);
}

#[test]
fn pause_is_remembered_across_relaunch() {
    let mut m = Machine::new(Settings::default(), false);
    to_plan(&mut m, BTreeSet::new());
    let fx = m.handle(Event::Pause(true)).expect("pause");
    assert_eq!(
        fx,
        vec![Effect::PauseDownload(true), Effect::RememberPaused(true)]
    );
    assert!(m.state().download_paused);

    let mut relaunched = Machine::new(Settings::default(), true);
    assert!(relaunched.state().download_paused);
    let fx = to_plan(&mut relaunched, BTreeSet::new());
    let (_, _, paused) = download_of(&fx).expect("download");
    assert!(paused, "the download starts paused after a paused quit");
    let fx = relaunched.handle(Event::Pause(false)).expect("resume");
    assert_eq!(
        fx,
        vec![Effect::PauseDownload(false), Effect::RememberPaused(false)]
    );
    // Pausing with nothing downloading is refused with a sentence.
    let mut r = ready();
    assert!(r.handle(Event::Pause(true)).is_err());
}

#[test]
fn quality_change_mid_download_asks_then_replans_and_ignores_the_old_download() {
    let mut m = Machine::new(Settings::default(), false);
    let fx = to_plan(&mut m, BTreeSet::new());
    let (old_epoch, old_plan, _) = download_of(&fx).expect("download");
    let old_quality = old_plan.quality;
    let new_quality = if old_quality == Quality::Q4 {
        QualityOverride::Q8
    } else {
        QualityOverride::Q4
    };
    let new = Settings {
        quality_override: new_quality,
        ..Settings::default()
    };
    let q = m
        .restart_question(&new)
        .expect("a download is running: ask first");
    assert!(q.contains("stops the download"), "{q}");
    assert!(m
        .restart_question(&Settings {
            hands_free: true,
            ..Settings::default()
        })
        .is_none());

    let fx = m.handle(Event::SettingsApplied(new)).expect("apply");
    assert_eq!(fx[0], Effect::CancelDownload);
    // Hardware is known: straight to planning again, with a new epoch.
    let Some(Effect::ProbeCache { epoch, .. }) = fx.get(1) else {
        panic!("{fx:?}")
    };
    let epoch = *epoch;
    assert!(epoch > old_epoch);
    // The cancelled download's late result is ignored.
    let late = m
        .handle(Event::ModelFiles {
            epoch: old_epoch,
            result: Err(err("Download stopped")),
        })
        .expect("late");
    assert!(late.is_empty());
    assert_ne!(m.state().stage, Stage::Error);
    let fx = m
        .handle(Event::CacheProbed {
            epoch,
            complete: BTreeSet::new(),
            disk_free: None,
        })
        .expect("probed");
    let (_, plan, _) = download_of(&fx).expect("new download");
    assert_ne!(plan.quality, old_quality);
}

#[test]
fn voice_change_in_ready_unloads_and_plans_the_moshika_repo() {
    let mut m = ready();
    let new = Settings {
        voice: Voice::Moshika,
        ..Settings::default()
    };
    assert!(m.restart_question(&new).is_some());
    let fx = m.handle(Event::SettingsApplied(new)).expect("apply");
    assert!(fx.contains(&Effect::Unload), "{fx:?}");
    let Some(Effect::ProbeCache { epoch, candidates }) = fx.last() else {
        panic!("{fx:?}")
    };
    assert!(
        candidates.iter().all(|c| c.repo.contains("moshika")),
        "{candidates:?}"
    );
    let fx = m
        .handle(Event::CacheProbed {
            epoch: *epoch,
            complete: BTreeSet::new(),
            disk_free: None,
        })
        .expect("probed");
    let (_, plan, _) = download_of(&fx).expect("download");
    assert!(
        plan.repo.starts_with("kyutai/moshika-mlx-"),
        "{}",
        plan.repo
    );
    assert_eq!(m.state().voice, Voice::Moshika);
}

#[test]
fn hotkey_in_ready_opens_the_session_and_gates_the_mic() {
    let mut m = ready();
    let fx = m.handle(Event::Key { pressed: true }).expect("press");
    assert_eq!(fx[0], Effect::SetGate(true));
    let id = open_session_id(&fx).expect("the press opens a session");
    assert!(m.state().session.active && m.state().session.talking);
    assert_eq!(m.tray(), TrayState::Listening);
    // Auto-repeat presses do nothing.
    assert!(m
        .handle(Event::Key { pressed: true })
        .expect("repeat")
        .is_empty());
    m.handle(Event::SessionOpened { id, result: Ok(()) })
        .expect("opened");
    // X11 auto-repeat: a release then a press within the debounce is not a release.
    let fx = m.handle(Event::Key { pressed: false }).expect("release");
    let Some(Effect::ScheduleRelease { generation }) = fx.first() else {
        panic!("{fx:?}")
    };
    let stale = *generation;
    m.handle(Event::Key { pressed: true })
        .expect("repeat press");
    assert!(m
        .handle(Event::ReleaseDue { generation: stale })
        .expect("stale")
        .is_empty());
    assert!(m.state().session.talking);
    // The real release closes the gate; the session stays open for the next press.
    let fx = m.handle(Event::Key { pressed: false }).expect("release");
    let Some(Effect::ScheduleRelease { generation }) = fx.first() else {
        panic!("{fx:?}")
    };
    let fx = m
        .handle(Event::ReleaseDue {
            generation: *generation,
        })
        .expect("due");
    assert_eq!(
        fx,
        vec![
            Effect::SetGate(false),
            Effect::ScheduleIdleClose {
                generation: m_idle_generation(&fx),
                after: IDLE_CLOSE
            }
        ]
    );
    assert!(!m.state().session.talking);
    assert!(m.state().session.active);
    // The next press talks into the open session without opening another.
    let fx = m.handle(Event::Key { pressed: true }).expect("press");
    assert_eq!(fx, vec![Effect::SetGate(true)]);
}

#[test]
fn hotkey_before_ready_does_nothing_and_start_is_refused() {
    let mut m = Machine::new(Settings::default(), false);
    to_plan(&mut m, BTreeSet::new());
    assert!(m
        .handle(Event::Key { pressed: true })
        .expect("key")
        .is_empty());
    assert!(!m.state().session.active);
    assert!(m.handle(Event::StartSession).is_err());
    assert!(m.handle(Event::Talk(true)).is_err());
}

#[test]
fn error_in_ready_is_shown_without_leaving_ready() {
    let mut m = ready();
    let fx = m.handle(Event::StartSession).expect("start");
    let id = open_session_id(&fx).expect("open");
    m.handle(Event::SessionOpened {
        id,
        result: Err(UiError::new(
            "Microphone unavailable",
            "No input device.",
            Some(ErrorAction::OpenSettings),
        )),
    })
    .expect("failed");
    assert_eq!(m.state().stage, Stage::Ready);
    assert_eq!(
        m.state().error.as_ref().map(|e| e.title.as_str()),
        Some("Microphone unavailable")
    );
    assert!(!m.state().session.active);
    assert_eq!(m.tray(), TrayState::Error);
    m.handle(Event::DismissError).expect("dismiss");
    assert!(m.state().error.is_none());
}

#[test]
fn startup_shortcut_error_survives_stage_changes() {
    let mut m = Machine::new(Settings::default(), false);
    m.handle(Event::ShortcutFailed(UiError::new(
        "Hold-to-talk shortcut unavailable",
        "taken",
        Some(ErrorAction::OpenSettings),
    )))
    .expect("failed");
    let fx = load_from_cache(&mut m, Ok(()));
    assert_eq!(m.state().stage, Stage::Ready);
    assert_eq!(
        m.state().error.as_ref().map(|e| e.title.as_str()),
        Some("Hold-to-talk shortcut unavailable")
    );
    // The notification says what is true: no shortcut.
    let Some(Effect::Notify { body, .. }) = fx.first() else {
        panic!()
    };
    assert!(body.contains("shortcut is unavailable"), "{body}");
    m.handle(Event::ShortcutRegistered("Ctrl+Shift+M".into()))
        .expect("registered");
    assert!(m.state().error.is_none());
    assert_eq!(m.state().hotkey, "Ctrl+Shift+M");
}

#[test]
fn a_dead_session_ends_with_its_reason_and_can_start_again() {
    let mut m = ready();
    let id = open_with(&mut m, Event::Key { pressed: true });
    m.handle(Event::SessionProgress {
        id,
        frames_heard: 12,
        key_to_model_ms: Some(95.0),
    })
    .expect("progress");
    assert_eq!(m.state().session.frames_heard, 12);
    m.handle(Event::SessionEnded {
        id,
        reason: Some(UiError::new(
            "The session stopped",
            "The microphone was unplugged.",
            Some(ErrorAction::StartSession),
        )),
    })
    .expect("ended");
    assert!(!m.state().session.active && !m.state().session.talking);
    assert_eq!(
        m.state().error.as_ref().map(|e| e.message.as_str()),
        Some("The microphone was unplugged.")
    );
    // A late report from the dead session changes nothing.
    m.handle(Event::SessionProgress {
        id,
        frames_heard: 99,
        key_to_model_ms: None,
    })
    .expect("late");
    assert_eq!(m.state().session.frames_heard, 12);
    // Start opens a new session (not silently nothing) and clears the session's error.
    let fx = m.handle(Event::StartSession).expect("start");
    let new_id = open_session_id(&fx).expect("a new session");
    assert!(
        fx.contains(&Effect::OpenSession {
            id: new_id,
            wait_for_talk: false
        }),
        "a conversation the person started runs the model at once: {fx:?}"
    );
    assert_ne!(new_id, id);
    assert!(m.state().error.is_none());
}

#[test]
fn load_error_is_the_error_stage_and_retry_runs_again() {
    let mut m = Machine::new(Settings::default(), false);
    let fx = load_from_cache(&mut m, Err(err("Loading Moshi failed")));
    assert_eq!(m.state().stage, Stage::Error);
    assert!(matches!(fx[..], [Effect::Notify { .. }]));
    let fx = m.handle(Event::Retry).expect("retry");
    assert!(matches!(fx[..], [Effect::ProbeCache { .. }]), "{fx:?}");
    assert!(m.state().error.is_none());
}

fn m_idle_generation(fx: &[Effect]) -> u64 {
    fx.iter()
        .find_map(|e| match e {
            Effect::ScheduleIdleClose { generation, .. } => Some(*generation),
            _ => None,
        })
        .unwrap_or(u64::MAX)
}

#[test]
fn popover_in_ready_opens_the_audio_ahead_and_the_press_lands_in_it() {
    let mut m = ready();
    let fx = m.handle(Event::Popover(true)).expect("shown");
    let id = open_session_id(&fx).expect("the popover in Ready opens the audio");
    assert!(
        fx.contains(&Effect::OpenSession {
            id,
            wait_for_talk: true
        }),
        "opened ahead of the press, the model must wait for the key: {fx:?}"
    );
    assert!(
        m.state().session.input_open,
        "input open while the popover is up"
    );
    assert!(
        !m.state().session.active,
        "not a conversation yet: Ready, not Live"
    );
    assert_eq!(m.tray(), TrayState::Ready);
    m.handle(Event::SessionOpened { id, result: Ok(()) })
        .expect("opened");
    // The press goes into the open session: no device opening on the press.
    let fx = m.handle(Event::Key { pressed: true }).expect("press");
    assert_eq!(fx, vec![Effect::SetGate(true)], "no second OpenSession");
    assert!(m.state().session.active && m.state().session.talking);
    // Hiding the popover while talking keeps the session.
    let fx = m.handle(Event::Popover(false)).expect("hidden");
    assert!(fx.is_empty(), "{fx:?}");
    assert!(m.state().session.input_open);
}

#[test]
fn popover_hidden_with_nobody_talking_closes_the_audio() {
    let mut m = ready();
    let id = open_with(&mut m, Event::Popover(true));
    let fx = m.handle(Event::Popover(false)).expect("hidden");
    assert_eq!(fx, vec![Effect::CloseSession], "no microphone while idle");
    assert!(!m.state().session.input_open && !m.state().session.active);
    // Shown again: opened again (a new session).
    let fx = m.handle(Event::Popover(true)).expect("shown again");
    assert!(open_session_id(&fx).is_some_and(|n| n != id), "{fx:?}");
    // The same visibility twice does nothing.
    assert!(m.handle(Event::Popover(true)).expect("again").is_empty());
}

#[test]
fn popover_before_ready_opens_the_audio_at_ready_and_never_in_hands_free() {
    let mut m = Machine::new(Settings::default(), false);
    assert!(m.handle(Event::Popover(true)).expect("shown").is_empty());
    let fx = load_from_cache(&mut m, Ok(()));
    assert!(
        open_session_id(&fx).is_some(),
        "ready with the popover up: {fx:?}"
    );
    assert!(!m.state().session.active);

    let mut hf = Machine::new(
        Settings {
            hands_free: true,
            ..Settings::default()
        },
        false,
    );
    load_from_cache(&mut hf, Ok(()));
    let fx = hf.handle(Event::Popover(true)).expect("shown");
    assert!(
        open_session_id(&fx).is_none(),
        "hands-free would send the microphone to the model: {fx:?}"
    );
}

#[test]
fn a_talked_session_closes_after_the_idle_delay_with_the_popover_hidden() {
    let mut m = ready();
    open_with(&mut m, Event::Talk(true));
    let fx = m.handle(Event::Talk(false)).expect("release");
    let generation = m_idle_generation(&fx);
    assert_ne!(generation, u64::MAX, "idle close scheduled: {fx:?}");
    // Moshi still answering: look again later, keep the session.
    m.handle(Event::Speaking(true)).expect("speaking");
    let fx = m
        .handle(Event::IdleCloseDue { generation })
        .expect("due while speaking");
    let again = m_idle_generation(&fx);
    assert_eq!(again, generation, "rescheduled: {fx:?}");
    assert!(m.state().session.input_open);
    m.handle(Event::Speaking(false)).expect("quiet");
    let fx = m
        .handle(Event::IdleCloseDue { generation: again })
        .expect("due");
    assert!(fx.contains(&Effect::CloseSession), "{fx:?}");
    assert!(!m.state().session.input_open && !m.state().session.active);

    // A model that never goes quiet does not keep the microphone open for ever.
    open_with(&mut m, Event::Talk(true));
    m.handle(Event::Speaking(true)).expect("speaking");
    let mut generation = m_idle_generation(&m.handle(Event::Talk(false)).expect("release"));
    let mut dues = 0;
    while m.state().session.input_open {
        dues += 1;
        assert!(dues <= 10, "never closed while speaking");
        let fx = m.handle(Event::IdleCloseDue { generation }).expect("due");
        generation = m_idle_generation(&fx);
    }
    assert_eq!(dues, 3, "two extensions, then closed");

    // A press before the delay cancels it; showing the popover too.
    open_with(&mut m, Event::Talk(true));
    let fx = m.handle(Event::Talk(false)).expect("release");
    let stale = m_idle_generation(&fx);
    m.handle(Event::Popover(true)).expect("shown");
    assert!(m
        .handle(Event::IdleCloseDue { generation: stale })
        .expect("stale")
        .is_empty());
    assert!(m.state().session.input_open, "kept while the popover is up");
    // Popover hidden after talking: the delay starts then.
    let fx = m.handle(Event::Popover(false)).expect("hidden");
    assert_ne!(m_idle_generation(&fx), u64::MAX, "{fx:?}");
    assert!(m.state().session.input_open);
}

#[test]
fn an_explicit_conversation_is_not_closed_by_the_idle_delay() {
    let mut m = ready();
    open_with(&mut m, Event::StartSession);
    m.handle(Event::Talk(true)).expect("talk");
    let fx = m.handle(Event::Talk(false)).expect("release");
    assert_eq!(m_idle_generation(&fx), u64::MAX, "{fx:?}");
    assert!(m.handle(Event::Popover(false)).expect("hidden").is_empty());
    assert!(m.state().session.active);
}

#[test]
fn delete_model_in_use_mid_download_stops_it_and_plans_again_paused() {
    let mut m = Machine::new(Settings::default(), false);
    let fx = to_plan(&mut m, BTreeSet::new());
    let (old_epoch, plan, _) = download_of(&fx).expect("download");
    let repo = plan.repo.clone();
    let fx = m
        .handle(Event::DeleteModel { repo: repo.clone() })
        .expect("delete");
    assert_eq!(fx[0], Effect::CancelDownload, "{fx:?}");
    let Some(Effect::DeleteModel {
        epoch,
        repo: r,
        in_use: true,
    }) = fx.last()
    else {
        panic!("{fx:?}")
    };
    assert_eq!(r, &repo);
    let epoch = *epoch;
    assert_ne!(epoch, old_epoch);
    assert!(!m.is_downloading());
    assert_eq!(m.state().stage, Stage::Planning);
    assert!(fx.contains(&Effect::RememberPaused(true)));
    // The cancelled download's late end is ignored.
    assert!(m
        .handle(Event::ModelFiles {
            epoch: old_epoch,
            result: Ok("/old".into()),
        })
        .expect("late")
        .is_empty());
    // Deleted: plan again (no detection: hardware is known), then a paused download.
    let fx = m
        .handle(Event::ModelDeleted {
            epoch,
            in_use: true,
            result: Ok(1000),
        })
        .expect("deleted");
    let [Effect::ProbeCache { epoch, .. }] = fx[..] else {
        panic!("{fx:?}")
    };
    let fx = m
        .handle(Event::CacheProbed {
            epoch,
            complete: BTreeSet::new(),
            disk_free: None,
        })
        .expect("probed");
    let (_, again, paused) = download_of(&fx).expect("planned download");
    assert_eq!(again.repo, repo);
    assert!(paused, "not fetched again behind the person's back");
    assert_eq!(m.state().stage, Stage::Downloading);
}

#[test]
fn delete_model_in_ready_closes_the_session_and_unloads_first() {
    let mut m = ready();
    open_with(&mut m, Event::Key { pressed: true });
    let repo = m.plan().expect("plan").repo.clone();
    let fx = m.handle(Event::DeleteModel { repo }).expect("delete");
    let close = fx.iter().position(|e| *e == Effect::CloseSession);
    let unload = fx.iter().position(|e| *e == Effect::Unload);
    let delete = fx
        .iter()
        .position(|e| matches!(e, Effect::DeleteModel { in_use: true, .. }));
    assert!(
        close.is_some() && unload.is_some() && close < delete && unload < delete,
        "{fx:?}"
    );
    assert!(!m.state().session.active && !m.state().session.input_open);
    assert_eq!(m.state().stage, Stage::Planning);
    assert!(m.state().model_dir.is_none());
    // The hotkey no longer talks to an unloaded model.
    assert!(m.handle(Event::Talk(true)).is_err(), "not ready");
}

#[test]
fn deleting_another_repo_neither_stops_nor_replans_and_a_failure_is_shown() {
    let mut m = ready();
    let fx = m
        .handle(Event::DeleteModel {
            repo: "kyutai/moshika-mlx-bf16".into(),
        })
        .expect("delete");
    let Some(Effect::DeleteModel { epoch, in_use, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert_eq!(fx.len(), 1, "{fx:?}");
    assert!(!in_use);
    assert_eq!(m.state().stage, Stage::Ready);
    let epoch = *epoch;
    let fx = m
        .handle(Event::ModelDeleted {
            epoch,
            in_use: false,
            result: Err(UiError::new("Could not delete the model", "busy", None)),
        })
        .expect("failed");
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(m.state().stage, Stage::Ready);
    assert_eq!(
        m.state().error.as_ref().map(|e| e.title.as_str()),
        Some("Could not delete the model")
    );
    m.handle(Event::DismissError).expect("dismiss");
    assert!(m.state().error.is_none());
}

#[test]
fn dismiss_clears_a_session_error_but_not_the_error_stage() {
    let mut m = Machine::new(Settings::default(), false);
    let epoch = plan_from_cache(&mut m);
    m.handle(Event::ModelFiles {
        epoch,
        result: Err(err("Cache unreadable")),
    })
    .expect("failed");
    m.handle(Event::DismissError).expect("dismiss");
    assert_eq!(m.state().stage, Stage::Error);
    assert!(m.state().error.is_some(), "the Error stage keeps its error");
}

// ---- The on-device speed test before the first plan ----

/// A speed test of this machine: q4 at `q4_ms` per frame, q8 and bf16 certainly too slow.
fn speed_report(q4_ms: f64) -> hardware::SpeedReport {
    let q = |quality, frame_ms, lower_bound| hardware::QualitySpeed {
        quality,
        frame_ms,
        per_layer_ms: frame_ms / 40.0,
        fixed_ms: frame_ms / 10.0,
        mimi_ms: 5.0,
        layers_timed: if lower_bound { vec![1] } else { vec![1, 2, 4] },
        full_layers: 32,
        lower_bound,
    };
    hardware::SpeedReport {
        machine: hardware::machine_id(&hw()),
        app_version: "test".into(),
        measured_at: 1,
        seconds: 12.5,
        qualities: vec![
            q(Quality::Bf16, 900.0, true),
            q(Quality::Q8, 300.0, true),
            q(Quality::Q4, q4_ms, false),
        ],
    }
}

/// Launch and detection with the speed test on; returns the `LookUpSpeed` effects.
fn to_speed_lookup(m: &mut Machine) -> Vec<Effect> {
    let fx = m.handle(Event::Launch).expect("launch");
    let Effect::Detect { epoch } = fx[0] else {
        panic!("{fx:?}")
    };
    m.handle(Event::Detected {
        epoch,
        result: Ok(hw()),
    })
    .expect("detected")
}

fn probe_epoch(fx: &[Effect]) -> Option<u64> {
    fx.iter().find_map(|e| match e {
        Effect::ProbeCache { epoch, .. } => Some(*epoch),
        _ => None,
    })
}

fn nothing_cached(m: &mut Machine, epoch: u64) -> Vec<Effect> {
    m.handle(Event::CacheProbed {
        epoch,
        complete: BTreeSet::new(),
        disk_free: Some(1 << 40),
    })
    .expect("probed")
}

#[test]
fn first_launch_measures_before_planning_and_plans_with_the_measurement() {
    let mut m = Machine::new(Settings::default(), false).with_speed_test();
    let fx = to_speed_lookup(&mut m);
    assert_eq!(
        fx,
        vec![Effect::LookUpSpeed {
            hardware: Box::new(hw())
        }],
        "the speed cache is read before anything is planned"
    );
    assert_eq!(m.state().stage, Stage::Detecting);
    let fx = m
        .handle(Event::SpeedLooked {
            cached: Ok(None),
            qualities: Quality::BEST_FIRST.to_vec(),
        })
        .expect("looked");
    assert_eq!(
        fx,
        vec![Effect::MeasureSpeed {
            hardware: Box::new(hw())
        }]
    );
    assert_eq!(m.state().stage, Stage::Measuring);
    let st = m.state().speed_test.clone().expect("speed test state");
    assert!(st.running && !st.cached);
    assert_eq!(st.qualities.len(), 3);
    // Keys and Start wait for Ready, as in any stage before it.
    assert!(m.handle(Event::StartSession).is_err());
    m.handle(Event::SpeedProgress(SpeedProgress {
        fraction: 0.6,
        quality: Some(Quality::Q8),
        line: "q8: 1 layers: 300.0 ms per step".into(),
    }))
    .expect("progress");
    let st = m.state().speed_test.clone().expect("speed test state");
    assert_eq!(st.fraction, 0.6);
    assert_eq!(st.qualities[0].status, SpeedTestStatus::Done);
    assert_eq!(st.qualities[1].status, SpeedTestStatus::Measuring);
    assert_eq!(m.state().stage, Stage::Measuring);

    let report = speed_report(2300.0);
    let fx = m
        .handle(Event::SpeedMeasured {
            result: Ok(report.clone()),
        })
        .expect("measured");
    assert_eq!(fx[0], Effect::StoreSpeed(Box::new(report)), "{fx:?}");
    let epoch = probe_epoch(&fx).expect("then the cache probe");
    assert_eq!(m.state().stage, Stage::Planning);
    let st = m.state().speed_test.clone().expect("speed test state");
    assert!(!st.running);
    assert_eq!(st.qualities[2].frame_ms, Some(2300.0));
    assert_eq!(st.qualities[2].real_time, Some(false));

    let fx = nothing_cached(&mut m, epoch);
    let (_, plan, _) = download_of(&fx).expect("the download starts after the measurement");
    assert_eq!(plan.quality, Quality::Q4);
    assert_eq!(plan.measured_frame_ms, Some(2300.0));
    assert!(
        !plan.real_time,
        "the measurement decides: 2.3 s is not real time"
    );
    assert!(
        plan.reason.contains("measured 2.3 s per frame at q4"),
        "{}",
        plan.reason
    );
    assert_eq!(m.state().stage, Stage::Downloading);
}

#[test]
fn a_stored_speed_test_is_used_without_measuring() {
    let mut m = Machine::new(Settings::default(), false).with_speed_test();
    to_speed_lookup(&mut m);
    let fx = m
        .handle(Event::SpeedLooked {
            cached: Ok(Some(speed_report(50.0))),
            qualities: Quality::BEST_FIRST.to_vec(),
        })
        .expect("looked");
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::MeasureSpeed { .. } | Effect::StoreSpeed(_))),
        "{fx:?}"
    );
    assert_ne!(m.state().stage, Stage::Measuring);
    let st = m.state().speed_test.clone().expect("speed test state");
    assert!(st.cached && !st.running);
    let epoch = probe_epoch(&fx).expect("straight to the cache probe");
    let fx = nothing_cached(&mut m, epoch);
    let (_, plan, _) = download_of(&fx).expect("download");
    assert_eq!(plan.measured_frame_ms, Some(50.0));
    assert!(plan.real_time);
    assert!(
        plan.reason
            .contains("measured 50 ms per frame at q4 — real time"),
        "{}",
        plan.reason
    );
    // A re-plan (Retry) neither reads the cache nor measures again.
    let fx = m.handle(Event::Retry).expect("retry");
    assert!(probe_epoch(&fx).is_some(), "{fx:?}");
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::LookUpSpeed { .. } | Effect::MeasureSpeed { .. })),
        "{fx:?}"
    );
}

#[test]
fn a_failed_speed_test_plans_with_the_bandwidth_estimate_and_never_blocks_the_download() {
    let mut m = Machine::new(Settings::default(), false).with_speed_test();
    to_speed_lookup(&mut m);
    // An unreadable cache is measured again (the new result replaces it).
    let fx = m
        .handle(Event::SpeedLooked {
            cached: Err("speedtest.json: not a speed cache".into()),
            qualities: Quality::BEST_FIRST.to_vec(),
        })
        .expect("looked");
    assert!(matches!(fx[..], [Effect::MeasureSpeed { .. }]), "{fx:?}");
    let fx = m
        .handle(Event::SpeedMeasured {
            result: Err(UiError::new("Speed test failed", "out of memory", None)),
        })
        .expect("failed");
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::StoreSpeed(_))),
        "{fx:?}"
    );
    let epoch = probe_epoch(&fx).expect("planning goes on");
    let fx = nothing_cached(&mut m, epoch);
    let (_, plan, _) = download_of(&fx).expect("the download is not blocked");
    let bandwidth_only = hardware::plan(&hw(), &hardware::PlanOptions::default());
    assert_eq!(plan.quality, bandwidth_only.quality);
    assert_eq!(plan.measured_frame_ms, None);
    assert!(
        plan.reason.starts_with(&bandwidth_only.reason)
            && plan.reason.contains(
                "The speed test failed (out of memory), so this plan uses the bandwidth estimate."
            ),
        "{}",
        plan.reason
    );
    assert!(
        m.state().error.is_none(),
        "a failed speed test is no error banner"
    );
    let st = m.state().speed_test.clone().expect("speed test state");
    assert_eq!(st.error.as_deref(), Some("out of memory"));
    assert!(!st.running);
}

#[test]
fn quit_while_measuring_cancels_the_speed_test() {
    let mut m = Machine::new(Settings::default(), false).with_speed_test();
    to_speed_lookup(&mut m);
    m.handle(Event::SpeedLooked {
        cached: Ok(None),
        qualities: vec![Quality::Q4],
    })
    .expect("looked");
    let fx = m.handle(Event::Quit).expect("quit");
    assert_eq!(fx, vec![Effect::CancelSpeedTest, Effect::Exit]);
}

#[test]
fn a_settings_change_while_measuring_waits_for_the_one_measurement() {
    let mut m = Machine::new(Settings::default(), false).with_speed_test();
    to_speed_lookup(&mut m);
    m.handle(Event::SpeedLooked {
        cached: Ok(None),
        qualities: Quality::BEST_FIRST.to_vec(),
    })
    .expect("looked");
    let moshika = Settings {
        voice: Voice::Moshika,
        ..Settings::default()
    };
    let fx = m.handle(Event::SettingsApplied(moshika)).expect("applied");
    assert!(
        !fx.iter().any(|e| matches!(
            e,
            Effect::LookUpSpeed { .. } | Effect::MeasureSpeed { .. } | Effect::ProbeCache { .. }
        )),
        "{fx:?}"
    );
    assert_eq!(m.state().stage, Stage::Measuring);
    let fx = m
        .handle(Event::SpeedMeasured {
            result: Ok(speed_report(50.0)),
        })
        .expect("measured");
    let probes = fx
        .iter()
        .filter(|e| matches!(e, Effect::ProbeCache { .. }))
        .count();
    assert_eq!(probes, 1, "{fx:?}");
    let fx = nothing_cached(&mut m, probe_epoch(&fx).expect("probe"));
    let (_, plan, _) = download_of(&fx).expect("download");
    assert_eq!(plan.repo, "kyutai/moshika-mlx-q4");
    assert_eq!(plan.measured_frame_ms, Some(50.0));
}

#[test]
fn without_the_speed_test_the_flow_plans_at_once() {
    let mut m = Machine::new(Settings::default(), false);
    let fx = to_speed_lookup(&mut m);
    assert!(matches!(fx[..], [Effect::ProbeCache { .. }]), "{fx:?}");
    assert!(m.state().speed_test.is_none());
}

// ---- The core with fake services ----

#[derive(Default)]
struct Fakes {
    log: Mutex<Vec<String>>,
    cached: Mutex<BTreeSet<Quality>>,
    taken_shortcuts: Mutex<Vec<String>>,
    registered: Mutex<Option<String>>,
    states: Mutex<Vec<AppState>>,
    download_never_ends: bool,
    /// The speed cache.
    speed_stored: Mutex<Option<hardware::SpeedReport>>,
    /// The speed test fails with this message.
    speed_fails: Option<String>,
}

impl Fakes {
    fn note(&self, s: impl Into<String>) {
        self.log.lock().expect("log").push(s.into());
    }
    fn count(&self, prefix: &str) -> usize {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
    /// The stages of every state published so far, in order.
    fn stages(&self) -> Vec<Stage> {
        self.states
            .lock()
            .expect("s")
            .iter()
            .map(|s| s.stage)
            .collect()
    }
    fn services(self: &Arc<Self>) -> Services {
        Services {
            shell: self.clone(),
            clock: Arc::new(TokioClock),
            detector: self.clone(),
            hub: self.clone(),
            speed: self.clone(),
            engine: self.clone(),
            audio: self.clone(),
            store: self.clone(),
        }
    }
}

impl Shell for Fakes {
    fn publish(&self, state: &AppState, _tray: TrayState) {
        self.states.lock().expect("states").push(state.clone());
    }
    fn notify(&self, title: &str, _body: &str) {
        self.note(format!("notify {title}"));
    }
    fn register_shortcut(&self, accelerator: &str) -> Result<(), String> {
        if self
            .taken_shortcuts
            .lock()
            .expect("taken")
            .iter()
            .any(|t| t == accelerator)
        {
            return Err(format!("{accelerator} is taken."));
        }
        *self.registered.lock().expect("reg") = Some(accelerator.to_owned());
        Ok(())
    }
    fn set_launch_at_login(&self, _on: bool) -> Result<(), String> {
        Ok(())
    }
    fn exit(&self) {
        self.note("exit");
    }
}

impl Detector for Fakes {
    fn detect(&self) -> BoxFuture<Result<hardware::Hardware, UiError>> {
        Box::pin(async { Ok(hw()) })
    }
}

struct FakeControl(Arc<Mutex<Vec<String>>>);
impl DownloadControl for FakeControl {
    fn pause(&self, paused: bool) {
        self.0.lock().expect("log").push(format!("pause {paused}"));
    }
    fn cancel(&self) {
        self.0.lock().expect("log").push("cancel".into());
    }
}

impl Hub for Fakes {
    fn complete(&self, _settings: &Settings, _c: &[Candidate]) -> BTreeSet<Quality> {
        self.cached.lock().expect("cached").clone()
    }
    fn disk_free(&self, _settings: &Settings) -> Option<u64> {
        Some(1 << 40)
    }
    fn cached_snapshot(&self, _s: &Settings, plan: &Plan) -> Result<PathBuf, UiError> {
        self.note(format!("cache {}", plan.repo));
        Ok(PathBuf::from("/cache/snapshot"))
    }
    fn delete(&self, _s: &Settings, repo: &str) -> Result<u64, UiError> {
        self.note(format!("delete {repo}"));
        Ok(4096)
    }
    fn download(
        &self,
        _s: &Settings,
        plan: &Plan,
        paused: bool,
        report: StageReport,
    ) -> Result<Download, UiError> {
        self.note(format!("download {} paused={paused}", plan.repo));
        let never = self.download_never_ends;
        let log = Arc::new(Mutex::new(Vec::new()));
        Ok(Download {
            control: Box::new(FakeControl(log)),
            done: Box::pin(async move {
                report.stage(Stage::Verifying);
                if never {
                    std::future::pending::<()>().await;
                }
                Ok(PathBuf::from("/cache/downloaded"))
            }),
        })
    }
}

impl SpeedTest for Fakes {
    fn qualities(&self) -> Vec<Quality> {
        Quality::BEST_FIRST.to_vec()
    }
    fn cached(&self, _hw: &hardware::Hardware) -> Result<Option<hardware::SpeedReport>, String> {
        self.note("speed cached?");
        Ok(self.speed_stored.lock().expect("speed").clone())
    }
    fn measure(
        &self,
        _hw: &hardware::Hardware,
        report: SpeedTestReporter,
    ) -> BoxFuture<Result<hardware::SpeedReport, UiError>> {
        self.note("measure");
        let fails = self.speed_fails.clone();
        Box::pin(async move {
            for (i, q) in Quality::BEST_FIRST.into_iter().enumerate() {
                report.progress(SpeedProgress {
                    fraction: (i + 1) as f64 / 3.0,
                    quality: Some(q),
                    line: format!("{q}: 1 layers"),
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            match fails {
                Some(why) => Err(UiError::new("Speed test failed", why, None)),
                None => Ok(speed_report(50.0)),
            }
        })
    }
    fn store(&self, report: &hardware::SpeedReport) -> Result<(), String> {
        self.note("speed store");
        *self.speed_stored.lock().expect("speed") = Some(report.clone());
        Ok(())
    }
    fn cancel(&self) {
        self.note("speed cancel");
    }
}

impl Engine for Fakes {
    fn load(&self, dir: PathBuf, _plan: Plan) -> BoxFuture<Result<(), UiError>> {
        self.note(format!("load {}", dir.display()));
        Box::pin(async { Ok(()) })
    }
    fn unload(&self) -> BoxFuture<()> {
        self.note("unload");
        Box::pin(async {})
    }
}

impl Audio for Fakes {
    fn open(
        &self,
        _s: &Settings,
        wait_for_talk: bool,
        report: SessionReport,
    ) -> BoxFuture<Result<(), UiError>> {
        self.note(if wait_for_talk {
            "open waiting"
        } else {
            "open"
        });
        Box::pin(async move {
            report.progress(3, Some(42.0));
            Ok(())
        })
    }
    fn close(&self) -> BoxFuture<()> {
        self.note("close");
        Box::pin(async {})
    }
    fn set_gate(&self, talking: bool) {
        self.note(format!("gate {talking}"));
    }
    fn set_hands_free(&self, _on: bool) {}
}

impl Store for Fakes {
    fn save_settings(&self, s: &Settings) -> Result<(), String> {
        self.note(format!("save {}", s.hotkey));
        Ok(())
    }
    fn remember_paused(&self, paused: bool) {
        self.note(format!("remember paused={paused}"));
    }
}

async fn until(core: &Core, what: &str, f: impl Fn(&AppState) -> bool) -> AppState {
    for _ in 0..200 {
        let s = core.state();
        if f(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: state is {:?}", core.state());
}

#[tokio::test]
async fn core_offline_launch_reaches_ready_from_the_cache_without_downloading() {
    let fakes = Arc::new(Fakes::default());
    *fakes.cached.lock().expect("cached") = all_cached();
    let core = Core::start(Machine::new(Settings::default(), false), fakes.services());
    let s = until(&core, "ready", |s| s.stage == Stage::Ready).await;
    assert_eq!(s.model_dir.as_deref(), Some("/cache/snapshot"));
    assert_eq!(fakes.count("download"), 0, "{:?}", fakes.log.lock());
    assert_eq!(fakes.count("cache "), 1);
    assert_eq!(fakes.count("load /cache/snapshot"), 1);
    assert_eq!(fakes.count("notify Moshi is ready"), 1);
    let stages = fakes.stages();
    assert!(!stages.contains(&Stage::Downloading), "{stages:?}");
}

#[tokio::test]
async fn core_download_then_hotkey_talks_without_start() {
    let fakes = Arc::new(Fakes::default());
    let core = Core::start(Machine::new(Settings::default(), true), fakes.services());
    until(&core, "ready", |s| s.stage == Stage::Ready).await;
    assert_eq!(fakes.count("download "), 1);
    assert_eq!(
        fakes.count("download kyutai/moshiko-mlx-q4 paused=true"),
        1,
        "{:?}",
        fakes.log.lock()
    );
    assert_eq!(
        fakes.count("remember paused=false"),
        1,
        "ready forgets the pause"
    );
    let stages = fakes.stages();
    assert!(stages.contains(&Stage::Downloading), "{stages:?}");

    core.event(Event::Key { pressed: true });
    let s = until(&core, "talking, frames heard", |s| {
        s.session.talking && s.session.frames_heard == 3
    })
    .await;
    assert!(s.session.active);
    assert_eq!(s.session.key_to_model_ms, Some(42.0));
    assert_eq!(fakes.count("open"), 1);
    assert_eq!(fakes.count("gate true"), 1);
    core.event(Event::Key { pressed: false });
    let s = until(&core, "released", |s| !s.session.talking).await;
    assert!(s.session.active, "the session stays open between presses");
    assert_eq!(fakes.count("gate false"), 1);

    core.command(Event::Quit).await.expect("quit");
    for _ in 0..100 {
        if fakes.count("exit") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fakes.count("close"), 1);
    assert_eq!(fakes.count("unload"), 1);
    assert_eq!(fakes.count("exit"), 1);
}

#[tokio::test]
async fn core_failed_shortcut_change_keeps_the_old_one() {
    let fakes = Arc::new(Fakes::default());
    fakes
        .taken_shortcuts
        .lock()
        .expect("t")
        .push("Ctrl+Shift+T".into());
    let core = Core::start(Machine::new(Settings::default(), false), fakes.services());
    let taken = Settings {
        hotkey: "Ctrl+Shift+T".into(),
        ..Settings::default()
    };
    let e = core.save_settings(taken).await.expect_err("taken");
    assert!(e.message.contains("stays Alt+Space"), "{e}");
    assert_eq!(core.settings().hotkey, "Alt+Space");
    assert_eq!(core.state().hotkey, "Alt+Space");
    assert_eq!(fakes.count("save"), 0, "nothing persisted");

    let bare = Settings {
        hotkey: "Space".into(),
        ..Settings::default()
    };
    let e = core.save_settings(bare).await.expect_err("no modifier");
    assert!(e.message.contains("modifier"), "{e}");

    let good = Settings {
        hotkey: "Ctrl+Shift+M".into(),
        ..Settings::default()
    };
    let saved = core.save_settings(good).await.expect("saved");
    assert_eq!(saved.hotkey, "Ctrl+Shift+M");
    assert_eq!(core.state().hotkey, "Ctrl+Shift+M");
    assert_eq!(
        fakes.registered.lock().expect("r").as_deref(),
        Some("Ctrl+Shift+M")
    );
}

#[tokio::test]
async fn core_quality_change_mid_download_cancels_and_restarts() {
    let fakes = Arc::new(Fakes {
        download_never_ends: true,
        ..Fakes::default()
    });
    let core = Core::start(Machine::new(Settings::default(), false), fakes.services());
    until(&core, "downloading", |s| s.stage == Stage::Verifying).await;
    let q8 = Settings {
        quality_override: QualityOverride::Q8,
        ..Settings::default()
    };
    let q = core.restart_question(q8.clone()).await.expect("question");
    assert!(q.contains("stops the download"), "{q}");
    core.save_settings(q8).await.expect("saved");
    for _ in 0..100 {
        if fakes.count("download ") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        fakes.count("download kyutai/moshiko-mlx-q8"),
        1,
        "{:?}",
        fakes.log.lock()
    );
    let plan = core.state().plan.expect("plan");
    assert_eq!(plan.quality, Quality::Q8);
}

#[tokio::test]
async fn core_delete_model_stops_everything_then_deletes_then_plans_again() {
    let fakes = Arc::new(Fakes {
        download_never_ends: true,
        ..Fakes::default()
    });
    *fakes.cached.lock().expect("cached") = all_cached();
    let core = Core::start(Machine::new(Settings::default(), false), fakes.services());
    until(&core, "ready", |s| s.stage == Stage::Ready).await;
    core.event(Event::Key { pressed: true });
    until(&core, "talking", |s| {
        s.session.talking && s.session.input_open
    })
    .await;
    core.event(Event::Key { pressed: false });
    until(&core, "released", |s| !s.session.talking).await;
    let repo = core.state().plan.expect("plan").repo;
    // The model is gone from the cache once deleted.
    fakes.cached.lock().expect("cached").clear();
    let freed = core.delete_model(repo.clone()).await.expect("deleted");
    assert_eq!(freed, 4096);
    let s = until(&core, "a paused download of the same repo", |s| {
        s.stage == Stage::Verifying && s.download_paused
    })
    .await;
    assert!(!s.session.active && !s.session.input_open);
    let log = fakes.log.lock().expect("log").clone();
    let at = |what: &str| {
        log.iter()
            .rposition(|l| l.starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} in {log:?}"))
    };
    let deleted = at(&format!("delete {repo}"));
    assert!(at("close") < deleted, "{log:?}");
    assert!(at("unload") < deleted, "{log:?}");
    assert!(
        at(&format!("download {repo} paused=true")) > deleted,
        "{log:?}"
    );
    assert_eq!(fakes.count("remember paused=true"), 1);
}

#[tokio::test]
async fn core_popover_opens_the_audio_and_closing_it_closes_the_audio() {
    let fakes = Arc::new(Fakes::default());
    *fakes.cached.lock().expect("cached") = all_cached();
    let core = Core::start(
        Machine::new(Settings::default(), false).with_idle_close(Duration::from_millis(50)),
        fakes.services(),
    );
    until(&core, "ready", |s| s.stage == Stage::Ready).await;
    assert_eq!(fakes.count("open"), 0, "no microphone before the popover");
    core.event(Event::Popover(true));
    until(&core, "input open", |s| {
        s.session.input_open && !s.session.active
    })
    .await;
    core.event(Event::Popover(false));
    until(&core, "input closed", |s| !s.session.input_open).await;
    assert_eq!(fakes.count("open"), 1);
    assert_eq!(
        fakes.count("open waiting"),
        1,
        "the popover's session waits for the key"
    );
    assert_eq!(fakes.count("close"), 1);
    // A cold press with the popover hidden: opened by the press, closed after the idle delay.
    core.event(Event::Key { pressed: true });
    until(&core, "talking", |s| s.session.talking && s.session.active).await;
    core.event(Event::Key { pressed: false });
    until(&core, "closed after the idle delay", |s| {
        !s.session.input_open && !s.session.active
    })
    .await;
    assert_eq!(fakes.count("open"), 2);
    assert_eq!(fakes.count("close"), 2);
}

#[tokio::test]
async fn core_first_launch_measures_then_downloads_and_the_relaunch_reuses_the_measurement() {
    let fakes = Arc::new(Fakes::default());
    let core = Core::start(
        Machine::new(Settings::default(), false).with_speed_test(),
        fakes.services(),
    );
    let s = until(&core, "ready", |s| s.stage == Stage::Ready).await;
    let plan = s.plan.expect("plan");
    assert!(
        plan.reason.contains("measured 50 ms per frame at q4"),
        "{}",
        plan.reason
    );
    let stages = fakes.stages();
    let first = |st: Stage| {
        stages
            .iter()
            .position(|&s| s == st)
            .unwrap_or_else(|| panic!("no {st:?} in {stages:?}"))
    };
    assert!(
        first(Stage::Measuring) < first(Stage::Downloading),
        "{stages:?}"
    );
    let measuring_at = first(Stage::Measuring);
    assert!(
        stages[measuring_at..].contains(&Stage::Planning),
        "plans after measuring: {stages:?}"
    );
    // Progress per quality reached the published state while measuring.
    let states = fakes.states.lock().expect("states").clone();
    assert!(
        states.iter().any(|s| s.stage == Stage::Measuring
            && s.speed_test
                .as_ref()
                .is_some_and(|t| t.running && t.qualities[1].status == SpeedTestStatus::Measuring)),
        "no per-quality progress while measuring"
    );
    assert_eq!(fakes.count("measure"), 1);
    for _ in 0..100 {
        if fakes.count("speed store") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fakes.count("speed store"), 1, "{:?}", fakes.log.lock());
    core.command(Event::Quit).await.expect("quit");

    // Relaunch: the stored measurement plans, nothing is measured.
    fakes.states.lock().expect("states").clear();
    let core = Core::start(
        Machine::new(Settings::default(), false).with_speed_test(),
        fakes.services(),
    );
    let s = until(&core, "ready again", |s| s.stage == Stage::Ready).await;
    assert_eq!(fakes.count("measure"), 1, "measured once in two launches");
    assert_eq!(fakes.count("speed cached?"), 2);
    assert!(
        !fakes.stages().contains(&Stage::Measuring),
        "{:?}",
        fakes.stages()
    );
    assert!(s.speed_test.expect("speed test").cached);
    assert!(s.plan.expect("plan").reason.contains("measured 50 ms"));
}

#[tokio::test]
async fn core_a_failed_speed_test_still_downloads_and_reaches_ready() {
    let fakes = Arc::new(Fakes {
        speed_fails: Some("the engine could not start".into()),
        ..Fakes::default()
    });
    let core = Core::start(
        Machine::new(Settings::default(), false).with_speed_test(),
        fakes.services(),
    );
    let s = until(&core, "ready", |s| s.stage == Stage::Ready).await;
    assert_eq!(fakes.count("download "), 1);
    assert_eq!(fakes.count("speed store"), 0);
    assert!(s
        .plan
        .expect("plan")
        .reason
        .contains("The speed test failed (the engine could not start)"),);
    assert!(s.error.is_none());
}
