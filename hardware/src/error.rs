//! The crate's single error type.

use std::io;

/// Everything that can go wrong talking to a device, parsing its bytes or loading a profile.
/// Variants are coarse on purpose: callers map them to HTTP answers (`conflict` for
/// [`Error::Motion`]/[`Error::Overload`]/[`Error::Underload`], `device_unavailable` for
/// [`Error::Offline`]) and operators read the message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A firmware profile failed to parse or validate.
    #[error("profile {name}: {message}")]
    Profile { name: String, message: String },
    /// A configuration names a profile that is not embedded.
    #[error("unknown profile {0:?}")]
    UnknownProfile(String),
    /// A device entry cannot be used as written.
    #[error("device config: {0}")]
    Config(String),
    /// Bytes from a device did not follow its protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Operating-system I/O failure (port vanished, connection reset, disk full…).
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// Opening or configuring a serial port failed.
    #[error("serial port: {0}")]
    Serial(String),
    /// The MQTT client failed.
    #[error("mqtt: {0}")]
    Mqtt(String),
    /// The device is not reachable right now.
    #[error("device offline: {0}")]
    Offline(String),
    /// The device did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The scale did not settle before the deadline.
    #[error("scale in motion: no stable weight before the deadline")]
    Motion,
    /// The load is above the scale's capacity.
    #[error("scale overload")]
    Overload,
    /// The load is below zero (pan removed, negative gross).
    #[error("scale underload")]
    Underload,
    /// The device answered that it cannot execute the command now.
    #[error("device rejected the command: {0}")]
    Rejected(String),
    /// The operation is not offered by this device or protocol.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A payment terminal already runs a dialogue (one sale at a time per terminal).
    #[error("payment terminal busy")]
    Busy,
    /// The durable print spool could not be read or written.
    #[error("spool: {0}")]
    Spool(String),
    /// The spool's disk is full (`ENOSPC`): the job was not stored; the same call succeeds once
    /// space returns.
    #[error("spool: disk full: {0}")]
    SpoolFull(String),
    /// The device task has stopped (shutdown or crash).
    #[error("device task stopped")]
    Stopped,
    /// JSON encoding or decoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
