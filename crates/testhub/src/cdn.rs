//! `GET`/`HEAD {cdn}/blobs/{sha256}?iat=..&exp=..&sig=..`: the content-addressed blob store
//! behind signed, expiring URLs, with ranges.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;

use crate::body::{portal_fault, serve_data, status_fault};
use crate::faults::Site;
use crate::http_error::hub_error;
use crate::signing::{self, Refusal};
use crate::stats::Counters;
use crate::Inner;

/// The blob endpoint.
pub(crate) async fn blob(
    State(inner): State<Arc<Inner>>,
    Path(sha): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    Counters::add(&inner.counters.cdn_requests, 1);
    if headers.contains_key(header::AUTHORIZATION) {
        tracing::warn!("an Authorization header reached the CDN");
        Counters::add(&inner.counters.auth_headers_on_cdn, 1);
    }
    if let Some(r) = portal_fault(&inner, Site::Cdn) {
        return r;
    }
    if let Some(r) = status_fault(&inner, Site::Cdn) {
        return r;
    }
    let max_age = inner.faults().cfg.expire_signed_urls_after;
    match signing::verify(&inner.secret, &sha, &query, max_age) {
        Ok(()) => {}
        Err(Refusal::Expired) => {
            if max_age.is_some() {
                inner.counters.fault("expired_signed_url");
            }
            return hub_error(
                StatusCode::FORBIDDEN,
                Some("AccessDenied"),
                "Request has expired",
            );
        }
        Err(Refusal::BadSignature | Refusal::Missing) => {
            return hub_error(
                StatusCode::FORBIDDEN,
                Some("AccessDenied"),
                "Invalid signature",
            );
        }
    }
    let entry = inner.store().blobs.get(&sha).cloned();
    let Some(entry) = entry else {
        return hub_error(
            StatusCode::NOT_FOUND,
            Some("NoSuchKey"),
            "The specified key does not exist.",
        );
    };
    let etag = entry.sha256.clone();
    serve_data(&inner, entry, &method, &headers, &etag, Vec::new())
}
