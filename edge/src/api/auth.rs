//! Authentication and roles. A bearer key is hashed (SHA-256) and looked up among the config file's
//! keys, then among keys created with `wms-edge keys create`. Handlers take [`Caller`] as their first
//! extractor, so a missing credential is a 401 before any body is read, and call
//! [`Caller::require`] for the endpoint's role (403).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::{current_request_id, ApiError};
use super::AppState;
use crate::domain::role::Role;
use crate::domain::Actor;
use crate::store::base::keys::{self, KeyRecord};
use crate::store::Origin;

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Arc<KeyRecord>,
    /// Optional `X-Device-Id`: the station or device a request acts for, for attribution.
    pub device: Option<String>,
}

impl Caller {
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.key.role.satisfies(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this endpoint needs the {} role; key \"{}\" has {}",
                role.as_str(),
                self.key.name,
                self.key.role.as_str()
            )))
        }
    }

    /// Any role a person on the floor acts in.
    pub fn require_floor(&self) -> Result<(), ApiError> {
        if self.key.role.is_floor() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this endpoint needs a floor role"))
        }
    }

    /// The tenant a key is limited to, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.key.tenant_id.as_deref()
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
        Origin {
            actor: Actor {
                user: None,
                device: self.device.clone(),
                api_key: Some(self.key.name.clone()),
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
        let digest = keys::sha256(token);
        let key = match state.config_keys.get(&digest) {
            Some(k) => k.clone(),
            None => {
                let d = hex::encode(digest);
                state
                    .store
                    .read(move |c| keys::lookup(c, &d))
                    .await
                    .map_err(ApiError::from)?
                    .map(Arc::new)
                    .ok_or_else(|| ApiError::unauthenticated("unknown API key"))?
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
        Ok(Caller { key, device })
    }
}
