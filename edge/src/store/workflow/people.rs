//! A person proving who they are with badge + PIN: the login of `POST /v1/sessions`, a
//! supervisor's `approval` object. One path for both, so every PIN counts against the badge's
//! lockout (`base::sessions`) and every failure is audited and sent upstream.
//!
//! Argon2 is slow: the PIN is checked on a blocking thread between a read and the write, never on
//! the writer thread. An unknown badge costs the same hash as a known one, so response times do
//! not tell which badges exist.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use serde_json::json;

use crate::domain::role::Role;
use crate::domain::time;
use crate::error::{Error, Result};
use crate::store::base::sessions::{self, locked_until};
use crate::store::base::{audit, Ctx, Origin};
use crate::store::Store;

/// A floor user as a badge names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user_id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub tenant_id: Option<String>,
    pub badge: String,
}

impl Person {
    pub fn has(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r.satisfies(role))
    }
}

type Found = (Option<(Person, Option<String>)>, sessions::Failures);

/// A hash to verify against when the badge is unknown, so both cases cost one Argon2 check.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| crate::pin::hash("000000").unwrap_or_default())
}

fn refused_locked(badge: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> Error {
    let secs = (until - now).num_seconds().max(1) as u64;
    Error::RateLimited {
        message: format!(
            "badge {badge} is locked after {} wrong PINs; try again in {} min",
            sessions::MAX_FAILURES,
            secs.div_ceil(60)
        ),
        retry_after_s: secs,
    }
}

/// Checks `badge` + `pin`; on success runs `then` with the person in the same write (the session
/// it starts, the action it approves). A wrong PIN or unknown badge is
/// [`Error::Unauthenticated`] and counts a failure; a locked badge is [`Error::RateLimited`]
/// whatever the PIN. `purpose` names the attempt in the audit log (`session.login`,
/// `pos.approval`).
pub async fn check_badge_pin<R, F>(
    store: &Store,
    site: &str,
    origin: Origin,
    badge: &str,
    pin: &str,
    purpose: &'static str,
    then: F,
) -> Result<R>
where
    R: Send + 'static,
    F: FnOnce(&Ctx<'_>, &Person) -> Result<R> + Send + 'static,
{
    let now = Utc::now();
    let b = badge.to_string();
    let (found, failures): Found = store
        .read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT id, name, roles, tenant_id, pin_hash FROM users
                     WHERE badge = ?1 AND active = 1",
                )?
                .query_row([&b], |r| {
                    let roles: String = r.get(2)?;
                    let roles: Vec<String> = serde_json::from_str(&roles).unwrap_or_default();
                    Ok((
                        Person {
                            user_id: r.get(0)?,
                            name: r.get(1)?,
                            roles: roles.iter().filter_map(|x| Role::parse(x)).collect(),
                            tenant_id: r.get(3)?,
                            badge: b.clone(),
                        },
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .optional()?;
            Ok((row, sessions::failures(c, &b)?))
        })
        .await?;
    let locked = locked_until(&failures, now);
    let ok = if locked.is_some() {
        false
    } else {
        let hash = found
            .as_ref()
            .and_then(|(_, h)| h.clone())
            .unwrap_or_else(|| decoy_hash().to_string());
        let known = found.as_ref().is_some_and(|(_, h)| h.is_some());
        let pin = pin.to_string();
        let matched = tokio::task::spawn_blocking(move || crate::pin::verify(&pin, &hash))
            .await
            .map_err(|e| Error::Internal(format!("pin check task: {e}")))?;
        matched && known
    };
    let site = site.to_string();
    let badge = badge.to_string();
    let person = found.map(|(p, _)| p);
    let outcome = store
        .write(move |c| {
            let at = time::format(now);
            let cx = Ctx {
                conn: c,
                site: &site,
                origin: &origin,
                now: &at,
            };
            // Another attempt may have locked the badge since the read.
            let failures = sessions::failures(c, &badge)?;
            let locked = locked_until(&failures, now);
            match (&person, ok, locked) {
                (Some(p), true, None) => {
                    sessions::reset_failures(c, &badge)?;
                    then(&cx, p).map(Ok)
                }
                _ => {
                    let reason = if locked.is_some() {
                        "locked"
                    } else if person.is_none() {
                        "unknown_badge"
                    } else {
                        "wrong_pin"
                    };
                    let after = if locked.is_none() {
                        sessions::record_failure(c, &badge, now)?
                    } else {
                        failures
                    };
                    audit::record_upstream(
                        c,
                        cx.site,
                        cx.origin,
                        &at,
                        &format!("{purpose}_failed"),
                        &format!("badge:{badge}"),
                        &json!({"user": {"old": null, "new": person.as_ref().map(|p| &p.user_id)},
                                "reason": reason}),
                    )?;
                    // The failure is committed; the caller hears why. The fifth failure itself
                    // is still a 401 (pos-api.md); attempts during the lock are 429.
                    let err = match locked {
                        Some(until) => refused_locked(&badge, until, now),
                        None if after.locked_until.is_some() => Error::Unauthenticated(format!(
                            "wrong badge or PIN; badge {badge} is now locked for {} min",
                            sessions::LOCK_WINDOW_MIN
                        )),
                        None => Error::Unauthenticated("wrong badge or PIN".into()),
                    };
                    Ok(Err(err))
                }
            }
        })
        .await?;
    outcome
}
