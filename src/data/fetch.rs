//! `runner data fetch`: downloads MNIST's four files from the usual public mirrors, tried in
//! order, checks each one against the sha256 of MNIST's decompressed bytes ([`super::MNIST_FILES`];
//! the mirrors compress differently from the repository's copy, so the compressed bytes' digest
//! would not do), and writes it whole ([`crate::files::write_atomically`]). A file already there
//! and right is kept; a file that fails on one mirror (unreachable, an HTTP error, cut short, not
//! gzip, another digest) is asked of the next; one that fails on all of them is an error naming
//! every attempt, and the files already written stay.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{inflate_gzip, is_gzip, sha256_hex, FILE_NAMES, MNIST_FILES};

/// The mirrors tried by default, in order: PyTorch's (torchvision's first), TensorFlow's, then
/// Yann LeCun's original page.
pub const MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// The largest file accepted from a mirror (MNIST's largest gzip file is 9.9 MB).
const MAX_BYTES: u64 = 64 << 20;

/// What happened to one of the four files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// It was there already, with the right content.
    AlreadyThere { file: PathBuf },
    /// Downloaded from `url` (`bytes` long) after the `failures` listed on earlier mirrors.
    Downloaded {
        file: PathBuf,
        url: String,
        bytes: usize,
        failures: Vec<String>,
    },
}

/// Why the data set could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot create the data folder '{}': {error}", dir.display())]
    Folder { dir: PathBuf, error: std::io::Error },
    #[error("no mirror gave a good {name}.gz:\n  {}", attempts.join("\n  "))]
    AllMirrorsFailed {
        name: &'static str,
        attempts: Vec<String>,
    },
    #[error(transparent)]
    Write(anyhow::Error),
}

/// Checks `bytes` (gzip or plain) are the MNIST file `i` of [`FILE_NAMES`].
pub fn check(i: usize, bytes: &[u8]) -> Result<(), String> {
    let actual = if is_gzip(bytes) {
        let plain = inflate_gzip(bytes).map_err(|e| format!("not a whole gzip file ({e})"))?;
        sha256_hex(&plain)
    } else {
        sha256_hex(bytes)
    };
    if actual == MNIST_FILES[i].1 {
        Ok(())
    } else {
        Err(format!(
            "wrong content: the sha256 of its decompressed bytes is {actual}, expected {}",
            MNIST_FILES[i].1
        ))
    }
}

/// Downloads the four files from `mirrors` (each a URL the file names are appended to) into
/// `dir`, telling `progress` about each step.
pub fn fetch(
    dir: &Path,
    mirrors: &[String],
    mut progress: impl FnMut(&str),
) -> Result<Vec<Fetched>, FetchError> {
    std::fs::create_dir_all(dir).map_err(|error| FetchError::Folder {
        dir: dir.to_path_buf(),
        error,
    })?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut done = Vec::new();
    for (i, name) in FILE_NAMES.into_iter().enumerate() {
        let file = dir.join(format!("{name}.gz"));
        if std::fs::read(&file).is_ok_and(|bytes| check(i, &bytes).is_ok()) {
            progress(&format!("{}: already there", file.display()));
            done.push(Fetched::AlreadyThere { file });
            continue;
        }
        let mut failures = Vec::new();
        let mut got = None;
        for mirror in mirrors {
            let url = format!("{}/{name}.gz", mirror.trim_end_matches('/'));
            progress(&format!("{name}.gz: downloading {url}"));
            let attempt = download(&agent, &url).and_then(|bytes| check(i, &bytes).map(|()| bytes));
            match attempt {
                Ok(bytes) => {
                    got = Some((url, bytes));
                    break;
                }
                Err(e) => {
                    progress(&format!("{name}.gz: {url}: {e}"));
                    failures.push(format!("{url}: {e}"));
                }
            }
        }
        let Some((url, bytes)) = got else {
            return Err(FetchError::AllMirrorsFailed {
                name,
                attempts: failures,
            });
        };
        crate::files::write_atomically(&file, &bytes).map_err(FetchError::Write)?;
        progress(&format!(
            "{}: written ({} bytes)",
            file.display(),
            bytes.len()
        ));
        done.push(Fetched::Downloaded {
            file,
            url,
            bytes: bytes.len(),
            failures,
        });
    }
    Ok(done)
}

/// The body of `url`, whole (a body cut short, or longer than [`MAX_BYTES`], is an error).
fn download(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, String> {
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_checked_by_its_decompressed_bytes() {
        let dir = crate::tests_support::mnist_dir();
        let i = 3;
        let gz = std::fs::read(dir.join(format!("{}.gz", FILE_NAMES[i]))).unwrap();
        assert_eq!(check(i, &gz), Ok(()));
        let plain = inflate_gzip(&gz).unwrap();
        assert_eq!(check(i, &plain), Ok(()));
        let e = check(i, &gz[..gz.len() / 2]).unwrap_err();
        assert!(e.contains("not a whole gzip file"), "{e}");
        let e = check(2, &gz).unwrap_err();
        assert!(
            e.contains("wrong content") && e.contains(MNIST_FILES[2].1),
            "{e}"
        );
    }
}
