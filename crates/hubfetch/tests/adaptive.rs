//! Connections that fit the link (issue 10 item 2), against `testhub`'s bandwidth caps and
//! stalls: with the default connection settings a weak link (the seed user's: ~10 connections
//! carry ~1 MB/s, more carry no more) settles near 10 connections and uses the link, a fast
//! link gets many connections, and a burst of stalls sheds connections at once, not when the
//! transfers in flight reach the end of their chunk. Assertions are on connection counts over
//! time (the progress stream) and on throughput, never on log lines.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hubfetch::Options;
use testhub::{Faults, TestHub};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Connection defaults (16 at most, 2 at the start, re-evaluated every second); chunks scaled
/// down with the link so that a file has many of them.
fn defaults(chunk: u64) -> Options {
    let mut o = Options::default();
    o.chunk_size = chunk;
    o.progress_interval = Duration::from_millis(50);
    o
}

/// (seconds since the start, connections in flight, bytes done).
type Sample = (f64, u32, u64);

/// Download `size` bytes under `faults`; returns (elapsed, samples, the hub).
async fn run(size: u64, faults: Faults, o: Options) -> (Duration, Vec<Sample>, TestHub) {
    let hub = TestHub::start(vec![repo("org/m", vec![gen("w.bin", size, 3)])], faults)
        .await
        .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&hub.endpoint(), dir.path(), None);
    let t0 = Instant::now();
    let job = c.download_files("org/m", "main", &["w.bin"], o);
    let rx = job.progress();
    let sampler = tokio::spawn(sample(rx, t0));
    let files = within(90, job.wait()).await.expect("download");
    let elapsed = t0.elapsed();
    let samples = sampler.await.expect("sampler");
    let f = &files[0];
    assert_eq!(
        sha256_file(&f.local_path),
        hub.sha256("org/m", "w.bin").expect("sha")
    );
    (elapsed, samples, hub)
}

/// Samples every 100 ms until the job ends.
async fn sample(rx: tokio::sync::watch::Receiver<hubfetch::Progress>, t0: Instant) -> Vec<Sample> {
    let mut out = Vec::new();
    loop {
        let p = rx.borrow().clone();
        out.push((t0.elapsed().as_secs_f64(), p.connections, p.bytes_done));
        if matches!(
            p.phase,
            hubfetch::Phase::Done | hubfetch::Phase::Failed | hubfetch::Phase::Cancelled
        ) {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Connections in flight, one sample per half second (for failure messages).
fn trace(samples: &[Sample]) -> String {
    let v: Vec<String> = samples
        .iter()
        .step_by(5)
        .map(|s| format!("{:.1}s:{}", s.0, s.1))
        .collect();
    v.join(" ")
}

fn median(mut v: Vec<u32>) -> u32 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_link_settles_near_ten_connections_and_uses_the_link() {
    // The seed user's link scaled: 100 KB/s per connection, 1 MB/s in all.
    let (per, total, size) = (100 * 1000, 1000 * 1000, 16 * MIB);
    let f = Faults {
        bandwidth_per_connection: Some(per),
        bandwidth_total: Some(total),
        ..Faults::default()
    };
    let (elapsed, samples, hub) = run(size, f, defaults(256 * KIB)).await;
    let end = elapsed.as_secs_f64() - 2.0;
    let late_samples: Vec<&Sample> = samples.iter().filter(|s| s.0 > 10.0 && s.0 < end).collect();
    let late: Vec<u32> = late_samples.iter().map(|s| s.1).collect();
    // The rate once settled (from 10 s to 2 s before the end).
    let late_rate = match (late_samples.first(), late_samples.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.2 - a.2) as f64 / (b.0 - a.0),
        _ => 0.0,
    };
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let rate = size as f64 / elapsed.as_secs_f64();
    eprintln!(
        "weak link: {:.1} s, {:.0} kB/s overall, {:.0} kB/s settled, median settled connections {}, peak {peak}, server max {}",
        elapsed.as_secs_f64(),
        rate / 1e3,
        late_rate / 1e3,
        median(late.clone()),
        hub.stats().max_concurrent
    );
    // Probing and shedding re-send nothing: what the server sent is the file (a stopped
    // transfer keeps what it received), whatever the load.
    let sent = hub.stats().body_bytes_sent;
    assert!(
        sent <= size + size / 100,
        "served {sent} bytes for a {size}-byte file"
    );
    assert!(!late.is_empty(), "{}", trace(&samples));
    let m = median(late);
    assert!((8..=13).contains(&m), "settled at {m}: {}", trace(&samples));
    // More than the plateau needs is tried briefly at most; never the ceiling of 16.
    assert!(peak <= 14, "peak {peak}: {}", trace(&samples));
    // The link is used: 80 % of it once settled, 60 % over the whole download (the ramp-up
    // from 2 connections included). Each connection is capped at 100 kB/s, so 80 % needs at
    // least 8 connections carrying data all the time: a controller that stops at 7, or whose
    // connections sit idle between chunks, fails here. Why not 90 %: at 10 connections the
    // plateau is exactly the link (10 x 100 kB/s), so every late wake-up of the server's
    // pacer or of our reader on a loaded machine costs throughput: at load 10-11 the same
    // build measured 866-900 kB/s settled and 695-701 kB/s overall (925 kB/s when quiet).
    assert!(
        late_rate >= 0.8 * total as f64,
        "{:.0} kB/s",
        late_rate / 1e3
    );
    assert!(rate >= 0.6 * total as f64, "{:.0} kB/s", rate / 1e3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_link_gets_many_connections() {
    // 512 KiB/s per connection and no total cap: every connection adds throughput.
    let size = 24 * MIB;
    let f = Faults {
        bandwidth_per_connection: Some(512 * KIB),
        ..Faults::default()
    };
    let (elapsed, samples, _hub) = run(size, f, defaults(256 * KIB)).await;
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let rate = size as f64 / elapsed.as_secs_f64();
    eprintln!(
        "fast link: {:.1} s, {:.2} MiB/s, peak connections {peak}",
        elapsed.as_secs_f64(),
        rate / MIB as f64
    );
    assert!(peak >= 9, "peak {peak}: {}", trace(&samples));
    // Two fixed connections would carry 1 MiB/s.
    assert!(rate >= 2.0 * MIB as f64, "{:.2} MiB/s", rate / MIB as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_stalls_sheds_connections_at_once() {
    // 16 connections on 4 MiB chunks at 64 KiB/s each: a chunk takes a minute. Three requests
    // stall; the burst lowers the limit to 12, and the transfers over it stop now (their bytes
    // kept), not a minute later at the end of their chunks.
    let size = 64 * MIB;
    let hub = TestHub::start(
        vec![repo("org/m", vec![gen("w.bin", size, 4)])],
        Faults {
            bandwidth_per_connection: Some(64 * KIB),
            stall: 3,
            stall_after_bytes: 1000,
            stall_max: Some(Duration::from_secs(30)),
            ..Faults::default()
        },
    )
    .await
    .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&hub.endpoint(), dir.path(), None);
    let mut o = defaults(4 * MIB);
    o.connections = 16;
    o.initial_connections = 16;
    o.stall_timeout = Duration::from_millis(700);
    let t0 = Instant::now();
    let job = c.download_files("org/m", "main", &["w.bin"], o);
    let mut rx = job.progress();
    within(20, rx.wait_for(|p| p.connections >= 15))
        .await
        .expect("all connections start");
    let sampler = tokio::spawn(sample(job.progress(), t0));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    job.cancel();
    let _ = within(20, job.wait()).await;
    let samples = sampler.await.expect("sampler");
    assert_eq!(
        hub.stats().faults_injected.get("stall").copied(),
        Some(3),
        "{:?}",
        hub.stats()
    );
    let after: Vec<u32> = samples
        .iter()
        .filter(|s| s.0 > 2.5 && s.0 < 3.5)
        .map(|s| s.1)
        .collect();
    assert!(!after.is_empty(), "{}", trace(&samples));
    assert!(
        after.iter().all(|n| *n <= 12),
        "still more than 12 connections after the burst: {}",
        trace(&samples)
    );
}
