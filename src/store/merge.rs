//! Merging the finished runs of several results folders (shards) into one.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::lock::DirLock;
use super::resume::{
    compatible, read_metrics_lines, read_states, saved_experiment, write_csv, write_run_rows,
};
use super::*;
use crate::config::Experiment;
use crate::grid::RunSettings;

/// What `merge` did.
#[derive(Debug, Default)]
pub struct MergeReport {
    pub runs: usize,
    /// Runs of the grid found in no input.
    pub missing: Vec<RunSettings>,
    /// Runs found in more than one input: (run id, the folder kept, the folder skipped).
    pub duplicated: Vec<(String, PathBuf, PathBuf)>,
}

/// Merges the finished runs of several results folders of the same experiment into `out`.
pub fn merge(out: &Path, inputs: &[PathBuf]) -> Result<MergeReport> {
    let mut sources: Vec<PathBuf> = Vec::new();
    if ResultsDir::experiment_path(out).exists() {
        sources.push(out.to_path_buf());
    }
    sources.extend(inputs.iter().filter(|p| p.as_path() != out).cloned());
    if sources.is_empty() {
        bail!(
            "nothing to merge: name the shard folders to merge into '{}'",
            out.display()
        );
    }
    let mut experiment: Option<(Experiment, PathBuf)> = None;
    let mut rows: HashMap<String, (RunRow, PathBuf)> = HashMap::new();
    let mut metrics: Vec<Vec<String>> = Vec::new();
    let mut report = MergeReport::default();
    for dir in &sources {
        let exp = saved_experiment(dir)?.with_context(|| {
            format!(
                "'{}' is not a results folder (it has no experiment.toml)",
                dir.display()
            )
        })?;
        if let Some((first, first_dir)) = &experiment {
            let same = compatible(first, &exp).and_then(|_| compatible(&exp, first));
            if let Err(diff) = same {
                bail!(
                    "'{}' and '{}' hold different experiments: {diff}",
                    first_dir.display(),
                    dir.display()
                );
            }
        } else {
            experiment = Some((exp, dir.clone()));
        }
        let done = read_states(dir)?;
        let header = metrics_header(&experiment.as_ref().expect("set").0.grid.extra_columns());
        let (lines, _) = read_metrics_lines(&ResultsDir::metrics_path(dir), &header)?;
        let mut taken = HashSet::new();
        for (id, row) in done {
            if let Some((_, kept)) = rows.get(&id) {
                report.duplicated.push((id, kept.clone(), dir.clone()));
            } else {
                taken.insert(id.clone());
                rows.insert(id, (row, dir.clone()));
            }
        }
        let mut seen = HashSet::new();
        metrics.extend(
            lines
                .into_iter()
                .filter(|l| taken.contains(&l[0]) && seen.insert((l[0].clone(), l[10].clone()))),
        );
    }
    let (exp, _) = experiment.expect("at least one source");
    let grid_runs = exp.runs();
    report.missing = grid_runs
        .iter()
        .filter(|r| !rows.contains_key(&r.id()))
        .cloned()
        .collect();
    report.runs = rows.len();
    ensure_ours(out, "merges")?;
    let _lock = DirLock::acquire(out)?;
    mark(out)?;
    std::fs::create_dir_all(ResultsDir::state_dir(out))?;
    write_atomically(&ResultsDir::experiment_path(out), exp.text.as_bytes())?;
    for (row, _) in rows.values() {
        let path = ResultsDir::state_dir(out).join(format!("{}.toml", row.settings.run));
        write_atomically(&path, toml::to_string(row)?.as_bytes())?;
    }
    let extra = exp.grid.extra_columns();
    write_csv(
        &ResultsDir::metrics_path(out),
        &metrics_header(&extra),
        metrics.iter().map(|l| l.as_slice()),
    )?;
    write_run_rows(
        &ResultsDir::runs_path(out),
        rows.values().map(|(r, _)| r),
        &extra,
    )?;
    let order: HashMap<String, usize> = grid_runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id(), i))
        .collect();
    crate::store::sort_results(out, &order)?;
    Ok(report)
}
