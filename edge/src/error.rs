//! The edge crate's one error type. Domain refusals (conflict, validation, not found) and storage
//! failures travel through the same enum so a store operation can refuse and roll back in one step,
//! and the HTTP layer maps each variant to exactly one status code.

use std::fmt;

/// One field-level problem, reported in the API error object's `details`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request names something the site does not know, or carries a bad value.
    #[error("{message}")]
    Validation {
        message: String,
        details: Vec<FieldError>,
    },
    #[error("{0}")]
    NotFound(String),
    /// The action is well-formed but the current state forbids it (too late, would go negative).
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The writer could not commit: nothing of the batch is applied.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The disk under the data dir is full: nothing of the write was applied. It clears by itself
    /// once space returns.
    #[error("storage full: {0}")]
    StorageFull(String),
    /// The database file was written by a newer binary.
    #[error("{0}")]
    SchemaTooNew(String),
    #[error("store unavailable: {0}")]
    StoreClosed(String),
    #[error("{0}")]
    Config(String),
    /// Wrong or missing credentials (a bad badge or PIN).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this (a supervisor is needed, an API key where a person must act).
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts: try again after `retry_after_s` seconds (a locked badge).
    #[error("{message}")]
    RateLimited { message: String, retry_after_s: u64 },
    /// A device is not reachable right now (transport down, no answer).
    #[error("{0}")]
    DeviceUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn validation(field: &str, message: impl fmt::Display) -> Self {
        let message = message.to_string();
        Error::Validation {
            message: format!("{field}: {message}"),
            details: vec![FieldError::new(field, message)],
        }
    }

    pub fn conflict(message: impl fmt::Display) -> Self {
        Error::Conflict(message.to_string())
    }

    pub fn not_found(message: impl fmt::Display) -> Self {
        Error::NotFound(message.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("json: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
