//! `GET {hub}/api/models/{org}/{name}[/revision/{rev}]`: the model-info listing, shaped like the Hub's.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::resolve::lookup;
use crate::Inner;

/// Model info at the branch head.
pub(crate) async fn model_info(
    State(inner): State<Arc<Inner>>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let repo_id = format!("{org}/{name}");
    let branch = inner.store().repos.get(&repo_id).map(|r| r.branch.clone());
    info(
        &inner,
        &repo_id,
        branch.as_deref().unwrap_or("main"),
        &headers,
    )
}

/// Model info at a revision (branch or commit sha). `?blobs=true` is accepted (sizes and LFS
/// info are always included).
pub(crate) async fn model_info_revision(
    State(inner): State<Arc<Inner>>,
    Path((org, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    info(&inner, &format!("{org}/{name}"), &rev, &headers)
}

fn info(inner: &Inner, repo_id: &str, rev: &str, headers: &HeaderMap) -> Response {
    let snap = match lookup(inner, repo_id, rev, headers, true) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let (private, gated) = inner
        .store()
        .repos
        .get(repo_id)
        .map(|r| (r.private, r.gated))
        .unwrap_or_default();
    let siblings: Vec<Value> = snap
        .files
        .values()
        .map(|e| {
            let mut s = json!({ "rfilename": e.path, "size": e.size, "blobId": e.blob_id });
            if e.lfs {
                s["lfs"] =
                    json!({ "sha256": e.sha256, "size": e.size, "pointerSize": e.pointer_size() });
            }
            s
        })
        .collect();
    let used: u64 = snap.files.values().map(|e| e.size).sum();
    let author = repo_id.split('/').next().unwrap_or_default();
    Json(json!({
        "_id": &snap.commit[..24],
        "id": repo_id,
        "modelId": repo_id,
        "author": author,
        "sha": snap.commit,
        "lastModified": "2024-09-18T00:00:00.000Z",
        "createdAt": "2024-09-18T00:00:00.000Z",
        "private": private,
        "gated": if gated { json!("manual") } else { json!(false) },
        "disabled": false,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "library_name": "moshi",
        "siblings": siblings,
        "spaces": [],
        "usedStorage": used,
    }))
    .into_response()
}

/// `GET {hub}/_testhub/stats`: the stats as JSON (for scripts using the binary).
pub(crate) async fn stats(State(inner): State<Arc<Inner>>) -> Response {
    Json(inner.counters.snapshot()).into_response()
}
