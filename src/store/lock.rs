//! One process per results folder.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Holds the results folder for one process: a second `runner` on the same folder is refused.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// The lock a sharded threshold search holds on its folder for as long as it runs, so that its
/// sibling shards can tell a shard at work from one that is not running.
pub const SEARCHING: &str = ".searching";

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        Self::acquire_file(dir, ".lock")
    }

    /// Locks `dir/name` (created if needed); refused while another process holds it.
    pub fn acquire_file(dir: &Path, name: &str) -> Result<DirLock> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the results folder '{}'", dir.display()))?;
        let path = dir.join(name);
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

    /// True when another process holds `dir/name` now (creates nothing).
    pub fn held(dir: &Path, name: &str) -> bool {
        let Ok(file) = File::open(dir.join(name)) else {
            return false;
        };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_seen_from_another_handle_and_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(!DirLock::held(tmp.path(), SEARCHING));
        let lock = DirLock::acquire_file(tmp.path(), SEARCHING).unwrap();
        assert!(DirLock::held(tmp.path(), SEARCHING));
        assert!(DirLock::acquire_file(tmp.path(), SEARCHING).is_err());
        drop(lock);
        assert!(!DirLock::held(tmp.path(), SEARCHING));
        // looking creates nothing
        assert!(!DirLock::held(&tmp.path().join("absent"), SEARCHING));
        assert!(!tmp.path().join("absent").exists());
    }
}
