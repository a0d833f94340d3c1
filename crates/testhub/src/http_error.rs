//! Error responses shaped like the Hub's (`X-Error-Code`, `X-Error-Message`, JSON body).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A Hub-style error response.
pub(crate) fn hub_error(status: StatusCode, code: Option<&str>, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut resp = (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    if let Some(code) = code {
        h.insert(
            "x-error-code",
            HeaderValue::from_str(code).unwrap_or(HeaderValue::from_static("Error")),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&message.replace(['\r', '\n'], " ")) {
        h.insert("x-error-message", v);
    }
    resp
}

/// Answer to any unknown route.
pub(crate) async fn not_found() -> Response {
    hub_error(StatusCode::NOT_FOUND, None, "Not Found")
}

/// An injected 429/503 with `Retry-After`.
pub(crate) fn retry_later(status: StatusCode, retry_after_secs: u64) -> Response {
    let mut resp = hub_error(status, None, "injected by testhub: please retry later");
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs),
    );
    resp
}
