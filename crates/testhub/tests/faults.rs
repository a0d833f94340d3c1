//! Each fault actually happens, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::*;
use testhub::{Faults, FileContent, Repo, RepoFile, TestHub};

async fn hub_with(faults: Faults) -> TestHub {
    TestHub::start(vec![repo()], faults).await.expect("start")
}

fn injected(hub: &TestHub, name: &str) -> u64 {
    hub.stats().faults_injected.get(name).copied().unwrap_or(0)
}

#[tokio::test]
async fn drop_mid_body_gives_a_short_read_then_recovers() {
    let hub = hub_with(Faults {
        drop_mid_body: 2,
        ..Faults::default()
    })
    .await;
    let loc = location(&hub, BIG).await;
    for _ in 0..2 {
        let (s, b, err) = get_all(&loc, None).await;
        assert_eq!(s, 200);
        assert!(err, "the body should end in an error");
        assert!((b.len() as u64) < BIG_SIZE, "short read, got {}", b.len());
        assert_eq!(
            b,
            &big_bytes()[..b.len()],
            "bytes before the drop are right"
        );
    }
    let (s, b, err) = get_all(&loc, None).await;
    assert_eq!((s, err, b.len() as u64), (200, false, BIG_SIZE));
    assert_eq!(injected(&hub, "drop_mid_body"), 2);
    hub.shutdown().await;
}

#[tokio::test]
async fn drop_probability_is_seeded() {
    let hub = hub_with(Faults {
        drop_probability: 0.5,
        seed: 7,
        ..Faults::default()
    })
    .await;
    let loc = location(&hub, BIG).await;
    let mut pattern = Vec::new();
    for _ in 0..12 {
        let (_, b, err) = get_all(&loc, Some("bytes=0-99999")).await;
        assert_eq!(err, b.len() < 100_000);
        pattern.push(err);
    }
    let drops = pattern.iter().filter(|d| **d).count();
    assert!(drops > 0 && drops < 12, "{pattern:?}");
    assert_eq!(injected(&hub, "drop_probability"), drops as u64);
    // same seed → same pattern
    hub.set_faults(Faults {
        drop_probability: 0.5,
        seed: 7,
        ..Faults::default()
    });
    let mut again = Vec::new();
    for _ in 0..12 {
        again.push(get_all(&loc, Some("bytes=0-99999")).await.2);
    }
    assert_eq!(pattern, again);
    hub.shutdown().await;
}

#[tokio::test]
async fn flip_byte_corrupts_silently() {
    let hub = hub_with(Faults {
        flip_byte: 1,
        ..Faults::default()
    })
    .await;
    let loc = location(&hub, BIG).await;
    let big = big_bytes();
    let (s, b, err) = get_all(&loc, Some("bytes=1000-2999")).await;
    assert_eq!((s, err, b.len()), (206, false, 2000));
    let diffs: Vec<usize> = (0..2000).filter(|i| b[*i] != big[1000 + i]).collect();
    assert_eq!(diffs.len(), 1, "exactly one byte differs");
    let (_, b, _) = get_all(&loc, Some("bytes=1000-2999")).await;
    assert_eq!(b, &big[1000..3000]);
    assert_eq!(injected(&hub, "flip_byte"), 1);
    hub.shutdown().await;
}

#[tokio::test]
async fn flip_byte_at_offset() {
    let hub = hub_with(Faults {
        flip_byte_at: Some(123_456),
        ..Faults::default()
    })
    .await;
    let loc = location(&hub, BIG).await;
    let big = big_bytes();
    for _ in 0..2 {
        let (_, b, _) = get_all(&loc, None).await;
        let diffs: Vec<usize> = (0..b.len()).filter(|i| b[*i] != big[*i]).collect();
        assert_eq!(diffs, vec![123_456]);
    }
    // a range not covering it is clean
    let (_, b, _) = get_all(&loc, Some("bytes=0-1000")).await;
    assert_eq!(b, &big[..1001]);
    // limited count
    hub.set_faults(Faults {
        flip_byte_at: Some(5),
        flip_byte_at_count: 1,
        ..Faults::default()
    });
    let (_, b, _) = get_all(&loc, Some("bytes=0-9")).await;
    assert_ne!(b, &big[..10]);
    let (_, b, _) = get_all(&loc, Some("bytes=0-9")).await;
    assert_eq!(b, &big[..10]);
    hub.shutdown().await;
}

#[tokio::test]
async fn status_faults_have_retry_after() {
    let hub = hub_with(Faults {
        status_503: 1,
        status_429: 1,
        retry_after_secs: 3,
        ..Faults::default()
    })
    .await;
    let url = format!("{}/{REPO}/resolve/main/{BIG}", hub.endpoint());
    let r = client().head(&url).send().await.expect("send");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    let r = client().head(&url).send().await.expect("send");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(
        client().head(&url).send().await.expect("send").status(),
        302
    );
    // per-site counters: CDN only
    hub.set_faults(Faults {
        cdn_503: 1,
        retry_after_secs: 1,
        ..Faults::default()
    });
    let loc = location(&hub, BIG).await;
    let r = client().get(&loc).send().await.expect("send");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        client().head(&loc).send().await.expect("send").status(),
        200
    );
    let st = hub.stats();
    assert_eq!(st.faults_injected.get("status_429"), Some(&1));
    assert_eq!(st.faults_injected.get("status_503"), Some(&1));
    assert_eq!(st.faults_injected.get("cdn_503"), Some(&1));
    hub.shutdown().await;
}

#[tokio::test]
async fn stall_sends_some_bytes_then_nothing() {
    let hub = hub_with(Faults {
        stall: 1,
        stall_after_bytes: 10_000,
        stall_max: Some(Duration::from_secs(30)),
        ..Faults::default()
    })
    .await;
    let loc = location(&hub, BIG).await;
    let mut resp = client().get(&loc).send().await.expect("send");
    let mut got = 0usize;
    loop {
        match tokio::time::timeout(Duration::from_millis(1500), resp.chunk()).await {
            Ok(Ok(Some(c))) => got += c.len(),
            Ok(Ok(None)) => panic!("body ended, expected a stall"),
            Ok(Err(e)) => panic!("body failed, expected a stall: {e}"),
            Err(_) => break, // stalled: no byte for 1.5 s
        }
    }
    assert_eq!(got, 10_000);
    drop(resp);
    assert_eq!(injected(&hub, "stall"), 1);
    // next request is fine; shutdown does not wait for the stall
    let (_, b, err) = get_all(&loc, Some("bytes=0-99")).await;
    assert_eq!((b.len(), err), (100, false));
    let mut resp = client().get(&loc).send().await.expect("send");
    let _ = resp.chunk().await;
    hub.set_faults(Faults {
        stall: 1,
        stall_after_bytes: 0,
        ..Faults::default()
    });
    let pending = tokio::spawn(async move { get_all(&loc, None).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    hub.shutdown().await;
    let (_, b, err) = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("stalled request ends at shutdown")
        .expect("task");
    assert!(err && b.is_empty());
}

#[tokio::test]
async fn ignore_range_answers_200_with_everything() {
    let hub = hub_with(Faults {
        ignore_range: 1,
        ..Faults::default()
    })
    .await;
    let loc = location(&hub, BIG).await;
    let (s, b, _) = get_all(&loc, Some("bytes=10-19")).await;
    assert_eq!((s, b.len() as u64), (200, BIG_SIZE));
    let (s, b, _) = get_all(&loc, Some("bytes=10-19")).await;
    assert_eq!((s, b.len()), (206, 10));
    assert_eq!(injected(&hub, "ignore_range"), 1);
    hub.shutdown().await;
}

#[tokio::test]
async fn truncate_body_sends_less_than_content_length() {
    let hub = hub_with(Faults {
        truncate_body: 1,
        ..Faults::default()
    })
    .await;
    let loc = location(&hub, BIG).await;
    let r = client()
        .get(&loc)
        .header("range", "bytes=0-9999")
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["content-length"], "10000");
    let mut r = r;
    let mut n = 0;
    let mut failed = false;
    loop {
        match r.chunk().await {
            Ok(Some(c)) => n += c.len(),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed && n < 10_000, "n={n}");
    assert_eq!(injected(&hub, "truncate_body"), 1);
    hub.shutdown().await;
}

#[tokio::test]
async fn upstream_changes_mid_download() {
    let hub = hub_with(Faults {
        change_upstream_after_bytes: Some(1_000_000),
        ..Faults::default()
    })
    .await;
    let c1 = hub.commit(REPO).expect("commit");
    let s1 = hub.sha256(REPO, BIG).expect("sha");
    let loc = location(&hub, BIG).await;
    let (_, b, err) = get_all(&loc, None).await;
    assert!(!err);
    assert_eq!(
        sha256_hex(&b),
        s1,
        "the download in progress finishes with the old bytes"
    );
    // the change is applied in the background (hashing the new content)
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub.commit(REPO).as_deref() == Some(c1.as_str()) {
        assert!(Instant::now() < deadline, "upstream never changed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s2 = hub.sha256(REPO, BIG).expect("sha");
    assert_ne!(s1, s2);
    let r = client()
        .head(format!("{}/{REPO}/resolve/main/{BIG}", hub.endpoint()))
        .send()
        .await
        .expect("resolve");
    assert_eq!(r.headers()["x-linked-etag"], format!("\"{s2}\"").as_str());
    let (_, b, _) = get_all(&location(&hub, BIG).await, None).await;
    assert_eq!(sha256_hex(&b), s2);
    assert_eq!(b.len() as u64, BIG_SIZE);
    assert_eq!(injected(&hub, "change_upstream"), 1);
    hub.shutdown().await;
}

#[tokio::test]
async fn upstream_change_can_retire_old_blobs() {
    let hub = hub_with(Faults {
        change_upstream_after_bytes: Some(10),
        retire_old_blobs: true,
        ..Faults::default()
    })
    .await;
    let c1 = hub.commit(REPO).expect("commit");
    let loc = location(&hub, BIG).await;
    let _ = get_all(&loc, Some("bytes=0-99")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub.commit(REPO).as_deref() == Some(c1.as_str()) {
        assert!(Instant::now() < deadline, "upstream never changed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        client().head(&loc).send().await.expect("head").status(),
        404
    );
    hub.shutdown().await;
}

/// Mean rate of downloading `n` ranges of `len` bytes in parallel, in bytes/s.
async fn parallel_rate(loc: &str, n: u64, len: u64) -> f64 {
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let loc = loc.to_string();
        tasks.push(tokio::spawn(async move {
            let a = i * len;
            let (_, b, err) = get_all(&loc, Some(&format!("bytes={a}-{}", a + len - 1))).await;
            assert!(!err);
            b.len() as u64
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert_eq!(total, n * len);
    total as f64 / t0.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_caps_within_15_percent() {
    let size = 16 * 1024 * 1024;
    let r = Repo::new(
        "org/bw",
        vec![RepoFile::new(
            "w.safetensors",
            FileContent::Generated { size, seed: 1 },
        )],
    );
    let hub = TestHub::start(
        vec![r],
        Faults {
            bandwidth_per_connection: Some(1_000_000),
            ..Faults::default()
        },
    )
    .await
    .expect("start");
    let loc = client()
        .get(format!(
            "{}/org/bw/resolve/main/w.safetensors",
            hub.endpoint()
        ))
        .send()
        .await
        .expect("resolve")
        .headers()["location"]
        .to_str()
        .expect("loc")
        .to_string();
    // per connection: 1 MB/s each, 3 connections → 3 MB/s together
    let rate = parallel_rate(&loc, 3, 2_500_000).await;
    assert!(
        (rate - 3_000_000.0).abs() < 0.15 * 3_000_000.0,
        "per-connection rate {rate}"
    );
    // per connection, many small sequential ranges on one keep-alive connection: still capped
    let c = client();
    let t0 = Instant::now();
    let mut total = 0usize;
    for i in 0..24u64 {
        let a = i * 65_536;
        let r = c
            .get(&loc)
            .header("range", format!("bytes={a}-{}", a + 65_535))
            .send()
            .await
            .expect("range");
        total += r.bytes().await.expect("body").len();
    }
    let rate = total as f64 / t0.elapsed().as_secs_f64();
    // each request's own latency adds to the paced time, so only the cap is asserted
    assert!(
        rate < 1_150_000.0,
        "small ranges got more than the cap: {rate}"
    );
    assert!(rate > 400_000.0, "small ranges far below the cap: {rate}");
    // total: 2 MB/s shared by 4 connections
    hub.set_faults(Faults {
        bandwidth_total: Some(2_000_000),
        ..Faults::default()
    });
    let rate = parallel_rate(&loc, 4, 1_500_000).await;
    assert!(
        (rate - 2_000_000.0).abs() < 0.15 * 2_000_000.0,
        "total rate {rate}"
    );
    hub.shutdown().await;
}
