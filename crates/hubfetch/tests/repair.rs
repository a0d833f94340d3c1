//! Repair after a whole-file mismatch (issue 10, Deliver 3): it stops right after the bad
//! chunk, converges on a link that corrupts at random (majority of copies), continues after a
//! relaunch from the journal, and calls the server's file damaged only when it is.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hubfetch::{ErrorKind, Phase};
use testhub::{Faults, TestHub};

const MIB: u64 = 1024 * 1024;
const CHUNK: u64 = 64 * 1024;

/// One file of `size` bytes under `faults`; returns the hub, the result and the bytes served.
async fn run(
    size: u64,
    faults: Faults,
    o: hubfetch::Options,
    secs: u64,
) -> (
    TestHub,
    tempfile::TempDir,
    hubfetch::Result<Vec<hubfetch::ResolvedFile>>,
) {
    let hub = TestHub::start(
        vec![repo("org/m", vec![gen("model.bin", size, 17)])],
        faults,
    )
    .await
    .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&hub.endpoint(), dir.path(), None);
    let r = within(
        secs,
        c.download_files("org/m", "main", &["model.bin"], o).wait(),
    )
    .await;
    (hub, dir, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flipped_byte_is_located_and_costs_one_batch_of_chunks() {
    // 16 chunks, 4 connections: the repair fetches chunks in file order, 4 at a time, and stops
    // after the batch that holds the flip. Flip in chunk k: re-sent is k+1 .. ceil((k+1)/4)*4
    // chunks, so the figure says where the repair found it.
    let size = MIB;
    for k in [1u64, 9] {
        let at = k * CHUNK + 777;
        let (hub, _dir, r) = run(
            size,
            Faults {
                flip_byte_at: Some(at),
                flip_byte_at_count: 1,
                ..Faults::default()
            },
            opts(),
            60,
        )
        .await;
        let f = r.expect("repaired");
        assert_eq!(
            sha256_file(&f[0].local_path),
            hub.sha256("org/m", "model.bin").expect("sha")
        );
        let s = hub.stats();
        assert_eq!(s.faults_injected.get("flip_byte_at"), Some(&1), "{s:?}");
        let resent = s.body_bytes_sent - size;
        let most = (k + 1).div_ceil(4) * 4 * CHUNK;
        assert!(
            resent >= (k + 1) * CHUNK && resent <= most,
            "flip in chunk {k}: re-sent {resent} bytes, expected {}..={most}",
            (k + 1) * CHUNK
        );
        eprintln!(
            "one flipped byte in chunk {k} of 16: re-sent {} chunks ({resent} bytes)",
            resent / CHUNK
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_corruption_drops_stalls_and_503s_converge_without_blaming_the_server() {
    // The issue's fault mix, test-sized (the issue's 300 MiB takes minutes in a debug build:
    // `random_corruption_at_the_issues_size` below, ignored in CI): 32 MiB in 512 KiB chunks
    // (64 chunks), ~15 % of responses with one flipped byte at a random place, 5 % cut at a
    // random place, stalls longer than the stall timeout, 429/503 with Retry-After.
    random_corruption(32 * MIB, 512 * 1024, &[1, 2], 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes: the issue's 300 MiB (HUBFETCH_CORRUPT_MIB to change), run by hand"]
async fn random_corruption_at_the_issues_size() {
    let mib: u64 = std::env::var("HUBFETCH_CORRUPT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    random_corruption(mib * MIB, 4 * MIB, &[1], 1800).await;
}

async fn random_corruption(size: u64, chunk: u64, seeds: &[u64], secs: u64) {
    let mut o = opts();
    o.chunk_size = chunk;
    o.connections = 4;
    for &seed in seeds {
        let t = Instant::now();
        let (hub, _dir, r) = run(
            size,
            Faults {
                flip_probability: 0.15,
                drop_probability: 0.05,
                seed,
                stall: 3,
                stall_after_bytes: 100_000,
                stall_max: Some(Duration::from_secs(30)),
                status_429: 2,
                status_503: 2,
                retry_after_secs: 1,
                ..Faults::default()
            },
            o.clone(),
            secs,
        )
        .await;
        let s = hub.stats();
        let f = match r {
            Ok(f) => f,
            Err(e) => panic!("seed {seed}: did not converge: {e} ({s:?})"),
        };
        assert_eq!(
            sha256_file(&f[0].local_path),
            hub.sha256("org/m", "model.bin").expect("sha")
        );
        let flips = s
            .faults_injected
            .get("flip_probability")
            .copied()
            .unwrap_or(0);
        assert!(flips >= 5, "the link did corrupt: {s:?}");
        let ratio = s.body_bytes_sent as f64 / size as f64;
        assert!(
            ratio <= 3.0,
            "seed {seed}: served {ratio:.2} x the file ({flips} flipped responses)"
        );
        eprintln!(
            "random corruption, {} MiB in {} KiB chunks, seed {seed}: {flips} flipped responses of {}, served {ratio:.2} x the file, {:.1} s",
            size / MIB,
            chunk / 1024,
            s.cdn_requests,
            t.elapsed().as_secs_f64()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_damaged_on_the_server_is_named_so_after_one_confirming_pass() {
    // The server always serves the same wrong byte: every fresh copy agrees with the first,
    // so the repair fetches each chunk once more and then blames the server (kind Corrupt).
    let size = MIB;
    let (hub, dir, r) = run(
        size,
        Faults {
            flip_byte_at: Some(300_000),
            flip_byte_at_count: 0,
            ..Faults::default()
        },
        opts(),
        60,
    )
    .await;
    let e = r.expect_err("the server's file is damaged");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("server is damaged"), "{e}");
    let served = hub.stats().body_bytes_sent;
    assert_eq!(served, 2 * size, "one confirming copy of every chunk");
    let sha = hub.sha256("org/m", "model.bin").expect("sha");
    assert!(
        incomplete_path(dir.path(), "org/m", &sha).exists(),
        "partial data kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relaunch_continues_the_repair_from_the_journal() {
    // Flip in chunk 14 of 16, one connection, a slow link: cancel once the journal records
    // at least 6 confirmed chunks, then relaunch on a clean link. The second run fetches only
    // chunks the first did not confirm (up to the bad one), never the confirmed ones again.
    let size = MIB;
    let hub = TestHub::start(
        vec![repo("org/m", vec![gen("model.bin", size, 17)])],
        Faults {
            flip_byte_at: Some(14 * CHUNK + 5),
            flip_byte_at_count: 1,
            bandwidth_total: Some(MIB),
            ..Faults::default()
        },
    )
    .await
    .expect("testhub");
    let sha = hub.sha256("org/m", "model.bin").expect("sha");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&hub.endpoint(), dir.path(), None);
    let mut o = opts();
    o.connections = 1;
    let job = c.download_files("org/m", "main", &["model.bin"], o.clone());
    let mut rx = job.progress();
    within(60, rx.wait_for(|p| p.phase == Phase::Repairing))
        .await
        .expect("repairing");
    let jp = journal_path(dir.path(), "org/m", &sha);
    let confirmed = within(60, async {
        loop {
            if let Some(j) = hubfetch::journal::Journal::load(&jp) {
                if j.repair.confirmed.len() >= 6 {
                    return j.repair.confirmed.len() as u64;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    job.cancel();
    let _ = within(30, job.wait()).await;
    let j = hubfetch::journal::Journal::load(&jp).expect("journal kept");
    let confirmed = confirmed.max(j.repair.confirmed.len() as u64);
    assert!(
        confirmed < 14,
        "cancelled before the bad chunk: {confirmed}"
    );
    hub.set_faults(Faults::default());
    hub.reset_stats();
    let f = within(
        60,
        c.download_files("org/m", "main", &["model.bin"], o).wait(),
    )
    .await
    .expect("repaired after the relaunch");
    assert_eq!(sha256_file(&f[0].local_path), sha);
    let served = hub.stats().body_bytes_sent;
    // Chunks 0..=14 less the confirmed ones, plus the one in flight at the cancel.
    let most = (15 - confirmed + 1) * CHUNK;
    assert!(
        served <= most,
        "second run served {served} bytes, at most {most} expected ({confirmed} chunks were confirmed)"
    );
    assert!(served >= CHUNK, "the bad chunk was fetched again");
}
