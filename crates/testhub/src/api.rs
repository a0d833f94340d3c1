//! `GET {hub}/api/models/{org}/{name}[/revision/{rev}]`: the model-info listing, shaped like the Hub's.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::access::lookup;
use crate::http_error::hub_error;
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

/// Query of the tree API.
#[derive(serde::Deserialize, Default)]
pub(crate) struct TreeQuery {
    recursive: Option<String>,
}

/// `GET /api/models/{org}/{name}/tree/{rev}`: the repo's root listing (used by `snapshot_download`).
pub(crate) async fn tree_root(
    State(inner): State<Arc<Inner>>,
    Path((org, name, rev)): Path<(String, String, String)>,
    Query(q): Query<TreeQuery>,
    headers: HeaderMap,
) -> Response {
    tree(&inner, &format!("{org}/{name}"), &rev, "", &q, &headers)
}

/// `GET /api/models/{org}/{name}/tree/{rev}/{path}`: a folder's listing.
pub(crate) async fn tree_path(
    State(inner): State<Arc<Inner>>,
    Path((org, name, rev, path)): Path<(String, String, String, String)>,
    Query(q): Query<TreeQuery>,
    headers: HeaderMap,
) -> Response {
    tree(&inner, &format!("{org}/{name}"), &rev, &path, &q, &headers)
}

fn tree(
    inner: &Inner,
    repo_id: &str,
    rev: &str,
    dir: &str,
    q: &TreeQuery,
    headers: &HeaderMap,
) -> Response {
    let snap = match lookup(inner, repo_id, rev, headers, false) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let recursive = matches!(q.recursive.as_deref(), Some("true" | "1" | "True"));
    let dir = dir.trim_matches('/');
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut dirs = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for e in snap.files.values() {
        let Some(rest) = e.path.strip_prefix(&prefix) else {
            continue;
        };
        // folders between `dir` and the file
        let parts: Vec<&str> = rest.split('/').collect();
        let depth = if recursive {
            parts.len() - 1
        } else {
            parts.len().min(2) - 1
        };
        for i in 1..=depth {
            dirs.insert(format!("{prefix}{}", parts[..i].join("/")));
        }
        if parts.len() == 1 || recursive {
            let mut v = json!({ "type": "file", "oid": e.blob_id, "size": e.size, "path": e.path });
            if e.lfs {
                v["lfs"] =
                    json!({ "oid": e.sha256, "size": e.size, "pointerSize": e.pointer_size() });
            }
            out.push(v);
        }
    }
    if out.is_empty() && dirs.is_empty() && !dir.is_empty() {
        return hub_error(
            StatusCode::NOT_FOUND,
            Some("EntryNotFound"),
            &format!("{dir} does not exist on \"{rev}\""),
        );
    }
    let mut all: Vec<Value> = dirs
        .into_iter()
        .map(|d| {
            let oid = crate::content::git_blob_sha1(format!("tree {d}").as_bytes());
            json!({ "type": "directory", "oid": oid, "size": 0, "path": d })
        })
        .collect();
    all.extend(out);
    Json(all).into_response()
}
