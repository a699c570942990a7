//! Retry timings (injectable, so tests run in milliseconds) and server-requested waits.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// All timings of the sync loops. `Default` is the contract's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Timings {
    /// Backoff base (contract: 0.5 s).
    pub backoff_base: Duration,
    /// Backoff cap (contract: 60 s).
    pub backoff_cap: Duration,
    /// Fixed retry interval after 401/403 (contract: 60 s).
    pub unauthorized_retry: Duration,
    /// Slow retry after a whole-batch 400/422/413 or an off-contract answer.
    pub degraded_retry: Duration,
    /// How often an idle pump looks for new events when not woken.
    pub idle_poll: Duration,
    /// Push request timeout (contract: 30 s).
    pub push_timeout: Duration,
    /// Timeout of status and ID-block requests.
    pub request_timeout: Duration,
    /// Long-poll `wait` in seconds (0–30).
    pub pull_wait_s: u32,
    /// Added to `wait` for the long-poll timeout (contract: 10 s).
    pub pull_grace: Duration,
    /// Upper bound on a server-requested wait (`Retry-After`/`X-RateLimit-Reset`), against
    /// absurd values such as an epoch mistaken for seconds.
    pub max_server_wait: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            unauthorized_retry: Duration::from_secs(60),
            degraded_retry: Duration::from_secs(300),
            idle_poll: Duration::from_secs(1),
            push_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            pull_wait_s: 25,
            pull_grace: Duration::from_secs(10),
            max_server_wait: Duration::from_secs(3600),
        }
    }
}

/// Full-jitter exponential backoff: uniform in `[0, min(cap, base·2^attempt)]`.
pub fn full_jitter(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Parses `X-RateLimit-Reset`: Unix epoch seconds (GitHub style, taken relative to the server's
/// `Date` when given, else the local clock) or, for small values, delta seconds (IETF draft).
pub fn parse_ratelimit_reset(value: &str, server_now: DateTime<Utc>) -> Option<Duration> {
    let n: i64 = value.trim().parse().ok()?;
    if n < 0 {
        return None;
    }
    if n >= 1_000_000_000 {
        Some(Duration::from_secs(
            u64::try_from(n - server_now.timestamp()).unwrap_or(0),
        ))
    } else {
        Some(Duration::from_secs(n.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn jitter_stays_under_ceiling() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(60);
        for attempt in 0..80 {
            let d = full_jitter(base, cap, attempt);
            let ceiling = if attempt < 7 {
                base * (1 << attempt)
            } else {
                cap
            };
            assert!(d <= ceiling.min(cap), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 09:00:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let epoch = now.timestamp() + 45;
        assert_eq!(
            parse_ratelimit_reset(&epoch.to_string(), now),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            parse_ratelimit_reset("7", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_ratelimit_reset("-1", now), None);
        assert_eq!(
            parse_ratelimit_reset("1000000000", now),
            Some(Duration::ZERO)
        );
    }
}
