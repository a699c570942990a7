//! A card payment's attempt.
