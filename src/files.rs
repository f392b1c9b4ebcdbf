//! Files written whole: through a temporary file, a flush and a rename, so that a reader (or a
//! process killed meanwhile) sees the old content or the new, never a part. The results folder
//! ([`crate::store`]) and the data sets `runner data fetch` downloads are written this way.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` through a temporary file and a rename, so that readers see either
/// the old or the new content, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // a full disk must not leave a half-written temporary file behind
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing '{}'", path.display()))?;
    // the rename itself reaches the disk only with its folder
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => sync_dir(Path::new(".")),
    }
}

/// Flushes a folder's entries (new names, renames) to the disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the folder '{}'", dir.display()))
}
