//! Who may read a repo: the request's bearer token and the Hub's 401/403/404 answers for
//! private, gated and unknown repos and revisions. Used by the resolve endpoint, the model-info
//! API and the Xet endpoints (below all three, so that none of them names another's items).

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use crate::http_error::hub_error;
use crate::store::{RepoState, Snapshot};
use crate::Inner;

/// A boxed Hub error (keeps `Result`s small).
fn deny(status: StatusCode, code: Option<&str>, message: &str) -> Box<Response> {
    Box::new(hub_error(status, code, message))
}

/// Bearer token of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(t.trim().to_string())
}

/// 401/403 for private and gated repos, like the Hub's answers. `listing` = the model-info API,
/// which the Hub serves for gated repos without acceptance.
pub(crate) fn check_access(
    inner: &Inner,
    repo: &RepoState,
    headers: &HeaderMap,
    listing: bool,
) -> Result<(), Box<Response>> {
    if !repo.private && !repo.gated {
        return Ok(());
    }
    let accepted = bearer(headers).and_then(|t| inner.token(&t));
    let id = &repo.id;
    if repo.private && accepted.is_none() {
        return Err(deny(
            StatusCode::UNAUTHORIZED,
            Some("RepoNotFound"),
            "Repository not found",
        ));
    }
    if repo.gated && !listing {
        match accepted {
            None => {
                return Err(deny(
                    StatusCode::UNAUTHORIZED,
                    Some("GatedRepo"),
                    &format!(
                        "Access to model {id} is restricted. You must have access to it and be authenticated to access it. Please log in."
                    ),
                ))
            }
            Some(false) => {
                return Err(deny(
                    StatusCode::FORBIDDEN,
                    Some("GatedRepo"),
                    &format!(
                        "Access to model {id} is restricted and you are not in the authorized list. Visit {}/{id} to ask for access.",
                        inner.hub_url
                    ),
                ))
            }
            Some(true) => {}
        }
    }
    Ok(())
}

/// Find the repo and revision, checking access. Returns the snapshot.
pub(crate) fn lookup(
    inner: &Inner,
    repo_id: &str,
    revision: &str,
    headers: &HeaderMap,
    listing: bool,
) -> Result<Arc<Snapshot>, Box<Response>> {
    let store = inner.store();
    let Some(repo) = store.repos.get(repo_id) else {
        return Err(deny(
            StatusCode::NOT_FOUND,
            Some("RepoNotFound"),
            "Repository not found",
        ));
    };
    check_access(inner, repo, headers, listing)?;
    repo.snapshot(revision).ok_or_else(|| {
        deny(
            StatusCode::NOT_FOUND,
            Some("RevisionNotFound"),
            &format!("Invalid rev id: {revision}"),
        )
    })
}
