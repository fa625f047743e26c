//! Who may use the console: accounts from the configuration (argon2 hashes),
//! sessions that expire (idle and absolute), a CSRF token per session, and
//! a login limiter (failures per source address and per officer id).
//!
//! Layer: pure state; the clock is passed in (`now`), so the expiry and
//! limiter rules are tested without waiting. The hashes themselves are
//! `gate_config::password`'s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::config::{ConsoleAccount, ConsoleRole, ConsoleSection};

/// Failed logins from one address (or for one officer id) within
/// [`LIMIT_WINDOW`] before further attempts are refused.
pub const MAX_FAILURES: usize = 5;
pub const LIMIT_WINDOW: Duration = Duration::from_secs(300);
/// Sessions kept at most (the oldest is ended beyond).
pub const MAX_SESSIONS: usize = 64;

/// A logged-in officer.
#[derive(Clone, Debug)]
pub struct Session {
    pub officer: String,
    pub name: String,
    pub role: ConsoleRole,
    /// Sent back with every state-changing request (`X-CSRF-Token`).
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// Accounts, sessions and the login limiter.
#[derive(Debug)]
pub struct Auth {
    accounts: Vec<ConsoleAccount>,
    idle: Duration,
    max_age: Duration,
    sessions: HashMap<String, Session>,
    failures: HashMap<String, Vec<Instant>>,
}

fn token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Auth {
    pub fn new(cfg: &ConsoleSection) -> Self {
        Self {
            accounts: cfg.accounts.clone(),
            idle: Duration::from_secs(u64::from(cfg.session_idle_min) * 60),
            max_age: Duration::from_secs(u64::from(cfg.session_max_h) * 3600),
            sessions: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    /// The account `id`, if any.
    pub fn account(&self, id: &str) -> Option<&ConsoleAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// Refused now because of earlier failures from `ip` or for `officer`?
    pub fn limited(&mut self, ip: IpAddr, officer: &str, now: Instant) -> Option<Duration> {
        let mut wait = None;
        for key in [format!("ip:{ip}"), format!("id:{officer}")] {
            let list = self.failures.entry(key).or_default();
            list.retain(|t| now.saturating_duration_since(*t) < LIMIT_WINDOW);
            if list.len() >= MAX_FAILURES {
                let oldest = list.iter().min().copied().unwrap_or(now);
                let w = LIMIT_WINDOW.saturating_sub(now.saturating_duration_since(oldest));
                wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
            }
        }
        wait
    }

    /// Count a failed login; how many failures `ip` has in the window now.
    pub fn failed(&mut self, ip: IpAddr, officer: &str, now: Instant) -> usize {
        for key in [format!("id:{officer}"), format!("ip:{ip}")] {
            self.failures.entry(key).or_default().push(now);
        }
        // Bounded: forget keys with nothing in the window.
        self.failures.retain(|_, v| {
            v.retain(|t| now.saturating_duration_since(*t) < LIMIT_WINDOW);
            !v.is_empty()
        });
        self.failures.get(&format!("ip:{ip}")).map_or(0, Vec::len)
    }

    /// Open a session for a verified officer; its token.
    pub fn open(&mut self, account: &ConsoleAccount, now: Instant) -> (String, Session) {
        self.expire(now);
        if self.sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
            {
                self.sessions.remove(&oldest);
            }
        }
        let s = Session {
            officer: account.id.clone(),
            name: account.name.clone(),
            role: account.role,
            csrf: token(),
            created: now,
            last_seen: now,
        };
        let t = token();
        self.sessions.insert(t.clone(), s.clone());
        (t, s)
    }

    /// The session of `token`, refreshed, unless it expired.
    pub fn session(&mut self, token: &str, now: Instant) -> Option<Session> {
        self.expire(now);
        let s = self.sessions.get_mut(token)?;
        s.last_seen = now;
        Some(s.clone())
    }

    /// End the session of `token`.
    pub fn close(&mut self, token: &str) {
        self.sessions.remove(token);
    }

    fn expire(&mut self, now: Instant) {
        let (idle, max_age) = (self.idle, self.max_age);
        self.sessions.retain(|_, s| {
            now.saturating_duration_since(s.last_seen) < idle
                && now.saturating_duration_since(s.created) < max_age
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::password::hash_password;

    fn cfg() -> ConsoleSection {
        ConsoleSection {
            listen: "127.0.0.1:0".parse().expect("addr"),
            tls: None,
            session_idle_min: 30,
            session_max_h: 12,
            accounts: vec![ConsoleAccount {
                id: "O-17".into(),
                name: "Li".into(),
                role: ConsoleRole::Officer,
                password_hash: hash_password("correct horse").expect("hash"),
            }],
        }
    }

    #[test]
    fn sessions_expire_when_idle_and_at_their_age() {
        let mut a = Auth::new(&cfg());
        let acc = a.account("O-17").expect("account").clone();
        let t0 = Instant::now();
        let (tok, s) = a.open(&acc, t0);
        assert_eq!((s.officer.as_str(), s.role), ("O-17", ConsoleRole::Officer));
        assert_eq!(s.csrf.len(), 64);
        assert!(a.session(&tok, t0 + Duration::from_secs(29 * 60)).is_some());
        // Used at 29 min: idle counts from there.
        assert!(a.session(&tok, t0 + Duration::from_secs(58 * 60)).is_some());
        assert!(
            a.session(&tok, t0 + Duration::from_secs(89 * 60)).is_none(),
            "idle 31 min"
        );
        // Absolute age: kept busy, still ends at 12 h.
        let (tok, _) = a.open(&acc, t0);
        let mut t = t0;
        while t < t0 + Duration::from_secs(12 * 3600 - 600) {
            t += Duration::from_secs(600);
            assert!(a.session(&tok, t).is_some());
        }
        assert!(a
            .session(&tok, t0 + Duration::from_secs(12 * 3600))
            .is_none());
        assert!(a.session("nope", t0).is_none());
    }

    #[test]
    fn failures_limit_by_address_and_by_officer() {
        let mut a = Auth::new(&cfg());
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.5".parse().expect("ip");
        let other: IpAddr = "10.0.0.6".parse().expect("ip");
        for i in 0..MAX_FAILURES {
            assert_eq!(a.limited(ip, "O-17", t0), None, "attempt {i}");
            a.failed(ip, "O-17", t0);
        }
        assert!(
            a.limited(ip, "O-99", t0).is_some(),
            "the address is limited"
        );
        assert!(
            a.limited(other, "O-17", t0).is_some(),
            "the officer id is limited"
        );
        assert_eq!(a.limited(other, "O-99", t0), None);
        let later = t0 + LIMIT_WINDOW;
        assert_eq!(a.limited(ip, "O-17", later), None, "the window passed");
    }
}
