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
    /// Arrow or Parquet data could not be read or written: a column of the wrong
    /// type, a null where the log's values cannot hold one, a timestamp that does
    /// not fit the log's unit, or an error of the Arrow or Parquet libraries.
    Arrow(String),
    /// A file operation of an export failed, or would have overwritten an existing
    /// file; the message names the path.
    Io(String),
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
            Error::Arrow(what) => write!(f, "arrow: {what}"),
            Error::Io(what) => write!(f, "i/o: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Result` with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
