//! API keys created with `wms-edge keys create`. Only the SHA-256 of a key is stored: the keys are
//! 256-bit random strings, so a fast hash is enough and a lookup stays one index probe.

use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{audit, Origin};
use crate::domain::role::Role;
use crate::error::{Error, Result};

/// A key as the authenticator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub name: String,
    pub role: Role,
    pub tenant_id: Option<String>,
}

pub fn sha256_hex(key: &str) -> String {
    hex::encode(sha256(key))
}

/// The SHA-256 of a key, as the authenticator compares it.
pub fn sha256(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A fresh random key: `wmse_` and 64 hex digits.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("wmse_{}", hex::encode(bytes))
}

pub fn create(
    conn: &Connection,
    origin: &Origin,
    now: &str,
    name: &str,
    role: Role,
    tenant_id: Option<&str>,
    key: &str,
) -> Result<()> {
    super::catalog::check_ident("name", name)?;
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM api_keys WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?;
    if exists {
        return Err(Error::conflict(format!(
            "an API key named {name} already exists"
        )));
    }
    conn.execute(
        "INSERT INTO api_keys(name, role, tenant_id, key_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, role.as_str(), tenant_id, sha256_hex(key), now],
    )?;
    audit::record(
        conn,
        origin,
        now,
        "api_key.create",
        &format!("api_key:{name}"),
        &serde_json::json!({"role": {"old": null, "new": role.as_str()}, "tenant_id": {"old": null, "new": tenant_id}}),
    )?;
    Ok(())
}

pub fn lookup(conn: &Connection, key_sha256: &str) -> Result<Option<KeyRecord>> {
    let row: Option<(String, String, Option<String>)> = conn
        .prepare_cached("SELECT name, role, tenant_id FROM api_keys WHERE key_sha256 = ?1")?
        .query_row([key_sha256], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.and_then(|(name, role, tenant_id)| {
        Role::parse(&role).map(|role| KeyRecord {
            name,
            role,
            tenant_id,
        })
    }))
}
