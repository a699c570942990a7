//! Authentication and roles. A bearer credential is hashed (SHA-256) and looked up among the config
//! file's keys, then among keys created with `wms-edge keys create`, then among floor users'
//! session tokens (`POST /v1/sessions`). Handlers take [`Caller`] as their first extractor, so a
//! missing credential is a 401 before any body is read, and call [`Caller::require`] for the
//! endpoint's role (403). A key has no person behind it; a session is a person, and what they do
//! is attributed to them.
//!
//! The station screens keep a session token in the `wms_session` cookie (`HttpOnly`,
//! `SameSite=Strict`), which is accepted like a bearer token when no `Authorization` header is
//! sent. A request that changes something with the cookie must also carry `X-CSRF-Token`, a value
//! derived from the session token that the node writes into the pages it serves: a page on
//! another origin can neither read it nor send a custom header without a CORS preflight the node
//! never grants. Bearer requests are unchanged.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::{current_request_id, ApiError};
use super::AppState;
use crate::domain::role::Role;
use crate::domain::time;
use crate::domain::Actor;
use crate::store::base::keys::{self, KeyRecord};
use crate::store::base::sessions::{self, SessionUser};
use crate::store::Origin;

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Optional `X-Device-Id`: the station or device a request acts for, for attribution.
    pub device: Option<String>,
}

/// The credential behind a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An API key: an integration, a script, site IT.
    Key(Arc<KeyRecord>),
    /// A floor user logged in with badge + PIN.
    User(Arc<SessionUser>),
}

impl Caller {
    fn roles(&self) -> Vec<Role> {
        match &self.principal {
            Principal::Key(k) => vec![k.role],
            Principal::User(u) => u.roles.clone(),
        }
    }

    fn who(&self) -> String {
        match &self.principal {
            Principal::Key(k) => format!("key \"{}\"", k.name),
            Principal::User(u) => format!("user {}", u.user_id),
        }
    }

    /// Whether the caller holds `role` (or one that includes it).
    pub fn has(&self, role: Role) -> bool {
        self.roles().iter().any(|r| r.satisfies(role))
    }

    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.has(role) {
            Ok(())
        } else {
            let held: Vec<&str> = self.roles().iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!(
                "this endpoint needs the {} role; {} has {}",
                role.as_str(),
                self.who(),
                held.join(", ")
            )))
        }
    }

    /// Any role a person on the floor acts in.
    pub fn require_floor(&self) -> Result<(), ApiError> {
        if self.roles().iter().any(|r| r.is_floor()) {
            Ok(())
        } else {
            Err(ApiError::forbidden("this endpoint needs a floor role"))
        }
    }

    /// The person behind a session; an API key is refused (pos-api.md: till mutations need a
    /// person to attribute them to).
    pub fn person(&self) -> Result<&SessionUser, ApiError> {
        match &self.principal {
            Principal::User(u) => Ok(u),
            Principal::Key(_) => Err(ApiError::forbidden(
                "this needs a floor user's session (POST /v1/sessions), not an API key",
            )),
        }
    }

    /// The tenant a key or user is limited to, if any.
    pub fn tenant(&self) -> Option<&str> {
        match &self.principal {
            Principal::Key(k) => k.tenant_id.as_deref(),
            Principal::User(u) => u.tenant_id.as_deref(),
        }
    }

    /// Refuse a request that names another tenant than the key's.
    pub fn check_tenant(&self, tenant: &str) -> Result<(), ApiError> {
        match self.tenant() {
            Some(own) if own != tenant => Err(ApiError::forbidden(format!(
                "this key is limited to tenant {own}"
            ))),
            _ => Ok(()),
        }
    }

    /// Resolve a tenant filter: the key's own tenant, or the one asked for.
    pub fn tenant_filter(&self, asked: Option<String>) -> Result<Option<String>, ApiError> {
        match (self.tenant(), asked) {
            (Some(own), Some(t)) if own != t => Err(ApiError::forbidden(format!(
                "this key is limited to tenant {own}"
            ))),
            (Some(own), _) => Ok(Some(own.to_string())),
            (None, t) => Ok(t),
        }
    }

    pub fn origin(&self) -> Origin {
        let (user, api_key) = match &self.principal {
            Principal::Key(k) => (None, Some(k.name.clone())),
            Principal::User(u) => (Some(u.user_id.clone()), None),
        };
        Origin {
            actor: Actor {
                user,
                device: self.device.clone(),
                api_key,
            },
            request_id: current_request_id(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = match parts.headers.get(header::AUTHORIZATION) {
            Some(header) => {
                let value = header
                    .to_str()
                    .map_err(|_| ApiError::unauthenticated("malformed Authorization header"))?;
                let token = value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        ApiError::unauthenticated("Authorization must be \"Bearer <key>\"")
                    })?;
                authenticate(state, token).await?
            }
            None => {
                let token = session_cookie(&parts.headers).ok_or_else(|| {
                    ApiError::unauthenticated("missing Authorization: Bearer <key>")
                })?;
                let principal = authenticate(state, token).await?;
                if !matches!(principal, Principal::User(_)) {
                    return Err(ApiError::unauthenticated(
                        "the session cookie holds no floor user's session",
                    ));
                }
                if !parts.method.is_safe() && !csrf_matches(&parts.headers, token) {
                    return Err(ApiError::forbidden(
                        "a change made with the session cookie needs the page's X-CSRF-Token header",
                    ));
                }
                principal
            }
        };
        let device = match parts.headers.get("x-device-id") {
            Some(v) => {
                let d = v.to_str().unwrap_or("");
                if d.is_empty()
                    || d.len() > 64
                    || !d
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                {
                    return Err(ApiError::bad_request(
                        "X-Device-Id must be 1-64 letters, digits, '-', '_' or '.'",
                    ));
                }
                Some(d.to_string())
            }
            None => None,
        };
        Ok(Caller { principal, device })
    }
}

/// The key or session a bearer credential names.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let digest = keys::sha256(token);
    if let Some(k) = state.config_keys.get(&digest) {
        return Ok(Principal::Key(k.clone()));
    }
    let d = hex::encode(digest);
    let found = state
        .store
        .read(move |c| {
            if let Some(k) = keys::lookup(c, &d)? {
                return Ok(Some(Principal::Key(Arc::new(k))));
            }
            Ok(sessions::lookup(c, &d, &time::now())?.map(|u| Principal::User(Arc::new(u))))
        })
        .await
        .map_err(ApiError::from)?;
    found.ok_or_else(|| {
        ApiError::unauthenticated("unknown API key or session token (a session may have expired)")
    })
}

/// The cookie that carries a station screen's session token.
pub const SESSION_COOKIE: &str = "wms_session";

/// The header a page sends with every change it makes with the cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token in the request's `wms_session` cookie, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|t| !t.is_empty())
}

/// The CSRF token of a session: derived from the session token, so it needs no storage, changes
/// with every login and cannot be computed without the token the cookie hides from scripts.
pub fn csrf_token(session_token: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"wms-edge csrf\0");
    h.update(session_token.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Whether the request carries the CSRF token of `session_token`.
pub fn csrf_matches(headers: &HeaderMap, session_token: &str) -> bool {
    let Some(sent) = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let want = csrf_token(session_token);
    // Compared without an early exit, so the time taken says nothing about the prefix.
    sent.len() == want.len()
        && sent
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_across_headers() {
        let h = headers(&[("cookie", "a=1; wms_session=tok-1 ; b=2")]);
        assert_eq!(session_cookie(&h), Some("tok-1"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "wms_session=tok-2")]);
        assert_eq!(session_cookie(&h), Some("tok-2"));
        let h = headers(&[("cookie", "xwms_session=tok; wms_session=")]);
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn the_csrf_token_belongs_to_one_session() {
        let t = csrf_token("token-a");
        assert_eq!(t.len(), 32);
        assert_ne!(t, csrf_token("token-b"));
        assert!(csrf_matches(&headers(&[(CSRF_HEADER, &t)]), "token-a"));
        assert!(!csrf_matches(&headers(&[(CSRF_HEADER, &t)]), "token-b"));
        assert!(!csrf_matches(
            &headers(&[(CSRF_HEADER, &t[..31])]),
            "token-a"
        ));
        assert!(!csrf_matches(&HeaderMap::new(), "token-a"));
    }
}
