//! Merging the finished runs of several results folders (shards) into one.
//!
//! The merged folder is built complete in `OUT.merge-new` beside `OUT`, then put in place with
//! renames, so `OUT` is always either what it was before or the whole merge: a merge killed at
//! any moment and run again gives what an uninterrupted merge gives. A run is taken from a source
//! only when its rows there are the ones its state file records (their number and their digest).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::lock::DirLock;
use super::resume::{
    compatible, read_metrics_lines, read_states, rows_match, saved_experiment, write_csv,
    write_run_rows,
};
use super::table::lines_by_run;
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
    /// Runs refused from a folder because their rows there do not match their state (rows
    /// missing, or edited): (run id, folder).
    pub refused: Vec<(String, PathBuf)>,
}

/// `OUT.merge-new` / `OUT.merge-old` beside `out`.
fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "merged".into());
    name.push(suffix);
    out.with_file_name(name)
}

/// The files and folders runner writes in a results folder (anything else in `OUT` is the
/// user's, and is carried over to the merged folder).
const OWN: [&str; 13] = [
    "metrics.csv",
    "runs.csv",
    "experiment.toml",
    "state",
    "summary.md",
    "report.html",
    "threshold.csv",
    "rungs.csv",
    tensorboard::FOLDER,
    "plots",
    ".lock",
    lock::SEARCHING,
    MARKER,
];

/// Merges the finished runs of several results folders of the same experiment into `out`.
pub fn merge(out: &Path, inputs: &[PathBuf]) -> Result<MergeReport> {
    let new = sibling(out, ".merge-new");
    // one merge into `out` at a time; whatever a killed merge left in `new` is rebuilt
    let building = DirLock::acquire(&new)?;
    let result = merge_into(out, inputs, &new);
    drop(building);
    if result.is_err() && new.exists() {
        let _ = std::fs::remove_dir_all(&new);
    }
    result
}

/// The merge's stages, each complete before the next: `recover` what a killed merge left,
/// `sources` to read, `collect` their finished runs (refusing edited rows and mixed
/// experiments), `build` the merged folder complete beside `OUT`, and `swap` it into place with
/// two renames.
fn merge_into(out: &Path, inputs: &[PathBuf], new: &Path) -> Result<MergeReport> {
    let old = sibling(out, ".merge-old");
    let _lock = recover(out, &old, new)?;
    crate::fault::reached("merge=started");
    let sources = sources(out, inputs, new, &old)?;
    let collected = collect(&sources)?;
    build(new, out, inputs, &collected)?;
    swap(out, new, &old)?;
    Ok(collected.report)
}

/// What the sources hold: the experiment, each finished run's state (with the folder it came
/// from) and its rows, and the report so far.
struct Collected {
    exp: Experiment,
    rows: HashMap<String, (RunRow, PathBuf)>,
    metrics: Vec<Vec<String>>,
    report: MergeReport,
}

/// Puts back what a merge killed between its two renames left (`OUT` complete in `old`),
/// clears `new`, and locks `OUT` for the merge (the lock is returned).
fn recover(out: &Path, old: &Path, new: &Path) -> Result<Option<DirLock>> {
    // a merge killed between its two renames: `out` is complete in `old`
    if !out.exists() && old.exists() {
        std::fs::rename(old, out)
            .with_context(|| format!("restoring '{}' from '{}'", out.display(), old.display()))?;
    }
    if old.exists() {
        std::fs::remove_dir_all(old).with_context(|| format!("removing '{}'", old.display()))?;
    }
    ensure_ours(out, "merges")?;
    let lock = out.exists().then(|| DirLock::acquire(out)).transpose()?;
    for entry in std::fs::read_dir(new)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n != ".lock") {
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
    }
    Ok(lock)
}

/// The folders to read: `OUT` itself when it holds results, then the inputs (never the merge's
/// own working folders).
fn sources(out: &Path, inputs: &[PathBuf], new: &Path, old: &Path) -> Result<Vec<PathBuf>> {
    let mut sources: Vec<PathBuf> = Vec::new();
    if ResultsDir::experiment_path(out).exists() {
        sources.push(out.to_path_buf());
    }
    sources.extend(
        inputs
            .iter()
            .filter(|p| p.as_path() != out && p.as_path() != new && p.as_path() != old)
            .cloned(),
    );
    if sources.is_empty() {
        bail!(
            "nothing to merge: name the shard folders to merge into '{}'",
            out.display()
        );
    }
    Ok(sources)
}

/// Reads every source's finished runs: one experiment (compatible in every source), each run
/// once, its rows checked against its state.
fn collect(sources: &[PathBuf]) -> Result<Collected> {
    let mut experiment: Option<(Experiment, PathBuf)> = None;
    let mut rows: HashMap<String, (RunRow, PathBuf)> = HashMap::new();
    let mut metrics: Vec<Vec<String>> = Vec::new();
    let mut report = MergeReport::default();
    for dir in sources {
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
        let header = metrics_header(&experiment.as_ref().expect("set").0.grid().extra_columns());
        let (lines, _) = read_metrics_lines(&ResultsDir::metrics_path(dir), &header);
        // each finished run's rows, once per epoch
        let (mut lines_of, _) = lines_by_run(lines, |id| done.contains_key(id));
        let mut ids: Vec<&String> = done.keys().collect();
        ids.sort();
        for id in ids {
            let row = &done[id];
            let lines = lines_of.remove(id).unwrap_or_default();
            if !rows_match(row, &lines) {
                report.refused.push((id.clone(), dir.clone()));
            } else if let Some((_, kept)) = rows.get(id) {
                // the shards of a threshold search each hold the whole search, by design (a
                // run two shards both trained differs in its timing columns only)
                if matches!(
                    experiment.as_ref().expect("set").0.search(),
                    crate::search::Search::Threshold(_)
                ) {
                    continue;
                }
                report
                    .duplicated
                    .push((id.clone(), kept.clone(), dir.clone()));
            } else {
                rows.insert(id.clone(), (row.clone(), dir.clone()));
                metrics.extend(lines);
            }
        }
    }
    let (exp, _) = experiment.expect("at least one source");
    let grid_runs = exp.runs();
    // a threshold or curvature search's runs are the ones it chose, not its grid: whether it
    // finished is the summary's to say
    if !exp.search().chooses_its_runs() {
        report.missing = grid_runs
            .iter()
            .filter(|r| !rows.contains_key(&r.id()))
            .cloned()
            .collect();
    }
    report.runs = rows.len();
    Ok(Collected {
        exp,
        rows,
        metrics,
        report,
    })
}

/// Writes the merged folder complete in `new`: states, event files, the CSV files in grid
/// order (a search's in the order of its rounds), and the user's own files from `OUT`.
fn build(new: &Path, out: &Path, inputs: &[PathBuf], c: &Collected) -> Result<()> {
    let Collected {
        exp, rows, metrics, ..
    } = c;
    let grid_runs = exp.runs();
    // build the merged folder complete in `new`
    std::fs::create_dir_all(ResultsDir::state_dir(new))?;
    mark(new)?;
    write_atomically(&ResultsDir::experiment_path(new), exp.text().as_bytes())?;
    for (row, source) in rows.values() {
        let path = ResultsDir::state_dir(new).join(format!("{}.toml", row.settings.run));
        write_atomically(&path, toml::to_string(row)?.as_bytes())?;
        tensorboard::copy_run(source, new, &row.settings.run)?;
    }
    // what a search computed before it trained, from the first folder that has it
    if let Some(file) = super::search_file(exp.search()) {
        if let Some(dir) = inputs.iter().find(|d| d.join(file).is_file()) {
            let bytes = std::fs::read(dir.join(file))?;
            write_atomically(&new.join(file), &bytes)?;
            if file == super::range_test::FILE {
                super::range_test::save(new, &super::range_test::read(new)?)?;
            }
        }
    }
    crate::fault::reached("merge=states-written");
    let extra = exp.grid().extra_columns();
    write_csv(
        &ResultsDir::metrics_path(new),
        &metrics_header(&extra),
        metrics.iter().map(|l| l.as_slice()),
    )?;
    write_run_rows(
        &ResultsDir::runs_path(new),
        rows.values().map(|(r, _)| r),
        &extra,
    )?;
    let mut order: HashMap<String, usize> = grid_runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id(), i))
        .collect();
    if exp.search().chooses_its_runs() {
        // a search's runs in the order its folders hold them: the order of its rounds
        order.clear();
        for dir in inputs {
            let Ok(file) = MetricsFile::read(&ResultsDir::metrics_path(dir)) else {
                continue;
            };
            for run in file.runs_in_order() {
                let next = order.len();
                order.entry(run.to_string()).or_insert(next);
            }
        }
    }
    crate::store::sort_results(new, &order)?;
    // the user's own files in `out` come along
    if out.exists() {
        for entry in std::fs::read_dir(out)? {
            let entry = entry?;
            let name = entry.file_name();
            if !OWN.iter().any(|own| name == *own) {
                std::fs::rename(entry.path(), new.join(&name))
                    .with_context(|| format!("moving '{}'", entry.path().display()))?;
            }
        }
    }
    sync_dir(&ResultsDir::state_dir(new))?;
    sync_dir(new)?;
    Ok(())
}

/// Puts `new` in place of `OUT`: `OUT` is the old folder until the second rename, the merge
/// after it.
fn swap(out: &Path, new: &Path, old: &Path) -> Result<()> {
    // put it in place: `out` is the old folder until the second rename, the merge after it
    crate::fault::reached("merge=written");
    if out.exists() {
        std::fs::rename(out, old).with_context(|| format!("moving '{}' aside", out.display()))?;
    }
    crate::fault::reached("merge=between-renames");
    std::fs::rename(new, out)
        .with_context(|| format!("moving the merge into '{}'", out.display()))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    if old.exists() {
        std::fs::remove_dir_all(old).with_context(|| format!("removing '{}'", old.display()))?;
    }
    Ok(())
}
