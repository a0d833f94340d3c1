//! Housekeeping (issue 10 item 8): `scan` lists what `hf cache scan` lists (checked against
//! the real `huggingface_hub` on a cache it made), `prune` deletes abandoned partials and
//! unreferenced blobs and nothing else (a resumable partial still resumes afterwards, a running
//! download's files are never touched), `--dry-run` deletes nothing, `delete_repo` removes a
//! model and is refused while it is being downloaded.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use fs4::FileExt;
use hubfetch::{PartialKind, PruneOptions};
use testhub::{Faults, FileContent, TestHub};

const KIB: u64 = 1024;

fn blobs(cache: &Path, repo: &str) -> PathBuf {
    storage(cache, repo).join("blobs")
}

fn hex64(seed: u8) -> String {
    format!("{:02x}", seed).repeat(32)
}

/// A cache made by hubfetch with every kind of partial file in it; returns
/// (hub, cache dir, paths that prune must delete, paths it must keep).
async fn messy_cache() -> (
    TestHub,
    tempfile::TempDir,
    Vec<PathBuf>,
    Vec<PathBuf>,
    fs4_lock::Held,
) {
    let hub = TestHub::start(
        vec![repo(
            "org/m",
            vec![gen("a.bin", 300 * KIB, 1), gen("b.bin", 2048 * KIB, 2)],
        )],
        Faults::default(),
    )
    .await
    .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&hub.endpoint(), dir.path(), None);
    within(
        60,
        c.download_files("org/m", "main", &["a.bin"], opts()).wait(),
    )
    .await
    .expect("a.bin");
    // b.bin: a resumable partial (journal, some verified chunks), left by a cancel.
    hub.set_faults(Faults {
        bandwidth_total: Some(512 * KIB),
        ..Faults::default()
    });
    let job = c.download_files("org/m", "main", &["b.bin"], opts());
    let mut rx = job.progress();
    within(30, rx.wait_for(|p| p.bytes_done > 512 * KIB))
        .await
        .expect("progress");
    job.cancel();
    let _ = within(30, job.wait()).await;
    hub.set_faults(Faults::default());

    let b = blobs(dir.path(), "org/m");
    let a_sha = hub.sha256("org/m", "a.bin").expect("sha");
    let b_sha = hub.sha256("org/m", "b.bin").expect("sha");
    let write = |name: String, len: usize| {
        let p = b.join(name);
        std::fs::write(&p, vec![7u8; len]).expect("write");
        p
    };
    let must_go = vec![
        write(format!("{}.chunked.incomplete", hex64(0x11)), 4096), // no journal
        write(format!("{}.1a2b3c4d.incomplete", hex64(0x12)), 4096), // huggingface_hub's
        write(format!("{a_sha}.corrupt"), 4096),                    // moved aside
        write(format!("{a_sha}.chunked.incomplete"), 4096),         // blob is complete
        write(hex64(0x13), 8192),                                   // no snapshot links it
    ];
    // A download "running now": its lock is held, so its files are kept whatever they are.
    let active = write(format!("{}.chunked.incomplete", hex64(0x14)), 4096);
    let held = fs4_lock::hold(
        &dir.path()
            .join("hub/.locks/models--org--m")
            .join(format!("{}.lock", hex64(0x14))),
    );
    let must_stay = vec![
        b.join(&a_sha),
        b.join(format!("{b_sha}.chunked.incomplete")),
        b.join(format!("{b_sha}.chunked.journal")),
        active,
    ];
    for p in must_go.iter().chain(&must_stay) {
        assert!(p.exists(), "set-up: {}", p.display());
    }
    (hub, dir, must_go, must_stay, held)
}

mod fs4_lock {
    use super::*;
    /// A lock file held (flock) until dropped, like a running download holds it.
    pub struct Held(#[allow(dead_code)] std::fs::File);
    pub fn hold(p: &Path) -> Held {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(p)
            .expect("lock file");
        FileExt::try_lock(&f).expect("lock");
        Held(f)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_and_prune_a_cache_with_partials() {
    let (hub, dir, must_go, must_stay, held) = messy_cache().await;
    let c = client(&hub.endpoint(), dir.path(), None);
    let info = c.scan_cache().expect("scan");
    assert_eq!(info.repos.len(), 1, "{info:?}");
    let r = &info.repos[0];
    assert_eq!(
        (r.repo_id.as_str(), r.repo_type.as_str()),
        ("org/m", "model")
    );
    assert_eq!(r.revisions.len(), 1);
    assert_eq!(r.revisions[0].refs, vec!["main".to_string()]);
    assert_eq!(r.revisions[0].commit, hub.commit("org/m").expect("commit"));
    let files: Vec<&str> = r.revisions[0]
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(files, vec!["a.bin"]);
    assert_eq!(r.revisions[0].size_on_disk, 300 * KIB);
    assert_eq!(r.unreferenced.len(), 1);
    assert_eq!(r.unreferenced[0].etag, hex64(0x13));
    // The cancelled download: resumable, with its verified bytes and repo path.
    let b_sha = hub.sha256("org/m", "b.bin").expect("sha");
    let b = r
        .partials
        .iter()
        .find(|p| p.etag == b_sha)
        .expect("b.bin partial");
    assert_eq!(b.kind, PartialKind::Hubfetch);
    assert_eq!(b.path.as_deref(), Some("b.bin"));
    assert_eq!(b.size, Some(2048 * KIB));
    assert!(
        b.bytes_verified >= 256 * KIB && b.bytes_verified < 2048 * KIB,
        "{b:?}"
    );
    assert!(b.abandoned.is_none() && !b.active, "{b:?}");
    let active = r
        .partials
        .iter()
        .find(|p| p.etag == hex64(0x14))
        .expect("active");
    assert!(active.active && active.abandoned.is_none(), "{active:?}");
    let abandoned = r.partials.iter().filter(|p| p.abandoned.is_some()).count();
    assert_eq!(abandoned, 4, "{:?}", r.partials);

    // Dry run: the list, nothing deleted.
    let mut o = PruneOptions::default();
    o.dry_run = true;
    let dry = c.prune(&o).expect("dry run");
    let mut listed: Vec<PathBuf> = dry.removed.iter().map(|r| r.0.clone()).collect();
    listed.sort();
    let mut want = must_go.clone();
    want.sort();
    assert_eq!(listed, want, "{dry:?}");
    assert!(dry.freed >= 8192, "{dry:?}");
    for p in &must_go {
        assert!(p.exists(), "dry run deleted {}", p.display());
    }

    // The real run deletes exactly those.
    let done = c.prune(&PruneOptions::default()).expect("prune");
    let mut removed: Vec<PathBuf> = done.removed.iter().map(|r| r.0.clone()).collect();
    removed.sort();
    assert_eq!(removed, want);
    for p in &must_go {
        assert!(!p.exists(), "kept {}", p.display());
    }
    for p in &must_stay {
        assert!(p.exists(), "deleted {}", p.display());
    }
    // Nothing left to prune; what is cached still serves and the partial still resumes.
    assert!(c
        .prune(&PruneOptions::default())
        .expect("again")
        .removed
        .is_empty());
    hub.reset_stats();
    let files = within(
        60,
        c.download_files("org/m", "main", &["a.bin", "b.bin"], opts())
            .wait(),
    )
    .await
    .expect("after prune");
    assert!(!files[0].downloaded, "a.bin came from the cache");
    let sent = hub.stats().body_bytes_sent;
    assert!(
        sent < 2048 * KIB - 256 * KIB,
        "b.bin resumed: {sent} bytes sent"
    );
    assert_eq!(sha256_file(&files[1].local_path), b_sha);

    // Delete the model: refused while a download holds a lock, done once it ends.
    let e = c.delete_repo("org/m", false).expect_err("busy");
    assert!(e.to_string().contains("being downloaded"), "{e}");
    assert!(storage(dir.path(), "org/m").exists());
    drop(held);
    let dry = c.delete_repo("org/m", true).expect("dry run");
    assert!(dry.freed >= (300 + 2048) * KIB, "{dry:?}");
    assert!(storage(dir.path(), "org/m").exists(), "dry run deleted");
    c.delete_repo("org/m", false).expect("delete");
    assert!(!storage(dir.path(), "org/m").exists());
    assert!(c.scan_cache().expect("scan").repos.is_empty());
}

const SCAN: &str = r#"
import json, sys
from huggingface_hub import scan_cache_dir
i = scan_cache_dir(sys.argv[1])
print(json.dumps({
  "size": i.size_on_disk,
  "warnings": [str(w) for w in i.warnings],
  "repos": [{
    "id": r.repo_id, "type": r.repo_type, "size": r.size_on_disk, "nb_files": r.nb_files,
    "revisions": sorted([{"commit": v.commit_hash, "refs": sorted(v.refs), "nb_files": v.nb_files,
                          "size": v.size_on_disk} for v in r.revisions], key=lambda v: v["commit"]),
  } for r in sorted(i.repos, key=lambda r: r.repo_id)],
}))
"#;

const DOWNLOAD: &str = r#"
import sys
from huggingface_hub import hf_hub_download
for f in sys.argv[2:]:
    print(hf_hub_download(sys.argv[1], f, revision="main", local_files_only=False))
"#;

/// Our scan in the shape of the Python one above.
fn ours(c: &hubfetch::Client) -> serde_json::Value {
    let i = c.scan_cache().expect("scan");
    serde_json::json!({
        "size": i.size_on_disk,
        "warnings": i.warnings,
        "repos": i.repos.iter().map(|r| {
            let mut revs: Vec<serde_json::Value> = r.revisions.iter().map(|v| {
                let mut refs = v.refs.clone();
                refs.sort();
                serde_json::json!({"commit": v.commit, "refs": refs, "nb_files": v.files.len(), "size": v.size_on_disk})
            }).collect();
            revs.sort_by_key(|v| v["commit"].as_str().unwrap_or_default().to_string());
            serde_json::json!({"id": r.repo_id, "type": r.repo_type, "size": r.size_on_disk,
                               "nb_files": r.nb_files, "revisions": revs})
        }).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_huggingface_hub_scan_and_prunes_its_cache() {
    let hub = TestHub::start(
        vec![repo(
            "org/i",
            vec![
                gen("model.bin", 300 * KIB, 31),
                bytes("config.json", b"{\"k\": 1}\n", Some(false)),
            ],
        )],
        Faults::default(),
    )
    .await
    .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let (ep, cache) = (hub.endpoint(), dir.path().to_path_buf());
    let py = |code: &'static str, args: Vec<String>| {
        let (ep, cache) = (ep.clone(), cache.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                run_python(code, &a, &ep, &cache)
            })
            .await
            .expect("join")
        }
    };
    // huggingface_hub downloads both files, then main moves (model.bin changes) and it
    // downloads model.bin again: two revisions, three blobs.
    py(
        DOWNLOAD,
        vec!["org/i".into(), "model.bin".into(), "config.json".into()],
    )
    .await;
    let old = hub.commit("org/i").expect("commit");
    hub.replace_file(
        "org/i",
        "model.bin",
        FileContent::Generated {
            size: 200 * KIB,
            seed: 32,
        },
    );
    py(DOWNLOAD, vec!["org/i".into(), "model.bin".into()]).await;
    let c = client(&hub.endpoint(), dir.path(), None);
    let theirs = |s: String| -> serde_json::Value { serde_json::from_str(&s).expect("json") };
    let hub_dir = dir.path().join("hub").display().to_string();
    let before = theirs(py(SCAN, vec![hub_dir.clone()]).await);
    assert_eq!(ours(&c), before, "same view of the cache as hf cache scan");
    assert_eq!(
        before["repos"][0]["revisions"].as_array().map(Vec::len),
        Some(2)
    );

    // Nothing unreferenced yet: prune keeps every blob (the old revision still links its own).
    assert!(c
        .prune(&PruneOptions::default())
        .expect("prune")
        .removed
        .is_empty());
    // The old snapshot folder goes (as a user might delete it): its two blobs are orphans.
    std::fs::remove_dir_all(storage(dir.path(), "org/i").join("snapshots").join(&old))
        .expect("rm old snapshot");
    let r = c.prune(&PruneOptions::default()).expect("prune");
    assert_eq!(r.removed.len(), 2, "{r:?}");
    assert!(r.removed.iter().all(|(p, _)| !p.exists()));
    let after = theirs(py(SCAN, vec![hub_dir.clone()]).await);
    assert_eq!(after["warnings"], serde_json::json!([]), "{after}");
    assert_eq!(after["repos"][0]["size"], 200 * KIB, "{after}");
    assert_eq!(ours(&c), after);
    // huggingface_hub still finds the current file offline.
    let found = py(
        r#"
import sys
from huggingface_hub import hf_hub_download
print(hf_hub_download("org/i", "model.bin", local_files_only=True))
"#,
        vec![],
    )
    .await;
    assert!(found.trim().ends_with("model.bin"), "{found}");

    c.delete_repo("org/i", false).expect("delete");
    let gone = theirs(py(SCAN, vec![hub_dir]).await);
    assert_eq!(gone["repos"], serde_json::json!([]), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_status_and_prune_dry_run() {
    let (hub, dir, must_go, _stay, _held) = messy_cache().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubfetch"))
            .args(args)
            .env("HF_HUB_CACHE", dir.path().join("hub"))
            .env("HF_ENDPOINT", hub.endpoint())
            .output()
            .expect("run hubfetch");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let s = run(&["status", "-v"]);
    assert!(
        s.contains("org/m") && s.contains(&hub.commit("org/m").expect("c")),
        "{s}"
    );
    assert!(s.contains("b.bin") && s.contains("resumable"), "{s}");
    assert!(
        s.contains("downloading now") && s.contains("abandoned"),
        "{s}"
    );
    let d = run(&["prune", "--dry-run"]);
    assert!(d.contains("Would delete 5 item(s)"), "{d}");
    for p in &must_go {
        assert!(p.exists());
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}
