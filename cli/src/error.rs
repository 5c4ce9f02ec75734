//! The CLI's error type: [`CliError`], one line for the person at the terminal, its `From`
//! conversions from the errors the commands meet, the [`Result`] alias used across the crate,
//! and [`no_node`], the error for a data directory without a node.

use std::path::Path;

/// An error for the person at the terminal: one line that names the problem.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                CliError(e.to_string())
            }
        }
    )*};
}
from_error!(
    fieldsync::Error,
    fieldsync::DocumentError,
    std::io::Error,
    serde_json::Error
);

/// Result with a [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// The error for a data directory without a node.
pub fn no_node(data: &Path) -> CliError {
    CliError(format!(
        "no FieldSync node in {}: run `fieldsync --data {} init` first",
        data.display(),
        shell_path(data)
    ))
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
