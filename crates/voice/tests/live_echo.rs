//! Echo cancellation on real devices: a private PulseAudio daemon carries what the session plays
//! back into its microphone through two `module-loopback`s (a direct path and a quieter, later
//! reflection: a small room), while "Moshi" (a scripted model playing espeak-ng speech) talks and
//! a person (another espeak-ng voice, played into the microphone) talks alone and then over it.
//! Everything is measured from the session's own metrics events: micLevel (before the canceller)
//! against inputLevel (after), the echo delay estimate and the device accounting.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use voice::{FrameModel, Metrics, ModelError, ModelFrame, Session, SessionConfig, SessionEvent};

const DIR: &str = "/tmp/moshibar-pulse-echo";
const FRAME_S: f32 = 0.08;

/// Plays a fixed script of speech (ignores what it hears), like Moshi talking.
struct Script {
    pcm: Vec<f32>,
    frame: usize,
}

impl FrameModel for Script {
    fn warmup(&mut self) -> Result<(), ModelError> {
        Ok(())
    }
    fn reset(&mut self) {
        self.frame = 0;
    }
    fn process(&mut self, _pcm_in: &[f32]) -> Result<ModelFrame, ModelError> {
        let n = voice::FRAME_SAMPLES;
        let start = self.frame * n;
        self.frame += 1;
        let mut pcm = vec![0.0f32; n];
        if let Some(src) = self.pcm.get(start..(start + n).min(self.pcm.len())) {
            pcm[..src.len()].copy_from_slice(src);
        }
        Ok(ModelFrame {
            pcm,
            text: None,
            encode_ms: 0.0,
            lm_ms: 0.0,
            decode_ms: 0.0,
        })
    }
}

/// Loads a loopback from the speaker's monitor into the microphone feed, `ms` late, at `volume`
/// (a fraction of full scale, set on its sink input). Returns the module id.
fn loopback(ms: u32, volume: f32) -> String {
    let id = common::pactl(&[
        "load-module",
        "module-loopback",
        "source=moshibar_out.monitor",
        "sink=moshibar_mic",
        &format!("latency_msec={ms}"),
        "adjust_time=0",
        "source_dont_move=true",
        "sink_dont_move=true",
    ])
    .trim()
    .to_string();
    assert!(!id.is_empty(), "module-loopback did not load");
    // Its sink input: the one owned by this module.
    let list = common::pactl(&["list", "sink-inputs"]);
    let mut index = None;
    let mut current = None;
    for line in list.lines() {
        let l = line.trim();
        if let Some(i) = l.strip_prefix("Sink Input #") {
            current = Some(i.to_string());
        }
        if l == format!("Owner Module: {id}") {
            index = current.clone();
        }
    }
    let index = index.expect("the loopback's sink input");
    let pct = format!("{}", (volume * 65536.0) as u32);
    common::pactl(&["set-sink-input-volume", &index, &pct]);
    id
}

fn mean_db(metrics: &[Metrics], range: std::ops::Range<f32>, f: impl Fn(&Metrics) -> f32) -> f64 {
    // Metrics event k covers frames 3k..3k+2.
    let per = voice::METRICS_EVERY as f32 * FRAME_S;
    let sel: Vec<f64> = metrics
        .iter()
        .enumerate()
        .filter(|(k, _)| range.contains(&(*k as f32 * per)))
        .map(|(_, m)| f64::from(f(m)).powi(2))
        .collect();
    assert!(!sel.is_empty(), "no metrics in {range:?}");
    10.0 * (sel.iter().sum::<f64>() / sel.len() as f64)
        .max(1e-20)
        .log10()
}

/// ERLE of each metrics event (3 frames, 240 ms) whose start is in `range`, dB.
fn erle_per_event(metrics: &[Metrics], range: std::ops::Range<f32>) -> Vec<f64> {
    let per = voice::METRICS_EVERY as f32 * FRAME_S;
    metrics
        .iter()
        .enumerate()
        .filter(|(k, _)| range.contains(&(*k as f32 * per)))
        .map(|(_, m)| {
            20.0 * (f64::from(m.mic_level).max(1e-10) / f64::from(m.input_level).max(1e-10)).log10()
        })
        .collect()
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "no values");
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Attempts at most when the audio server fell behind real time and the echo path moved too
/// often to show a steady canceller (see [`Run::check`]).
const ATTEMPTS: usize = 3;
/// How far the speaker may fall behind the wall clock before the run counts as the audio
/// server falling behind, s. It starts after the devices open and its count moves a 40 ms
/// period at a time: 0.06-0.12 s behind in runs without a stall here; one stall of 50 ms or
/// more is past this, so a run judged by the stricter checks had none.
const KEPT_TIME_S: f64 = 0.13;
/// The echo must be cancelled by at least this much: over the whole echo stretch when the
/// speaker kept time, in most of its 240 ms windows (the median) when it did not, dB.
const MIN_ERLE_DB: f64 = 25.0;

/// What one attempt showed.
enum Verdict {
    /// Every check held.
    Passed,
    /// The audio server fell behind real time and the canceller was steady too seldom to
    /// judge it (median ERLE below [`MIN_ERLE_DB`]): run again.
    Unsteady(String),
}

type TestResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Moshi's script and the person's two clips (WAVs in `dir`).
fn signals(
    dir: &std::path::Path,
) -> TestResult<(Vec<f32>, std::path::PathBuf, std::path::PathBuf)> {
    let moshi = common::speech_24k(
        dir,
        "moshi",
        "en-us",
        "Hello, I am Moshi. I can listen and talk at the same time, which is why I must not \
         hear my own voice coming back from the speakers of your laptop. Tell me about your day, \
         and take your time.",
    );
    let person = common::speech_24k(
        dir,
        "person",
        "en+f4",
        "Well, this morning I went to the market and bought some apples, then I walked home.",
    );
    // Moshi: 1-9.5 s, then 14-18 s. The person: 10-13 s alone, 14-17.5 s over Moshi.
    let sec = |t: f32| (t * voice::SAMPLE_RATE as f32) as usize;
    let mut script = vec![0.0f32; sec(19.0)];
    common::place(&mut script, &moshi, 1.0, 8.5, 0.5);
    common::place(&mut script, &moshi[sec(2.0)..], 14.0, 4.0, 0.5);
    let p1 = dir.join("p1.wav");
    let p2 = dir.join("p2.wav");
    let mut a = vec![0.0f32; sec(3.0)];
    common::place(&mut a, &person, 0.0, 3.0, 0.3);
    voice::wav::write_mono_i16(&p1, &a, 24_000)?;
    let mut b = vec![0.0f32; sec(3.5)];
    common::place(&mut b, &person[sec(0.5)..], 0.0, 3.5, 0.3);
    voice::wav::write_mono_i16(&p2, &b, 24_000)?;
    Ok((script, p1, p2))
}

/// What one run measured.
struct Run {
    metrics: Vec<Metrics>,
    stats: std::sync::Arc<voice::SessionStats>,
}

/// One session over the loopback room: Moshi's script plays, the person talks at 10 s and 14 s.
fn run_once(script: &[f32], p1: &std::path::Path, p2: &std::path::Path) -> TestResult<Run> {
    // The reflection 30 ms after the direct path: AEC3's linear filter spans 13 blocks of
    // 4 ms (52 ms) from the delay it locks on.
    let direct = loopback(40, 0.85);
    let reflection = loopback(70, 0.55);

    let (session, events) = Session::start(
        Script {
            pcm: script.to_vec(),
            frame: 0,
        },
        SessionConfig {
            hands_free: true,
            // 40 ms device periods: with 20 ms ones this VM's PulseAudio daemon, woken from
            // idle, misses its timer and the speaker plays slow (played 17.5-18.0 s of 18.4 s in
            // 4 of 8 runs at load 1; 18.3 s in 3 of 3 with 40 ms).
            device_buffer_ms: Some(40),
            // MOSHIBAR_AEC_DUMP=DIR keeps what the canceller got (far/near/out.wav, clock.csv)
            // for `moshibar-voice aec` and `examples/echo_path.rs`.
            aec_dump: std::env::var_os("MOSHIBAR_AEC_DUMP").map(Into::into),
            ..Default::default()
        },
    )?;
    let frames = |s: &Session| s.stats().frames.load(Ordering::Relaxed) as f32 * FRAME_S;
    let wait_until = |s: &Session, t: f32| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while frames(s) < t {
            assert!(
                Instant::now() < deadline && s.is_running(),
                "frames stopped"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_until(&session, 10.0);
    let _p1 = common::MicFeed::start(p1);
    wait_until(&session, 14.0);
    let _p2 = common::MicFeed::start(p2);
    wait_until(&session, 18.5);
    let stats = session.stats().clone();
    session.stop()?;
    common::pactl(&["unload-module", &direct]);
    common::pactl(&["unload-module", &reflection]);
    let metrics: Vec<Metrics> = events
        .try_iter()
        .filter_map(|e| match e {
            SessionEvent::Metrics(m) => Some(m),
            _ => None,
        })
        .collect();
    Ok(Run { metrics, stats })
}

impl Run {
    fn last(&self) -> TestResult<&Metrics> {
        Ok(self.metrics.last().ok_or("no metrics")?)
    }

    /// Whether the speaker kept real time (the audio server did not fall behind).
    fn kept_time(&self) -> TestResult<bool> {
        let a = self.last()?.audio;
        Ok(a.wall_s - a.played_s < KEPT_TIME_S)
    }

    /// Prints the run's figures and checks them.
    ///
    /// When the speaker kept real time the echo path held still and the canceller must remove
    /// the echo over the whole stretch (mean power). When the audio server fell behind (its
    /// sink stopped taking the stream and went on later: this VM's PulseAudio, and the CI
    /// machine's, do it a few times a minute) every stall moves the echo against what the
    /// session knows was played, and the canceller re-converges for about a second after each
    /// (`pactl suspend-sink` for 150 ms every 3 s: ERLE per 0.5 s 60 dB, then 7-25 dB, then 60
    /// again); then it must still remove the echo in most windows (median), lose nothing of
    /// the person, and drop no more output than the speaker failed to take.
    fn check(&self, attempt: usize) -> TestResult<Verdict> {
        let (metrics, stats) = (&self.metrics, &self.stats);
        assert_eq!(stats.events_dropped.load(Ordering::Relaxed), 0);
        let last = self.last()?;
        let echo_in = mean_db(metrics, 4.0..9.5, |m| m.mic_level);
        let echo_out = mean_db(metrics, 4.0..9.5, |m| m.input_level);
        let erle = echo_in - echo_out;
        let windows = erle_per_event(metrics, 4.0..9.5);
        let steady = windows.iter().filter(|&&e| e >= MIN_ERLE_DB).count();
        let erle_median = median(windows.clone());
        let alone_in = mean_db(metrics, 10.4..12.8, |m| m.mic_level);
        let alone_out = mean_db(metrics, 10.4..12.8, |m| m.input_level);
        let dt_out = mean_db(metrics, 14.5..17.5, |m| m.input_level);
        let delay = last.echo_delay_ms;
        eprintln!(
            "live (attempt {attempt}): echo {echo_in:.1} dB -> {echo_out:.1} dB (ERLE {erle:.1} dB; \
             per 240 ms: median {erle_median:.1} dB, {steady} of {} windows >= {MIN_ERLE_DB} dB); \
             person alone {alone_in:.1} -> {alone_out:.1} dB; double talk out {dt_out:.1} dB; \
             delay {delay:?} ms; AEC3 ERLE {:?}; audio {:?}; far padded/trimmed {}/{}; speaker \
             silence {:.2} s, underruns {}, longest push gap {:.0} ms, late pushes {}, longest \
             step {:.0} ms (canceller mean {:.1} ms), model thread real-time {}, far correction \
             max {} ppm; load {}",
            windows.len(),
            last.erle_db,
            last.audio,
            stats.far_padded.load(Ordering::Relaxed),
            stats.far_trimmed.load(Ordering::Relaxed),
            stats.output_silence.load(Ordering::Relaxed) as f64 / 48_000.0,
            stats.underruns.load(Ordering::Relaxed),
            stats.push_gap_max_us.load(Ordering::Relaxed) as f64 / 1e3,
            stats.push_gaps_late.load(Ordering::Relaxed),
            stats.step_max_us.load(Ordering::Relaxed) as f64 / 1e3,
            stats.aec_ns.load(Ordering::Relaxed) as f64
                / 1e6
                / stats.frames.load(Ordering::Relaxed).max(1) as f64,
            stats.model_realtime.load(Ordering::Relaxed),
            stats.far_correction_max_ppm.load(Ordering::Relaxed),
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        );
        let kept_time = self.kept_time()?;
        assert_eq!(last.echo_canceller, voice::CancellerKind::WebrtcAec3);
        assert!(
            echo_in > -35.0,
            "no echo reached the microphone ({echo_in:.1} dB)"
        );
        if kept_time {
            assert!(erle >= MIN_ERLE_DB, "live ERLE {erle:.1} dB");
        } else if erle_median < MIN_ERLE_DB {
            return Ok(Verdict::Unsteady(format!(
                "the audio server fell behind real time (played {:.2} s in {:.2} s) and the echo \
                 was cancelled by >= {MIN_ERLE_DB} dB in only {steady} of {} windows (median \
                 {erle_median:.1} dB)",
                last.audio.played_s,
                last.audio.wall_s,
                windows.len()
            )));
        }
        assert!(
            (alone_out - alone_in).abs() <= 3.0,
            "the person's level changed by {:.1} dB",
            alone_out - alone_in
        );
        assert!(
            dt_out > alone_in - 10.0,
            "the person was not audible in double talk: {dt_out:.1} dB (alone {alone_in:.1})"
        );
        if kept_time {
            assert!(
                dt_out > echo_out + 10.0,
                "double talk {dt_out:.1} dB is not above the residual echo {echo_out:.1} dB"
            );
        }
        // The delay through the loopback (40 ms asked) plus the devices' buffering.
        let delay = delay.ok_or("no delay estimate")?;
        assert!((20.0..400.0).contains(&delay), "delay estimate {delay} ms");
        // Honest accounting: the output queue drops only what the speaker did not take (none
        // when it kept time), beyond a frame or two.
        let a = last.audio;
        let behind_ms = (a.wall_s - a.played_s).max(0.0) * 1e3;
        let may_drop = if kept_time { 200.0 } else { behind_ms + 200.0 };
        assert!(
            a.output_dropped_ms < may_drop,
            "output dropped {:.0} ms, the speaker {behind_ms:.0} ms behind: {a:?}",
            a.output_dropped_ms
        );
        assert_eq!(a.stream_errors, 0, "stream errors: {a:?}");
        // The far end kept its alignment: never stretched (same clocks), never padded by more
        // than the speaker's start.
        assert_eq!(stats.far_correction_max_ppm.load(Ordering::Relaxed), 0);
        if !kept_time {
            eprintln!(
                "attempt {attempt}: the audio server fell behind real time (played {:.2} s in \
                 {:.2} s); the canceller was steady in {steady} of {} windows",
                a.played_s,
                a.wall_s,
                windows.len()
            );
        }
        Ok(Verdict::Passed)
    }
}

/// Echo cancelled live. Whether PulseAudio itself kept real time (the speaker played at least
/// wall − [`KEPT_TIME_S`]) decides which checks apply ([`Run::check`]); the session's own
/// counters are what tell. A run in which it fell behind so often that the canceller was
/// seldom steady is printed and run again, at most [`ATTEMPTS`] times in all.
#[test]
fn live_loopback_echo_is_cancelled_and_the_person_kept() -> TestResult<()> {
    common::start_pulse(Some(DIR));
    // The native PulseAudio host: ALSA's pulse plugin falls into loops of I/O errors under load
    // (see the README), which this test's accounting assertions would catch.
    std::env::set_var("MOSHIBAR_AUDIO_HOST", "pulseaudio");
    let dir = tempfile::tempdir()?;
    let (script, p1, p2) = signals(dir.path())?;
    let mut why = String::new();
    for attempt in 1..=ATTEMPTS {
        let run = run_once(&script, &p1, &p2)?;
        match run.check(attempt)? {
            Verdict::Passed => return Ok(()),
            Verdict::Unsteady(w) => {
                eprintln!("attempt {attempt}: {w}: run again");
                why = w;
            }
        }
    }
    Err(format!("in all {ATTEMPTS} attempts: {why}").into())
}
