//! The crate's single error type.

use std::time::Duration;

/// Everything that can go wrong in the sync crate. Store implementations map their own failures
/// into [`SyncError::Store`] so the loops can treat them uniformly (log, back off, retry).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The edge's store failed; the loop retries later and never loses events.
    #[error("store: {0}")]
    Store(String),
    /// Connection refused/reset, DNS, TLS: the request may or may not have reached the central.
    #[error("connection error: {0}")]
    Connection(String),
    /// The request got no answer in time; it may have been applied.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The central answered with a non-2xx status.
    #[error("central answered {status}: {code}: {message}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// `error.code` of the error object (or `http_<status>` when absent).
        code: String,
        /// `error.message` of the error object.
        message: String,
        /// Server-requested wait (from `Retry-After` / `X-RateLimit-Reset`), for 429/503.
        retry_after: Option<Duration>,
    },
    /// The central answered 2xx with something that does not follow the contract.
    #[error("invalid answer from central: {0}")]
    Protocol(String),
    /// Bad configuration (URL, site id, secrets).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Every serial of an ID kind is used and no new block has arrived: the site must alert.
    #[error("no serials left for ID kind {kind}")]
    IdExhausted {
        /// The ID kind (`sscc`, `tracking:<carrier>`, `receipt`).
        kind: String,
    },
    /// A granted ID block is invalid (overlap, empty range, bad prefix).
    #[error("invalid ID block: {0}")]
    IdBlock(String),
    /// A webhook or request signature is missing or wrong.
    #[error("missing or invalid signature")]
    BadSignature,
    /// The central simulator's SQLite database failed (open, schema, a query).
    #[error("simulator database: {0}")]
    SimDatabase(String),
    /// Local I/O (binding the simulator's socket).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl SyncError {
    /// Shorthand used by store implementations.
    pub fn store(msg: impl std::fmt::Display) -> Self {
        SyncError::Store(msg.to_string())
    }
}
