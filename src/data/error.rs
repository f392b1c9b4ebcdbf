//! The data set's errors: each names the file and what is wrong with it.

use std::path::PathBuf;

/// A problem with the data set files.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read '{path}': {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
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
    #[error(
        "this runner has no MNIST built in (data/mnist was missing or damaged when it was \
         compiled): set `data.dir` in the experiment file to a folder with MNIST's four files"
    )]
    NotBuiltIn,
}
