//! User-facing errors: each one names the file, the key or field, what was given and what is allowed.

use std::fmt;
use std::path::PathBuf;

/// A mistake in an experiment file, located as precisely as the TOML parser allows.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentError {
    /// The experiment file.
    pub path: PathBuf,
    /// 1-based line and column of the offending key or value, when known.
    pub location: Option<(usize, usize)>,
    /// Dotted key, e.g. `grid.eta`; empty for whole-file problems.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": `{}`: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ExperimentError {}

/// A problem with the data set files.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("'{path}' is not a valid IDX file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(
        "'{path}' does not hold the expected data: the sha256 of its decompressed bytes is {actual}, \
         expected {expected}; the file is corrupt or not the standard {dataset} file \
         (restore it from the repository: git checkout -- {path})"
    )]
    Checksum {
        path: PathBuf,
        dataset: &'static str,
        expected: &'static str,
        actual: String,
    },
    #[error("no {name} in '{dir}' (looked for {name}.gz and {name}); {hint}")]
    Missing {
        dir: PathBuf,
        name: &'static str,
        hint: String,
    },
    #[error("{0}")]
    Inconsistent(String),
}
