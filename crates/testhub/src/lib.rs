//! `testhub`: a local Hugging Face Hub emulator (hub + CDN on two ports of 127.0.0.1) with fault
//! injection, for testing and benchmarking downloaders (`hubfetch`, the official
//! `huggingface_hub` client) against real HTTP without the internet.
//!
//! See the crate README for the HTTP behaviour emulated and the fault semantics.

mod access;
mod api;
mod body;
mod cdn;
mod content;
mod error;
mod faults;
mod http_error;
mod resolve;
mod signing;
mod stats;
mod store;
mod throttle;
mod xet;

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use content::{generated_bytes, FileContent};
pub use error::TestHubError;
pub use faults::{parse_duration, parse_size, FaultSpecError, Faults};
pub use stats::Stats;
pub use stats::XetStats;
pub use store::{Repo, RepoFile};
pub use xet::{MultiRange, XetCompression, XetFaults, XetOptions};

use faults::FaultState;
use stats::Counters;
use store::{Entry, Store};
use throttle::Pacer;

/// Ports to listen on; 0 = any free port.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ports {
    /// Port of the hub (`endpoint()`).
    pub hub: u16,
    /// Port of the CDN (`cdn_endpoint()`).
    pub cdn: u16,
}

/// State shared by the handlers of both listeners.
pub(crate) struct Inner {
    pub store: RwLock<Store>,
    pub faults: Mutex<FaultState>,
    pub total_pacer: Mutex<Option<Arc<Pacer>>>,
    pub counters: Arc<Counters>,
    /// Valid tokens → whether their user accepted gated repos' terms.
    pub tokens: RwLock<HashMap<String, bool>>,
    pub secret: Vec<u8>,
    pub hub_url: String,
    pub cdn_url: String,
    pub shutdown: CancellationToken,
    /// The Xet CAS, once `enable_xet` was called.
    pub xet: std::sync::OnceLock<Arc<xet::XetState>>,
}

impl Inner {
    pub fn store(&self) -> parking_lot::RwLockReadGuard<'_, Store> {
        self.store.read()
    }

    pub fn store_mut(&self) -> parking_lot::RwLockWriteGuard<'_, Store> {
        self.store.write()
    }

    pub fn faults(&self) -> parking_lot::MutexGuard<'_, FaultState> {
        self.faults.lock()
    }

    pub fn total_pacer(&self) -> Option<Arc<Pacer>> {
        self.total_pacer.lock().clone()
    }

    /// `Some(accepted_gated_terms)` for a valid token.
    pub fn token(&self, token: &str) -> Option<bool> {
        self.tokens.read().get(token).copied()
    }
}

/// A running hub + CDN. Dropping it without `shutdown` leaves the servers running until the
/// tokio runtime ends.
pub struct TestHub {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl TestHub {
    /// Hash the repos' files and start the hub and the CDN on free ports of 127.0.0.1.
    pub async fn start(repos: Vec<Repo>, faults: Faults) -> Result<TestHub, TestHubError> {
        Self::start_on(repos, faults, Ports::default()).await
    }

    /// Like `start`, on given ports (for the binary).
    pub async fn start_on(
        repos: Vec<Repo>,
        faults: Faults,
        ports: Ports,
    ) -> Result<TestHub, TestHubError> {
        let store = tokio::task::spawn_blocking(move || Store::build(repos))
            .await
            .map_err(|e| TestHubError::Task(e.to_string()))??;
        let hub_listener = bind(ports.hub).await?;
        let cdn_listener = bind(ports.cdn).await?;
        let hub_addr = local_addr(&hub_listener, ports.hub)?;
        let cdn_addr = local_addr(&cdn_listener, ports.cdn)?;
        let inner = Arc::new(Inner {
            store: RwLock::new(store),
            faults: Mutex::new(FaultState::new(Faults::default())),
            total_pacer: Mutex::new(None),
            counters: Arc::new(Counters::default()),
            tokens: RwLock::new(HashMap::new()),
            secret: make_secret(),
            hub_url: format!("http://{hub_addr}"),
            cdn_url: format!("http://{cdn_addr}"),
            shutdown: CancellationToken::new(),
            xet: std::sync::OnceLock::new(),
        });
        let hub = TestHub {
            inner: inner.clone(),
            tasks: vec![
                spawn_server(
                    hub_listener,
                    hub_router(inner.clone()),
                    inner.shutdown.clone(),
                ),
                spawn_server(
                    cdn_listener,
                    cdn_router(inner.clone()),
                    inner.shutdown.clone(),
                ),
            ],
        };
        hub.set_faults(faults);
        tracing::info!(hub = %inner.hub_url, cdn = %inner.cdn_url, "testhub started");
        Ok(hub)
    }

    /// The hub's base URL, `http://127.0.0.1:PORT`: use as `HF_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.inner.hub_url.clone()
    }

    /// The CDN's base URL (where LFS resolves redirect to).
    pub fn cdn_endpoint(&self) -> String {
        self.inner.cdn_url.clone()
    }

    /// Commit sha of the repo's branch head (sha1 of the repo's contents: deterministic).
    pub fn commit(&self, repo_id: &str) -> Option<String> {
        Some(self.inner.store().repos.get(repo_id)?.head.commit.clone())
    }

    /// sha256 (hex) of a file at the branch head, so tests can check what they got.
    pub fn sha256(&self, repo_id: &str, path: &str) -> Option<String> {
        self.inner.store().head_sha256(repo_id, path)
    }

    /// Replace the faults (all counts start again).
    pub fn set_faults(&self, faults: Faults) {
        let pacer = faults
            .bandwidth_total
            .map(|r| Arc::new(Pacer::new(r, throttle::CATCH_UP)));
        *self.inner.total_pacer.lock() = pacer;
        *self.inner.faults() = FaultState::new(faults);
    }

    /// The file changes upstream: new content at `path` (added if missing) on the repo's branch,
    /// giving a new sha256 and a new commit. Hashes the content (blocking). Unknown repos and
    /// unreadable contents are logged and ignored; see `try_replace_file`.
    pub fn replace_file(&self, repo_id: &str, path: &str, content: FileContent) {
        if let Err(e) = self.try_replace_file(repo_id, path, content) {
            tracing::error!(error = %e, repo_id, path, "replace_file failed");
        }
    }

    /// `replace_file` with its error.
    pub fn try_replace_file(
        &self,
        repo_id: &str,
        path: &str,
        content: FileContent,
    ) -> Result<(), TestHubError> {
        if !self.inner.store().repos.contains_key(repo_id) {
            return Err(TestHubError::InvalidRepo(format!("no repo {repo_id}")));
        }
        let lfs = self
            .inner
            .store()
            .repos
            .get(repo_id)
            .and_then(|r| r.head.files.get(path).map(|e| e.lfs));
        let entry = Entry::build(path, content, lfs)?;
        let retire = self.inner.faults().cfg.retire_old_blobs;
        self.inner.store_mut().replace(repo_id, entry, retire);
        Ok(())
    }

    /// Make every LFS file Xet-backed (see the `xet` module docs); chunks the current files
    /// now, on a blocking thread. Calling it again keeps the first options.
    pub async fn enable_xet(&self, opts: XetOptions) -> Result<(), TestHubError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || xet::enable(&inner, opts))
            .await
            .map_err(|e| TestHubError::Task(e.to_string()))?
    }

    /// Counters of the Xet endpoints (zeros when Xet is off).
    pub fn xet_stats(&self) -> XetStats {
        xet::stats(&self.inner)
    }

    /// What the servers have seen since start or `reset_stats`.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Zero the counters (`max_concurrent` restarts from the requests in flight).
    pub fn reset_stats(&self) {
        self.inner.counters.reset();
    }

    /// Make `token` valid (`Authorization: Bearer <token>`); `accepted_gated_terms` = its user
    /// accepted the terms of gated repos.
    pub fn add_token(&self, token: &str, accepted_gated_terms: bool) {
        self.inner
            .tokens
            .write()
            .insert(token.to_string(), accepted_gated_terms);
    }

    /// `shutdown`, then the JSON summary of everything served (`testhub serve --stats`):
    /// `{"bytes_served", "stats", "xet"}`, counted after the last connection closed.
    pub async fn shutdown_with_summary(self) -> String {
        let inner = self.inner.clone();
        self.shutdown().await;
        let stats = inner.counters.snapshot();
        let xet = xet::stats(&inner);
        let summary = stats::Summary {
            bytes_served: stats.bytes_served,
            stats: &stats,
            xet: &xet,
        };
        serde_json::to_string(&summary).unwrap_or_default()
    }

    /// Stop both servers: close connections (stalled ones too) and wait a little for them.
    pub async fn shutdown(mut self) {
        self.inner.shutdown.cancel();
        for t in self.tasks.drain(..) {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if !self.tasks.is_empty() {
            self.inner.shutdown.cancel();
        }
    }
}

async fn bind(port: u16) -> Result<tokio::net::TcpListener, TestHubError> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| TestHubError::Bind { port, source })
}

fn local_addr(l: &tokio::net::TcpListener, port: u16) -> Result<SocketAddr, TestHubError> {
    l.local_addr()
        .map_err(|source| TestHubError::Bind { port, source })
}

/// A per-hub secret for URL signatures (not security, just tamper detection).
fn make_secret() -> Vec<u8> {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let a = &t as *const u128 as usize;
    format!("testhub-{t}-{}-{a}", std::process::id()).into_bytes()
}

fn spawn_server(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let res = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "server stopped");
        }
    })
}

fn hub_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/{org}/{name}/resolve/{rev}/{*path}", get(resolve::resolve))
        .route("/api/models/{org}/{name}", get(api::model_info))
        .route(
            "/api/models/{org}/{name}/revision/{rev}",
            get(api::model_info_revision),
        )
        .route("/api/models/{org}/{name}/tree/{rev}", get(api::tree_root))
        .route(
            "/api/models/{org}/{name}/tree/{rev}/{*path}",
            get(api::tree_path),
        )
        .route("/_testhub/stats", get(api::stats))
        .merge(xet::hub_routes())
        .merge(xet::cas_routes())
        .fallback(http_error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            inner.clone(),
            body::track,
        ))
        .with_state(inner)
}

fn cdn_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/blobs/{sha}", get(cdn::blob))
        .merge(xet::transfer_routes())
        .fallback(http_error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            inner.clone(),
            body::track,
        ))
        .with_state(inner)
}
