//! Cross-process lock on one blob, the same file `huggingface_hub` locks
//! (`{cache}/.locks/models--org--name/{etag}.lock`, `flock`), so two processes (ours or theirs)
//! never write the same blob at once.

use std::fs::{self, File, OpenOptions};
use std::path::Path;
use std::time::Duration;

use fs4::FileExt;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Held while a blob is being written; the flock is released when dropped (file closed).
#[derive(Debug)]
pub struct BlobLock {
    _file: File,
}

/// Wait for the lock (polling, so cancellation works), calling `waiting` once if we must wait.
pub async fn acquire(
    path: &Path,
    cancel: &CancellationToken,
    waiting: impl FnOnce(),
) -> Result<BlobLock> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    }
    let file = open(path)?;
    let mut waiting = Some(waiting);
    loop {
        match FileExt::try_lock(&file) {
            Ok(()) => return Ok(BlobLock { _file: file }),
            Err(fs4::TryLockError::WouldBlock) => {
                if let Some(w) = waiting.take() {
                    tracing::info!(lock = %path.display(), "another process is downloading this file; waiting");
                    w();
                }
            }
            Err(fs4::TryLockError::Error(e)) => {
                return Err(Error::io(format!("lock {}", path.display()), e));
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(Error::Cancelled),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

fn open(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o664);
    }
    o.open(path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_holder_waits_until_release() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(".locks/x/e.lock");
        let c = CancellationToken::new();
        let l1 = acquire(&p, &c, || {}).await.expect("first");
        let c2 = c.clone();
        let p2 = p.clone();
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w2 = waited.clone();
        let h = tokio::spawn(async move {
            acquire(&p2, &c2, move || {
                w2.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        drop(l1);
        assert!(h.await.expect("join").is_ok());
    }
}
