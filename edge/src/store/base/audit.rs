//! The append-only audit log (design invariant 8): who, from where, when, what changed (old → new).
//! Written in the same transaction as the change it describes; triggers refuse updates and deletes.

use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::query::Where;
use super::Origin;
use crate::domain::Actor;
use crate::error::Result;

/// One audit entry as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: Actor,
    pub action: String,
    pub target: String,
    /// `{field: {"old": …, "new": …}}`
    #[schema(value_type = Object)]
    pub changes: Value,
    pub request_id: Option<String>,
}

pub fn record(
    conn: &Connection,
    origin: &Origin,
    at: &str,
    action: &str,
    target: &str,
    changes: &Value,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO audit(at, actor_user, actor_device, actor_api_key, action, target, changes, request_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
            at,
            origin.actor.user,
            origin.actor.device,
            origin.actor.api_key,
            action,
            target,
            changes.to_string(),
            origin.request_id
        ])?;
    Ok(conn.last_insert_rowid())
}

/// Records a security-relevant entry (logins and failed logins, voids, supervisor overrides and
/// approvals, local holds and cancels, dead-letter decisions) and sends it upstream as
/// `audit.recorded` in the same transaction, as `sync-api.md` asks.
pub fn record_upstream(
    conn: &Connection,
    site: &str,
    origin: &Origin,
    at: &str,
    action: &str,
    target: &str,
    changes: &Value,
) -> Result<i64> {
    let id = record(conn, origin, at, action, target, changes)?;
    super::outbox::append(
        conn,
        site,
        super::outbox::NewEvent {
            kind: "audit.recorded",
            aggregate_type: "audit",
            aggregate_id: id.to_string(),
            occurred_at: at,
            actor: &origin.actor,
            data: json!({"user": origin.actor.user, "device": origin.actor.device, "action": action,
                         "target": target, "changes": changes, "at": at}),
        },
    )?;
    Ok(id)
}

/// `{field: {old, new}}` for every top-level field that differs between two JSON objects.
/// Fields named in `secret` are reported as changed without their values.
pub fn diff(old: Option<&Value>, new: &Value, secret: &[&str]) -> Value {
    let empty = Map::new();
    let old_map = old.and_then(Value::as_object).unwrap_or(&empty);
    let new_map = new.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    let mut keys: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let o = old_map.get(k).unwrap_or(&Value::Null);
        let n = new_map.get(k).unwrap_or(&Value::Null);
        if o != n {
            let entry = if secret.contains(&k.as_str()) {
                json!({"old": if o.is_null() { Value::Null } else { json!("***") }, "new": if n.is_null() { Value::Null } else { json!("***") }})
            } else {
                json!({"old": o, "new": n})
            };
            out.insert(k.clone(), entry);
        }
    }
    Value::Object(out)
}

/// Filters for `GET /v1/audit`.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub device: Option<String>,
    pub api_key: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// Entries with an id below this (newest first paging).
    pub before_id: Option<i64>,
    pub limit: usize,
}

pub fn list(conn: &Connection, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let mut w = Where::new();
    w.and_some("actor_user = ?", &f.user)
        .and_some("actor_device = ?", &f.device)
        .and_some("actor_api_key = ?", &f.api_key)
        .and_some("action = ?", &f.action)
        .and_some("at >= ?", &f.since)
        .and_some("at < ?", &f.until)
        .and_some("id < ?", &f.before_id);
    let limit = f.limit as i64;
    w.query(
        conn,
        "SELECT id, at, actor_user, actor_device, actor_api_key, action, target, changes, request_id
         FROM audit",
        "ORDER BY id DESC LIMIT ?",
        &[&limit],
        |r| {
            let changes: String = r.get(7)?;
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: Actor {
                    user: r.get(2)?,
                    device: r.get(3)?,
                    api_key: r.get(4)?,
                },
                action: r.get(5)?,
                target: r.get(6)?,
                changes: serde_json::from_str(&changes).unwrap_or(Value::Null),
                request_id: r.get(8)?,
            })
        },
    )
}
