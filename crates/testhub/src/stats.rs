//! Counters the tests and the benchmark read back (`TestHub::stats`).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of what the hub and CDN have seen since start (or `reset_stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// All HTTP requests, hub and CDN.
    pub requests: u64,
    /// `HEAD`/`GET .../resolve/...` requests on the hub.
    pub resolve_requests: u64,
    /// Requests carrying a `Range` header (hub or CDN).
    pub range_requests: u64,
    /// Body bytes handed to the connection (file data only, not error or redirect bodies).
    pub body_bytes_sent: u64,
    /// Most requests in flight at once (a request is in flight until its body is finished).
    pub max_concurrent: u64,
    /// Requests to the CDN that carried an `Authorization` header (should stay 0).
    pub auth_headers_on_cdn: u64,
    /// Injected faults by name (`drop_mid_body`, `flip_byte`, `status_503`, ...).
    pub faults_injected: BTreeMap<String, u64>,
    /// Requests to the CDN (blob downloads).
    pub cdn_requests: u64,
    /// All response body bytes handed to the connections, every path (file data, xorbs, JSON,
    /// error pages): what a link would have carried, headers aside.
    pub bytes_served: u64,
}

/// Live counters behind `Stats`.
#[derive(Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub resolve_requests: AtomicU64,
    pub range_requests: AtomicU64,
    pub body_bytes_sent: AtomicU64,
    pub in_flight: AtomicU64,
    pub max_concurrent: AtomicU64,
    pub auth_headers_on_cdn: AtomicU64,
    pub cdn_requests: AtomicU64,
    pub bytes_served: AtomicU64,
    pub faults: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn fault(&self, name: &str) {
        tracing::debug!(fault = name, "injecting fault");
        *self.faults.lock().entry(name.to_string()).or_default() += 1;
    }

    /// A request started; returns a guard that ends it.
    pub fn begin(self: &std::sync::Arc<Self>) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_concurrent.fetch_max(now, Ordering::SeqCst);
        InFlight(self.clone())
    }

    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            requests: get(&self.requests),
            resolve_requests: get(&self.resolve_requests),
            range_requests: get(&self.range_requests),
            body_bytes_sent: get(&self.body_bytes_sent),
            max_concurrent: get(&self.max_concurrent),
            auth_headers_on_cdn: get(&self.auth_headers_on_cdn),
            cdn_requests: get(&self.cdn_requests),
            bytes_served: get(&self.bytes_served),
            faults_injected: self.faults.lock().clone(),
        }
    }

    pub fn reset(&self) {
        for c in [
            &self.requests,
            &self.resolve_requests,
            &self.range_requests,
            &self.body_bytes_sent,
            &self.auth_headers_on_cdn,
            &self.cdn_requests,
            &self.bytes_served,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.max_concurrent
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
        self.faults.lock().clear();
    }
}

/// Counters of the Xet endpoints (also in the binary's stats). Kept here with the other
/// counters, not in `xet`, so that the summary below need not name the Xet module.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct XetStats {
    /// Token endpoint calls.
    pub token_requests: u64,
    /// Reconstruction queries (v1 + v2).
    pub reconstruction_requests: u64,
    /// Of those, queries with a `Range` (a resumed read asking only for what is missing).
    pub ranged_reconstructions: u64,
    /// Xorb transfer requests (all answers).
    pub xorb_requests: u64,
    /// Xorb requests refused (bad/expired signature, range not signed, bad token).
    pub refused: u64,
    /// Xorb requests asking for several ranges at once (`multipart/byteranges` answers).
    pub multi_range_requests: u64,
    /// Xorb transfers served from xorbs the reference writer stored (`XetOptions::import`).
    pub imported_xorb_transfers: u64,
    /// Xorb transfers served from xorbs built here.
    pub built_xorb_transfers: u64,
}

/// The summary `testhub serve --stats FILE` writes on exit.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary<'a> {
    /// `Stats::bytes_served`, on top for scripts.
    pub bytes_served: u64,
    /// Every counter.
    pub stats: &'a Stats,
    /// The Xet endpoints' counters (zeros when Xet is off).
    pub xet: &'a XetStats,
}

/// Ends an in-flight request when dropped (held by the response body).
pub(crate) struct InFlight(std::sync::Arc<Counters>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InFlight {
    /// The counters this request counts into.
    pub fn counters(&self) -> &Counters {
        &self.0
    }
}
