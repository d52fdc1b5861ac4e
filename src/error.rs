//! Errors returned by the engine.

use std::fmt;

/// Everything that can go wrong when calling the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of its allowed range, or two values contradict each other.
    InvalidConfig {
        /// The builder field that was rejected (its setter's name).
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A delete range is inverted: its start lies after its end (`5..3`).
    InvalidRange,
    /// The call is not allowed in the current maintenance mode
    /// (for example `maint_step()` while a background worker owns maintenance).
    WrongMode,
    /// [`Timelog::validate`](crate::Timelog::validate) found a broken invariant.
    Corrupt(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig { field, reason } => {
                write!(f, "invalid configuration: {field}: {reason}")
            }
            Error::InvalidRange => f.write_str("invalid range: start must not be after end"),
            Error::WrongMode => f.write_str("operation not allowed in the current maintenance mode"),
            Error::Corrupt(what) => write!(f, "invariant violated: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
