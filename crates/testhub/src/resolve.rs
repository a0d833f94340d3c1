//! `HEAD`/`GET {hub}/{org}/{name}/resolve/{revision}/{path}`: 302 to the CDN for LFS files,
//! 200 with the bytes for small files, Hub-style errors otherwise.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;

use crate::access::lookup;
use crate::body::{portal_fault, serve_data, status_fault};
use crate::faults::Site;
use crate::http_error::hub_error;
use crate::signing;
use crate::stats::Counters;
use crate::Inner;

/// The resolve endpoint.
pub(crate) async fn resolve(
    State(inner): State<Arc<Inner>>,
    Path((org, name, rev, path)): Path<(String, String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    Counters::add(&inner.counters.resolve_requests, 1);
    move_main_if_due(&inner, &format!("{org}/{name}"));
    if let Some(r) = portal_fault(&inner, Site::Resolve) {
        return r;
    }
    if let Some(r) = status_fault(&inner, Site::Resolve) {
        return r;
    }
    let repo_id = format!("{org}/{name}");
    let snap = match lookup(&inner, &repo_id, &rev, &headers, false) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let commit = snap.commit.clone();
    let Some(entry) = snap.files.get(&path).cloned() else {
        let mut r = hub_error(
            StatusCode::NOT_FOUND,
            Some("EntryNotFound"),
            &format!("{path} does not exist on \"{rev}\""),
        );
        if let Ok(v) = commit.parse() {
            r.headers_mut().insert("x-repo-commit", v);
        }
        return r;
    };
    if !entry.lfs {
        let etag = entry.blob_id.clone();
        return serve_data(
            &inner,
            entry,
            &method,
            &headers,
            &etag,
            vec![("x-repo-commit", commit)],
        );
    }
    let lifetime = inner
        .faults()
        .cfg
        .expire_signed_urls_after
        .unwrap_or(signing::DEFAULT_LIFETIME)
        .min(signing::DEFAULT_LIFETIME);
    let location = format!(
        "{}/blobs/{}?{}",
        inner.cdn_url,
        entry.sha256,
        signing::sign(&inner.secret, &entry.sha256, lifetime)
    );
    let body = format!("Found. Redirecting to {location}");
    let resp = Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, &location)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CONTENT_LENGTH, body.len().to_string())
        .header(header::ETAG, format!("\"{}\"", entry.sha256))
        .header("x-repo-commit", &commit)
        .header("x-linked-etag", format!("\"{}\"", entry.sha256))
        .header("x-linked-size", entry.size.to_string())
        .header(header::ACCEPT_RANGES, "bytes");
    let resp = crate::xet::decorate_resolve(&inner, &repo_id, &commit, &entry, resp);
    let body = if method == Method::HEAD {
        axum::body::Body::empty()
    } else {
        axum::body::Body::from(body)
    };
    resp.body(body)
        .unwrap_or_else(|e| hub_error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string()))
}

/// `move_main_after_resolves`: once that many resolves were answered, the branch moves to a
/// new commit where `move_main_path` has new bytes (same size, seeded from the old sha256).
fn move_main_if_due(inner: &Inner, repo_id: &str) {
    let path = {
        let mut f = inner.faults();
        let (Some(n), Some(path)) = (f.cfg.move_main_after_resolves, f.cfg.move_main_path.clone())
        else {
            return;
        };
        f.moved_after += 1;
        if f.moved_after != n + 1 {
            return;
        }
        path
    };
    let old = inner
        .store()
        .repos
        .get(repo_id)
        .and_then(|r| r.head.files.get(&path).cloned());
    let Some(old) = old else {
        return;
    };
    let seed = u64::from_str_radix(&old.sha256[..16], 16).unwrap_or(1) ^ 0x6d61_696e;
    let content = crate::FileContent::Generated {
        size: old.size,
        seed,
    };
    match crate::store::Entry::build(&path, content, Some(old.lfs)) {
        Ok(e) => {
            inner.store_mut().replace(repo_id, e, false);
            inner.counters.fault("move_main");
        }
        Err(e) => tracing::error!(error = %e, "move_main: cannot build the new file"),
    }
}
