//! The Mimi codec on its own thread, so that encoding the next frame and decoding the last
//! one run while the LM steps (Kyutai's MLX app does the same with rustymimi in another
//! process). Used by [`crate::Moshi`] in pipelined mode ([`crate::Moshi::set_pipelined`]),
//! with either backend ([`MimiBackend`]): Kyutai's candle Mimi on the CPU by default (on a Mac
//! it overlaps the LM on the GPU without sharing its queue), or the MLX port.
//!
//! The worker thread loads its own codec (an MLX codec's arrays and streams belong to the
//! thread that created them) and serves jobs in order from a bounded queue; results come back
//! on a second bounded queue. Nothing is dropped: a full queue makes the sender wait, which is
//! the back-pressure a frame loop wants (a model slower than real time shows up as a longer
//! frame, not as lost audio).

use crate::codec::{load_codec, MimiBackend};
use crate::error::EngineError;
use crate::mimi::MimiConfig;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Instant;

/// Jobs (and results) the queues hold at most: the frame loop keeps at most one encode and
/// one decode in flight, so 4 never blocks in normal operation.
const QUEUE: usize = 4;

enum Job {
    Encode(Vec<f32>),
    Decode(Vec<u32>),
    Reset,
}

/// What the worker sends back, in job order.
pub(crate) enum Done {
    /// The frames of codes an encode produced, and its time on the worker.
    Encoded(Vec<Vec<u32>>, f32),
    /// The samples a decode produced, and its time on the worker.
    Decoded(Vec<f32>, f32),
    /// The streaming state was cleared.
    Reset,
}

/// A Mimi running on its own thread.
pub(crate) struct MimiWorker {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Result<Done, EngineError>>,
    thread: Option<JoinHandle<()>>,
    num_codebooks: usize,
    backend: MimiBackend,
}

impl MimiWorker {
    /// Starts the thread and loads Mimi on it with `backend`; returns once it is loaded (or
    /// failed to).
    pub(crate) fn spawn(
        backend: MimiBackend,
        path: PathBuf,
        cfg: MimiConfig,
        num_codebooks: usize,
    ) -> Result<MimiWorker, EngineError> {
        let (jobs_tx, jobs_rx) = sync_channel::<Job>(QUEUE);
        let (done_tx, done_rx) = sync_channel::<Result<Done, EngineError>>(QUEUE);
        let (ready_tx, ready_rx) = sync_channel::<Result<(), EngineError>>(1);
        let thread = std::thread::Builder::new()
            .name("mimi".into())
            .spawn(move || {
                let mut mimi = match load_codec(backend, &path, &cfg, num_codebooks) {
                    Ok(m) => {
                        let _ = ready_tx.send(Ok(()));
                        m
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                for job in jobs_rx {
                    let t = Instant::now();
                    let out = match job {
                        Job::Encode(pcm) => mimi.encode_step(&pcm).map(|c| Done::Encoded(c, ms(t))),
                        Job::Decode(codes) => {
                            mimi.decode_step(&codes).map(|p| Done::Decoded(p, ms(t)))
                        }
                        Job::Reset => {
                            mimi.reset();
                            Ok(Done::Reset)
                        }
                    };
                    if done_tx.send(out).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| EngineError::io(PathBuf::from("<mimi thread>"), e))?;
        let loaded = ready_rx.recv().map_err(|_| gone())?;
        loaded?;
        Ok(MimiWorker {
            jobs: Some(jobs_tx),
            done: done_rx,
            thread: Some(thread),
            num_codebooks,
            backend,
        })
    }

    /// Codebooks the codec works with.
    pub(crate) fn num_codebooks(&self) -> usize {
        self.num_codebooks
    }

    /// The codec implementation on the thread.
    pub(crate) fn backend(&self) -> MimiBackend {
        self.backend
    }

    fn send(&self, job: Job) -> Result<(), EngineError> {
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())
    }

    /// Queues a streaming encode of `pcm`.
    pub(crate) fn encode(&self, pcm: Vec<f32>) -> Result<(), EngineError> {
        self.send(Job::Encode(pcm))
    }

    /// Queues a streaming decode of one frame of codes.
    pub(crate) fn decode(&self, codes: Vec<u32>) -> Result<(), EngineError> {
        self.send(Job::Decode(codes))
    }

    /// Queues a reset of the streaming state.
    pub(crate) fn reset(&self) -> Result<(), EngineError> {
        self.send(Job::Reset)
    }

    /// Waits for the next result (results come in job order).
    pub(crate) fn recv(&self) -> Result<Done, EngineError> {
        self.done.recv().map_err(|_| gone())?
    }
}

impl Drop for MimiWorker {
    fn drop(&mut self) {
        // Closing the job queue ends the thread's loop; drain results so it never blocks.
        self.jobs.take();
        while self.done.recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn gone() -> EngineError {
    EngineError::Config("the Mimi thread stopped".into())
}

fn ms(t: Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1000.0
}
