//! The live session: opens the devices, runs the model on its own thread, gates the mic with
//! push-to-talk, streams transcript and metrics events, drops input frames when the model falls
//! behind, and reopens devices that fail or disappear.
//!
//! Data path: input callback → ring → (model thread) resample to 24 kHz → 1920-sample frames →
//! gate → model → resample to the output rate → ring → output callback.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::aec::{AecRecording, CancellerKind, DelayEstimator, EchoCanceller, FarEnd};
use crate::capture_clock::{capture_clock, CaptureClock};
pub use crate::config::SessionConfig;
use crate::devices::{self, Direction, OpenStream};
use crate::drift::{self, DriftCompensator, FarEndClock};
use crate::error::VoiceError;
pub use crate::events::SessionEvent;
use crate::frame_loop::{FrameLoop, LiveFigures};
use crate::gate::{Gate, PreRoll};
use crate::metrics::AudioHealth;
use crate::model::{FrameModel, ModelError};
use crate::resample::{AdaptiveResampler, StreamResampler};
use crate::ring::{self, AudioCounters, Capture, Playback};
use crate::route::{plan_route, RoutePlan};
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Far-end samples (24 kHz) allowed to wait beyond the frame being cancelled: 100 ms. The
/// backlog grows and shrinks with the audio server's write-ahead (tens of ms) without the far
/// end moving against its echo, so only a backlog beyond any buffering is trimmed (a trim is a
/// jump the canceller must re-converge from).
const FAR_BACKLOG: usize = SAMPLE_RATE as usize / 10;

/// Counters a caller (tests, the benchmark, the app's diagnostics) can read at any time.
#[derive(Debug, Default)]
pub struct SessionStats {
    /// Frames the model has processed.
    pub frames: AtomicU64,
    /// Input frames dropped because the model fell behind.
    pub frames_dropped: AtomicU64,
    /// Output samples dropped because the speaker fell behind (queue over two frames).
    pub output_overflow: AtomicU64,
    /// Output underruns since the first output frame (summed over reopened devices).
    pub underruns: AtomicU64,
    /// Mic samples dropped because the input ring was full.
    pub capture_overflow: AtomicU64,
    /// Devices reopened after a loss.
    pub reopens: AtomicU64,
    /// Latest latency estimate, microseconds (0 = none yet).
    pub latency_us: AtomicU64,
    /// Events dropped because the receiver did not keep up.
    pub events_dropped: AtomicU64,
    /// Non-fatal stream xruns (input + output, summed over reopened devices).
    pub xruns: AtomicU64,
    /// Other non-fatal stream errors.
    pub stream_errors: AtomicU64,
    /// Far-end samples (24 kHz) the canceller got as silence because the speaker had not
    /// played them yet, and far-end samples trimmed because they piled up (delay jumps).
    pub far_padded: AtomicU64,
    /// See `far_padded`.
    pub far_trimmed: AtomicU64,
    /// Time spent in the echo canceller (and delay estimator), nanoseconds, over `frames`.
    pub aec_ns: AtomicU64,
    /// Silence the output callback wrote because the model's output was not queued in time
    /// (prebuffering and underruns), samples at the output rate, summed over reopened devices.
    /// Together with `AudioHealth::played_s` this tells who lost time when the speaker falls
    /// behind the wall clock: silence = the model thread was late; neither = the audio client
    /// or server did not call for data.
    pub output_silence: AtomicU64,
    /// The longest gap between two frames queued for the speaker, microseconds (a frame is
    /// 80 ms; more than 80 ms plus the prebuffer empties the queue).
    pub push_gap_max_us: AtomicU64,
    /// Frames queued more than 40 ms later than 80 ms after the previous one.
    pub push_gaps_late: AtomicU64,
    /// The longest model step (`FrameModel::process` and the canceller), microseconds.
    pub step_max_us: AtomicU64,
    /// Whether the model thread runs at real-time priority
    /// (`realtime::promote_model_thread`; only with the PulseAudio host on Linux).
    pub model_realtime: AtomicBool,
    /// The largest correction the far end's resampler applied, |ppm|.
    pub far_correction_max_ppm: AtomicU64,
    /// The latest figures sent with the metrics events (canceller, delay, device accounting).
    pub live: parking_lot::Mutex<LiveFigures>,
}

impl SessionStats {
    /// The latest live figures (canceller, delay estimate, device accounting).
    pub fn live(&self) -> LiveFigures {
        *self.live.lock()
    }
}

/// A running voice session. Dropping it stops it.
pub struct Session {
    gate: Arc<Gate>,
    stop: Arc<AtomicBool>,
    stats: Arc<SessionStats>,
    thread: Option<JoinHandle<Option<Box<dyn FrameModel>>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("talking", &self.gate.is_open())
            .finish()
    }
}

impl Session {
    /// Warms the model up, opens the devices and starts the model thread. Returns once frames
    /// are flowing (or with the error that prevented it), with the receiver of the session's
    /// events.
    pub fn start<M: FrameModel + 'static>(
        model: M,
        config: SessionConfig,
    ) -> Result<(Session, Receiver<SessionEvent>), VoiceError> {
        let model: Box<dyn FrameModel> = Box::new(model);
        Self::start_with(move || Ok(model), config)
    }

    /// Like [`Session::start`], but the model is created by `load` on the model thread itself.
    /// Needed for MLX models, whose arrays and streams belong to the thread that made them
    /// (running a `engine::Moshi` loaded on another thread fails with "no Stream(cpu, 0) in
    /// current thread").
    pub fn start_with<L>(
        load: L,
        config: SessionConfig,
    ) -> Result<(Session, Receiver<SessionEvent>), VoiceError>
    where
        L: FnOnce() -> Result<Box<dyn FrameModel>, ModelError> + Send + 'static,
    {
        let (tx, rx) = crossbeam_channel::bounded(config.event_capacity.max(8));
        let gate = Arc::new(Gate::with_pre_roll(
            config.hands_free,
            Duration::from_millis(u64::from(config.pre_roll_ms)),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(SessionStats::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let worker = Worker {
            config,
            gate: gate.clone(),
            stop: stop.clone(),
            stats: stats.clone(),
            events: tx,
        };
        let thread = std::thread::Builder::new()
            .name("moshibar-model".into())
            .spawn(move || match load() {
                Ok(model) => Some(worker.run(model, ready_tx)),
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    None
                }
            })
            .map_err(|e| VoiceError::Thread(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((
                Session {
                    gate,
                    stop,
                    stats,
                    thread: Some(thread),
                },
                rx,
            )),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(VoiceError::Thread("model thread ended during start".into()))
            }
        }
    }

    /// Push-to-talk key down (`true`) or up (`false`), now: the microphone samples captured
    /// from now on (and, at a key-down, the pre-roll before it) follow it.
    pub fn set_talking(&self, talking: bool) {
        self.gate.set_talking(talking);
    }

    /// Push-to-talk key down or up at `at`, e.g. the instant the hotkey event was received,
    /// so the time the app took to call this does not cost the person's first syllable.
    pub fn set_talking_at(&self, talking: bool, at: Instant) {
        self.gate.set_talking_at(talking, at);
    }

    /// Switches hands-free mode on or off while running.
    pub fn set_hands_free(&self, on: bool) {
        self.gate.set_hands_free(on);
    }

    /// Whether mic frames reach the model now.
    pub fn is_talking(&self) -> bool {
        self.gate.is_open()
    }

    /// The gate, e.g. to read [`Gate::frames_submitted`].
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Live counters of the session.
    pub fn stats(&self) -> &Arc<SessionStats> {
        &self.stats
    }

    /// Whether the model thread is still running (it ends on an unrecoverable error).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the session, closes the devices and hands the model back (reset), so the next
    /// session does not have to load it again.
    pub fn stop(mut self) -> Result<Box<dyn FrameModel>, VoiceError> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| VoiceError::Thread("model thread panicked".into()))?
                .ok_or_else(|| VoiceError::Thread("the model was never loaded".into())),
            None => Err(VoiceError::Thread("session already stopped".into())),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        stop_and_join(&self.stop, &mut self.thread);
    }
}

/// Raises `stop` and waits for `thread` if it still runs: how a session's model thread and a
/// device period's watcher end when they are dropped (a panic there is already reported).
fn stop_and_join<T>(stop: &AtomicBool, thread: &mut Option<JoinHandle<T>>) {
    stop.store(true, Ordering::SeqCst);
    if let Some(t) = thread.take() {
        let _ = t.join();
    }
}

/// The devices of one open period (replaced wholesale on a reopen).
struct Io {
    /// The host's callbacks run at normal priority, so they (and the model thread) ask for
    /// real-time scheduling ([`devices::callbacks_need_realtime`]).
    realtime: bool,
    input: OpenStream,
    output: OpenStream,
    in_cons: rtrb::Consumer<f32>,
    /// Mono device-rate samples pulled from `in_cons` so far (the index the capture clock
    /// knows them by).
    consumed: u64,
    /// When each mic sample was captured.
    clock: CaptureClock,
    out_prod: rtrb::Producer<f32>,
    /// The input resampler (device rate → 24 kHz); called in `pull_input` only.
    in_rs: StreamResampler,
    /// The output resampler (24 kHz → device rate), its ratio following the speaker's clock
    /// ([`crate::drift`]); called in `Worker::push_output` only.
    out_rs: DriftCompensator,
    /// What the output callback played, for the canceller's far end.
    tap_cons: rtrb::Consumer<f32>,
    /// Speaker rate → 24 kHz on the microphone's clock, steered by `far_clock`.
    tap_rs: AdaptiveResampler,
    /// Holds the far end's backlog (its alignment with the echo) where it settled.
    far_clock: FarEndClock,
    /// When `far_clock` last observed.
    far_observed: Option<Instant>,
    opened: Instant,
    /// What the route means for echo (canceller, notice).
    route: RoutePlan,
    /// The system cancels the echo (macOS voice-processing unit): no software canceller.
    system_aec: bool,
    counters: Arc<AudioCounters>,
    watch_stop: Arc<AtomicBool>,
    watch_lost: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
}

impl Io {
    /// When the first of the `acc_len` 24 kHz samples waiting for the model was captured: the
    /// last of them is the input resampler's output for the device samples pulled so far
    /// (minus those it still holds), `delay()` later.
    fn acc_start_captured(&mut self, acc_len: usize) -> Option<Instant> {
        let last_in = self.consumed.saturating_sub(self.in_rs.pending() as u64);
        let end = self.clock.time_of(last_in)?;
        let back = (acc_len + self.in_rs.delay()) as f64 / f64::from(SAMPLE_RATE);
        end.checked_sub(Duration::from_secs_f64(back))
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        stop_and_join(&self.watch_stop, &mut self.watcher);
    }
}

struct Worker {
    config: SessionConfig,
    gate: Arc<Gate>,
    stop: Arc<AtomicBool>,
    stats: Arc<SessionStats>,
    events: Sender<SessionEvent>,
}

/// Opens both devices. `strict`: a named device must be there; otherwise a missing named
/// device falls back to the system default (used when reopening after a loss).
fn open_io(config: &SessionConfig, strict: bool) -> Result<Io, VoiceError> {
    let host = devices::host();
    let pick = |dir: Direction, name: &Option<String>| {
        devices::find_device(&host, dir, name.as_deref()).or_else(|e| {
            if strict || name.is_none() {
                Err(e)
            } else {
                devices::find_device(&host, dir, None)
            }
        })
    };
    let mut in_dev = pick(Direction::Input, &config.input_device)?;
    let out_dev = pick(Direction::Output, &config.output_device)?;
    // The route decides the canceller, the notice, and (Bluetooth output) the microphone.
    let out_traits = devices::device_traits(&out_dev, Direction::Output);
    let mut in_traits = devices::device_traits(&in_dev, Direction::Input);
    // macOS: Apple's voice-processing unit cancels the echo, on the system's default devices.
    let available = if cfg!(target_os = "macos") {
        config.input_device.is_none() && config.output_device.is_none()
    } else {
        EchoCanceller::KIND != CancellerKind::Off
    };
    let mut route = plan_route(
        &in_traits,
        &out_traits,
        config.input_device.is_some(),
        config.echo_cancellation,
        available,
    );
    if route.prefer_built_in_input {
        if let Some(d) = devices::built_in_input(&host) {
            in_dev = d;
            in_traits = devices::device_traits(&in_dev, Direction::Input);
            // The voice-processing unit only runs on the default input.
            let available = available && !cfg!(target_os = "macos");
            route = plan_route(
                &in_traits,
                &out_traits,
                true,
                config.echo_cancellation,
                available,
            );
        }
    }
    tracing::info!(input = ?in_traits, output = ?out_traits, ?route, "audio route");
    let counters = Arc::new(AudioCounters::default());

    #[cfg_attr(not(target_os = "macos"), allow(unused_mut))]
    let (mut stamps, mut clock) = capture_clock(SAMPLE_RATE);
    #[cfg(target_os = "macos")]
    if route.cancel_echo {
        let prebuffer = FRAME_SAMPLES + SAMPLE_RATE as usize * config.prebuffer_ms as usize / 1000;
        let (in_p, in_cons) = ring::ring(SAMPLE_RATE as usize * 2);
        let (out_prod, out_c) = ring::ring(SAMPLE_RATE as usize * 2);
        let (tap_p, tap_cons) = ring::ring(SAMPLE_RATE as usize);
        let unit = crate::vpio::open(
            SAMPLE_RATE,
            counters.clone(),
            stamps,
            Capture::new(in_p, 1, counters.clone()),
            Playback::new(out_c, 1, prebuffer, counters.clone()).with_tap(tap_p),
        );
        match unit {
            Ok(unit) => {
                let stream = |stream: Box<dyn std::any::Any>, name: String| OpenStream {
                    _stream: stream,
                    rate: SAMPLE_RATE,
                    channels: 1,
                    name,
                };
                let input = stream(Box::new(unit), devices::device_name(&in_dev));
                let output = stream(Box::new(()), devices::device_name(&out_dev));
                return finish_io(
                    &host,
                    IoParts {
                        input,
                        output,
                        in_cons,
                        out_prod,
                        tap_cons,
                        clock,
                        route,
                        system_aec: true,
                        counters,
                    },
                );
            }
            Err(e) => {
                // No voice processing (a refused or missing unit): the plain streams below,
                // no canceller, and the person is told why Moshi may hear itself.
                tracing::warn!(error = %e, "the voice-processing unit did not open; no echo cancellation");
                route.cancel_echo = false;
                route.notice = Some(crate::route::RouteNotice::UseHeadphones);
                (stamps, clock) = capture_clock(SAMPLE_RATE);
            }
        }
    }
    let mut in_cons_slot = None;
    let realtime = devices::callbacks_need_realtime(&host);
    let input = devices::open_input(
        &in_dev,
        config.device_buffer_ms,
        realtime,
        counters.clone(),
        stamps,
        |rate, channels| {
            let (p, c) = ring::ring(rate as usize * 2);
            in_cons_slot = Some(c);
            Capture::new(p, channels, counters.clone())
        },
    )?;
    let mut out_prod_slot = None;
    let mut tap_slot = None;
    let prebuffer_ms = config.prebuffer_ms;
    let output = devices::open_output(
        &out_dev,
        config.device_buffer_ms,
        realtime,
        counters.clone(),
        |rate, channels| {
            let (p, c) = ring::ring(rate as usize * 2);
            out_prod_slot = Some(p);
            // The model delivers whole 80 ms frames, so playback waits for one frame plus the
            // jitter margin: then the queue never runs dry while the next frame is computed.
            let frame_out = FRAME_SAMPLES * rate as usize / SAMPLE_RATE as usize;
            let prebuffer = frame_out + rate as usize * prebuffer_ms as usize / 1000;
            let (tap_p, tap_c) = ring::ring(rate as usize);
            tap_slot = Some(tap_c);
            Playback::new(c, channels, prebuffer, counters.clone()).with_tap(tap_p)
        },
    )?;
    let (Some(in_cons), Some(out_prod), Some(tap_cons)) = (in_cons_slot, out_prod_slot, tap_slot)
    else {
        return Err(VoiceError::Thread("stream built without its ring".into()));
    };
    clock.set_rate(input.rate);
    finish_io(
        &host,
        IoParts {
            input,
            output,
            in_cons,
            out_prod,
            tap_cons,
            clock,
            route,
            system_aec: false,
            counters,
        },
    )
}

/// What `open_io` opened, before the resamplers and the watcher are added.
struct IoParts {
    input: OpenStream,
    output: OpenStream,
    in_cons: rtrb::Consumer<f32>,
    out_prod: rtrb::Producer<f32>,
    tap_cons: rtrb::Consumer<f32>,
    clock: CaptureClock,
    route: RoutePlan,
    system_aec: bool,
    counters: Arc<AudioCounters>,
}

/// Builds the session's resamplers for the devices' rates and starts the device watcher.
fn finish_io(host: &cpal::Host, parts: IoParts) -> Result<Io, VoiceError> {
    let IoParts {
        input,
        output,
        in_cons,
        out_prod,
        tap_cons,
        clock,
        route,
        system_aec,
        counters,
    } = parts;
    // The session's resamplers, built here for each open period of the devices.
    let tap_rs = AdaptiveResampler::new(output.rate, SAMPLE_RATE, drift::MAX_PPM)?;
    let in_rs = StreamResampler::new(input.rate, SAMPLE_RATE)?;
    // Steered to keep the margin queued when a frame arrives (tests/clock_drift.rs); the
    // configured margin is set in `push_output`.
    let margin = f64::from(output.rate) * 0.04;
    let out_rs = DriftCompensator::new(SAMPLE_RATE, output.rate, margin, drift::MAX_PPM)?;

    // Some systems quietly move a stream elsewhere when its device vanishes; watch for the
    // devices' names disappearing so the person hears about it (and we reopen).
    let watch_stop = Arc::new(AtomicBool::new(false));
    let watch_lost = Arc::new(AtomicBool::new(false));
    let (ws, wl) = (watch_stop.clone(), watch_lost.clone());
    let (in_name, out_name) = (input.name.clone(), output.name.clone());
    // Only names the host can find again are worth watching.
    let watch_in = devices::device_present(host, Direction::Input, &in_name);
    let watch_out = devices::device_present(host, Direction::Output, &out_name);
    let watcher = std::thread::Builder::new()
        .name("moshibar-device-watch".into())
        .spawn(move || {
            let host = devices::host();
            while !ws.load(Ordering::SeqCst) {
                for _ in 0..10 {
                    if ws.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                if (watch_in && !devices::device_present(&host, Direction::Input, &in_name))
                    || (watch_out && !devices::device_present(&host, Direction::Output, &out_name))
                {
                    wl.store(true, Ordering::SeqCst);
                    return;
                }
            }
        })
        .map_err(|e| VoiceError::Thread(e.to_string()))?;

    Ok(Io {
        realtime: devices::callbacks_need_realtime(host),
        input,
        output,
        in_cons,
        consumed: 0,
        clock,
        out_prod,
        in_rs,
        out_rs,
        tap_cons,
        tap_rs,
        far_clock: FarEndClock::new(f64::from(SAMPLE_RATE), drift::MAX_PPM),
        far_observed: None,
        opened: Instant::now(),
        route,
        system_aec,
        counters,
        watch_stop,
        watch_lost,
        watcher: Some(watcher),
    })
}

impl Worker {
    fn send(&self, e: SessionEvent) {
        if self.events.try_send(e).is_err() {
            self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn run(
        self,
        mut model: Box<dyn FrameModel>,
        ready: std::sync::mpsc::SyncSender<Result<(), VoiceError>>,
    ) -> Box<dyn FrameModel> {
        model.reset();
        if let Err(e) = model.warmup() {
            let _ = ready.send(Err(e.into()));
            return model;
        }
        model.reset();
        let io = match open_io(&self.config, true) {
            Ok(io) => {
                if io.realtime {
                    let granted = crate::realtime::promote_model_thread();
                    self.stats.model_realtime.store(granted, Ordering::Relaxed);
                }
                io
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return model;
            }
        };
        tracing::info!(
            input = %io.input.name, input_rate = io.input.rate,
            output = %io.output.name, output_rate = io.output.rate,
            "voice session started"
        );
        self.send(SessionEvent::Ready {
            input_device: io.input.name.clone(),
            output_device: io.output.name.clone(),
            input_rate: io.input.rate,
            output_rate: io.output.rate,
            notice: io.route.notice,
            echo_cancelled: io.route.cancel_echo,
        });
        let _ = ready.send(Ok(()));
        let mut fl = FrameLoop::new(model, self.gate.clone(), self.events.clone());
        if let Err(e) = self.main_loop(&mut fl, io) {
            let message = e.chain();
            tracing::warn!(%message, "voice session ended with an error");
            self.send(SessionEvent::Error { message });
        }
        self.stats
            .events_dropped
            .fetch_add(fl.totals().events_dropped, Ordering::Relaxed);
        self.send(SessionEvent::Stopped);
        let mut model = fl.model;
        model.reset();
        model
    }

    /// Runs until stopped (Ok) or until devices are lost for good (Err with the message). Each
    /// turn: check the devices' health, pull what the microphone and the speaker's tap
    /// delivered, and when a whole frame is there, step the model on it and queue its output.
    fn main_loop(&self, fl: &mut FrameLoop<Box<dyn FrameModel>>, io: Io) -> Result<(), VoiceError> {
        let mut st = LoopState::new(
            &io,
            self.canceller(&io),
            self.gate.pre_roll(),
            self.config.wait_for_talk,
        );
        st.dump = self
            .config
            .aec_dump
            .as_ref()
            .map(|_| AecRecording::default());
        let result = self.turns(fl, &mut st, io);
        if let (Some(dir), Some(d)) = (self.config.aec_dump.as_ref(), st.dump.as_ref()) {
            if let Err(e) = d.write(dir) {
                tracing::warn!(error = %e, "could not write the canceller's recording");
            }
        }
        result
    }

    /// The loop's turns, until stopped or the devices are lost for good.
    fn turns(
        &self,
        fl: &mut FrameLoop<Box<dyn FrameModel>>,
        st: &mut LoopState,
        io: Io,
    ) -> Result<(), VoiceError> {
        let mut io = io;
        while !self.stop.load(Ordering::SeqCst) {
            if let Some((dir, why)) = st.device_check(&io) {
                match self.recover(st, io, dir, why)? {
                    Some(new_io) => io = new_io,
                    None => return Ok(()),
                }
                continue;
            }
            pull_input(st, &mut io)?;
            let Some(mut picked) = self.next_frame(st, &mut io) else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            await_far_end(st, &mut io)?;
            let t_step = Instant::now();
            let pcm = self.step(fl, st, &io, &mut picked)?;
            self.stats
                .step_max_us
                .fetch_max(t_step.elapsed().as_micros() as u64, Ordering::Relaxed);
            self.push_output(st, &mut io, &pcm, &picked)?;
            let now = Instant::now();
            if let Some(gap) = st.last_push.replace(now).map(|t| now.duration_since(t)) {
                self.stats
                    .push_gap_max_us
                    .fetch_max(gap.as_micros() as u64, Ordering::Relaxed);
                if gap > Duration::from_millis(120) {
                    self.stats.push_gaps_late.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// A device was lost: say so, fold its counters into the session's, close it and reopen.
    /// `Ok(None)` when the session was stopped meanwhile.
    fn recover(
        &self,
        st: &mut LoopState,
        io: Io,
        dir: Direction,
        why: &str,
    ) -> Result<Option<Io>, VoiceError> {
        let name = match dir {
            Direction::Input => io.input.name.clone(),
            Direction::Output => io.output.name.clone(),
        };
        tracing::warn!(direction = dir.as_str(), %name, why, "audio device lost");
        self.send(SessionEvent::DeviceLost {
            direction: dir,
            name: name.clone(),
            message: format!("{} device \"{name}\": {why}", dir.as_str()),
        });
        let c = &io.counters;
        st.underruns_before += c.underruns.load(Ordering::Relaxed);
        st.silence_before += c.output_silence.load(Ordering::Relaxed);
        st.xruns_before +=
            c.input_xruns.load(Ordering::Relaxed) + c.output_xruns.load(Ordering::Relaxed);
        st.errors_before +=
            c.input_errors.load(Ordering::Relaxed) + c.output_errors.load(Ordering::Relaxed);
        self.stats.capture_overflow.fetch_add(
            c.capture_overflow.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        drop(io);
        let Some(new_io) = self.reopen(dir, &name)? else {
            return Ok(None);
        };
        st.reset_for(&new_io);
        // Headphones plugged in or out: the canceller follows the new route.
        let kind = if new_io.system_aec {
            CancellerKind::VoiceProcessingIo
        } else if new_io.route.cancel_echo {
            EchoCanceller::KIND
        } else {
            CancellerKind::Off
        };
        if kind != st.kind {
            (st.aec, st.kind) = self.canceller(&new_io);
        }
        Ok(Some(new_io))
    }

    /// The next frame for the model, if a whole one is there. Behind? Keeps at most
    /// `max_backlog_frames` waiting frames and drops the oldest (counted).
    fn next_frame(&self, st: &mut LoopState, io: &mut Io) -> Option<PickedFrame> {
        let ready = st.acc.len() / FRAME_SAMPLES;
        let keep = 1 + self.config.max_backlog_frames;
        if ready > keep {
            let drop_frames = ready - keep;
            st.acc.drain(..drop_frames * FRAME_SAMPLES);
            self.stats
                .frames_dropped
                .fetch_add(drop_frames as u64, Ordering::Relaxed);
        }
        if st.acc.len() < FRAME_SAMPLES {
            return None;
        }
        // How long ago the frame's first sample left the microphone (a sample at position i
        // of the frame is heard at position i of the output frame, so this is every sample's
        // latency through a frame-based model).
        let in_rate = f64::from(io.input.rate);
        let age_s = st.acc.len() as f64 / f64::from(SAMPLE_RATE)
            + (io.in_cons.slots() + io.in_rs.pending()) as f64 / in_rate
            + io.counters.input_device_latency_us.load(Ordering::Relaxed) as f64 / 1e6;
        let picked = Instant::now();
        let captured = io
            .acc_start_captured(st.acc.len())
            .unwrap_or_else(|| picked - Duration::from_secs_f64(age_s));
        let mut frame = [0.0f32; FRAME_SAMPLES];
        frame.copy_from_slice(&st.acc[..FRAME_SAMPLES]);
        st.acc.drain(..FRAME_SAMPLES);
        Some(PickedFrame {
            frame,
            age_s,
            picked,
            captured,
        })
    }

    /// Cancels the echo in the picked frame, updates the live figures and runs the model on
    /// it (the frame loop applies the gate). Returns the model's 24 kHz output.
    fn step(
        &self,
        fl: &mut FrameLoop<Box<dyn FrameModel>>,
        st: &mut LoopState,
        io: &Io,
        picked: &mut PickedFrame,
    ) -> Result<Vec<f32>, VoiceError> {
        let frame = &mut picked.frame;
        // Echo: line the far end up with this frame, track the delay, cancel.
        let t_aec = Instant::now();
        fl.set_mic_rms(crate::metrics::rms(frame));
        st.far_end.take(&mut st.far_frame);
        st.delay.push(&st.far_frame, frame);
        if let Some(d) = st.dump.as_mut() {
            d.far.extend_from_slice(&st.far_frame);
            d.near.extend_from_slice(frame);
        }
        if let Some(a) = st.aec.as_mut() {
            a.process(&st.far_frame, frame)?;
        }
        if let Some(d) = st.dump.as_mut() {
            d.out.extend_from_slice(frame);
        }
        self.stats
            .aec_ns
            .fetch_add(t_aec.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let live = self.live_figures(io, st);
        fl.set_live(live);
        *self.stats.live.lock() = live;

        let underruns = st.underruns_before + io.counters.underruns.load(Ordering::Relaxed);
        self.stats.underruns.store(underruns, Ordering::Relaxed);
        let prev_latency = match self.stats.latency_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(us as f32 / 1000.0),
        };
        let dropped = self.stats.frames_dropped.load(Ordering::Relaxed);
        // Push-to-talk by capture time: which frame the model hears (a key-down's pre-roll
        // may rewind it a few frames), then every sample the key did not cover is silenced.
        let captured = st.pre_roll.next(&self.gate, frame, picked.captured);
        picked.age_s +=
            st.pre_roll.lag_frames() as f64 * FRAME_SAMPLES as f64 / f64::from(SAMPLE_RATE);
        if !st.talked {
            if !self.gate.any_open(captured, FRAME_SAMPLES) {
                // Opened ahead of the first press: the pre-roll keeps listening, the model
                // waits, the speaker plays silence.
                return Ok(vec![0.0; FRAME_SAMPLES]);
            }
            st.talked = true;
        }
        let out = fl.step_captured(frame, captured, prev_latency, dropped, underruns)?;
        self.stats.frames.fetch_add(1, Ordering::Relaxed);
        Ok(out.pcm)
    }

    /// Resamples the model's output to the device rate and queues it for the output callback,
    /// capped (see below); records the latency estimate.
    fn push_output(
        &self,
        st: &mut LoopState,
        io: &mut Io,
        pcm: &[f32],
        picked: &PickedFrame,
    ) -> Result<(), VoiceError> {
        // Clock drift: steer the output ratio by the queue's depth once the speaker plays, and
        // map what it plays back onto the microphone's clock by the far end's own backlog.
        let last_cb = io.counters.output_callback_ns.load(Ordering::Relaxed);
        if last_cb != 0 && io.counters.played.load(Ordering::Relaxed) > 0 {
            let since = ring::now_ns().saturating_sub(last_cb) as f64 * 1e-9;
            let played = io.counters.played.load(Ordering::Relaxed);
            let queued = io.out_prod.buffer().capacity() - io.out_prod.slots();
            let out_rate = f64::from(io.output.rate);
            let depth = drift::fluid_depth(queued, since, out_rate);
            io.out_rs
                .set_target(out_rate * f64::from(self.config.prebuffer_ms) / 1000.0);
            io.out_rs.observe_now(depth)?;
            let now = Instant::now();
            let dt = io
                .far_observed
                .replace(now)
                .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            let far_ppm = io.far_clock.observe(
                &st.far_end,
                drift::SpeakerPosition {
                    played: played as f64 * f64::from(SAMPLE_RATE) / out_rate,
                    since_callback_s: since,
                },
                dt,
            );
            self.stats
                .far_correction_max_ppm
                .fetch_max(far_ppm.abs() as u64, Ordering::Relaxed);
            io.tap_rs.set_correction_ppm(far_ppm)?;
            if let Some(d) = st.dump.as_mut() {
                d.clock.push(crate::aec::FarClockRow {
                    t_s: io.opened.elapsed().as_secs_f64(),
                    backlog: st.far_end.len() as f64,
                    out_latency_ms: io.counters.output_device_latency_us.load(Ordering::Relaxed)
                        as f64
                        / 1e3,
                    in_latency_ms: io.counters.input_device_latency_us.load(Ordering::Relaxed)
                        as f64
                        / 1e3,
                    far_ppm,
                    out_ppm: io.out_rs.correction_ppm(),
                    padded: st.far_end.padded,
                    trimmed: st.far_end.trimmed,
                });
            }
        }
        // The output resampler: the one place 24 kHz becomes the device's rate.
        st.out_buf.clear();
        io.out_rs.process(pcm, &mut st.out_buf)?;
        let out_rate = f64::from(io.output.rate);
        let queued = io.out_prod.buffer().capacity() - io.out_prod.slots();
        let latency_s = picked.age_s
            + picked.picked.elapsed().as_secs_f64()
            + queued as f64 / out_rate
            + io.out_rs.delay() as f64 / out_rate
            + io.counters.output_device_latency_us.load(Ordering::Relaxed) as f64 / 1e6;
        self.stats
            .latency_us
            .store((latency_s * 1e6) as u64 + 1, Ordering::Relaxed);
        tracing::trace!(
            age_ms = picked.age_s * 1e3,
            queued_ms = queued as f64 / out_rate * 1e3,
            in_dev_us = io.counters.input_device_latency_us.load(Ordering::Relaxed),
            out_dev_us = io.counters.output_device_latency_us.load(Ordering::Relaxed),
            captured = io.counters.captured.load(Ordering::Relaxed),
            played = io.counters.played.load(Ordering::Relaxed),
            out_cb = io.counters.output_callbacks.load(Ordering::Relaxed),
            underruns = io.counters.underruns.load(Ordering::Relaxed),
            "latency parts"
        );
        // If the speaker consumes slower than the mic produces (clock drift, a starved audio
        // server), the queue would grow without bound: keep at most two frames plus the
        // margin queued, dropping the start of the new frame (counted).
        let frame_out = FRAME_SAMPLES * io.output.rate as usize / SAMPLE_RATE as usize;
        let max_queue =
            2 * frame_out + io.output.rate as usize * self.config.prebuffer_ms as usize / 1000;
        let room = max_queue.saturating_sub(queued).min(io.out_prod.slots());
        let fit = st.out_buf.len().min(room);
        let skip = st.out_buf.len() - fit;
        if skip > 0 {
            self.stats
                .output_overflow
                .fetch_add(skip as u64, Ordering::Relaxed);
        }
        if let Ok(chunk) = io.out_prod.write_chunk_uninit(fit) {
            chunk.fill_from_iter(st.out_buf[skip..].iter().copied());
        }
        Ok(())
    }

    /// The echo canceller for these devices: the system's (voice-processing unit), the software
    /// one when the route plan wants it ([`crate::route::plan_route`]), or none.
    fn canceller(&self, io: &Io) -> (Option<EchoCanceller>, CancellerKind) {
        if io.system_aec {
            return (None, CancellerKind::VoiceProcessingIo);
        }
        if !io.route.cancel_echo {
            return (None, CancellerKind::Off);
        }
        match EchoCanceller::new() {
            Ok(a) => (Some(a), EchoCanceller::KIND),
            Err(e) => {
                tracing::warn!(error = %e, "no echo canceller; use headphones");
                (None, CancellerKind::Off)
            }
        }
    }

    /// Canceller figures and device accounting for the metrics events.
    fn live_figures(&self, io: &Io, st: &LoopState) -> LiveFigures {
        let (kind, aec, delay, far_end) = (st.kind, st.aec.as_ref(), &st.delay, &st.far_end);
        let (xruns_before, errors_before) = (st.xruns_before, st.errors_before);
        let c = &io.counters;
        let (in_rate, out_rate) = (f64::from(io.input.rate), f64::from(io.output.rate));
        let xruns = xruns_before
            + c.input_xruns.load(Ordering::Relaxed)
            + c.output_xruns.load(Ordering::Relaxed);
        let errors = errors_before
            + c.input_errors.load(Ordering::Relaxed)
            + c.output_errors.load(Ordering::Relaxed);
        self.stats.xruns.store(xruns, Ordering::Relaxed);
        self.stats.stream_errors.store(errors, Ordering::Relaxed);
        self.stats.output_silence.store(
            st.silence_before + c.output_silence.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.stats
            .far_padded
            .store(far_end.padded, Ordering::Relaxed);
        self.stats
            .far_trimmed
            .store(far_end.trimmed, Ordering::Relaxed);
        let capture_dropped = self.stats.capture_overflow.load(Ordering::Relaxed)
            + c.capture_overflow.load(Ordering::Relaxed);
        let mut aec_figures = aec.map(|a| a.figures()).unwrap_or_default();
        aec_figures.delay_ms = delay.delay_ms();
        LiveFigures {
            echo_canceller: kind,
            aec: aec_figures,
            audio: AudioHealth {
                wall_s: io.opened.elapsed().as_secs_f64(),
                played_s: c.played.load(Ordering::Relaxed) as f64 / out_rate,
                captured_s: c.captured.load(Ordering::Relaxed) as f64 / in_rate,
                xruns,
                stream_errors: errors,
                output_dropped_ms: self.stats.output_overflow.load(Ordering::Relaxed) as f64
                    / out_rate
                    * 1000.0,
                capture_dropped_ms: capture_dropped as f64 / in_rate * 1000.0,
                drift_ppm: io.out_rs.drift_ppm(),
                drift_correction_ppm: io.out_rs.correction_ppm(),
            },
        }
    }

    /// Reopens devices after a loss: the configured ones if present, else the defaults, retrying
    /// until `reopen_timeout`.
    /// `Ok(None)` when the session was stopped meanwhile.
    fn reopen(&self, dir: Direction, name: &str) -> Result<Option<Io>, VoiceError> {
        let deadline = Instant::now() + self.config.reopen_timeout;
        let mut last_err = None;
        while Instant::now() < deadline && !self.stop.load(Ordering::SeqCst) {
            let attempt = open_io(&self.config, false);
            match attempt {
                Ok(io) => {
                    self.stats.reopens.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(input = %io.input.name, output = %io.output.name, "audio devices reopened");
                    self.send(SessionEvent::DeviceReopened {
                        input_device: io.input.name.clone(),
                        output_device: io.output.name.clone(),
                        notice: io.route.notice,
                        echo_cancelled: io.route.cancel_echo,
                    });
                    return Ok(Some(io));
                }
                Err(e) => last_err = Some(Box::new(e)),
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        if self.stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        Err(VoiceError::DeviceLost {
            direction: dir.as_str(),
            name: name.to_string(),
            source: last_err,
        })
    }
}

/// A frame taken for the model, with what the latency estimate needs.
struct PickedFrame {
    frame: [f32; FRAME_SAMPLES],
    /// How long ago its first sample was captured, when it was picked.
    age_s: f64,
    /// When it was picked.
    picked: Instant,
    /// When its first sample was captured (from the input callback's stamps).
    captured: Instant,
}

/// The model thread's buffers, the canceller, and the counters carried across reopened
/// devices.
struct LoopState {
    /// Device-rate mic samples pulled from the ring.
    scratch: Vec<f32>,
    /// 24 kHz mic samples waiting to make up frames.
    acc: Vec<f32>,
    /// The model's output at the device rate.
    out_buf: Vec<f32>,
    /// Device-rate samples the speaker played (the tap).
    tap_buf: Vec<f32>,
    /// The same at 24 kHz.
    tap_24k: Vec<f32>,
    underruns_before: u64,
    silence_before: u64,
    /// When the last frame was queued for the speaker.
    last_push: Option<Instant>,
    xruns_before: u64,
    errors_before: u64,
    aec: Option<EchoCanceller>,
    kind: CancellerKind,
    far_end: FarEnd,
    far_frame: [f32; FRAME_SAMPLES],
    delay: DelayEstimator,
    /// What the canceller got and gave ([`SessionConfig::aec_dump`]).
    dump: Option<AecRecording>,
    /// The last frames, for the push-to-talk pre-roll.
    pre_roll: PreRoll,
    /// The model has run (always, unless [`SessionConfig::wait_for_talk`] holds it back until
    /// the key first lets the microphone through).
    talked: bool,
    last_in_callbacks: u64,
    last_out_callbacks: u64,
    last_progress: Instant,
}

/// Callbacks that stop for this long mean a dead device.
const STALL: Duration = Duration::from_secs(2);

impl LoopState {
    fn new(
        io: &Io,
        (aec, kind): (Option<EchoCanceller>, CancellerKind),
        pre_roll: Duration,
        wait_for_talk: bool,
    ) -> Self {
        Self {
            scratch: Vec::with_capacity(io.input.rate as usize * 2),
            acc: Vec::with_capacity(SAMPLE_RATE as usize * 4),
            out_buf: Vec::with_capacity(io.output.rate as usize),
            tap_buf: Vec::with_capacity(io.output.rate as usize * 2),
            tap_24k: Vec::with_capacity(SAMPLE_RATE as usize * 2),
            underruns_before: 0,
            silence_before: 0,
            last_push: None,
            xruns_before: 0,
            errors_before: 0,
            aec,
            kind,
            far_end: FarEnd::new(FAR_BACKLOG),
            far_frame: [0.0; FRAME_SAMPLES],
            delay: DelayEstimator::new(),
            dump: None,
            pre_roll: PreRoll::new(pre_roll),
            talked: !wait_for_talk,
            last_in_callbacks: 0,
            last_out_callbacks: 0,
            last_progress: Instant::now(),
        }
    }

    /// After a reopen: nothing buffered belongs to the new devices.
    fn reset_for(&mut self, _io: &Io) {
        self.acc.clear();
        self.last_push = None;
        self.pre_roll.clear();
        self.far_end = FarEnd::new(FAR_BACKLOG);
        self.last_progress = Instant::now();
    }

    /// Device health: error callbacks, vanished devices, callbacks that stopped coming.
    /// Returns the lost device's direction and why.
    fn device_check(&mut self, io: &Io) -> Option<(Direction, &'static str)> {
        let c = &io.counters;
        let (inc, outc) = (
            c.input_callbacks.load(Ordering::Relaxed),
            c.output_callbacks.load(Ordering::Relaxed),
        );
        if inc != self.last_in_callbacks && outc != self.last_out_callbacks {
            self.last_progress = Instant::now();
            self.last_in_callbacks = inc;
            self.last_out_callbacks = outc;
        }
        if c.input_failed.load(Ordering::SeqCst) {
            Some((Direction::Input, "the input stream failed"))
        } else if c.output_failed.load(Ordering::SeqCst) {
            Some((Direction::Output, "the output stream failed"))
        } else if io.watch_lost.load(Ordering::SeqCst) {
            let input_gone =
                !devices::device_present(&devices::host(), Direction::Input, &io.input.name);
            if input_gone {
                Some((Direction::Input, "the device disappeared"))
            } else {
                Some((Direction::Output, "the device disappeared"))
            }
        } else if self.last_progress.elapsed() > STALL {
            if inc == self.last_in_callbacks {
                Some((Direction::Input, "the device stopped delivering audio"))
            } else {
                Some((Direction::Output, "the device stopped taking audio"))
            }
        } else {
            None
        }
    }
}

/// Pulls what the mic delivered (resampled to 24 kHz into `acc`) and what the speaker played
/// meanwhile (resampled to 24 kHz into the canceller's far end, [`pull_far_end`]). The input
/// resampler is called here and nowhere else.
fn pull_input(st: &mut LoopState, io: &mut Io) -> Result<(), VoiceError> {
    if drain_ring(&mut io.in_cons, &mut st.scratch) {
        io.consumed += st.scratch.len() as u64;
        io.in_rs.process(&st.scratch, &mut st.acc)?;
    }
    pull_far_end(st, io)
}

/// Longest the model thread waits for the speaker's next callback to bring the far end a frame
/// needs: a little more than one 40 ms device period.
const FAR_WAIT: Duration = Duration::from_millis(50);

/// Waits (at most [`FAR_WAIT`]) until the canceller's far end holds the frame about to be
/// cancelled, when the speaker plays and the far end is short of it.
///
/// The far end naturally runs just in time: what the speaker plays reaches it at the speaker's
/// callbacks, a period at a time, and when a callback comes a little late the frame finds the
/// far end short. Padding it then is a jump of a whole period (40 ms) that the canceller must
/// re-converge from (tests/live_echo.rs: ERLE 13 dB after one); waiting for the callback
/// costs that frame a few ms of latency instead. An empty far end (the speaker not playing)
/// is not waited for.
fn await_far_end(st: &mut LoopState, io: &mut Io) -> Result<(), VoiceError> {
    if st.aec.is_none() || st.far_end.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + FAR_WAIT;
    while st.far_end.len() < FRAME_SAMPLES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        pull_far_end(st, io)?;
    }
    Ok(())
}

/// Moves what the speaker played since the last pull into the canceller's far end (at 24 kHz
/// on the microphone's clock). The tap's resampler is called here and nowhere else.
fn pull_far_end(st: &mut LoopState, io: &mut Io) -> Result<(), VoiceError> {
    if drain_ring(&mut io.tap_cons, &mut st.tap_buf) {
        st.tap_24k.clear();
        io.tap_rs.process(&st.tap_buf, &mut st.tap_24k)?;
        st.far_end.push(&st.tap_24k);
    }
    Ok(())
}

/// Moves everything waiting in `ring` into `buf` (cleared first); whether there was any.
fn drain_ring(ring: &mut rtrb::Consumer<f32>, buf: &mut Vec<f32>) -> bool {
    let n = ring.slots();
    if n == 0 {
        return false;
    }
    let Ok(chunk) = ring.read_chunk(n) else {
        return false;
    };
    let (a, b) = chunk.as_slices();
    buf.clear();
    buf.extend_from_slice(a);
    buf.extend_from_slice(b);
    chunk.commit_all();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::DeviceTraits;

    /// An `Io` with no devices behind it (48 kHz mono both ways), and the producer of its
    /// speaker tap, for the test to play into as the output callback would.
    fn io_without_devices() -> (Io, rtrb::Producer<f32>) {
        let (tap_p, tap_cons) = ring::ring(48_000);
        let (_in_p, in_cons) = ring::ring(48_000);
        let (out_prod, _out_c) = ring::ring(48_000);
        let (_stamps, clock) = capture_clock(48_000);
        let stream = |name: &str| OpenStream {
            _stream: Box::new(()),
            rate: 48_000,
            channels: 1,
            name: name.into(),
        };
        let none = DeviceTraits::default();
        let io = Io {
            realtime: false,
            input: stream("mic"),
            output: stream("speaker"),
            in_cons,
            consumed: 0,
            clock,
            out_prod,
            in_rs: StreamResampler::new(48_000, SAMPLE_RATE).expect("input resampler"),
            out_rs: DriftCompensator::new(SAMPLE_RATE, 48_000, 1_920.0, drift::MAX_PPM)
                .expect("output resampler"),
            tap_cons,
            tap_rs: AdaptiveResampler::new(48_000, SAMPLE_RATE, drift::MAX_PPM)
                .expect("tap resampler"),
            far_clock: FarEndClock::new(f64::from(SAMPLE_RATE), drift::MAX_PPM),
            far_observed: None,
            opened: Instant::now(),
            route: plan_route(&none, &none, false, true, true),
            system_aec: false,
            counters: Arc::new(AudioCounters::default()),
            watch_stop: Arc::new(AtomicBool::new(false)),
            watch_lost: Arc::new(AtomicBool::new(false)),
            watcher: None,
        };
        (io, tap_p)
    }

    /// Plays `n` samples of a constant into the tap `after` from now, on another thread.
    fn late_callback(
        mut tap: rtrb::Producer<f32>,
        after: Duration,
        n: usize,
    ) -> JoinHandle<rtrb::Producer<f32>> {
        std::thread::spawn(move || {
            std::thread::sleep(after);
            for _ in 0..n {
                let _ = tap.push(0.25);
            }
            tap
        })
    }

    #[test]
    fn a_short_far_end_waits_for_a_late_speaker_callback_and_no_longer() {
        let (mut io, tap) = io_without_devices();
        let aec = EchoCanceller::new().expect("AEC3");
        let mut st = LoopState::new(&io, (Some(aec), EchoCanceller::KIND), Duration::ZERO, false);

        // Nothing played yet (the speaker is not playing): no wait.
        let t = Instant::now();
        await_far_end(&mut st, &mut io).expect("await");
        assert!(t.elapsed() < Duration::from_millis(30), "{:?}", t.elapsed());

        // Half a frame waits; the callback bringing the rest comes 10 ms late: wait for it.
        st.far_end.push(&[0.1; FRAME_SAMPLES / 2]);
        let feeder = late_callback(tap, Duration::from_millis(10), 2 * 2 * FRAME_SAMPLES);
        let t = Instant::now();
        await_far_end(&mut st, &mut io).expect("await");
        let waited = t.elapsed();
        let tap = feeder.join().expect("feeder");
        assert!(
            st.far_end.len() >= FRAME_SAMPLES,
            "returned with {} of {FRAME_SAMPLES} far-end samples after {waited:?}",
            st.far_end.len()
        );
        assert!(
            waited >= Duration::from_millis(8) && waited < FAR_WAIT,
            "waited {waited:?}"
        );

        // Short again and no callback comes: give up after FAR_WAIT (the frame is padded).
        let mut frame = [0.0; FRAME_SAMPLES];
        while st.far_end.len() >= FRAME_SAMPLES {
            st.far_end.take(&mut frame);
        }
        let short = st.far_end.len();
        assert!(short > 0, "the test needs a short, non-empty far end");
        let t = Instant::now();
        await_far_end(&mut st, &mut io).expect("await");
        let waited = t.elapsed();
        assert!(
            waited >= FAR_WAIT && waited < FAR_WAIT + Duration::from_millis(100),
            "waited {waited:?}"
        );
        assert_eq!(st.far_end.len(), short, "nothing came, nothing changed");
        drop(tap);
    }
}
