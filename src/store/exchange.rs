//! Shards of one search exchanging finished runs through their folders: a shard copies the
//! runs a sibling has finished into its own folder, rows and state, exactly as they were
//! written there (their rows are checked against the sibling's state first, as `merge` does).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Result;

use super::resume::{read_metrics_lines, rows_match};
use super::table::lines_by_run;
use super::{metrics_header, ResultsDir, RunRow};
use crate::config::Experiment;

impl ResultsDir {
    /// Records a run finished elsewhere: its rows (fields in this folder's column order), then
    /// its state and its row in `runs.csv`, in the order training writes them.
    pub fn copy_run(&self, row: &RunRow, lines: &[Vec<String>]) -> Result<()> {
        {
            let mut metrics = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
            for line in lines {
                metrics.append(line)?;
            }
        }
        self.write_run(row)
    }
}

/// Copies into `into` (open for `exp`) the runs of `wanted` (runs `into` does not hold) that
/// `from` holds finished, `theirs` being `from`'s states, with the rows those states record;
/// returns the rows of the runs copied. A run that `from` is still writing, or whose rows there
/// do not match, is left for later.
pub fn adopt(
    into: &ResultsDir,
    from: &Path,
    theirs: &HashMap<String, RunRow>,
    exp: &Experiment,
    wanted: &HashSet<String>,
) -> Result<Vec<RunRow>> {
    if !wanted.iter().any(|id| theirs.contains_key(id)) {
        return Ok(Vec::new());
    }
    let header = metrics_header(&exp.grid().extra_columns());
    let (lines, _) = read_metrics_lines(&ResultsDir::metrics_path(from), &header);
    let (mut lines_of, _) = lines_by_run(lines, |id| wanted.contains(id));
    let mut ids: Vec<&String> = wanted
        .iter()
        .filter(|id| theirs.contains_key(*id))
        .collect();
    ids.sort();
    let mut copied = Vec::new();
    for id in ids {
        let row = &theirs[id];
        let lines = lines_of.remove(id).unwrap_or_default();
        if rows_match(row, &lines) {
            super::tensorboard::copy_run(from, &into.dir, id)?;
            into.copy_run(row, &lines)?;
            copied.push(row.clone());
        }
    }
    Ok(copied)
}
