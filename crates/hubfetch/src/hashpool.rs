//! Chunk hashing off the network tasks: a dedicated thread computes every in-flight chunk's
//! SHA-256 from the bytes as they arrive (no read-back from disk), fed through a bounded
//! channel. The network tasks only hand over reference-counted buffers, so they never wait on
//! hashing unless the hasher is a full channel behind (then they slow down instead of
//! buffering: memory stays bounded at `CAPACITY` network buffers).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::sha::Sha256;

/// Buffers queued to the hasher at most. A network buffer is a slice that keeps its whole
/// read buffer alive (hyper's grow up to ~400 KiB), so this bounds memory at ~13 MiB; 256 gave a
/// 125 MB peak RSS.
const CAPACITY: usize = 32;

enum Msg {
    Update(u64, Bytes),
    Finish(u64, oneshot::Sender<String>),
    Abort(u64),
}

/// Handle to the chunk-hasher thread (one per job).
#[derive(Debug)]
pub(crate) struct ChunkHasher {
    tx: Option<mpsc::Sender<Msg>>,
    next_key: AtomicU64,
}

impl ChunkHasher {
    /// Start the thread; if a thread cannot be spawned, chunks are hashed inline instead.
    pub(crate) fn start() -> ChunkHasher {
        let (tx, mut rx) = mpsc::channel::<Msg>(CAPACITY);
        let spawned = std::thread::Builder::new()
            .name("hubfetch-chunk-hash".into())
            .spawn(move || {
                let mut open: HashMap<u64, Sha256> = HashMap::new();
                while let Some(m) = rx.blocking_recv() {
                    match m {
                        Msg::Update(k, b) => open.entry(k).or_default().update(&b),
                        Msg::Finish(k, reply) => {
                            let h = open.remove(&k).unwrap_or_default();
                            let _ = reply.send(h.finish_hex());
                        }
                        Msg::Abort(k) => {
                            open.remove(&k);
                        }
                    }
                }
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e, "no chunk-hasher thread: hashing chunks inline");
                None
            }
        };
        ChunkHasher {
            tx,
            next_key: AtomicU64::new(0),
        }
    }

    /// A hash of one chunk's bytes, fed in order.
    pub(crate) fn begin(&self) -> ChunkHash<'_> {
        ChunkHash {
            pool: self,
            key: self.next_key.fetch_add(1, Ordering::Relaxed),
            inline: self.tx.is_none().then(Sha256::new),
            finished: false,
        }
    }
}

/// One chunk's running SHA-256 (computed on the hasher thread, or inline as a fallback).
pub(crate) struct ChunkHash<'a> {
    pool: &'a ChunkHasher,
    key: u64,
    inline: Option<Sha256>,
    finished: bool,
}

impl ChunkHash<'_> {
    /// Feed the next bytes of the chunk (waits only when the hasher is far behind).
    pub(crate) async fn update(&mut self, b: Bytes) -> Result<(), Error> {
        if let Some(h) = self.inline.as_mut() {
            h.update(&b);
            return Ok(());
        }
        match &self.pool.tx {
            Some(tx) => tx
                .send(Msg::Update(self.key, b))
                .await
                .map_err(|_| Error::Other("chunk-hasher thread stopped".into())),
            None => Err(Error::Other("no chunk hasher".into())),
        }
    }

    /// The chunk's SHA-256 (hex).
    pub(crate) async fn finish(mut self) -> Result<String, Error> {
        self.finished = true;
        if let Some(h) = self.inline.take() {
            return Ok(h.finish_hex());
        }
        let Some(tx) = &self.pool.tx else {
            return Err(Error::Other("no chunk hasher".into()));
        };
        let (rtx, rrx) = oneshot::channel();
        tx.send(Msg::Finish(self.key, rtx))
            .await
            .map_err(|_| Error::Other("chunk-hasher thread stopped".into()))?;
        rrx.await
            .map_err(|_| Error::Other("chunk-hasher thread stopped".into()))
    }
}

impl Drop for ChunkHash<'_> {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(tx) = &self.pool.tx {
                // Best effort: a full channel leaks one small hasher state until the job ends.
                let _ = tx.try_send(Msg::Abort(self.key));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_chunks_hash_independently() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        rt.block_on(async {
            let pool = ChunkHasher::start();
            let a: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            let b: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
            let (mut ha, mut hb) = (pool.begin(), pool.begin());
            let dropped = pool.begin(); // aborted: must not disturb the others
            drop(dropped);
            for (pa, pb) in a.chunks(7000).zip(b.chunks(5000)) {
                ha.update(Bytes::copy_from_slice(pa)).await.expect("a");
                hb.update(Bytes::copy_from_slice(pb)).await.expect("b");
            }
            for pa in a.chunks(7000).skip(b.len().div_ceil(5000)) {
                ha.update(Bytes::copy_from_slice(pa)).await.expect("a");
            }
            let mut want_a = Sha256::new();
            want_a.update(&a);
            let mut want_b = Sha256::new();
            want_b.update(&b);
            assert_eq!(ha.finish().await.expect("a"), want_a.finish_hex());
            assert_eq!(hb.finish().await.expect("b"), want_b.finish_hex());
        });
    }
}
