//! Floor users' sessions and the PIN lockout (pos-api.md "Register sessions and people").
//!
//! A session token is random, shown once and kept as its SHA-256, like an API key. Every PIN a
//! person types — at `POST /v1/sessions`, at a scanner after `EMP:`, in an `approval` object —
//! counts against one lockout per badge string, known or not: five failures within 15 minutes
//! lock the badge for 15 minutes, during which even the right PIN is refused; a success resets it.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};

use super::keys::sha256_hex;
use crate::domain::role::Role;
use crate::domain::time;
use crate::error::Result;

/// Failures that lock a badge.
pub const MAX_FAILURES: i64 = 5;
/// The window the failures must fall in, and how long the lock lasts.
pub const LOCK_WINDOW_MIN: i64 = 15;

/// A floor user as a session carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user_id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub tenant_id: Option<String>,
    /// SHA-256 (hex) of the session's token: what logs it out.
    pub token_sha256: String,
    pub expires_at: String,
}

/// A new random session token (64 hex digits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Starts a session for `user_id`; returns its expiry.
pub fn create(
    conn: &Connection,
    token: &str,
    user_id: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<String> {
    let expires = time::format(now + ttl);
    conn.prepare_cached(
        "INSERT INTO user_sessions(token_sha256, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![sha256_hex(token), user_id, time::format(now), expires])?;
    Ok(expires)
}

/// The live session behind a token hash: not ended, not expired, its user still active.
pub fn lookup(conn: &Connection, token_sha256: &str, now: &str) -> Result<Option<SessionUser>> {
    let row: Option<(String, String, String, Option<String>, String)> = conn
        .prepare_cached(
            "SELECT u.id, u.name, u.roles, u.tenant_id, s.expires_at
             FROM user_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_sha256 = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2 AND u.active = 1",
        )?
        .query_row(params![token_sha256, now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    Ok(row.map(|(user_id, name, roles, tenant_id, expires_at)| {
        let roles: Vec<String> = serde_json::from_str(&roles).unwrap_or_default();
        SessionUser {
            user_id,
            name,
            roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
            tenant_id,
            token_sha256: token_sha256.to_string(),
            expires_at,
        }
    }))
}

/// Ends a session (logout). Whether it was live.
pub fn end(conn: &Connection, token_sha256: &str, now: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE user_sessions SET ended_at = ?2 WHERE token_sha256 = ?1 AND ended_at IS NULL",
        )?
        .execute(params![token_sha256, now])?
        == 1)
}

/// A badge's recent failures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failures {
    /// Failure times within the window, oldest first.
    pub recent: Vec<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// Until when the badge is locked at `now`, if it is.
pub fn locked_until(f: &Failures, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    f.locked_until.filter(|u| *u > now)
}

/// The record after one more failure at `now`: the failures of the last 15 minutes are kept, and
/// the fifth of them locks the badge for 15 minutes (a failure during a lock extends nothing).
pub fn after_failure(f: &Failures, now: DateTime<Utc>) -> Failures {
    if locked_until(f, now).is_some() {
        return f.clone();
    }
    let window = Duration::minutes(LOCK_WINDOW_MIN);
    let mut recent: Vec<_> = f
        .recent
        .iter()
        .copied()
        .filter(|t| now - *t < window)
        .collect();
    recent.push(now);
    let locked = recent.len() as i64 >= MAX_FAILURES;
    Failures {
        recent: if locked { Vec::new() } else { recent },
        locked_until: locked.then_some(now + window),
    }
}

/// A badge's failure record as stored.
pub fn failures(conn: &Connection, badge: &str) -> Result<Failures> {
    let row: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT recent, locked_until FROM login_failures WHERE badge = ?1")?
        .query_row([badge], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((recent, locked)) => Failures {
            recent: serde_json::from_str::<Vec<String>>(&recent)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| time::parse(t))
                .collect(),
            locked_until: locked.as_deref().and_then(time::parse),
        },
        None => Failures::default(),
    })
}

/// Counts one failed PIN for `badge` in the caller's transaction; returns the new record.
pub fn record_failure(conn: &Connection, badge: &str, now: DateTime<Utc>) -> Result<Failures> {
    let next = after_failure(&failures(conn, badge)?, now);
    let recent: Vec<String> = next.recent.iter().map(|t| time::format(*t)).collect();
    conn.prepare_cached(
        "INSERT INTO login_failures(badge, recent, locked_until) VALUES (?1, ?2, ?3)
         ON CONFLICT(badge) DO UPDATE SET recent = excluded.recent, locked_until = excluded.locked_until",
    )?
    .execute(params![
        badge,
        serde_json::to_string(&recent)?,
        next.locked_until.map(time::format)
    ])?;
    Ok(next)
}

/// A correct PIN: the badge's count starts again.
pub fn reset_failures(conn: &Connection, badge: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM login_failures WHERE badge = ?1")?
        .execute([badge])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + min * 60, 0).expect("time")
    }

    #[test]
    fn the_fifth_failure_in_fifteen_minutes_locks_for_fifteen() {
        let mut f = Failures::default();
        for i in 0..4 {
            f = after_failure(&f, at(i));
            assert_eq!(locked_until(&f, at(i)), None, "failure {}", i + 1);
        }
        f = after_failure(&f, at(4));
        assert_eq!(locked_until(&f, at(4)), Some(at(19)));
        assert_eq!(locked_until(&f, at(18)), Some(at(19)));
        assert_eq!(locked_until(&f, at(19)), None);
        // After the lock, a failure starts a new count.
        let g = after_failure(&f, at(20));
        assert_eq!((g.recent.len(), locked_until(&g, at(20))), (1, None));
    }

    #[test]
    fn the_window_slides() {
        // 14, 16, 17, 18, 19: five within fifteen minutes, though the first count began at 0.
        let mut f = Failures::default();
        for m in [0, 14, 16, 17, 18] {
            f = after_failure(&f, at(m));
            assert_eq!(locked_until(&f, at(m)), None, "at {m}");
        }
        f = after_failure(&f, at(19));
        assert_eq!(locked_until(&f, at(19)), Some(at(34)));
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_lock() {
        let mut f = Failures::default();
        for i in 0..10 {
            f = after_failure(&f, at(i * 4));
        }
        assert_eq!(locked_until(&f, at(40)), None);
    }
}
