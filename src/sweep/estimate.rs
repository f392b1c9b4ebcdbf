//! `runner check`: the experiment validated against its results folder, and an estimate of the
//! time the runs left will take.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::plan::{self, available_memory, check_memory, gigabytes, shard_runs, MAX_GROUP};
use super::{results_dir, SweepOptions};
use crate::config::Experiment;
use crate::grid::{float_label, RunSettings};
use crate::search::Search;
use crate::store::RunRow;
use crate::train::Trainer;

/// What `runner check` reports.
#[derive(Debug)]
pub struct CheckReport {
    pub grid_points: u128,
    pub runs: u128,
    pub finished: u128,
    pub epochs_left: u128,
    /// Estimated wall time of the runs left, on `threads` threads.
    pub estimate_seconds: Option<f64>,
    pub threads: usize,
    pub dir: PathBuf,
    /// Memory the sweep needs at most (the data set and the largest groups at once).
    pub memory_bytes: u64,
    /// What a search will train instead of the whole grid.
    pub search: Option<String>,
    /// Where the data set comes from (`runner data` says why).
    pub data: String,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "grid points:      {}", self.grid_points)?;
        writeln!(f, "distinct runs:    {}", self.runs)?;
        writeln!(
            f,
            "data:             {} (`runner data` says why)",
            self.data
        )?;
        writeln!(
            f,
            "already finished: {} (in {})",
            self.finished,
            self.dir.display()
        )?;
        writeln!(
            f,
            "left to train:    {} runs, {} epochs",
            self.runs - self.finished,
            self.epochs_left
        )?;
        writeln!(
            f,
            "memory:           at most about {} on {} threads{}",
            gigabytes(self.memory_bytes),
            self.threads,
            available_memory()
                .map(|a| format!(" ({} available)", gigabytes(a)))
                .unwrap_or_default()
        )?;
        if let Some(search) = &self.search {
            writeln!(f, "search:           {search}")?;
        }
        match self.estimate_seconds {
            Some(s) => write!(
                f,
                "estimated time:   {} on {} threads (from a short timing of each network shape on this machine)",
                human_duration(s),
                self.threads
            ),
            None => write!(f, "estimated time:   nothing left to train"),
        }
    }
}

/// `1h 05m`, `3m 12s`, `41s`.
pub fn human_duration(seconds: f64) -> String {
    if seconds < 1.0 {
        return "under 1s".to_string();
    }
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The runs left of one network shape (layer sizes, batch size): one of them to time, and their
/// training examples and epochs summed.
struct Shape {
    run: RunSettings,
    examples: f64,
    epochs: f64,
}

/// Seconds a sweep spends after training on its summary, plots and report (measured: 0.3-0.8 s
/// for the shipped experiments).
const REPORT_SECONDS: f64 = 0.5;

/// Validates the experiment against its results folder (without changing anything) and
/// estimates the time the runs left will take.
pub fn check(exp: &Experiment, opts: &SweepOptions) -> Result<CheckReport> {
    // what running it would refuse, check refuses too
    super::check_inferred_shard(exp, opts)?;
    if matches!(exp.search(), crate::search::Search::Halving(_)) {
        super::searches::refuse_shard(exp, opts, "successive halving")?;
    }
    let dir = results_dir(exp, opts);
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let finished = finished_runs(exp, &dir)?;
    let tally = Tally::of(exp, opts, &finished);
    // The memory first: the largest network, fused with as many runs as a group holds, on every
    // thread at once (an upper bound).
    let memory_bytes = match tally.largest {
        Some((_, r)) => {
            let count = usize::try_from(tally.runs).unwrap_or(usize::MAX);
            let group = vec![r; count.min(MAX_GROUP)];
            check_memory(
                &vec![group; threads.min(count)],
                threads,
                available_memory(),
            )?
        }
        None => 0,
    };
    let (total, total_fixed) = timed_seconds(exp, &tally.shapes)?;
    let left = tally.left;
    let estimate_seconds =
        (left > 0).then(|| total / (threads as f64).min(left as f64) + total_fixed);
    Ok(CheckReport {
        grid_points: exp.grid().len(),
        runs: tally.runs,
        finished: tally.runs - left,
        epochs_left: tally.epochs_left,
        estimate_seconds,
        threads,
        dir,
        memory_bytes,
        search: search_plan(exp),
        data: exp.locate_data().used(),
    })
}

/// The runs `dir` holds finished, once it is known to hold this experiment's results.
fn finished_runs(exp: &Experiment, dir: &std::path::Path) -> Result<HashMap<String, RunRow>> {
    Ok(match crate::store::resume::saved_experiment(dir)? {
        Some(old) => {
            crate::store::resume::compatible(&old, exp).map_err(|diff| {
                anyhow::anyhow!(
                    "'{}' holds the results of a different experiment: {diff}; running it would be refused (use --fresh or --out)",
                    dir.display()
                )
            })?;
            crate::store::resume::read_states(dir)?
        }
        None => HashMap::new(),
    })
}

/// One pass over the runs (a grid of millions is checked without building it): the largest
/// network for the memory bound, and per network shape the work left, in training examples and
/// epochs. Nothing is allocated until the memory has been checked.
struct Tally {
    runs: u128,
    left: u128,
    epochs_left: u128,
    largest: Option<(u64, RunSettings)>,
    shapes: HashMap<(Vec<usize>, usize), Shape>,
}

impl Tally {
    fn of(exp: &Experiment, opts: &SweepOptions, finished: &HashMap<String, RunRow>) -> Tally {
        let mut t = Tally {
            runs: 0,
            left: 0,
            epochs_left: 0,
            largest: None,
            shapes: HashMap::new(),
        };
        let chosen_eta = matches!(exp.search(), Search::Curvature(_) | Search::RangeTest(_));
        let mut etas: Vec<f64> = finished.values().filter_map(|r| r.settings.eta()).collect();
        etas.sort_by(f64::total_cmp);
        etas.dedup();
        for r in shard_runs(exp, opts.shard) {
            t.runs += 1;
            let bytes = plan::group_bytes(std::slice::from_ref(&r));
            if t.largest.as_ref().is_none_or(|(b, _)| bytes > *b) {
                t.largest = Some((bytes, r.clone()));
            }
            if !finished.is_empty() && finished.contains_key(&r.id()) {
                continue;
            }
            // a curvature search or a range test trains its grid's runs at the eta it chose
            if chosen_eta
                && etas
                    .iter()
                    .any(|&eta| finished.contains_key(&RunSettings { eta, ..r.clone() }.id()))
            {
                continue;
            }
            t.left += 1;
            t.epochs_left += r.epochs as u128;
            let epochs = r.epochs as f64;
            let shape = t
                .shapes
                .entry((r.sizes.clone(), r.batch_size))
                .or_insert_with(|| Shape {
                    run: r.clone(),
                    examples: 0.0,
                    epochs: 0.0,
                });
            shape.examples += r.examples() as f64 * epochs;
            shape.epochs += epochs;
        }
        t
    }
}

/// Each network shape timed briefly: the seconds of work spread over threads, and the seconds
/// that do not depend on them (loading the data, writing the summary and plots). Evaluation is
/// counted as forward passes at a third of a training example's cost.
fn timed_seconds(
    exp: &Experiment,
    shapes: &HashMap<(Vec<usize>, usize), Shape>,
) -> Result<(f64, f64)> {
    let mut total = 0.0f64;
    let mut total_fixed = REPORT_SECONDS;
    if shapes.is_empty() {
        return Ok((total, total_fixed));
    }
    let started = std::time::Instant::now();
    let data = exp.load_data()?;
    total_fixed += started.elapsed().as_secs_f64();
    let monitor = exp.data().monitor;
    use crate::metrics::Metric;
    let train_eval = monitor.has(Metric::TrainCost) || monitor.has(Metric::TrainAccuracy);
    let mut eval_per_epoch = 0;
    if monitor.has(Metric::ValidationCost) || monitor.has(Metric::ValidationAccuracy) {
        eval_per_epoch += data.validation.len();
    }
    if monitor.has(Metric::TestCost) || monitor.has(Metric::TestAccuracy) {
        eval_per_epoch += data.test.len();
    }
    for shape in shapes.values() {
        let per_example = Trainer::new(std::slice::from_ref(&shape.run), &data, monitor)
            .seconds_per_example(Duration::from_millis(300));
        let trained = shape.examples;
        let evaluated =
            if train_eval { trained } else { 0.0 } + shape.epochs * eval_per_epoch as f64;
        total += per_example * (trained + evaluated / 3.0);
    }
    Ok((total, total_fixed))
}

/// What a search trains, for `runner check`: the grid above is then its starting point (a
/// threshold search) or its upper bound (halving).
fn search_plan(exp: &Experiment) -> Option<String> {
    let seeds = exp.grid().values_of("seed").len().max(1);
    match &exp.search() {
        Search::Grid => None,
        Search::Threshold(t) => {
            let base = exp.run(0);
            Some(format!(
                "threshold: rounds of up to {} etas x {seeds} seeds x {} epochs (the number of \
                 rounds depends on the verdicts, usually 4 to 6){}{}; the time above is for the \
                 runs at one eta",
                t.probes,
                t.watch,
                if t.refine {
                    format!(
                        ", then {} etas from half the threshold down x {seeds} seeds x {} epochs to \
                         refine it",
                        crate::search::threshold::REFINE_ETAS,
                        t.refine_epochs(base.epochs)
                    )
                } else {
                    String::new()
                },
                if t.then_train {
                    format!(
                        ", then {seeds} runs x {} epochs at the recommended eta",
                        base.epochs
                    )
                } else {
                    String::new()
                }
            ))
        }
        Search::Curvature(c) => Some(format!(
            "curvature: the Hessian's largest eigenvalue at each seed's initial weights over {} \
             training examples (at most {} power iterations, seconds each), then {seeds} runs x {} \
             epochs at the recommended eta; the time above is for those runs",
            c.sample,
            c.iterations,
            exp.run(0).epochs
        )),
        Search::RangeTest(r) => Some(format!(
            "range test: one run per seed of {} mini-batches, eta from {} to {} (seconds each), \
             ending early when the cost blows up{}",
            r.steps_for(&exp.run(0)),
            float_label(r.min),
            float_label(r.max),
            if r.then_train {
                format!(
                    ", then {seeds} runs x {} epochs at the recommended eta; the time above is \
                     for those runs",
                    exp.run(0).epochs
                )
            } else {
                String::new()
            }
        )),
        Search::Halving(h) => {
            let runs = exp.grid().len() as usize;
            let epochs = exp.run(0).epochs;
            let per_configuration = seeds.min(runs.max(1));
            let mut alive = runs.div_ceil(per_configuration);
            let (mut total, mut from) = (0, 0);
            for rung in h.rungs(epochs) {
                total += alive * per_configuration * (rung - from);
                alive = h.keep(alive);
                from = rung;
            }
            total += alive * per_configuration * (epochs - from);
            Some(format!(
                "halving after epochs {:?}: about {total} epochs ({:.0}% of the {} the grid \
                 above trains) and about that share of its time",
                h.rungs(epochs),
                100.0 * total as f64 / (runs * epochs).max(1) as f64,
                runs * epochs
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        assert_eq!(human_duration(0.2), "under 1s");
        assert_eq!(human_duration(41.4), "41s");
        assert_eq!(human_duration(192.0), "3m 12s");
        assert_eq!(human_duration(3900.0), "1h 05m");
    }
}
