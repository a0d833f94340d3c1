//! The Hugging Face token in the system keychain (macOS Keychain, Secret Service on Linux).
//!
//! When the keychain cannot be reached (e.g. no Secret Service under Xvfb in CI) the token is kept
//! in memory for this run only and the caller is told so; it is never written to the settings and
//! never logged.

use parking_lot::Mutex;

/// Keychain service name.
pub const SERVICE: &str = "org.moshibar.app";
/// Keychain account name.
pub const ACCOUNT: &str = "huggingface-token";

/// Where the token ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// In the system keychain.
    Keychain,
    /// In memory only (the keychain is unavailable); lost when Moshibar quits.
    MemoryOnly,
}

/// The token store: the keychain, with an in-memory fallback.
#[derive(Default)]
pub struct TokenStore {
    memory: Mutex<Option<String>>,
}

fn entry() -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, ACCOUNT)
}

impl TokenStore {
    fn memory(&self) -> parking_lot::MutexGuard<'_, Option<String>> {
        self.memory.lock()
    }

    /// Stores (`Some`) or removes (`None`) the token.
    pub fn set(&self, token: Option<&str>) -> Stored {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let result = entry().and_then(|e| match token {
            Some(t) => e.set_password(t),
            None => match e.delete_credential() {
                Err(keyring::Error::NoEntry) => Ok(()),
                other => other,
            },
        });
        match result {
            Ok(()) => {
                *self.memory() = None;
                Stored::Keychain
            }
            Err(e) => {
                // The error text never contains the token.
                tracing::warn!(
                    "keychain unavailable ({e}); keeping the token in memory for this run only"
                );
                *self.memory() = token.map(str::to_owned);
                Stored::MemoryOnly
            }
        }
    }

    /// The token, if any.
    pub fn get(&self) -> Option<String> {
        if let Some(t) = self.memory().clone() {
            return Some(t);
        }
        match entry().and_then(|e| e.get_password()) {
            Ok(t) if !t.is_empty() => Some(t),
            Ok(_) | Err(keyring::Error::NoEntry) => None,
            Err(e) => {
                tracing::debug!("keychain read failed: {e}");
                None
            }
        }
    }

    /// Whether a token is stored.
    pub fn has_token(&self) -> bool {
        self.get().is_some()
    }
}
