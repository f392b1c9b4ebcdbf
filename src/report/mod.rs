//! What a results folder tells a reader: `summary.md`, `plots/*.svg` and one self-contained
//! `report.html` (the experiment file, the answers, the summary table and every plot inlined; no
//! network access needed).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub mod compare;
pub mod export;
mod html;
mod interactive;
pub(crate) mod plot;
pub mod searches;
pub mod summary;

#[cfg(test)]
mod properties;

use crate::report::export::Exporter;
use crate::report::plot::write_plots;
use crate::report::summary::{summarize, Summary};
use crate::search::Search;
use crate::store::{write_atomically, ResultsDir};
use crate::store::{MetricsFile, MetricsRow};

/// Reads `metrics.csv` of a results folder and summarises its finished runs: where the folder
/// has state files (runner's own results), the rows of runs without one (cut off, still
/// training) are left out and counted in [`Summary::unfinished_runs`].
pub fn summary_of(dir: &Path) -> Result<Summary> {
    // metrics.csv and the state files are read once: the rows, the searches' replay and the
    // check of each finished run's rows all use them
    let path = ResultsDir::metrics_path(dir);
    if !dir.is_dir() {
        bail!(
            "'{}' is not a folder: give a results folder, e.g. results/eta_sweep (each \
             experiment's results are in results/NAME)",
            dir.display()
        );
    }
    if !path.is_file() {
        bail!(
            "'{}' holds no results: it has no metrics.csv (results folders are under results/, \
             e.g. results/eta_sweep; a sweep stopped before its first epoch has none yet)",
            dir.display()
        );
    }
    let file = MetricsFile::read(&path)?;
    let mut rows = file.rows(&path)?;
    // a search that computed something before it trained has an answer without runs
    let exp = crate::store::resume::saved_experiment(dir).ok().flatten();
    let computed = exp
        .as_ref()
        .and_then(|e| crate::store::search_file(e.search()))
        .is_some_and(|f| dir.join(f).is_file());
    if rows.is_empty() && !computed {
        bail!("'{}' holds no rows yet", path.display());
    }
    let state = ResultsDir::state_dir(dir);
    let mut unfinished = std::collections::BTreeSet::new();
    if state.is_dir() {
        let finished: std::collections::HashSet<String> = std::fs::read_dir(&state)
            .with_context(|| format!("reading '{}'", state.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        rows.retain(|r| {
            let done = finished.contains(&r.run);
            if !done {
                unfinished.insert(r.run.clone());
            }
            done
        });
        if rows.is_empty() && !computed {
            bail!(
                "'{}' holds no finished run yet ({} unfinished)",
                dir.display(),
                unfinished.len()
            );
        }
    }
    let states = crate::store::resume::read_states(dir)?;
    // runs whose rows were edited by hand are left out, not summarised: their answer is not
    // the one training gave
    let mismatched = mismatched_runs(&file, &states);
    rows.retain(|r| !mismatched.contains(&r.run));
    if rows.is_empty() && !mismatched.is_empty() {
        bail!(
            "'{}' holds no run whose rows match its state file ({} edited or damaged): run the \
             experiment again to train them afresh",
            dir.display(),
            mismatched.len()
        );
    }
    // a search's own answer, replayed from the rows of its finished runs
    let mut summary = match searches::search_of(exp.as_ref()) {
        Search::Grid => summarize(&rows),
        Search::Threshold(t) => {
            let exp = exp
                .as_ref()
                .expect("a search comes from a saved experiment");
            let (found, probes) = searches::threshold(exp, &t, &rows, &states);
            let finals: Vec<MetricsRow> = rows
                .iter()
                .filter(|r| !probes.contains(&r.run))
                .cloned()
                .collect();
            // the table: the recommended eta trained for the grid's epochs, or else the probes
            let mut summary = summarize(if finals.is_empty() { &rows } else { &finals });
            summary.answers = vec![found.answer(t.then_train)];
            summary.recommended = found
                .recommended
                .filter(|_| found.finished)
                .map(|eta| searches::Recommended { eta });
            summary.threshold = Some(found);
            summary
        }
        Search::Curvature(c) => {
            let found = searches::CurvatureSummary::of(&c, dir);
            let mut summary = summarize(&rows);
            summary.answers = vec![found.answer()];
            summary.recommended = found.recommended.map(|eta| searches::Recommended { eta });
            summary.curvature = Some(found);
            summary
        }
        Search::RangeTest(r) => {
            let found = searches::RangeTestSummary::of(&r, dir);
            let mut summary = summarize(&rows);
            summary.answers = vec![found.answer()];
            summary.recommended = found.recommended.map(|eta| searches::Recommended { eta });
            summary.range_test = Some(found);
            summary
        }
        Search::Halving(h) => {
            let exp = exp
                .as_ref()
                .expect("a search comes from a saved experiment");
            let done = searches::halving(exp, &h, &rows, &states);
            let mut summary = summarize(&rows);
            summary.answers.insert(0, done.answer());
            summary.halving = Some(done);
            summary
        }
    };
    summary.unfinished_runs = unfinished.len();
    summary.missing_runs = missing_runs(dir, exp.as_ref(), &file);
    summary.mismatched_runs = mismatched;
    Ok(summary)
}

/// How many runs of a grid's folder have no row at all (never started; in a merge, in a shard
/// not merged). Not counted for a shard's folder (it holds a share), a search (it decides what
/// to train) or a grid too large to list.
fn missing_runs(
    dir: &Path,
    exp: Option<&crate::config::Experiment>,
    file: &MetricsFile,
) -> Option<usize> {
    let exp = exp?;
    let name = dir.file_name()?.to_str()?;
    let sharded = crate::store::shard::Shard::of_folder(name).is_some();
    if sharded || !matches!(exp.search(), Search::Grid) || exp.grid().len() > 100_000 {
        return None;
    }
    let present: std::collections::HashSet<&str> =
        file.lines.iter().map(|cells| cells[0].as_str()).collect();
    Some(
        exp.runs()
            .iter()
            .filter(|r| !present.contains(r.id().as_str()))
            .count(),
    )
}

/// The finished runs whose rows in `metrics.csv` are not the ones their state file records
/// (edited or damaged by hand), by id.
fn mismatched_runs(
    file: &MetricsFile,
    states: &std::collections::HashMap<String, crate::store::RunRow>,
) -> Vec<String> {
    let mut lines: std::collections::HashMap<&str, Vec<Vec<String>>> = Default::default();
    for cells in &file.lines {
        lines
            .entry(cells[0].as_str())
            .or_default()
            .push(cells.clone());
    }
    let mut bad: Vec<String> = states
        .iter()
        .filter(|(id, row)| {
            let rows = lines.get(id.as_str()).map_or(&[][..], |l| l.as_slice());
            !crate::store::resume::rows_match(row, rows)
        })
        .map(|(id, _)| id.clone())
        .collect();
    bad.sort();
    bad
}

/// Writes `summary.md`, the plots and `report.html` into `dir`; returns the summary and the
/// files written.
pub fn write_report(dir: &Path) -> Result<(Summary, Vec<PathBuf>)> {
    let summary = summary_of(dir)?;
    if !crate::store::is_results_folder(dir) {
        bail!(
            "'{}' is not a runner results folder (no {} marker): its summary.md and report.html \
             are not runner's to overwrite",
            dir.display(),
            crate::store::MARKER
        );
    }
    let mut written = Vec::new();
    let md = dir.join("summary.md");
    write_atomically(&md, export::Markdown.export(&summary)?.as_bytes())?;
    written.push(md);
    if let Some(t) = &summary.threshold {
        let path = dir.join("threshold.csv");
        write_atomically(&path, t.csv()?.as_bytes())?;
        written.push(path);
    }
    if let Some(h) = &summary.halving {
        let path = dir.join("rungs.csv");
        write_atomically(&path, h.csv()?.as_bytes())?;
        written.push(path);
    }
    let plots = write_plots(&summary, &dir.join("plots"))?;
    let experiment = std::fs::read_to_string(ResultsDir::experiment_path(dir)).unwrap_or_default();
    let html = html::page(&summary, &experiment, &plots)?;
    let page = dir.join("report.html");
    write_atomically(&page, html.as_bytes())?;
    written.extend(plots);
    written.push(page);
    let mut runs: Vec<crate::store::RunRow> = crate::store::resume::read_states(dir)?
        .into_values()
        .collect();
    runs.sort_by(|a, b| a.settings.run.cmp(&b.settings.run));
    let rows = crate::store::read_metrics(&ResultsDir::metrics_path(dir))?;
    crate::store::tensorboard::complete(dir, &runs, &rows)
        .context("writing the TensorBoard event files")?;
    written.push(dir.join(crate::store::tensorboard::FOLDER));
    Ok((summary, written))
}
