//! One process per results folder.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Holds the results folder for one process: a second `runner` on the same folder is refused.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the results folder '{}'", dir.display()))?;
        let path = dir.join(".lock");
        let file = File::create(&path)
            .with_context(|| format!("cannot write in the results folder '{}'", dir.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another runner is writing to '{}'; wait for it to finish or use --out for another folder",
                dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking '{}'", path.display()))
            }
        }
    }
}
