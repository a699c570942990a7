//! The crate's one error type.

/// Everything that can go wrong in this crate; all variants carry a message an operator can act on.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A GS1 element string is malformed as a whole (empty, a non-AI where an AI must start).
    #[error("{0}")]
    Gs1(String),
    /// One AI's value breaks its rules (check digit, date, length, character set), or the AI does
    /// not exist or may not appear with the others: the AI is named so an operator knows which
    /// part of the label is wrong.
    #[error("AI {ai}: {reason}")]
    Ai { ai: String, reason: String },
    /// A field of the label/receipt data is missing or invalid.
    #[error("{field}: {reason}")]
    Data { field: String, reason: String },
    /// The data file is not the JSON shape the label kind expects.
    #[error("invalid label data: {0}")]
    Json(String),
    /// The label kind is not one this crate knows.
    #[error("unknown label kind {0:?} (known: {1})")]
    UnknownKind(String, String),
    /// The kind exists but not in the requested output format or resolution.
    #[error("{0}")]
    Unsupported(String),
    /// A tenant template override was rejected when it was loaded.
    #[error("template line {line}: {reason}")]
    Template { line: usize, reason: String },
}

impl Error {
    pub(crate) fn ai(ai: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Ai {
            ai: ai.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn data(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Data {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
