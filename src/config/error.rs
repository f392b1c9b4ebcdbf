//! The experiment file's error: it names the file, the line and column, the key, what was given
//! and what is allowed.

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
