//! Signed, expiring CDN URLs, like the Hub's redirects to its CDN.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::Digest as _;

/// Lifetime of a signed URL when no fault shortens it (the Hub's are about a day).
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Signs `sha256 | issued | expires` with the hub's secret.
pub(crate) fn signature(secret: &[u8], sha256: &str, iat_ms: u64, exp_ms: u64) -> String {
    let mut h = sha2::Sha256::new();
    h.update(secret);
    h.update(format!("{sha256}|{iat_ms}|{exp_ms}").as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The query string of a fresh signed URL for a blob.
pub(crate) fn sign(secret: &[u8], sha256: &str, lifetime: Duration) -> String {
    let iat = now_ms();
    let exp = iat + lifetime.as_millis() as u64;
    format!(
        "iat={iat}&exp={exp}&sig={}",
        signature(secret, sha256, iat, exp)
    )
}

/// Why a signed URL is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Missing,
    BadSignature,
    Expired,
}

/// Check a signed URL's query (`iat`, `exp`, `sig`); `max_age` is the expiry fault, applied to
/// already issued URLs too.
pub(crate) fn verify(
    secret: &[u8],
    sha256: &str,
    query: &std::collections::HashMap<String, String>,
    max_age: Option<Duration>,
) -> Result<(), Refusal> {
    let num = |k: &str| query.get(k).and_then(|v| v.parse::<u64>().ok());
    let (Some(iat), Some(exp), Some(sig)) = (num("iat"), num("exp"), query.get("sig")) else {
        return Err(Refusal::Missing);
    };
    if signature(secret, sha256, iat, exp) != *sig {
        return Err(Refusal::BadSignature);
    }
    let now = now_ms();
    if now > exp {
        return Err(Refusal::Expired);
    }
    if let Some(max) = max_age {
        if now > iat.saturating_add(max.as_millis() as u64) {
            return Err(Refusal::Expired);
        }
    }
    Ok(())
}
