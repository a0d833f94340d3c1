//! The Hub and CDN behaviour without faults: resolve, ranges, listing, errors, auth, signing.

mod common;

use common::*;
use testhub::{Faults, FileContent, Repo, RepoFile, TestHub};

#[tokio::test]
async fn resolve_lfs_redirects_with_exact_headers() {
    let hub = TestHub::start(vec![repo()], Faults::default())
        .await
        .expect("start");
    let sha = sha256_hex(&big_bytes());
    assert_eq!(hub.sha256(REPO, BIG).as_deref(), Some(sha.as_str()));
    let commit = hub.commit(REPO).expect("commit");
    assert_eq!(commit.len(), 40);
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let r = client()
            .request(
                method.clone(),
                format!("{}/{REPO}/resolve/main/{BIG}", hub.endpoint()),
            )
            .send()
            .await
            .expect("resolve");
        assert_eq!(r.status(), 302, "{method}");
        let h = r.headers();
        let loc = h["location"].to_str().expect("location");
        assert!(
            loc.starts_with(&format!("{}/blobs/{sha}?", hub.cdn_endpoint())),
            "{loc}"
        );
        assert!(loc.contains("sig=") && loc.contains("exp="), "{loc}");
        assert_eq!(h["x-repo-commit"], commit.as_str());
        assert_eq!(h["x-linked-etag"], format!("\"{sha}\"").as_str());
        assert_eq!(h["etag"], format!("\"{sha}\"").as_str());
        assert_eq!(h["x-linked-size"], BIG_SIZE.to_string().as_str());
        let cl: usize = h["content-length"]
            .to_str()
            .expect("cl")
            .parse()
            .expect("cl number");
        let body = r.bytes().await.expect("body");
        if method == reqwest::Method::GET {
            assert_eq!(body.len(), cl);
        } else {
            assert!(body.is_empty());
            assert!(cl > 0);
        }
    }
    // resolving by commit sha works too
    let r = client()
        .head(format!("{}/{REPO}/resolve/{commit}/{BIG}", hub.endpoint()))
        .send()
        .await
        .expect("resolve by commit");
    assert_eq!(r.status(), 302);
    assert_eq!(hub.stats().resolve_requests, 3);
    hub.shutdown().await;
}

#[tokio::test]
async fn small_file_is_served_directly_with_git_etag() {
    let hub = TestHub::start(vec![repo()], Faults::default())
        .await
        .expect("start");
    let url = format!("{}/{REPO}/resolve/main/{SMALL}", hub.endpoint());
    let r = client().get(&url).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let mut git = b"blob ".to_vec();
    git.extend_from_slice(format!("{}\0", SMALL_BYTES.len()).as_bytes());
    git.extend_from_slice(SMALL_BYTES);
    use sha1_smol_like::hash;
    assert_eq!(r.headers()["etag"], format!("\"{}\"", hash(&git)).as_str());
    assert_eq!(
        r.headers()["x-repo-commit"],
        hub.commit(REPO).expect("commit").as_str()
    );
    assert_eq!(
        r.headers()["content-length"],
        SMALL_BYTES.len().to_string().as_str()
    );
    assert_eq!(r.bytes().await.expect("body").as_ref(), SMALL_BYTES);
    // nested path
    let (s, b, _) = get_all(
        &format!("{}/{REPO}/resolve/main/sub/dir/notes.txt", hub.endpoint()),
        None,
    )
    .await;
    assert_eq!((s, b.as_slice()), (200, b"hello".as_slice()));
    hub.shutdown().await;
}

/// git's sha1, computed with the sha1 crate the server also uses would prove little; use a
/// tiny independent implementation instead.
mod sha1_smol_like {
    pub fn hash(data: &[u8]) -> String {
        let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
        let mut msg = data.to_vec();
        let bits = (data.len() as u64) * 8;
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bits.to_be_bytes());
        for block in msg.chunks(64) {
            let mut w = [0u32; 80];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([
                    block[4 * i],
                    block[4 * i + 1],
                    block[4 * i + 2],
                    block[4 * i + 3],
                ]);
            }
            for i in 16..80 {
                w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
            }
            let [mut a, mut b, mut c, mut d, mut e] = h;
            for (i, wi) in w.iter().enumerate() {
                let (f, k) = match i {
                    0..=19 => ((b & c) | (!b & d), 0x5A827999),
                    20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                    40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                    _ => (b ^ c ^ d, 0xCA62C1D6),
                };
                let t = a
                    .rotate_left(5)
                    .wrapping_add(f)
                    .wrapping_add(e)
                    .wrapping_add(k)
                    .wrapping_add(*wi);
                e = d;
                d = c;
                c = b.rotate_left(30);
                b = a;
                a = t;
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
                *x = x.wrapping_add(y);
            }
        }
        h.iter().map(|x| format!("{x:08x}")).collect()
    }
}

#[tokio::test]
async fn cdn_serves_ranges() {
    let hub = TestHub::start(vec![repo()], Faults::default())
        .await
        .expect("start");
    let big = big_bytes();
    let loc = location(&hub, BIG).await;
    let sha = hub.sha256(REPO, BIG).expect("sha");

    let r = client()
        .get(&loc)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{BIG_SIZE}").as_str()
    );
    assert_eq!(r.headers()["content-length"], "100");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.headers()["etag"], format!("\"{sha}\"").as_str());
    assert_eq!(r.bytes().await.expect("body").as_ref(), &big[100..200]);

    // open-ended, crossing chunk boundaries
    let start = 70_000usize;
    let (s, b, err) = get_all(&loc, Some(&format!("bytes={start}-"))).await;
    assert_eq!((s, err), (206, false));
    assert_eq!(b, &big[start..]);
    // suffix
    let (s, b, _) = get_all(&loc, Some("bytes=-10")).await;
    assert_eq!((s, b.as_slice()), (206, &big[big.len() - 10..]));
    // end past the size is clamped
    let (s, b, _) = get_all(
        &loc,
        Some(&format!("bytes={}-{}", BIG_SIZE - 5, BIG_SIZE + 100)),
    )
    .await;
    assert_eq!((s, b.as_slice()), (206, &big[big.len() - 5..]));
    // unsatisfiable
    let r = client()
        .get(&loc)
        .header("range", format!("bytes={BIG_SIZE}-"))
        .send()
        .await
        .expect("416");
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{BIG_SIZE}").as_str()
    );
    // whole
    let (s, b, err) = get_all(&loc, None).await;
    assert_eq!((s, err), (200, false));
    assert_eq!(sha256_hex(&b), sha);
    // HEAD
    let r = client().head(&loc).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], BIG_SIZE.to_string().as_str());

    let st = hub.stats();
    assert_eq!(st.range_requests, 5);
    assert!(st.body_bytes_sent >= BIG_SIZE + 100);
    assert_eq!(st.auth_headers_on_cdn, 0);
    hub.shutdown().await;
}

#[tokio::test]
async fn listing_api_like_the_hub() {
    let hub = TestHub::start(vec![repo()], Faults::default())
        .await
        .expect("start");
    let commit = hub.commit(REPO).expect("commit");
    for url in [
        format!("{}/api/models/{REPO}", hub.endpoint()),
        format!(
            "{}/api/models/{REPO}/revision/main?blobs=true",
            hub.endpoint()
        ),
        format!("{}/api/models/{REPO}/revision/{commit}", hub.endpoint()),
    ] {
        let v: serde_json::Value = client()
            .get(&url)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(v["id"], REPO);
        assert_eq!(v["sha"], commit.as_str());
        let sib = v["siblings"].as_array().expect("siblings");
        assert_eq!(sib.len(), 3);
        let big = sib.iter().find(|s| s["rfilename"] == BIG).expect("big");
        assert_eq!(big["size"], BIG_SIZE);
        assert_eq!(
            big["lfs"]["sha256"],
            hub.sha256(REPO, BIG).expect("sha").as_str()
        );
        assert_eq!(big["lfs"]["size"], BIG_SIZE);
        assert!(big["lfs"]["pointerSize"].as_u64().expect("ptr") > 100);
        let small = sib.iter().find(|s| s["rfilename"] == SMALL).expect("small");
        assert!(small.get("lfs").is_none());
        assert_eq!(small["size"], SMALL_BYTES.len());
        assert_eq!(small["blobId"].as_str().expect("blob").len(), 40);
    }
    hub.shutdown().await;
}

#[tokio::test]
async fn tree_api_lists_files_and_folders() {
    let hub = TestHub::start(vec![repo()], Faults::default())
        .await
        .expect("start");
    let get = |url: String| async move {
        let r = client().get(url).send().await.expect("get");
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.expect("json"),
        )
    };
    let e = hub.endpoint();
    let (s, v) = get(format!("{e}/api/models/{REPO}/tree/main")).await;
    assert_eq!(s, 200);
    let paths: Vec<(&str, &str)> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|x| {
            (
                x["type"].as_str().expect("type"),
                x["path"].as_str().expect("path"),
            )
        })
        .collect();
    assert_eq!(
        paths,
        vec![("directory", "sub"), ("file", SMALL), ("file", BIG)]
    );
    let big = &v[2];
    assert_eq!(
        big["lfs"]["oid"],
        hub.sha256(REPO, BIG).expect("sha").as_str()
    );
    assert_eq!(big["size"], BIG_SIZE);
    let (_, v) = get(format!("{e}/api/models/{REPO}/tree/main?recursive=true")).await;
    assert_eq!(v.as_array().expect("array").len(), 5, "{v}");
    let (_, v) = get(format!("{e}/api/models/{REPO}/tree/main/sub")).await;
    assert_eq!(v[0]["path"], "sub/dir");
    let (s, _) = get(format!("{e}/api/models/{REPO}/tree/main/nothing")).await;
    assert_eq!(s, 404);
    hub.shutdown().await;
}

#[tokio::test]
async fn errors_like_the_hub() {
    let mut gated = repo();
    gated.id = "kyutai/gated".into();
    gated.gated = true;
    let mut private = repo();
    private.id = "kyutai/private".into();
    private.private = true;
    let hub = TestHub::start(vec![repo(), gated, private], Faults::default())
        .await
        .expect("start");
    hub.add_token("good", true);
    hub.add_token("no-terms", false);
    let e = hub.endpoint();
    let check =
        |url: String, token: Option<&'static str>, status: u16, code: Option<&'static str>| {
            let c = client();
            async move {
                let mut req = c.head(&url);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await.expect("send");
                assert_eq!(r.status().as_u16(), status, "{url} {token:?}");
                assert_eq!(
                    r.headers()
                        .get("x-error-code")
                        .and_then(|v| v.to_str().ok()),
                    code,
                    "{url} {token:?}"
                );
                r.headers()
                    .get("x-error-message")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            }
        };
    check(
        format!("{e}/nobody/nothing/resolve/main/{BIG}"),
        None,
        404,
        Some("RepoNotFound"),
    )
    .await;
    check(
        format!("{e}/{REPO}/resolve/main/missing.bin"),
        None,
        404,
        Some("EntryNotFound"),
    )
    .await;
    check(
        format!("{e}/{REPO}/resolve/nobranch/{BIG}"),
        None,
        404,
        Some("RevisionNotFound"),
    )
    .await;
    check(
        format!("{e}/kyutai/gated/resolve/main/{BIG}"),
        None,
        401,
        Some("GatedRepo"),
    )
    .await;
    check(
        format!("{e}/kyutai/gated/resolve/main/{BIG}"),
        Some("bad"),
        401,
        Some("GatedRepo"),
    )
    .await;
    let msg = check(
        format!("{e}/kyutai/gated/resolve/main/{BIG}"),
        Some("no-terms"),
        403,
        Some("GatedRepo"),
    )
    .await;
    assert!(msg.expect("message").contains("not in the authorized list"));
    check(
        format!("{e}/kyutai/gated/resolve/main/{BIG}"),
        Some("good"),
        302,
        None,
    )
    .await;
    check(
        format!("{e}/kyutai/private/resolve/main/{BIG}"),
        None,
        401,
        Some("RepoNotFound"),
    )
    .await;
    check(
        format!("{e}/kyutai/private/resolve/main/{BIG}"),
        Some("no-terms"),
        302,
        None,
    )
    .await;
    check(
        format!("{e}/api/models/kyutai/private"),
        None,
        401,
        Some("RepoNotFound"),
    )
    .await;
    // the JSON error body
    let r = client()
        .get(format!("{e}/{REPO}/resolve/main/missing.bin"))
        .send()
        .await
        .expect("get");
    let v: serde_json::Value = r.json().await.expect("json");
    assert!(v["error"].as_str().expect("error").contains("missing.bin"));
    hub.shutdown().await;
}

#[tokio::test]
async fn signed_urls_are_checked_and_token_not_needed_on_cdn() {
    let hub = TestHub::start(vec![repo()], Faults::default())
        .await
        .expect("start");
    let loc = location(&hub, BIG).await;
    // no token needed on the CDN
    let r = client().head(&loc).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(hub.stats().auth_headers_on_cdn, 0);
    // tampered signature / expiry / missing
    let tampered = loc.replace("sig=", "sig=0");
    assert_eq!(
        client()
            .head(&tampered)
            .send()
            .await
            .expect("head")
            .status(),
        403
    );
    let exp_pos = loc.find("exp=").expect("exp") + 4;
    let mut later = loc.clone();
    later.insert(exp_pos, '9');
    assert_eq!(
        client().head(&later).send().await.expect("head").status(),
        403
    );
    let bare = loc.split('?').next().expect("path").to_string();
    assert_eq!(
        client().head(&bare).send().await.expect("head").status(),
        403
    );
    // an Authorization header on the CDN is recorded
    let r = client()
        .head(&loc)
        .bearer_auth("leaked")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(hub.stats().auth_headers_on_cdn, 1);
    hub.shutdown().await;
}

#[tokio::test]
async fn signed_urls_expire() {
    let faults = Faults {
        expire_signed_urls_after: Some(std::time::Duration::from_millis(300)),
        ..Faults::default()
    };
    let hub = TestHub::start(vec![repo()], faults).await.expect("start");
    let loc = location(&hub, BIG).await;
    assert_eq!(
        client().head(&loc).send().await.expect("head").status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        client().head(&loc).send().await.expect("head").status(),
        403
    );
    assert_eq!(
        hub.stats().faults_injected.get("expired_signed_url"),
        Some(&1)
    );
    // re-resolving gives a working URL again
    let loc2 = location(&hub, BIG).await;
    assert_eq!(
        client().head(&loc2).send().await.expect("head").status(),
        200
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn replace_file_makes_a_new_commit() {
    let hub = TestHub::start(vec![repo()], Faults::default())
        .await
        .expect("start");
    let c1 = hub.commit(REPO).expect("commit");
    let s1 = hub.sha256(REPO, BIG).expect("sha");
    let old_loc = location(&hub, BIG).await;
    hub.replace_file(
        REPO,
        BIG,
        FileContent::Generated {
            size: 1000,
            seed: 7,
        },
    );
    let c2 = hub.commit(REPO).expect("commit");
    let s2 = hub.sha256(REPO, BIG).expect("sha");
    assert_ne!(c1, c2);
    assert_ne!(s1, s2);
    let mut want = vec![0u8; 1000];
    testhub::generated_bytes(1000, 7, 0, &mut want);
    assert_eq!(s2, sha256_hex(&want));
    let (s, b, _) = get_all(&location(&hub, BIG).await, None).await;
    assert_eq!((s, b), (200, want));
    // old blob still served (content-addressed), old commit still resolves to it
    let (s, b, _) = get_all(&old_loc, None).await;
    assert_eq!((s, sha256_hex(&b)), (200, s1.clone()));
    let r = client()
        .head(format!("{}/{REPO}/resolve/{c1}/{BIG}", hub.endpoint()))
        .send()
        .await
        .expect("old commit");
    assert_eq!(r.headers()["x-linked-etag"], format!("\"{s1}\"").as_str());
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_files_and_many_concurrent_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("weights.bin");
    let data: Vec<u8> = (0..2_500_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&p, &data).expect("write");
    let r = Repo::new(
        "org/disk",
        vec![RepoFile::new("weights.bin", FileContent::Disk(p))],
    );
    // slow each response down (0.3 s) so that the 16 requests overlap for sure
    let slow = Faults {
        bandwidth_per_connection: Some(500_000),
        ..Faults::default()
    };
    let hub = TestHub::start(vec![r], slow).await.expect("start");
    let loc = client()
        .get(format!(
            "{}/org/disk/resolve/main/weights.bin",
            hub.endpoint()
        ))
        .send()
        .await
        .expect("resolve")
        .headers()["location"]
        .to_str()
        .expect("loc")
        .to_string();
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let loc = loc.clone();
        tasks.push(tokio::spawn(async move {
            let a = i * 150_000;
            let b = a + 149_999;
            (a, get_all(&loc, Some(&format!("bytes={a}-{b}"))).await)
        }));
    }
    for t in tasks {
        let (a, (s, b, err)) = t.await.expect("task");
        assert_eq!((s, err), (206, false));
        assert_eq!(b, &data[a as usize..a as usize + 150_000]);
    }
    assert!(hub.stats().max_concurrent >= 8, "{:?}", hub.stats());
    hub.shutdown().await;
}
