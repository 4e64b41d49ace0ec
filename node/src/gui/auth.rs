//! Who may use the dashboard: one-time login links (made for `dmc gui` over the control
//! socket) and the browser sessions they (or the password) open, each with its CSRF token. Tokens are 256
//! random bits; both tables are bounded and keyed by the SHA-256 of the token, so looking one
//! up tells nothing about the others by its timing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a login link may wait for its first use.
pub const LINK_TTL: Duration = Duration::from_secs(120);
/// How long a session lasts after its login (the browser then needs a new `dmc gui` link).
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Unused login links kept at most: a new one pushes out the oldest.
const MAX_LINKS: usize = 16;
/// Sessions kept at most: a new one ends the oldest.
const MAX_SESSIONS: usize = 32;

type Key = [u8; 32];

fn key_of(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

/// The operating system gave no random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct NoRandom(String);

/// A fresh random token: 32 bytes as 64 hex digits.
pub fn new_token() -> Result<String, NoRandom> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NoRandom(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// A browser session: when it ends and the token its state-changing requests must carry.
#[derive(Clone, Debug)]
struct Session {
    csrf: String,
    expires: Instant,
}

/// A session that a login opened: the cookie's value and the CSRF token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub session: String,
    pub csrf: String,
}

/// The login links not yet used and the open sessions.
#[derive(Default)]
pub struct Auth {
    links: HashMap<Key, Instant>,
    sessions: HashMap<Key, Session>,
}

impl Auth {
    /// A new single-use login token, valid for [`LINK_TTL`].
    pub fn new_link(&mut self, now: Instant) -> Result<String, NoRandom> {
        self.links.retain(|_, expires| *expires > now);
        if self.links.len() >= MAX_LINKS {
            if let Some(oldest) = self.links.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) {
                self.links.remove(&oldest);
            }
        }
        let token = new_token()?;
        self.links.insert(key_of(&token), now + LINK_TTL);
        Ok(token)
    }

    /// Uses a login token: once, before it expires. Opens a session; `None` when the token
    /// is unknown, used or expired.
    pub fn redeem(&mut self, token: &str, now: Instant) -> Result<Option<Opened>, NoRandom> {
        let Some(expires) = self.links.remove(&key_of(token)) else {
            return Ok(None);
        };
        if expires <= now {
            return Ok(None);
        }
        self.open_session(now).map(Some)
    }

    /// Opens a session (after a login link or the password), ending the oldest when the
    /// table is full.
    pub fn open_session(&mut self, now: Instant) -> Result<Opened, NoRandom> {
        self.sessions.retain(|_, s| s.expires > now);
        if self.sessions.len() >= MAX_SESSIONS {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.sessions.remove(&oldest);
            }
        }
        let opened = Opened {
            session: new_token()?,
            csrf: new_token()?,
        };
        self.sessions.insert(
            key_of(&opened.session),
            Session {
                csrf: opened.csrf.clone(),
                expires: now + SESSION_TTL,
            },
        );
        Ok(opened)
    }

    /// The CSRF token of the open session `session` (a cookie's value), if it is open.
    pub fn csrf_of(&self, session: &str, now: Instant) -> Option<String> {
        self.sessions
            .get(&key_of(session))
            .filter(|s| s.expires > now)
            .map(|s| s.csrf.clone())
    }
}

/// Whether `given` is `expected`, in time that depends only on their lengths.
pub fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_one_session_once() {
        let mut auth = Auth::default();
        let now = Instant::now();
        let link = auth.new_link(now).unwrap();
        let opened = auth.redeem(&link, now).unwrap().expect("first use");
        assert_eq!(
            auth.csrf_of(&opened.session, now),
            Some(opened.csrf.clone())
        );
        assert_eq!(auth.redeem(&link, now).unwrap(), None, "a link works once");
        assert_eq!(auth.csrf_of("not-a-session", now), None);
        assert_ne!(opened.session, opened.csrf);
    }

    #[test]
    fn links_and_sessions_expire() {
        let mut auth = Auth::default();
        let now = Instant::now();
        let link = auth.new_link(now).unwrap();
        assert_eq!(auth.redeem(&link, now + LINK_TTL).unwrap(), None);
        let link = auth.new_link(now).unwrap();
        let opened = auth.redeem(&link, now).unwrap().unwrap();
        assert_eq!(auth.csrf_of(&opened.session, now + SESSION_TTL), None);
    }

    #[test]
    fn the_tables_stay_bounded() {
        let mut auth = Auth::default();
        let now = Instant::now();
        let first = auth.new_link(now).unwrap();
        for _ in 0..MAX_LINKS {
            auth.new_link(now + Duration::from_secs(1)).unwrap();
        }
        assert_eq!(auth.links.len(), MAX_LINKS);
        assert_eq!(
            auth.redeem(&first, now).unwrap(),
            None,
            "the oldest link was pushed out"
        );
        for i in 0..(MAX_SESSIONS as u64 + 5) {
            let at = now + Duration::from_millis(i);
            let link = auth.new_link(at).unwrap();
            auth.redeem(&link, at).unwrap().unwrap();
        }
        assert_eq!(auth.sessions.len(), MAX_SESSIONS);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abd", "abc"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("", "abc"));
    }
}
