//! What runs inside the audio callbacks, and the lock-free SPSC rings (rtrb) that connect them
//! to the model thread. The callbacks only convert the device's sample format, mix to or from
//! mono, copy through the ring and bump atomic counters: no allocation, no lock, no log, no
//! wait (the `no_alloc` integration test counts allocations to prove it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cpal::{FromSample, Sample};

/// Counters shared between the callbacks and the model thread (all relaxed atomics).
#[derive(Debug, Default)]
pub struct AudioCounters {
    /// Mono samples the input callback delivered into the ring.
    pub captured: AtomicU64,
    /// Mono samples the input callback had to drop because the ring was full.
    pub capture_overflow: AtomicU64,
    /// Mono samples the output callback played from the ring.
    pub played: AtomicU64,
    /// Times the output callback found the ring empty after playback had started.
    pub underruns: AtomicU64,
    /// Input callbacks run (lets the model thread notice a silent, stalled device).
    pub input_callbacks: AtomicU64,
    /// Output callbacks run.
    pub output_callbacks: AtomicU64,
    /// When the latest output callback ran (`now_ns`): how far the speaker has got into its
    /// current period, so the drift compensator sees the queue drain smoothly instead of in
    /// whole-period steps (0 = none yet).
    pub output_callback_ns: AtomicU64,
    /// Latest input device latency (capture → callback), microseconds.
    pub input_device_latency_us: AtomicU64,
    /// Latest output device latency (callback → playback), microseconds.
    pub output_device_latency_us: AtomicU64,
    /// Non-fatal xruns the input stream reported (the device overran; samples were lost).
    pub input_xruns: AtomicU64,
    /// Non-fatal xruns the output stream reported (the device underran or the server starved).
    pub output_xruns: AtomicU64,
    /// Other non-fatal errors the input stream reported (it kept running).
    pub input_errors: AtomicU64,
    /// Other non-fatal errors the output stream reported.
    pub output_errors: AtomicU64,
    /// Played samples the far-end tap could not keep (its ring was full): the echo canceller
    /// saw silence instead of them.
    pub tap_overflow: AtomicU64,
    /// Silence the output callback wrote because the queue had too little (waiting for the
    /// prebuffer, or the rest of a callback after an underrun), samples: the time the model
    /// thread's output came late, as opposed to callbacks that did not come at all.
    pub output_silence: AtomicU64,
    /// Callback threads that got real-time scheduling (`realtime`).
    pub rt_promoted: AtomicU64,
    /// Callback threads that asked for it and were refused (they run at normal priority).
    pub rt_refused: AtomicU64,
    /// Set by a stream's error callback: the device needs reopening.
    pub input_failed: AtomicBool,
    /// Set by a stream's error callback: the device needs reopening.
    pub output_failed: AtomicBool,
}

static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Monotonic nanoseconds since this process first asked (never 0). Real-time safe once
/// called: a clock read and an atomic load ([`Playback::new`] makes the first call).
pub fn now_ns() -> u64 {
    let epoch = EPOCH.get_or_init(std::time::Instant::now);
    epoch.elapsed().as_nanos() as u64 + 1
}

/// Creates a ring of `capacity` mono samples: the producer side and the consumer side.
pub fn ring(capacity: usize) -> (rtrb::Producer<f32>, rtrb::Consumer<f32>) {
    rtrb::RingBuffer::new(capacity)
}

/// The input callback's state: mixes the device's interleaved frames to mono f32 and pushes
/// them into the ring.
pub struct Capture {
    producer: rtrb::Producer<f32>,
    channels: usize,
    counters: Arc<AudioCounters>,
}

impl Capture {
    /// A capture side for a device with `channels` interleaved channels.
    pub fn new(producer: rtrb::Producer<f32>, channels: u16, counters: Arc<AudioCounters>) -> Self {
        Self {
            producer,
            channels: usize::from(channels.max(1)),
            counters,
        }
    }

    /// Records how long ago the device captured this callback's data. Real-time safe.
    pub fn note_device_latency(&self, d: std::time::Duration) {
        self.counters
            .input_device_latency_us
            .store(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Handles one input callback's data. Real-time safe.
    pub fn process<T>(&mut self, data: &[T])
    where
        T: Sample,
        f32: FromSample<T>,
    {
        self.counters
            .input_callbacks
            .fetch_add(1, Ordering::Relaxed);
        let ch = self.channels;
        let frames = data.len() / ch;
        let n = frames.min(self.producer.slots());
        if n < frames {
            self.counters
                .capture_overflow
                .fetch_add((frames - n) as u64, Ordering::Relaxed);
        }
        if n == 0 {
            return;
        }
        let scale = 1.0 / ch as f32;
        if let Ok(chunk) = self.producer.write_chunk_uninit(n) {
            let mono = data[..n * ch]
                .chunks_exact(ch)
                .map(|f| f.iter().map(|s| f32::from_sample(*s)).sum::<f32>() * scale);
            let written = chunk.fill_from_iter(mono);
            self.counters
                .captured
                .fetch_add(written as u64, Ordering::Relaxed);
        }
    }
}

/// The output callback's state: pops mono samples from the ring and writes them to every
/// channel in the device's format; silence (and an underrun count) when the ring runs dry.
pub struct Playback {
    consumer: rtrb::Consumer<f32>,
    tap: Option<rtrb::Producer<f32>>,
    channels: usize,
    prebuffer: usize,
    playing: bool,
    counters: Arc<AudioCounters>,
}

impl Playback {
    /// A playback side for `channels` interleaved channels that waits until `prebuffer` samples
    /// are queued before it starts (and again after an underrun), to absorb the model's jitter.
    pub fn new(
        consumer: rtrb::Consumer<f32>,
        channels: u16,
        prebuffer: usize,
        counters: Arc<AudioCounters>,
    ) -> Self {
        now_ns(); // starts the clock outside the callback
        Self {
            consumer,
            tap: None,
            channels: usize::from(channels.max(1)),
            prebuffer: prebuffer.max(1),
            playing: false,
            counters,
        }
    }

    /// Also copies every mono sample this side plays (the silence it inserts included) into
    /// `tap`: the echo canceller's far end is exactly what went to the speaker.
    pub fn with_tap(mut self, tap: rtrb::Producer<f32>) -> Self {
        self.tap = Some(tap);
        self
    }

    fn tap_out(&mut self, samples: impl Iterator<Item = f32>, n: usize) {
        let Some(tap) = self.tap.as_mut() else {
            return;
        };
        let fit = n.min(tap.slots());
        if let Ok(chunk) = tap.write_chunk_uninit(fit) {
            chunk.fill_from_iter(samples.take(fit));
        }
        if fit < n {
            self.counters
                .tap_overflow
                .fetch_add((n - fit) as u64, Ordering::Relaxed);
        }
    }

    /// The counters this side bumps.
    pub fn counters(&self) -> &Arc<AudioCounters> {
        &self.counters
    }

    /// Records how long until this callback's data reaches the speaker. Real-time safe.
    pub fn note_device_latency(&self, d: std::time::Duration) {
        self.counters
            .output_device_latency_us
            .store(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Handles one output callback's buffer. Real-time safe.
    pub fn process<T>(&mut self, data: &mut [T])
    where
        T: Sample + FromSample<f32>,
    {
        self.process_at(data, now_ns());
    }

    /// [`Playback::process`] at a given time (`now_ns`'s clock; simulations pass their own).
    pub fn process_at<T>(&mut self, data: &mut [T], now_ns: u64)
    where
        T: Sample + FromSample<f32>,
    {
        self.counters
            .output_callbacks
            .fetch_add(1, Ordering::Relaxed);
        self.counters
            .output_callback_ns
            .store(now_ns.max(1), Ordering::Relaxed);
        let ch = self.channels;
        let frames = data.len() / ch;
        if !self.playing {
            if self.consumer.slots() >= self.prebuffer {
                self.playing = true;
            } else {
                data.fill(T::EQUILIBRIUM);
                self.tap_out(std::iter::repeat(0.0), frames);
                self.counters
                    .output_silence
                    .fetch_add(frames as u64, Ordering::Relaxed);
                return;
            }
        }
        let n = frames.min(self.consumer.slots());
        let mut done = 0;
        if let Ok(chunk) = self.consumer.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            for (frame, s) in data.chunks_exact_mut(ch).zip(a.iter().chain(b.iter())) {
                frame.fill(T::from_sample(*s));
                done += 1;
            }
            if let Some(tap) = self.tap.as_mut() {
                let fit = done.min(tap.slots());
                if let Ok(c) = tap.write_chunk_uninit(fit) {
                    c.fill_from_iter(a.iter().chain(b.iter()).copied());
                }
                if fit < done {
                    self.counters
                        .tap_overflow
                        .fetch_add((done - fit) as u64, Ordering::Relaxed);
                }
            }
            chunk.commit_all();
        }
        self.counters
            .played
            .fetch_add(done as u64, Ordering::Relaxed);
        if done < frames {
            data[done * ch..].fill(T::EQUILIBRIUM);
            self.tap_out(std::iter::repeat(0.0), frames - done);
            self.counters
                .output_silence
                .fetch_add((frames - done) as u64, Ordering::Relaxed);
            self.counters.underruns.fetch_add(1, Ordering::Relaxed);
            self.playing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_mixes_to_mono_and_counts_overflow() {
        let c = Arc::new(AudioCounters::default());
        let (p, mut cons) = ring(4);
        let mut cap = Capture::new(p, 2, c.clone());
        cap.process(&[i16::MAX, 0, i16::MIN, i16::MIN, 0, 0]);
        assert_eq!(cons.pop().ok().map(|s| (s * 100.0).round()), Some(50.0));
        assert_eq!(cons.pop().ok(), Some(-1.0));
        assert_eq!(cons.pop().ok(), Some(0.0));
        cap.process(&[0.25f32; 12]);
        assert_eq!(c.captured.load(Ordering::Relaxed), 7);
        assert_eq!(c.capture_overflow.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn playback_prebuffers_fans_out_and_counts_underruns() {
        let c = Arc::new(AudioCounters::default());
        let (mut p, cons) = ring(16);
        let mut play = Playback::new(cons, 2, 3, c.clone());
        let mut out = [1.0f32; 4];
        p.push(0.5).ok();
        play.process(&mut out);
        assert_eq!(out, [0.0; 4], "still prebuffering");
        p.push(0.25).ok();
        p.push(-0.5).ok();
        play.process(&mut out);
        assert_eq!(out, [0.5, 0.5, 0.25, 0.25]);
        assert_eq!(c.underruns.load(Ordering::Relaxed), 0);
        let mut out16 = [7i16; 4];
        play.process(&mut out16);
        assert_eq!(out16, [-16384, -16384, 0, 0]);
        assert_eq!(c.underruns.load(Ordering::Relaxed), 1);
        assert_eq!(c.played.load(Ordering::Relaxed), 3);
        // 2 frames while prebuffering, 1 after the underrun.
        assert_eq!(c.output_silence.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_tap_gets_exactly_what_was_played() {
        let c = Arc::new(AudioCounters::default());
        let (mut p, cons) = ring(16);
        let (tap_p, mut tap_c) = ring(6);
        let mut play = Playback::new(cons, 2, 2, c.clone()).with_tap(tap_p);
        let mut out = [1.0f32; 4];
        p.push(0.5).ok();
        play.process(&mut out); // prebuffering: silence played, silence tapped
        p.push(0.25).ok();
        p.push(-0.5).ok();
        play.process(&mut out); // 0.5, 0.25
        play.process(&mut out); // -0.5, then an underrun's silence
        let tapped: Vec<f32> = std::iter::from_fn(|| tap_c.pop().ok()).collect();
        assert_eq!(tapped, [0.0, 0.0, 0.5, 0.25, -0.5, 0.0]);
        play.process(&mut out); // the tap is full now: counted, not blocking
        assert_eq!(c.tap_overflow.load(Ordering::Relaxed), 0);
        play.process(&mut [0.0f32; 16]);
        assert!(c.tap_overflow.load(Ordering::Relaxed) > 0);
    }
}
