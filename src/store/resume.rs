//! Never lose a result: resuming a results folder, repairing what a crash left, sharding a grid
//! across machines and merging the shards.
//!
//! The truth about what finished is the `state/<run>.toml` file that a run writes atomically
//! when it ends (completed or diverged). `metrics.csv` is append-only while a sweep runs; before
//! a resume it is rewritten to hold exactly the rows of finished runs, once each, so that runs cut
//! off mid-way are trained again from the start and a torn last line is dropped.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::Experiment;
use crate::grid::settings::SETTINGS;
use crate::store::schema::epoch_column;
use crate::store::{
    metrics_header, runs_header, write_atomically, MetricsFile, ResultsDir, RunRow,
};

/// Checks that the results in a folder, made by `old`, belong to `new`: the same data settings
/// and a grid whose every list holds all the old values (new values may be added). Returns the
/// first difference, named by its key.
pub fn compatible(old: &Experiment, new: &Experiment) -> Result<(), String> {
    if old.data().dataset != new.data().dataset {
        return Err(format!(
            "`data.dataset` was \"{}\" and is now \"{}\"",
            old.data().dataset.name(),
            new.data().dataset.name()
        ));
    }
    if old.data().validation_size != new.data().validation_size {
        return Err(format!(
            "`data.validation_size` was {} and is now {}",
            old.data().validation_size,
            new.data().validation_size
        ));
    }
    if old.data().train_size != new.data().train_size {
        return Err(format!(
            "`data.train_size` was {} and is now {}",
            old.data().train_size,
            new.data().train_size
        ));
    }
    if old.data().monitor != new.data().monitor {
        let names = |e: &Experiment| {
            let quoted: Vec<String> = e
                .data()
                .monitor
                .metrics()
                .iter()
                .map(|m| format!("\"{}\"", m.name()))
                .collect();
            format!("[{}]", quoted.join(", "))
        };
        return Err(format!(
            "`data.monitor` was {} and is now {}",
            names(old),
            names(new)
        ));
    }
    let (o, n) = (&old.grid(), &new.grid());
    if o.variants.is_empty() != n.variants.is_empty() {
        return Err(format!(
            "the experiment {} `[[variant]]` tables (every run's identity includes its variant)",
            if o.variants.is_empty() {
                "gained"
            } else {
                "lost its"
            }
        ));
    }
    if let Some(v) = o.variants.iter().find(|v| !n.variants.contains(v)) {
        return Err(format!(
            "variant \"{}\" is gone or changed (variants may be added, not changed)",
            v.name
        ));
    }
    if o.zips != n.zips {
        return Err(
            "the `[[grid.zip]]` tables changed (zipped settings must stay as they were)"
                .to_string(),
        );
    }
    for key in SETTINGS.iter().map(|s| s.name) {
        let (was, now) = (o.labels(key), n.labels(key));
        let present: std::collections::HashSet<&String> = now.iter().collect();
        if !was.iter().all(|v| present.contains(v)) {
            return Err(format!(
                "`grid.{key}` was [{}] and is now [{}]",
                was.join(", "),
                now.join(", ")
            ));
        }
    }
    Ok(())
}

/// Reads the experiment saved in a results folder.
pub fn saved_experiment(dir: &Path) -> Result<Option<Experiment>> {
    let path = ResultsDir::experiment_path(dir);
    if !path.exists() {
        return Ok(None);
    }
    let exp = Experiment::from_file(&path)
        .with_context(|| format!("reading the experiment saved in '{}'", dir.display()))?;
    Ok(Some(exp))
}

/// What a results folder already holds, after repair.
#[derive(Debug, Default)]
pub struct Existing {
    /// Finished runs by id.
    pub done: HashMap<String, RunRow>,
    /// Lines removed from `metrics.csv`: rows of unfinished runs, duplicates, a torn tail.
    pub dropped_rows: usize,
    /// Finished runs whose rows did not match their state (edited or damaged): trained again.
    pub mismatched: Vec<String>,
}

/// True when `lines` (a run's rows of `metrics.csv`) are the rows its state file records: as
/// many as its epochs, with the digest written when it finished (where there is one).
pub fn rows_match(row: &RunRow, lines: &[Vec<String>]) -> bool {
    lines.len() == row.epochs_completed
        && row
            .rows_sha256
            .as_ref()
            .is_none_or(|d| *d == crate::store::rows_digest(lines))
        && summary_matches(row, lines)
}

/// True when the state's summary of the run (best validation accuracy, its epoch, the final
/// test accuracy: what runs.csv shows) is the one its rows give, as [`RunRow::new`] made it: an
/// edited state file must not reach runs.csv.
fn summary_matches(row: &RunRow, lines: &[Vec<String>]) -> bool {
    let epoch = crate::store::schema::epoch_column();
    let column = |name: &str| {
        crate::store::schema::METRICS_VALUES
            .iter()
            .position(|c| *c == name)
            .map(|i| epoch + i)
    };
    let (Some(validation), Some(test)) = (column("validation_accuracy"), column("test_accuracy"))
    else {
        return false;
    };
    let number = |line: &Vec<String>, i: usize| line.get(i).and_then(|c| c.parse::<f64>().ok());
    let mut best: Option<(f64, usize)> = None;
    for line in lines {
        if let Some(acc) = number(line, validation) {
            if best.is_none_or(|(b, _)| acc > b) {
                let at = line.get(epoch).and_then(|c| c.parse().ok()).unwrap_or(0);
                best = Some((acc, at));
            }
        }
    }
    best.map(|b| b.0) == row.best_validation_accuracy
        && best.map(|b| b.1) == row.best_epoch
        && lines.last().and_then(|l| number(l, test)) == row.final_test_accuracy
}

/// Deletes the files `runner` writes in a results folder (and nothing else).
pub fn remove_results(dir: &Path) -> Result<()> {
    for f in [
        "metrics.csv",
        "runs.csv",
        "experiment.toml",
        "summary.md",
        "threshold.csv",
        "rungs.csv",
        "report.html",
    ] {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing '{}'", p.display()))?;
        }
    }
    for d in [
        ResultsDir::state_dir(dir),
        dir.join("plots"),
        dir.join(super::tensorboard::FOLDER),
    ] {
        if d.exists() {
            std::fs::remove_dir_all(&d).with_context(|| format!("removing '{}'", d.display()))?;
        }
    }
    Ok(())
}

/// Prepares `dir` for `exp`: refuses results of a different experiment, deletes them first with
/// `fresh`, and repairs what an interrupted sweep left. Returns the finished runs.
pub fn prepare(dir: &Path, exp: &Experiment, fresh: bool) -> Result<Existing> {
    if fresh {
        remove_results(dir)?;
        return Ok(Existing::default());
    }
    match saved_experiment(dir)? {
        None => {
            if ResultsDir::metrics_path(dir).exists() {
                bail!(
                    "'{}' holds a metrics.csv but no experiment.toml, so its results cannot be \
                     checked against {}; run with --fresh to delete them, or use --out for another folder",
                    dir.display(),
                    exp.path().display()
                );
            }
            Ok(Existing::default())
        }
        Some(old) => {
            if let Err(diff) = compatible(&old, exp) {
                bail!(
                    "'{}' holds the results of a different experiment: {diff}. A results folder can \
                     only be resumed by the same experiment, or one whose grid lists gained values. \
                     Run with --fresh to delete these results and start afresh, or use --out for \
                     another folder.",
                    dir.display()
                );
            }
            repair(dir, &exp.grid().extra_columns())
        }
    }
}

/// Reads the state files and rewrites `metrics.csv` and `runs.csv` to hold exactly the
/// finished runs, with the extra setting columns `extra` (a grown grid may have added some).
pub fn repair(dir: &Path, extra: &[&str]) -> Result<Existing> {
    // a damaged state file is a lost one: the run is trained again
    let (mut done, damaged) = read_states_and_damaged(dir)?;
    let mut lost = Vec::new();
    for (path, _) in damaged {
        std::fs::remove_file(&path).with_context(|| format!("removing '{}'", path.display()))?;
        if let Some(id) = path.file_stem() {
            lost.push(id.to_string_lossy().into_owned());
        }
    }
    remove_leftovers(dir);
    let metrics_path = ResultsDir::metrics_path(dir);
    let header = metrics_header(extra);
    let (rows, mut dropped) = read_metrics_lines(&metrics_path, &header);
    // Keep each finished run's rows once, in the order written.
    let epoch = epoch_column();
    let mut seen = HashSet::new();
    let mut per_run: HashMap<String, usize> = HashMap::new();
    let mut kept = Vec::new();
    for line in rows {
        let run = line[0].clone();
        if done.contains_key(&run) && seen.insert((run.clone(), line[epoch].clone())) {
            *per_run.entry(run).or_default() += 1;
            kept.push(line);
        } else {
            dropped += 1;
        }
    }
    // A finished run whose rows are not all there, or not the ones it wrote (the CSV was damaged
    // or edited by hand), is trained again.
    let mut lines_of: HashMap<&str, Vec<Vec<String>>> = HashMap::new();
    for line in &kept {
        lines_of
            .entry(line[0].as_str())
            .or_default()
            .push(line.clone());
    }
    let mut mismatched = lost;
    let incomplete: Vec<String> = done
        .iter()
        .filter(|(id, row)| {
            let lines = lines_of.get(id.as_str()).map_or(&[][..], |l| l.as_slice());
            let complete = per_run.get(*id).copied().unwrap_or(0) == row.epochs_completed;
            if complete && !rows_match(row, lines) {
                mismatched.push(id.to_string());
            }
            !complete || !rows_match(row, lines)
        })
        .map(|(id, _)| id.clone())
        .collect();
    mismatched.sort();
    drop(lines_of);
    for id in &incomplete {
        done.remove(id);
        let _ = std::fs::remove_file(ResultsDir::state_dir(dir).join(format!("{id}.toml")));
    }
    if !incomplete.is_empty() {
        let before = kept.len();
        kept.retain(|l| !incomplete.contains(&l[0]));
        dropped += before - kept.len();
    }
    write_csv(&metrics_path, &header, kept.iter().map(|l| l.as_slice()))?;
    // the event files of runs that will be trained again from the start
    super::tensorboard::remove_others(dir, &|id| done.contains_key(id));
    let mut runs: Vec<&RunRow> = done.values().collect();
    runs.sort_by(|a, b| a.settings.run.cmp(&b.settings.run));
    write_run_rows(&ResultsDir::runs_path(dir), runs, extra)?;
    Ok(Existing {
        done,
        dropped_rows: dropped,
        mismatched,
    })
}

/// The finished runs recorded in `dir/state/` (reading changes nothing).
pub fn read_states(dir: &Path) -> Result<HashMap<String, RunRow>> {
    let (done, damaged) = read_states_and_damaged(dir)?;
    match damaged.into_iter().next() {
        None => Ok(done),
        Some((path, why)) => Err(anyhow::anyhow!(
            "'{}' is damaged ({why}); delete it to train that run again",
            path.display()
        )),
    }
}

/// State files that do not read as a run's state, with why.
type Damaged = Vec<(PathBuf, String)>;

/// The state files that read as a finished run, by id, and those that do not (not text, not
/// a run's state), with why.
fn read_states_and_damaged(dir: &Path) -> Result<(HashMap<String, RunRow>, Damaged)> {
    let mut done = HashMap::new();
    let mut damaged = Vec::new();
    let state_dir = ResultsDir::state_dir(dir);
    let Ok(entries) = std::fs::read_dir(&state_dir) else {
        return Ok((done, damaged));
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("reading '{}'", path.display()))?;
        let Ok(text) = String::from_utf8(bytes) else {
            damaged.push((path, "it is not text".to_string()));
            continue;
        };
        match toml::from_str::<RunRow>(&text) {
            Ok(row) => {
                done.insert(row.settings.run.clone(), row);
            }
            Err(e) => damaged.push((path, e.message().to_string())),
        }
    }
    Ok((done, damaged))
}

/// Removes the temporary files an interrupted atomic write left in `dir/state/`.
fn remove_leftovers(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(ResultsDir::state_dir(dir)) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) == Some("tmp") {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// The data lines of a `metrics.csv` as fields in the order of `header` (see
/// [`MetricsFile::lines_in`]) and the count of lines that were not whole rows.
pub(super) fn read_metrics_lines(path: &Path, header: &[String]) -> (Vec<Vec<String>>, usize) {
    let file = MetricsFile::read_or_empty(path, header);
    (file.lines_in(header), file.dropped)
}

pub(super) fn write_csv<'a>(
    path: &Path,
    header: &[String],
    rows: impl Iterator<Item = &'a [String]>,
) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(r)?;
    }
    write_atomically(path, &w.into_inner().context("encoding CSV")?)
}

pub(super) fn write_run_rows<'a>(
    path: &Path,
    rows: impl IntoIterator<Item = &'a RunRow>,
    extra: &[&str],
) -> Result<()> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(runs_header(extra))?;
    let columns: Vec<String> = extra.iter().map(|c| c.to_string()).collect();
    for r in rows {
        w.serialize(r.csv_record(&columns))?;
    }
    write_atomically(path, &w.into_inner().context("encoding CSV")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tests_support::grid_experiment as exp;

    #[test]
    fn adding_values_is_compatible_changing_is_not() {
        let old = exp("eta = [1.0, 3.0]\nseed = [1]");
        assert!(compatible(&old, &exp("eta = [1.0, 3.0, 10.0]\nseed = [1, 2]")).is_ok());
        assert!(compatible(&old, &exp("seed = [1]\neta = [3.0, 1.0]")).is_ok());
        assert_eq!(
            compatible(&old, &exp("eta = [1.0]\nseed = [1]")).unwrap_err(),
            "`grid.eta` was [1.0, 3.0] and is now [1.0]"
        );
        assert_eq!(
            compatible(&old, &exp("eta = [1.0, 3.0]\nepochs = 20")).unwrap_err(),
            "`grid.epochs` was [30] and is now [20]"
        );
        let data = Experiment::from_str(
            "[data]\ntrain_size = 100\n[grid]\neta = [1.0, 3.0]",
            Path::new("e.toml"),
        )
        .unwrap();
        assert_eq!(
            compatible(&old, &data).unwrap_err(),
            "`data.train_size` was 50000 and is now 100"
        );
    }

    #[test]
    fn torn_and_foreign_lines_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        let good = "a,784-30-10,3.0,10,30,1,quadratic,large,0.0,100,1,0.1,0.9,,,,,0.5";
        std::fs::write(
            &p,
            format!(
                "{}\n{good}\n{good}\nbroken,line\n{}",
                crate::store::schema::metrics_columns().join(","),
                &good[..20]
            ),
        )
        .unwrap();
        let header = metrics_header(&[]);
        let (rows, dropped) = read_metrics_lines(&p, &header);
        assert_eq!(rows.len(), 2);
        assert_eq!(dropped, 2);
        // read for a grid that has since gained a momentum column: the old rows get its default
        let wider = metrics_header(&["momentum", "variant"]);
        let (rows, _) = read_metrics_lines(&p, &wider);
        assert_eq!(rows[0].len(), 20);
        assert_eq!((rows[0][18].as_str(), rows[0][19].as_str()), ("0.0", ""));
        let scheduled = metrics_header(&["eta_schedule"]);
        let (rows, _) = read_metrics_lines(&p, &scheduled);
        assert_eq!(scheduled.last().unwrap(), "epoch_eta");
        assert_eq!(&rows[0][18..], ["constant", "3.0"]);
    }
}
