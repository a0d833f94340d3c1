//! Configuration read from the same environment variables as `huggingface_hub`
//! (`HF_ENDPOINT`, `HF_HOME`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE`, `HF_TOKEN`, `$HF_HOME/token`,
//! `HF_HUB_ETAG_TIMEOUT`, `HF_HUB_DOWNLOAD_TIMEOUT`), so both tools share one cache and one
//! login without flags.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `huggingface_hub`'s default for `HF_HUB_ETAG_TIMEOUT` (seconds).
pub const DEFAULT_ETAG_TIMEOUT: Duration = Duration::from_secs(10);

/// A Hub access token. `Debug`/`Display` never print it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wrap a token string (trimmed); `None` when empty.
    pub fn new(s: &str) -> Option<Token> {
        let t = s.trim();
        (!t.is_empty()).then(|| Token(t.to_string()))
    }
    /// The secret itself, only for the Authorization header.
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Where to talk to and where to store: the resolved environment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Hub base URL without trailing slash (`HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: String,
    /// `HF_HOME` (default `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface`).
    pub hf_home: PathBuf,
    /// `HF_HUB_CACHE` (default `$HF_HOME/hub`).
    pub cache_dir: PathBuf,
    /// `HF_HUB_OFFLINE`: never touch the network, serve from the cache only.
    pub offline: bool,
    /// `HF_TOKEN`, else the file `HF_TOKEN_PATH` (default `$HF_HOME/token`).
    pub token: Option<Token>,
    /// `HF_HUB_ETAG_TIMEOUT` (default 10 s): the bound on a resolve (`HEAD`) or listing
    /// request, so a dead or black-holed network falls back to the cache quickly.
    pub etag_timeout: Duration,
    /// `HF_HUB_DISABLE_XET=1`: never use the Xet protocol, always the plain HTTP path.
    pub disable_xet: bool,
}

/// A duration in (possibly fractional) seconds from an environment variable, like
/// `huggingface_hub`'s `HF_HUB_ETAG_TIMEOUT` / `HF_HUB_DOWNLOAD_TIMEOUT`.
pub fn seconds_var(name: &str) -> Option<Duration> {
    var(name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `huggingface_hub`'s truthy values for boolean env vars.
pub(crate) fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

fn expand_user(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = var("HOME") {
            return Path::new(&home).join(rest);
        }
    }
    PathBuf::from(p)
}

impl Config {
    /// Read the configuration from the environment, exactly like `huggingface_hub.constants`.
    pub fn from_env() -> Config {
        let endpoint = var("HF_ENDPOINT")
            .unwrap_or_else(|| "https://huggingface.co".to_string())
            .trim_end_matches('/')
            .to_string();
        let hf_home = var("HF_HOME").map(|h| expand_user(&h)).unwrap_or_else(|| {
            let base = var("XDG_CACHE_HOME")
                .map(|x| expand_user(&x))
                .unwrap_or_else(|| expand_user("~/.cache"));
            base.join("huggingface")
        });
        let cache_dir = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(|c| expand_user(&c))
            .unwrap_or_else(|| hf_home.join("hub"));
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v));
        let token_path = var("HF_TOKEN_PATH")
            .map(|p| expand_user(&p))
            .unwrap_or_else(|| hf_home.join("token"));
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .and_then(|t| Token::new(&t))
            .or_else(|| {
                std::fs::read_to_string(&token_path)
                    .ok()
                    .and_then(|t| Token::new(&t))
            });
        Config {
            endpoint,
            hf_home,
            cache_dir,
            offline,
            token,
            etag_timeout: seconds_var("HF_HUB_ETAG_TIMEOUT").unwrap_or(DEFAULT_ETAG_TIMEOUT),
            disable_xet: var("HF_HUB_DISABLE_XET").is_some_and(|v| truthy(&v)),
        }
    }
}
