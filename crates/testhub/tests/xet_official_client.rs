//! Conformance of `testhub`'s Xet CAS with the reference client: the real `huggingface_hub` +
//! `hf_xet` (PyPI, in the venv from `scripts/setup-python.sh`) download Xet-backed files from
//! it and get byte-identical files — and really went through Xet (token, reconstruction,
//! xorb transfers; not one byte from the plain CDN). Plus the CAS's refusals, over real HTTP.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use testhub::{generated_bytes, FileContent, Repo, RepoFile, TestHub, XetCompression, XetOptions};

const REPO: &str = "kyutai/xet-tiny";

fn files() -> Vec<(String, Vec<u8>)> {
    let mut random = vec![0u8; 3 << 20];
    generated_bytes(random.len() as u64, 11, 0, &mut random);
    // bf16-like: compressible with byte grouping; and a file with repeated content (dedup:
    // terms that point back into earlier xorb ranges).
    let mut weights = Vec::with_capacity(2 << 20);
    for (i, b) in random[..1 << 20].iter().enumerate() {
        weights.push(*b);
        weights.push(0x3c + (i % 3) as u8);
    }
    let mut repeated = random[..300_000].to_vec();
    repeated.extend_from_slice(&random[..300_000]);
    repeated.extend(vec![0u8; 500_000]);
    vec![
        ("model.safetensors".to_string(), random),
        ("weights.bin".to_string(), weights),
        ("sub/repeated.bin".to_string(), repeated),
    ]
}

async fn hub(opts: XetOptions) -> (TestHub, Vec<(String, Vec<u8>)>) {
    let files = files();
    let repo = Repo::new(
        REPO,
        files
            .iter()
            .map(|(p, d)| {
                let mut f = RepoFile::new(p.clone(), FileContent::Bytes(d.clone()));
                f.lfs = Some(true);
                f
            })
            .collect(),
    );
    let hub = TestHub::start(vec![repo], testhub::Faults::default())
        .await
        .expect("start");
    hub.enable_xet(opts).await.expect("xet");
    (hub, files)
}

/// Runs `hf_hub_download` for each file with Xet on; returns the local paths.
fn python_download(endpoint: &str, cache: &std::path::Path, names: &[String]) -> Vec<PathBuf> {
    let script = "import sys\nfrom huggingface_hub import hf_hub_download\n\
                  for n in sys.argv[2:]:\n    print(hf_hub_download(sys.argv[1], n))";
    let out = Command::new(test_util::venv_python())
        .arg("-c")
        .arg(script)
        .arg(REPO)
        .args(names)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HUB_CACHE", cache)
        .env("HF_XET_CACHE", cache.join("xet"))
        .env_remove("HF_HUB_DISABLE_XET")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "hf_hub_download failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(PathBuf::from)
        .collect()
}

async fn conformance(opts: XetOptions) {
    let (hub, files) = hub(opts).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let names: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let endpoint = hub.endpoint();
    let cache_path = cache.path().to_path_buf();
    let paths =
        tokio::task::spawn_blocking(move || python_download(&endpoint, &cache_path, &names))
            .await
            .expect("join");
    assert_eq!(paths.len(), files.len());
    for ((name, data), path) in files.iter().zip(&paths) {
        let got = std::fs::read(path).expect("read download");
        assert!(
            got == *data,
            "{name}: bytes differ ({} vs {} bytes)",
            got.len(),
            data.len()
        );
    }
    let xet = hub.xet_stats();
    let stats = hub.stats();
    assert!(xet.token_requests >= 1, "{xet:?}");
    assert!(xet.reconstruction_requests >= files.len() as u64, "{xet:?}");
    assert!(xet.xorb_requests >= 1, "{xet:?}");
    assert_eq!(xet.refused, 0, "{xet:?}");
    assert_eq!(
        stats.cdn_requests, 0,
        "the plain CDN path was used: {stats:?}"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hf_xet_downloads_byte_identical_files_v2() {
    conformance(XetOptions {
        max_xorb_bytes: 1 << 20,
        ..XetOptions::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hf_xet_downloads_byte_identical_files_v1_fallback_bg4() {
    conformance(XetOptions {
        max_xorb_bytes: 512 << 10,
        v2: false,
        compression: XetCompression::ByteGrouping4Lz4,
        ..XetOptions::default()
    })
    .await;
}

/// HEAD headers, token, reconstruction and transfer refusals, over real HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_refuses_what_the_hub_refuses() {
    let (hub, files) = hub(XetOptions {
        max_xorb_bytes: 1 << 20,
        token_lifetime: Duration::from_millis(1500),
        ..XetOptions::default()
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let ep = hub.endpoint();
    let head = http
        .head(format!("{ep}/{REPO}/resolve/main/model.safetensors"))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 302);
    let xet_hash = head.headers()["x-xet-hash"]
        .to_str()
        .expect("hash")
        .to_string();
    let link = head.headers()["link"].to_str().expect("link").to_string();
    assert!(link.contains("rel=\"xet-auth\""), "{link}");
    assert!(
        link.contains(&format!("/v1/reconstructions/{xet_hash}>")),
        "{link}"
    );

    let tok: serde_json::Value = http
        .get(format!("{ep}/api/models/{REPO}/xet-read-token/main"))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let cas = tok["casUrl"].as_str().expect("casUrl").to_string();
    let access = tok["accessToken"].as_str().expect("token").to_string();
    let recon = |range: Option<&str>, token: &str| {
        let mut r = http
            .get(format!("{cas}/v2/reconstructions/{xet_hash}"))
            .bearer_auth(token);
        if let Some(range) = range {
            r = r.header("range", range);
        }
        r.send()
    };
    assert_eq!(recon(None, "nope").await.expect("send").status(), 401);
    let size = files[0].1.len();
    assert_eq!(
        recon(Some(&format!("bytes={size}-")), &access)
            .await
            .expect("send")
            .status(),
        416
    );
    // A range in the middle: trimmed terms, offset into the first, signed xorb ranges.
    let start = 1_000_000u64;
    let r: serde_json::Value = recon(Some(&format!("bytes={start}-1999999")), &access)
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let offset = r["offset_into_first_range"].as_u64().expect("offset");
    assert!(offset > 0 && offset < start, "{offset}");
    let (xorb, fetches) = r["xorbs"]
        .as_object()
        .expect("xorbs")
        .iter()
        .next()
        .expect("one");
    let fetch = &fetches[0];
    let url = fetch["url"].as_str().expect("url");
    let bytes = &fetch["ranges"][0]["bytes"];
    let (a, b) = (
        bytes["start"].as_u64().expect("a"),
        bytes["end"].as_u64().expect("b"),
    );
    let get = |range: String| http.get(url).header("range", range).send();
    let ok = get(format!("bytes={a}-{b}")).await.expect("send");
    assert_eq!(ok.status(), 206, "{xorb}");
    assert_eq!(ok.bytes().await.expect("body").len() as u64, b - a + 1);
    // Any other range on that URL is refused: the signature binds the range.
    assert_eq!(
        get(format!("bytes={a}-{}", b + 1))
            .await
            .expect("send")
            .status(),
        403
    );
    assert_eq!(
        get(format!("bytes={}-{b}", a + 1))
            .await
            .expect("send")
            .status(),
        403
    );
    let tampered = url.replace("ranges=", "ranges=0-1,");
    let t = http
        .get(tampered)
        .header("range", "bytes=0-1")
        .send()
        .await
        .expect("send");
    assert_eq!(t.status(), 403);
    // The token expires.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(recon(None, &access).await.expect("send").status(), 401);
    hub.shutdown().await;
}
