//! The CLI's error type: [`CliError`], one line for the person at the terminal and an exit
//! code per kind of error ([`Exit`]), its `From` conversions from the errors the commands meet,
//! the [`Result`] alias used across the crate, and [`no_node`], the error for a data directory
//! without a node.

use std::path::Path;

use fieldsync::ErrorKind;
use serde::{Deserialize, Serialize};

/// The process's exit status per kind of failure (documented in `fieldsync --help`). Scripts
/// may rely on these numbers; they never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Exit {
    /// 1: anything not listed below (an I/O error, a peer that did not answer).
    Failure = 1,
    /// 2: the command line is wrong (clap uses 2 as well).
    Usage = 2,
    /// 3: no such document (or node).
    NotFound = 3,
    /// 4: a value given is not acceptable (malformed id, JSON, position, size).
    Invalid = 4,
    /// 5: the invite is malformed, not for this node, revoked, expired or used up.
    InvalidInvite = 5,
    /// 6: this device's role does not allow it.
    NotAllowed = 6,
    /// 7: the network is not running or failed.
    Network = 7,
    /// 8: the database failed (disk full, corrupt, unwritable).
    Storage = 8,
    /// 9: the store key does not open the database.
    WrongKey = 9,
    /// 10: another process has the data directory open.
    Busy = 10,
    /// 11: key material is missing or malformed, or decryption failed.
    Crypto = 11,
    /// 70: a bug in FieldSync.
    Internal = 70,
}

impl From<ErrorKind> for Exit {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::NotFound => Exit::NotFound,
            ErrorKind::InvalidArgument => Exit::Invalid,
            ErrorKind::InvalidInvite => Exit::InvalidInvite,
            ErrorKind::Network => Exit::Network,
            ErrorKind::Storage => Exit::Storage,
            ErrorKind::WrongKey => Exit::WrongKey,
            ErrorKind::Busy => Exit::Busy,
            ErrorKind::Crypto => Exit::Crypto,
            ErrorKind::NotAllowed => Exit::NotAllowed,
            ErrorKind::Internal => Exit::Internal,
        }
    }
}

/// An error for the person at the terminal: one line that names the problem, and the exit
/// status that classifies it.
#[derive(Debug)]
pub struct CliError {
    /// The message (one line).
    pub message: String,
    /// The exit status.
    pub exit: Exit,
}

impl CliError {
    /// A failure without a more specific kind (exit 1).
    pub fn msg(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: Exit::Failure,
        }
    }

    /// No such document (exit 3).
    pub fn not_found(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: Exit::NotFound,
        }
    }

    /// This device may not do it (exit 6).
    pub fn not_allowed(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: Exit::NotAllowed,
        }
    }

    /// A value given by the user is not acceptable (exit 4).
    pub fn invalid(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: Exit::Invalid,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<fieldsync::Error> for CliError {
    fn from(e: fieldsync::Error) -> Self {
        CliError {
            message: e.to_string(),
            exit: e.kind().into(),
        }
    }
}

impl From<fieldsync::DocumentError> for CliError {
    fn from(e: fieldsync::DocumentError) -> Self {
        fieldsync::Error::from(e).into()
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::msg(e.to_string())
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::invalid(e.to_string())
    }
}

/// Result with a [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// The error for a data directory without a node.
pub fn no_node(data: &Path) -> CliError {
    CliError {
        exit: Exit::NotFound,
        message: format!(
            "no FieldSync node in {}: run `fieldsync --data {} init` first",
            data.display(),
            shell_path(data)
        ),
    }
}

/// A path as it could be typed into a shell (quoted if it has spaces).
fn shell_path(p: &Path) -> String {
    let s = p.display().to_string();
    if s.contains(char::is_whitespace) {
        format!("'{s}'")
    } else {
        s
    }
}
