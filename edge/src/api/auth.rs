//! Authentication and roles. A bearer credential is hashed (SHA-256) and looked up among the config
//! file's keys, then among keys created with `wms-edge keys create`, then among floor users'
//! session tokens (`POST /v1/sessions`). Handlers take [`Caller`] as their first extractor, so a
//! missing credential is a 401 before any body is read, and call [`Caller::require`] for the
//! endpoint's role (403). A key has no person behind it; a session is a person, and what they do
//! is attributed to them.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

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
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer <key>"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthenticated("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthenticated("Authorization must be \"Bearer <key>\""))?;
        let principal = authenticate(state, token).await?;
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
