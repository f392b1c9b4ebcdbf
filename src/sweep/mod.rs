//! The scheduler: trains every run of an experiment on the rayon pool, writes results as they
//! come, shows progress, and collects what finished and what failed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::config::Experiment;
use crate::data::Dataset;
use crate::grid::extra_default;
use crate::grid::{float_label, RunSettings};
use crate::store::resume::{prepare, DirLock, Shard};
use crate::store::{percent, ResultsDir, RunRow};
use crate::train::metrics::{EpochRecord, RunStatus};
use crate::train::{group_key, Trainer};

/// How a sweep is run.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Results folder; default `results/<experiment name>`.
    pub out: Option<PathBuf>,
    /// Worker threads; default: one per core.
    pub threads: Option<usize>,
    /// Show a progress bar on a terminal (log lines otherwise); false: log lines only.
    pub progress_bar: bool,
    /// No log lines or progress.
    pub quiet: bool,
    /// Delete the results already in the folder and start afresh.
    pub fresh: bool,
    /// Train only this share of the grid.
    pub shard: Option<Shard>,
    /// Allow a grid of more than [`MAX_RUNS_WITHOUT_YES`] runs.
    pub yes: bool,
    /// Train every run alone instead of in lockstep groups (results are identical; for
    /// benchmarks and comparisons).
    pub no_fuse: bool,
}

/// Grids larger than this need `--yes`, so that a week-long job is never started by accident.
pub const MAX_RUNS_WITHOUT_YES: u128 = 10_000;

/// A run that could not finish because of an error (not a divergence).
#[derive(Debug)]
pub struct RunFailure {
    pub settings: RunSettings,
    pub error: anyhow::Error,
}

/// What a sweep did.
#[derive(Debug)]
pub struct SweepReport {
    pub dir: PathBuf,
    /// Finished runs (completed or diverged) of this sweep or shard, in grid order, including
    /// those finished by an earlier, resumed invocation.
    pub rows: Vec<RunRow>,
    /// Runs this invocation found already finished.
    pub resumed: usize,
    /// Runs this invocation set out to train.
    pub planned: usize,
    /// Rows dropped from metrics.csv while repairing it (cut-off runs, a torn last line).
    pub repaired_rows: usize,
    pub failures: Vec<RunFailure>,
    /// True when the sweep was stopped before every run finished.
    pub interrupted: bool,
    pub seconds: f64,
}

/// The results folder of an experiment: `--out`, else `results/<name>`, or
/// `results/<name>-shard-I-of-N` for a shard.
pub fn results_dir(exp: &Experiment, opts: &SweepOptions) -> PathBuf {
    opts.out.clone().unwrap_or_else(|| {
        let name = match opts.shard {
            Some(s) => format!("{}-shard-{}-of-{}", exp.name, s.index, s.count),
            None => exp.name.clone(),
        };
        Path::new("results").join(name)
    })
}

/// The runs this invocation is responsible for: the whole grid or the shard's share.
pub fn planned_runs(exp: &Experiment, opts: &SweepOptions) -> Result<Vec<RunSettings>> {
    let size = exp.grid.len();
    if size > MAX_RUNS_WITHOUT_YES && !opts.yes {
        bail!(
            "{} declares {size} grid points, more than {MAX_RUNS_WITHOUT_YES}; run `runner check {}` \
             for an estimate of the time, and add --yes if you mean it",
            exp.path.display(),
            exp.path.display()
        );
    }
    Ok(shard_runs(exp, opts.shard).collect())
}

/// Grids up to this size are sharded by dealing runs, longest first, to the least loaded shard;
/// larger ones round-robin by grid index, without building the grid.
pub const BALANCED_SHARDING_LIMIT: u128 = 1_000_000;

/// The runs of a shard (or of the whole grid), lazily where the grid is large.
pub fn shard_runs(
    exp: &Experiment,
    shard: Option<Shard>,
) -> Box<dyn Iterator<Item = RunSettings> + '_> {
    match shard {
        None => Box::new(exp.iter_runs()),
        Some(shard) if exp.grid.len() <= BALANCED_SHARDING_LIMIT => {
            Box::new(shard.select(&exp.runs()).into_iter())
        }
        Some(Shard { index, count }) => Box::new(
            exp.iter_runs()
                .enumerate()
                .filter(move |(i, _)| i % count == index - 1)
                .map(|(_, r)| r),
        ),
    }
}

/// Loads the experiment's data set, reporting how long it took.
pub fn load_data(exp: &Experiment) -> Result<Dataset> {
    let dir = exp.resolve_data_dir()?;
    let mut data =
        Dataset::load(&dir, exp.data.dataset, exp.data.validation_size).with_context(|| {
            format!(
                "loading the {} data set from '{}'",
                exp.data.dataset.name(),
                dir.display()
            )
        })?;
    if data.train.len() < exp.data.train_size {
        bail!(
            "{}: `data.train_size` is {}, but '{}' holds only {} training images after the \
             {} for validation",
            exp.path.display(),
            exp.data.train_size,
            dir.display(),
            data.train.len(),
            data.validation.len()
        );
    }
    if let Some(n) = exp.grid.expanded_train_size(exp.data.train_size) {
        data.expand_training(n);
    }
    Ok(data)
}

/// Trains every run of `exp` that is not finished yet; `stop` interrupts it cleanly.
pub fn run_sweep(exp: &Experiment, opts: &SweepOptions, stop: &AtomicBool) -> Result<SweepReport> {
    let started = Instant::now();
    let dir = results_dir(exp, opts);
    let all_runs = planned_runs(exp, opts)?;
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting the worker threads")?;

    let _lock = DirLock::acquire(&dir)?;
    let existing = prepare(&dir, exp, opts.fresh)?;
    let runs: Vec<RunSettings> = all_runs
        .iter()
        .filter(|r| !existing.done.contains_key(&r.id()))
        .cloned()
        .collect();
    let out = ResultsDir::open(&dir, &exp.text, &exp.grid.extra_columns())?;
    let log = Log::new(opts, runs.iter().map(|r| r.epochs as u64).sum());
    let resumed = all_runs.len() - runs.len();
    if resumed > 0 || existing.dropped_rows > 0 {
        log.line(format!(
            "resuming {}: {resumed} of {} runs already finished; {} rows of unfinished runs removed from metrics.csv",
            dir.display(),
            all_runs.len(),
            existing.dropped_rows
        ));
    }
    let data = if runs.is_empty() {
        None
    } else {
        Some(load_data(exp)?)
    };
    log.line(format!(
        "{}: {} runs to train on {} threads, results in {}",
        exp.name,
        runs.len(),
        threads,
        dir.display()
    ));

    let results: Mutex<Vec<Option<Result<RunRow>>>> =
        Mutex::new((0..runs.len()).map(|_| None).collect());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let index: HashMap<String, usize> = runs.iter().enumerate().map(|(i, r)| (r.id(), i)).collect();
    let tasks = plan_groups(&runs, threads, !opts.no_fuse);
    pool.install(|| {
        tasks.par_iter().with_max_len(1).for_each(|group| {
            let data = data.as_ref().expect("loaded when there are runs");
            // A bug in one group must not take the finished runs of the others down with it.
            let outcomes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                train_group(group, data, exp, &out, stop, &log)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                group
                    .iter()
                    .map(|_| {
                        Err(anyhow::anyhow!(
                            "internal error in runner (please report it): {what}"
                        ))
                    })
                    .collect()
            });
            for (settings, result) in group.iter().zip(outcomes) {
                let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                match &result {
                    Ok(row) if row.status != "interrupted" => log.line(format!(
                        "[{finished}/{}] {} {}: best validation {} (epoch {}), final test {}",
                        runs.len(),
                        row.settings.run,
                        settings.label(),
                        percent(row.best_validation_accuracy),
                        row.best_epoch.map_or("-".to_string(), |e| e.to_string()),
                        percent(row.final_test_accuracy),
                    )),
                    Ok(_) => {}
                    Err(e) => log.line(format!(
                        "run {} {} failed: {e:#}",
                        settings.id(),
                        settings.label()
                    )),
                }
                results.lock().unwrap_or_else(|e| e.into_inner())[index[&settings.id()]] =
                    Some(result);
            }
        });
    });
    log.finish();

    let mut report = SweepReport {
        dir: dir.clone(),
        rows: Vec::new(),
        resumed,
        planned: all_runs.len(),
        repaired_rows: existing.dropped_rows,
        failures: Vec::new(),
        interrupted: false,
        seconds: 0.0,
    };
    let mut finished: HashMap<String, RunRow> = existing.done;
    for (settings, result) in runs
        .iter()
        .zip(results.into_inner().unwrap_or_else(|e| e.into_inner()))
    {
        match result {
            Some(Ok(row)) if row.status == RunStatus::Interrupted.name() => {
                report.interrupted = true
            }
            Some(Ok(row)) => {
                finished.insert(row.settings.run.clone(), row);
            }
            Some(Err(error)) => report.failures.push(RunFailure {
                settings: settings.clone(),
                error,
            }),
            None => report.interrupted = true,
        }
    }
    report.rows = all_runs
        .iter()
        .filter_map(|r| finished.remove(&r.id()))
        .collect();
    let order: HashMap<String, usize> = exp
        .runs()
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id(), i))
        .collect();
    crate::store::sort_results(&dir, &order)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Largest number of runs trained together in one group.
pub const MAX_GROUP: usize = 16;

/// Splits the runs into tasks for the pool: runs that can be trained in lockstep (same
/// [`group_key`]) form groups of at most [`MAX_GROUP`], in grid order; then the largest groups are
/// halved until there are at least as many tasks as threads, so no core idles. Without `fuse`,
/// every run is its own task. Fusing never changes a number (a fused run is bit-identical to the
/// run alone), so this may depend on the thread count.
pub fn plan_groups(runs: &[RunSettings], threads: usize, fuse: bool) -> Vec<Vec<RunSettings>> {
    if !fuse {
        return runs.iter().map(|r| vec![r.clone()]).collect();
    }
    let mut groups: Vec<Vec<RunSettings>> = Vec::new();
    let mut open: HashMap<_, usize> = HashMap::new();
    for r in runs {
        let key = group_key(r);
        match open.get(&key) {
            Some(&g) if groups[g].len() < MAX_GROUP => groups[g].push(r.clone()),
            _ => {
                open.insert(key, groups.len());
                groups.push(vec![r.clone()]);
            }
        }
    }
    while groups.len() < threads {
        let (largest, len) = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (i, g.len()))
            .max_by_key(|&(i, len)| (len, std::cmp::Reverse(i)))
            .unwrap_or((0, 0));
        if len < 2 {
            break;
        }
        let tail = groups[largest].split_off(len.div_ceil(2));
        groups.insert(largest + 1, tail);
    }
    groups
}

/// Trains a group of runs together, writing each run's epochs as they end; returns each run's
/// `runs.csv` row or its error.
fn train_group(
    group: &[RunSettings],
    data: &Dataset,
    exp: &Experiment,
    out: &ResultsDir,
    stop: &AtomicBool,
    log: &Log,
) -> Vec<Result<RunRow>> {
    let mut records: Vec<Vec<EpochRecord>> = vec![Vec::new(); group.len()];
    let trainer = Trainer::new(group, data, exp.data.monitor);
    let outcomes = trainer.run(stop, |r, record| {
        out.write_epoch(&group[r], record)?;
        records[r].push(record.clone());
        log.epoch(&group[r], record);
        Ok::<_, anyhow::Error>(())
    });
    group
        .iter()
        .zip(outcomes)
        .zip(&records)
        .map(|((settings, outcome), records)| {
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    log.skip(settings.epochs - records.len());
                    return Err(e);
                }
            };
            let row = RunRow::new(settings, &outcome, records);
            if outcome.status != RunStatus::Interrupted {
                out.write_run(&row)?;
            }
            if let RunStatus::Diverged { epoch } = outcome.status {
                log.line(format!(
                    "run {} {} diverged in epoch {epoch} (a cost or a parameter became NaN or \
                     infinite); its remaining epochs are skipped",
                    settings.id(),
                    settings.label()
                ));
                log.skip(settings.epochs - epoch);
            }
            if let RunStatus::Stopped { epoch } = outcome.status {
                log.skip(settings.epochs - epoch);
            }
            Ok(row)
        })
        .collect()
}

/// Progress on a terminal, or plain log lines.
struct Log {
    bar: Option<ProgressBar>,
    quiet: bool,
    live: Mutex<Live>,
}

/// The live view: the best run so far and the latest accuracy of each run in flight.
#[derive(Default)]
struct Live {
    best: Option<(f64, String)>,
    running: std::collections::BTreeMap<String, (usize, f64)>,
}

impl Live {
    fn message(&self) -> String {
        let mut parts = Vec::new();
        if let Some((acc, label)) = &self.best {
            parts.push(format!("best so far: {label} {}", percent(Some(*acc))));
        }
        let running: Vec<String> = self
            .running
            .iter()
            .map(|(label, (epoch, acc))| format!("{label} e{epoch} {}", percent(Some(*acc))))
            .collect();
        if !running.is_empty() {
            parts.push(format!("running: {}", running.join(", ")));
        }
        parts.join(" | ")
    }
}

impl Log {
    fn new(opts: &SweepOptions, total_epochs: u64) -> Log {
        let bar = ProgressBar::with_draw_target(Some(total_epochs), ProgressDrawTarget::stderr());
        let bar = (opts.progress_bar && !opts.quiet && !bar.is_hidden()).then(|| {
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} epochs  ETA {eta}  {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Log {
            bar,
            quiet: opts.quiet,
            live: Mutex::new(Live::default()),
        }
    }

    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Counts an epoch and updates the live view with its accuracy (validation, else test,
    /// else training).
    fn epoch(&self, settings: &RunSettings, record: &EpochRecord) {
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        let acc = record
            .validation_accuracy
            .or(record.test_accuracy)
            .or(record.train_accuracy);
        let Some(acc) = acc else { return };
        let label = format!("eta={} seed={}", float_label(settings.eta), settings.seed);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.best.as_ref().is_none_or(|(b, _)| acc > *b) {
            live.best = Some((acc, label.clone()));
        }
        if record.epoch >= settings.epochs {
            live.running.remove(&label);
        } else {
            live.running.insert(label, (record.epoch, acc));
        }
        bar.set_message(live.message());
    }

    fn skip(&self, epochs: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(epochs as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The table printed at the end of a sweep: one line per run, its swept settings, status, best
/// validation accuracy and final test accuracy.
pub fn final_table(exp: &Experiment, rows: &[RunRow]) -> String {
    let swept = exp.grid.swept_keys();
    let mut header = vec!["run".to_string()];
    header.extend(swept.iter().map(|k| k.to_string()));
    header.extend(["status", "best valid.", "epoch", "final test"].map(String::from));
    let mut lines = vec![header];
    for r in rows {
        let s = &r.settings;
        let mut line = vec![s.run.clone()];
        for k in &swept {
            line.push(match *k {
                "sizes" => s.sizes.clone(),
                "eta" => float_label(s.eta),
                "batch_size" => s.batch_size.to_string(),
                "epochs" => s.epochs.to_string(),
                "seed" => s.seed.to_string(),
                "cost" => s.cost.clone(),
                "init" => s.init.clone(),
                "lambda" => float_label(s.lambda),
                "train_size" => s.train_size.to_string(),
                other => r
                    .extra
                    .get(other)
                    .cloned()
                    .unwrap_or_else(|| extra_default(other).to_string()),
            });
        }
        line.push(r.status.clone());
        line.push(percent(r.best_validation_accuracy));
        line.push(r.best_epoch.map_or("-".to_string(), |e| e.to_string()));
        line.push(percent(r.final_test_accuracy));
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    lines
        .iter()
        .map(|l| {
            l.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

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
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "grid points:      {}", self.grid_points)?;
        writeln!(f, "distinct runs:    {}", self.runs)?;
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
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Validates the experiment against its results folder (without changing anything) and
/// estimates the time the runs left will take.
pub fn check(exp: &Experiment, opts: &SweepOptions) -> Result<CheckReport> {
    let dir = results_dir(exp, opts);
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let finished = match crate::store::resume::saved_experiment(&dir)? {
        Some(old) => {
            crate::store::resume::compatible(&old, exp).map_err(|diff| {
                anyhow::anyhow!(
                    "'{}' holds the results of a different experiment: {diff}; running it would be refused (use --fresh or --out)",
                    dir.display()
                )
            })?;
            crate::store::resume::read_states(&dir)?
        }
        None => HashMap::new(),
    };
    // The runs are visited one at a time: a grid of millions is checked without building it.
    let monitor = exp.data.monitor;
    let mut data: Option<Dataset> = None;
    let mut speed: HashMap<(Vec<usize>, usize), f64> = HashMap::new();
    let (mut runs, mut left, mut epochs_left, mut total) = (0u128, 0u128, 0u128, 0.0f64);
    for r in shard_runs(exp, opts.shard) {
        runs += 1;
        if !finished.is_empty() && finished.contains_key(&r.id()) {
            continue;
        }
        left += 1;
        epochs_left += r.epochs as u128;
        if data.is_none() {
            data = Some(load_data(exp)?);
        }
        let data = data.as_ref().expect("just loaded");
        // Time each distinct (sizes, batch size) briefly; evaluation is counted as forward
        // passes at a third of a training example's cost.
        let key = (r.sizes.clone(), r.batch_size);
        let per_example = *speed.entry(key).or_insert_with(|| {
            Trainer::new(std::slice::from_ref(&r), data, monitor)
                .seconds_per_example(Duration::from_millis(300))
        });
        use crate::train::metrics::Metric;
        let mut eval = 0;
        if monitor.has(Metric::TrainCost) || monitor.has(Metric::TrainAccuracy) {
            eval += r.examples();
        }
        if monitor.has(Metric::ValidationCost) || monitor.has(Metric::ValidationAccuracy) {
            eval += data.validation.len();
        }
        if monitor.has(Metric::TestCost) || monitor.has(Metric::TestAccuracy) {
            eval += data.test.len();
        }
        total += per_example * (r.examples() as f64 + eval as f64 / 3.0) * r.epochs as f64;
    }
    let estimate_seconds = (left > 0).then(|| total / (threads as f64).min(left as f64));
    Ok(CheckReport {
        grid_points: exp.grid.len(),
        runs,
        finished: runs - left,
        epochs_left,
        estimate_seconds,
        threads,
        dir,
    })
}
