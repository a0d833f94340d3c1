//! Xet read tokens and signed xorb URLs: stateless, HMAC-SHA256 with the hub's secret.

use ring::hmac;

use crate::signing::now_ms;

fn sign(secret: &[u8], msg: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hex::encode(&hmac::sign(&key, msg.as_bytes()).as_ref()[..16])
}

/// A token for `repo_id`, valid until `exp_ms`.
pub(crate) fn mint(secret: &[u8], repo_id: &str, exp_ms: u64) -> String {
    format!(
        "xet_{exp_ms}_{}",
        sign(secret, &format!("token|{repo_id}|{exp_ms}"))
    )
}

/// Why a token or URL is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Invalid,
    Expired,
}

/// Checks a bearer token (any repo: the CAS is shared, as xorbs are content-addressed).
pub(crate) fn check(secret: &[u8], token: &str, repos: &[String]) -> Result<(), Refused> {
    let rest = token.strip_prefix("xet_").ok_or(Refused::Invalid)?;
    let (exp, sig) = rest.split_once('_').ok_or(Refused::Invalid)?;
    let exp_ms: u64 = exp.parse().map_err(|_| Refused::Invalid)?;
    if !repos
        .iter()
        .any(|r| sign(secret, &format!("token|{r}|{exp_ms}")) == sig)
    {
        return Err(Refused::Invalid);
    }
    if now_ms() >= exp_ms {
        return Err(Refused::Expired);
    }
    Ok(())
}

/// The signature of a xorb URL: the xorb, the exact ranges it may serve, issue and expiry.
pub(crate) fn url_signature(secret: &[u8], xorb: &str, ranges: &str, iat: u64, exp: u64) -> String {
    sign(secret, &format!("xorb|{xorb}|{ranges}|{iat}|{exp}"))
}
