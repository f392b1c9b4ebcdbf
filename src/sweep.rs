//! The scheduler: trains every run of an experiment on the rayon pool, writes results as they
//! come, shows progress, and collects what finished and what failed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::data::Mnist;
use crate::experiment::Experiment;
use crate::grid::{float_label, RunSettings};
use crate::output::{percent, ResultsDir, RunRow};
use crate::train::{EpochRecord, RunStatus, Trainer};

/// How a sweep is run.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Results folder; default `results/<experiment name>`.
    pub out: Option<PathBuf>,
    /// Worker threads; default: one per core.
    pub threads: Option<usize>,
    /// Show a progress bar on a terminal (log lines otherwise); false: log lines only.
    pub progress_bar: bool,
    /// Print log lines and the final table.
    pub quiet: bool,
}

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
    /// Finished runs (completed or diverged), in grid order.
    pub rows: Vec<RunRow>,
    pub failures: Vec<RunFailure>,
    /// True when the sweep was stopped before every run finished.
    pub interrupted: bool,
    pub seconds: f64,
}

/// The results folder of an experiment.
pub fn results_dir(exp: &Experiment, opts: &SweepOptions) -> PathBuf {
    opts.out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&exp.name))
}

/// Loads the experiment's data set, reporting how long it took.
pub fn load_data(exp: &Experiment) -> Result<Mnist> {
    let dir = exp.resolve_data_dir()?;
    Mnist::load(&dir).with_context(|| format!("loading MNIST from '{}'", dir.display()))
}

/// Trains every run of `exp` that is not finished yet; `stop` interrupts it cleanly.
pub fn run_sweep(exp: &Experiment, opts: &SweepOptions, stop: &AtomicBool) -> Result<SweepReport> {
    let started = Instant::now();
    let dir = results_dir(exp, opts);
    let runs = exp.grid.runs(exp.data.train_size);
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting the worker threads")?;

    let data = load_data(exp)?;
    let out = ResultsDir::open(&dir, &exp.text)?;
    let log = Log::new(opts, runs.iter().map(|r| r.epochs as u64).sum());
    log.line(format!(
        "{}: {} runs on {} threads, results in {}",
        exp.name,
        runs.len(),
        threads,
        dir.display()
    ));

    let results: Mutex<Vec<Option<Result<RunRow>>>> =
        Mutex::new((0..runs.len()).map(|_| None).collect());
    let done = std::sync::atomic::AtomicUsize::new(0);
    pool.install(|| {
        runs.par_iter()
            .enumerate()
            .with_max_len(1)
            .for_each(|(i, settings)| {
                let result = train_one(settings, &data, exp, &out, stop, &log);
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
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            });
    });
    log.finish();

    let mut report = SweepReport {
        dir: dir.clone(),
        rows: Vec::new(),
        failures: Vec::new(),
        interrupted: false,
        seconds: 0.0,
    };
    for (settings, result) in runs
        .iter()
        .zip(results.into_inner().unwrap_or_else(|e| e.into_inner()))
    {
        match result {
            Some(Ok(row)) if row.status == RunStatus::Interrupted.name() => {
                report.interrupted = true
            }
            Some(Ok(row)) => report.rows.push(row),
            Some(Err(error)) => report.failures.push(RunFailure {
                settings: settings.clone(),
                error,
            }),
            None => report.interrupted = true,
        }
    }
    let order: HashMap<String, usize> = runs.iter().enumerate().map(|(i, r)| (r.id(), i)).collect();
    crate::output::sort_results(&dir, &order)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Trains one run, writing each epoch as it ends; returns its `runs.csv` row.
fn train_one(
    settings: &RunSettings,
    data: &Mnist,
    exp: &Experiment,
    out: &ResultsDir,
    stop: &AtomicBool,
    log: &Log,
) -> Result<RunRow> {
    let mut records: Vec<EpochRecord> = Vec::with_capacity(settings.epochs);
    let trainer = Trainer::new(settings, data, exp.data.monitor);
    let outcome = trainer.run(stop, |record| {
        out.write_epoch(settings, record)?;
        records.push(record.clone());
        log.epoch();
        Ok::<_, anyhow::Error>(())
    })?;
    let row = RunRow::new(settings, &outcome, &records);
    if outcome.status != RunStatus::Interrupted {
        out.write_run(&row)?;
    }
    if let RunStatus::Diverged { epoch } = outcome.status {
        log.line(format!(
            "run {} {} diverged in epoch {epoch} (a cost or a parameter became NaN or infinite); \
             its remaining epochs are skipped",
            settings.id(),
            settings.label()
        ));
        log.skip(settings.epochs - epoch);
    }
    Ok(row)
}

/// Progress on a terminal, or plain log lines.
struct Log {
    bar: Option<ProgressBar>,
    quiet: bool,
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

    fn epoch(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
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
                _ => String::new(),
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
