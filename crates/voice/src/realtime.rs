//! Real-time scheduling for the audio callback threads where the host does not give it.
//!
//! CoreAudio (macOS) and WASAPI run their callbacks on real-time threads. cpal's native
//! PulseAudio host (Linux) runs them on its protocol thread at normal priority: on a busy
//! machine (the 2-core test box at load 12) that thread answered the server's requests late,
//! the server underran and the speaker played 13.1 s in 18.7 s of wall time. The callback
//! therefore asks, once, for round-robin real-time scheduling of its own thread
//! ([`RtPromotion::once`]); where that is not allowed (no `CAP_SYS_NICE`, no `RLIMIT_RTPRIO`)
//! it stays at normal priority and the refusal is counted, nothing else changes.

use std::sync::atomic::{AtomicU64, Ordering};

/// Priority asked for (SCHED_RR 1..99): above normal threads, below the audio server's own
/// I/O threads (PulseAudio uses 5) so we never preempt the server we feed.
#[cfg(target_os = "linux")]
const PRIORITY: i32 = 4;

/// Priority of the session's model thread (SCHED_RR): below the callbacks it feeds (and the
/// audio server), above every normal thread. On the loaded test box (load 8-10, 2 cores) the
/// model thread at normal priority was preempted for up to 200 ms in a step whose work takes a
/// few ms: the speaker's queue (one frame + 40 ms) ran dry and the session inserted up to
/// 1.3 s of silence in 18.8 s (`SessionStats::output_silence`).
#[cfg(target_os = "linux")]
const MODEL_PRIORITY: i32 = 3;

/// Asks for real-time (round-robin) scheduling of the calling thread, the session's model
/// thread, below the audio callbacks' priority. Returns whether it was granted (no
/// `CAP_SYS_NICE` / `RLIMIT_RTPRIO`: refused, the thread stays as it was). Always `false` off
/// Linux, where the host's own callbacks are real-time and the model thread is left to the
/// system. The kernel's real-time throttling (`sched_rt_runtime_us`) keeps a model that
/// computes flat out from locking up the machine.
pub fn promote_model_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        set_round_robin(MODEL_PRIORITY)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Promotes the thread that first calls [`RtPromotion::once`], once.
#[derive(Debug)]
pub struct RtPromotion {
    pending: bool,
}

impl RtPromotion {
    /// `wanted`: whether this stream's callbacks should ask (hosts whose callbacks are already
    /// real-time, or that misbehave at real-time priority, pass `false`).
    pub fn new(wanted: bool) -> Self {
        Self {
            pending: wanted && cfg!(target_os = "linux"),
        }
    }

    /// Called first thing in a callback: the first time, asks for real-time scheduling of the
    /// calling thread and counts the outcome in `promoted` / `refused`. Real-time safe (one
    /// system call, once; no allocation, lock or log).
    pub fn once(&mut self, promoted: &AtomicU64, refused: &AtomicU64) {
        if !std::mem::take(&mut self.pending) {
            return;
        }
        if promote_current_thread() {
            promoted.fetch_add(1, Ordering::Relaxed);
        } else {
            refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(target_os = "linux")]
fn promote_current_thread() -> bool {
    set_round_robin(PRIORITY)
}

#[cfg(target_os = "linux")]
fn set_round_robin(priority: i32) -> bool {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler with pid 0 changes only the calling thread; `param` is a
    // valid sched_param that outlives the call.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn promote_current_thread() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_once_and_counts_the_outcome() {
        let (ok, no) = (AtomicU64::new(0), AtomicU64::new(0));
        // On its own thread: the test runner's thread keeps its scheduling.
        std::thread::spawn(move || {
            let mut rt = RtPromotion::new(true);
            rt.once(&ok, &no);
            rt.once(&ok, &no);
            let asked = ok.load(Ordering::Relaxed) + no.load(Ordering::Relaxed);
            assert_eq!(asked, u64::from(cfg!(target_os = "linux")));
            let mut off = RtPromotion::new(false);
            off.once(&ok, &no);
            let asked_again = ok.load(Ordering::Relaxed) + no.load(Ordering::Relaxed);
            assert_eq!(asked_again, asked);
        })
        .join()
        .expect("the promotion thread");
    }
}
