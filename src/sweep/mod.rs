//! The scheduler: trains every run of an experiment on the rayon pool, writes results as they
//! come, shows progress, and collects what finished and what failed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};

mod estimate;
mod plan;
mod progress;
mod searches;

pub use estimate::{check, human_duration, CheckReport};
pub use plan::{
    available_memory, check_memory, gigabytes, plan_groups, planned_runs, shard_runs,
    BALANCED_SHARDING_LIMIT, MAX_GROUP,
};
pub use progress::final_table;
use progress::Log;

use crate::config::Experiment;
use crate::data::Dataset;
use crate::grid::RunSettings;
use crate::metrics::{EpochRecord, Monitor, RunStatus, Status};
use crate::search::{Halving, Search};
use crate::store::lock::DirLock;
use crate::store::resume::{prepare, Existing};
use crate::store::shard::Shard;
use crate::store::{percent, ResultsDir, RunRow};
use crate::train::{take_items, Session, Trainer};

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
    /// The shard was worked out from a job array's variables (`--shard auto`), not written.
    pub shard_inferred: bool,
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
    /// How many times a running group gave half its runs to a thread that had run out of work.
    pub splits: usize,
    /// What went wrong after the runs (the results files could not be put in grid order, e.g.
    /// on a full disk); the runs' own results are saved all the same.
    pub warnings: Vec<String>,
}

/// The results folder of an experiment: `--out`, else `results/<name>`, or
/// `results/<name>-shard-I-of-N` for a shard.
pub fn results_dir(exp: &Experiment, opts: &SweepOptions) -> PathBuf {
    opts.out.clone().unwrap_or_else(|| {
        let name = match opts.shard {
            Some(s) => format!("{}{}", exp.name(), s.folder_suffix()),
            None => exp.name().to_string(),
        };
        Path::new("results").join(name)
    })
}

/// Refuses a shard inferred from a job array when `results/` holds shards of another count: a
/// rerun of one index of an array (`sbatch --array=2`) is an array of one task to Slurm, which
/// does not pass the first array's size on, and would train the whole grid as shard 1/1.
pub(crate) fn check_inferred_shard(exp: &Experiment, opts: &SweepOptions) -> Result<()> {
    let (Some(shard), true, None) = (opts.shard, opts.shard_inferred, &opts.out) else {
        return Ok(());
    };
    let others = crate::store::shard::other_counts(Path::new("results"), exp.name(), shard.count);
    if let Some(n) = others.first() {
        anyhow::bail!(
            "--shard auto makes this task shard {}/{} from the job array's variables, but \
             results/ holds {}-shard-*-of-{n} folders: a rerun of one index of an array is an \
             array of its own to Slurm, which does not pass the first array's size on. Give \
             the shard as --shard I/{n} (I = SLURM_ARRAY_TASK_ID + 1 for --array=0-{}), or set \
             RUNNER_SHARD_COUNT={n}",
            shard.index,
            shard.count,
            exp.name(),
            n - 1
        );
    }
    Ok(())
}

/// Trains every run of `exp` that is not finished yet (or, for a search, the runs it decides
/// on); `stop` interrupts it cleanly.
pub fn run_sweep(exp: &Experiment, opts: &SweepOptions, stop: &AtomicBool) -> Result<SweepReport> {
    check_inferred_shard(exp, opts)?;
    let order = || -> HashMap<String, usize> {
        exp.runs()
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id(), i))
            .collect()
    };
    match &exp.search() {
        Search::Grid => {
            let all_runs = planned_runs(exp, opts)?;
            sweep_runs(exp, opts, &all_runs, &order(), Mode::All, None, stop)
        }
        Search::Threshold(t) => searches::threshold(exp, t, opts, stop),
        Search::Curvature(c) => searches::curvature(exp, c, opts, stop),
        Search::RangeTest(r) => searches::range_test(exp, r, opts, stop),
        Search::Halving(h) => {
            searches::refuse_shard(exp, opts, "successive halving")?;
            let all_runs = planned_runs(exp, opts)?;
            sweep_runs(exp, opts, &all_runs, &order(), Mode::Halving(h), None, stop)
        }
    }
}

/// How [`sweep_runs`] trains its runs.
#[derive(Clone, Copy)]
pub(crate) enum Mode<'a> {
    /// Every run to its last epoch.
    All,
    /// By successive halving.
    Halving(&'a Halving),
    /// Every run to its last epoch, each run's state recording the training cost of its seed's
    /// untrained network (given by seed): the threshold search's probes, whose verdicts compare
    /// the first epoch with it, so that a report reads it instead of running the network again.
    Probes {
        initial_costs: &'a HashMap<u64, f64>,
    },
}

/// Trains the runs of `all_runs` that the folder does not hold finished yet, as `mode` says, and
/// puts the results files in the order of `order`.
fn sweep_runs(
    exp: &Experiment,
    opts: &SweepOptions,
    all_runs: &[RunSettings],
    order: &HashMap<String, usize>,
    mode: Mode,
    preloaded: Option<&Dataset>,
    stop: &AtomicBool,
) -> Result<SweepReport> {
    let started = Instant::now();
    let open = Opened::open(exp, opts, all_runs, preloaded)?;
    let data = if open.runs.is_empty() {
        None
    } else {
        preloaded.or(open.owned.as_ref())
    };
    let context = Training {
        exp,
        out: &open.out,
        stop,
        log: &open.log,
        initial_costs: match mode {
            Mode::Probes { initial_costs } => Some(initial_costs),
            _ => None,
        },
    };
    let (results, splits) = open.train(&context, all_runs, mode, data, !opts.no_fuse)?;
    open.log.finish();
    let mut report = open.finish(all_runs, results, splits, order);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A sweep's results folder opened: locked, repaired, its finished runs read, and what is left
/// to train.
struct Opened {
    dir: PathBuf,
    threads: usize,
    pool: rayon::ThreadPool,
    _lock: DirLock,
    /// The data set, when this sweep loaded it (not preloaded by a search).
    owned: Option<Dataset>,
    existing: Existing,
    /// The runs still to train, in grid order.
    runs: Vec<RunSettings>,
    out: ResultsDir,
    log: Log,
}

/// Each run's outcome, by its place in [`Opened::runs`]; `None` for a run never finished.
type Outcomes = Vec<Option<Result<RunRow>>>;

impl Opened {
    /// Checks memory, loads the data set before a new folder is made, locks and repairs the
    /// folder, and says what is resumed.
    fn open(
        exp: &Experiment,
        opts: &SweepOptions,
        all_runs: &[RunSettings],
        preloaded: Option<&Dataset>,
    ) -> Result<Opened> {
        let dir = results_dir(exp, opts);
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .context("starting the worker threads")?;
        // nothing is allocated for a sweep that cannot fit in memory
        check_memory(
            &plan_groups(all_runs, threads, !opts.no_fuse),
            threads,
            available_memory(),
        )?;
        // a new results folder is created only once the data set has been found and checked
        let mut owned = if preloaded.is_none() && !dir.exists() {
            Some(exp.load_data()?)
        } else {
            None
        };
        crate::store::ensure_ours(&dir, "writes and deletes")?;
        let lock = DirLock::acquire(&dir)?;
        let existing = prepare(&dir, exp, opts.fresh)?;
        let runs: Vec<RunSettings> = all_runs
            .iter()
            .filter(|r| !existing.done.contains_key(&r.id()))
            .cloned()
            .collect();
        let out = ResultsDir::open(&dir, exp.text(), &exp.grid().extra_columns())?;
        crate::fault::reached("started");
        let log = Log::new(opts, runs.iter().map(|r| r.epochs as u64).sum());
        let resumed = all_runs.len() - runs.len();
        for id in &existing.mismatched {
            log.line(format!(
                "run {id}: its rows in metrics.csv are not the ones it wrote, or its state file does not \
                 match them (edited or damaged): \
                 training it again"
            ));
        }
        if resumed > 0 || existing.dropped_rows > 0 {
            log.line(format!(
                "resuming {}: {resumed} of {} runs already finished; {} lines removed from metrics.csv (rows of unfinished runs, duplicates or junk)",
                dir.display(),
                all_runs.len(),
                existing.dropped_rows
            ));
        }
        if !runs.is_empty() && preloaded.is_none() && owned.is_none() {
            owned = Some(exp.load_data()?);
        }
        log.line(format!(
            "{}: {} runs to train on {} threads, results in {}",
            exp.name(),
            runs.len(),
            threads,
            dir.display()
        ));
        Ok(Opened {
            dir,
            threads,
            pool,
            _lock: lock,
            owned,
            existing,
            runs,
            out,
            log,
        })
    }

    /// Trains the runs left (every configuration, or successive halving's rungs), logging each
    /// as it finishes. Returns the outcomes and how many groups were split.
    fn train(
        &self,
        context: &Training,
        all_runs: &[RunSettings],
        mode: Mode,
        data: Option<&Dataset>,
        fuse: bool,
    ) -> Result<(Outcomes, usize)> {
        let runs = &self.runs;
        let results: Mutex<Outcomes> = Mutex::new((0..runs.len()).map(|_| None).collect());
        let done = std::sync::atomic::AtomicUsize::new(0);
        let index: HashMap<String, usize> =
            runs.iter().enumerate().map(|(i, r)| (r.id(), i)).collect();
        let tasks = plan_groups(runs, self.threads, fuse);
        let report_run = |settings: &RunSettings, result: Result<RunRow>| {
            let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if let Some(line) = finished_line(finished, runs.len(), settings, &result) {
                self.log.line(line);
            }
            results.lock().unwrap_or_else(|e| e.into_inner())[index[&settings.id()]] = Some(result);
        };
        let mut splits = 0;
        match (mode, data) {
            (Mode::Halving(h), Some(data)) => searches::halve(
                h,
                context,
                all_runs,
                &self.existing.done,
                &tasks,
                data,
                self.threads,
                &self.pool,
                &report_run,
            )?,
            (Mode::Halving(_), None) => {}
            (_, data) => splits = self.every_run(context, tasks, data, &report_run),
        }
        Ok((
            results.into_inner().unwrap_or_else(|e| e.into_inner()),
            splits,
        ))
    }

    /// One worker per thread takes the next task (largest first) whenever it is free, as the
    /// plan assumed; a worker left without one gets half of a running group's runs at its next
    /// epoch, so that the threads finish together. The evaluation inside a task still spreads
    /// over the whole pool. Returns how many groups were split.
    fn every_run(
        &self,
        context: &Training,
        tasks: Vec<Vec<RunSettings>>,
        data: Option<&Dataset>,
        report_run: &(dyn Fn(&RunSettings, Result<RunRow>) + Sync),
    ) -> usize {
        let exp = context.exp;
        let board = Board::new(tasks);
        let work = || {
            while let Some((task, mut splittable)) = board.take() {
                let mut held = task.settings().to_vec();
                // A bug in one group must not take the finished runs of the others down with it.
                let outcomes = guarded(&mut held, |held| {
                    let data = data.expect("loaded when there are runs");
                    let mut job = task.start(data, exp.data().monitor);
                    while job.session.training() {
                        job.advance(job.session.epoch() + 1, context);
                        if board.offer(&mut job, &mut splittable) {
                            *held = job.group.clone();
                        }
                    }
                    job.finish(context)
                });
                for (settings, result) in held.iter().zip(outcomes) {
                    report_run(settings, result);
                }
                board.done(splittable);
            }
        };
        self.pool.broadcast(|_| work());
        board.splits()
    }

    /// The sweep's report: every finished run in grid order (resumed ones included), the
    /// failures, whether it was interrupted; the files put in grid order.
    fn finish(
        self,
        all_runs: &[RunSettings],
        results: Outcomes,
        splits: usize,
        order: &HashMap<String, usize>,
    ) -> SweepReport {
        let mut report = SweepReport {
            dir: self.dir.clone(),
            splits,
            rows: Vec::new(),
            resumed: all_runs.len() - self.runs.len(),
            planned: all_runs.len(),
            repaired_rows: self.existing.dropped_rows,
            failures: Vec::new(),
            interrupted: false,
            seconds: 0.0,
            warnings: Vec::new(),
        };
        let mut finished: HashMap<String, RunRow> = self.existing.done;
        for (settings, result) in self.runs.iter().zip(results) {
            match result {
                Some(Ok(row)) if row.status == Status::Interrupted => report.interrupted = true,
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
        if let Err(e) = crate::store::sort_results(&self.dir, order) {
            report.warnings.push(format!(
                "could not put {} in grid order: {e:#} (the finished runs are saved; running the \
                 same command again repairs the files)",
                self.dir.display()
            ));
        }
        report
    }
}

/// The progress line of a run that has just finished or failed (none for an interrupted run).
fn finished_line(
    finished: usize,
    of: usize,
    settings: &RunSettings,
    result: &Result<RunRow>,
) -> Option<String> {
    match result {
        Ok(row) if row.status != Status::Interrupted => Some(format!(
            "[{finished}/{of}] {} {}: {}best validation {} (epoch {}), final test {}",
            row.settings.run,
            settings.label(),
            if row.status == Status::Pruned {
                format!("pruned after epoch {}; ", row.epochs_completed)
            } else {
                String::new()
            },
            percent(row.best_validation_accuracy),
            row.best_epoch.map_or("-".to_string(), |e| e.to_string()),
            percent(row.final_test_accuracy),
        )),
        Ok(_) => None,
        Err(e) => Some(format!(
            "run {} {} failed: {e:#}",
            settings.id(),
            settings.label()
        )),
    }
}

/// What training a group needs besides its runs: the experiment, the results folder, the stop
/// flag and the progress log.
pub(crate) struct Training<'a> {
    pub exp: &'a Experiment,
    pub out: &'a ResultsDir,
    pub stop: &'a AtomicBool,
    pub log: &'a Log,
    /// The untrained networks' training costs by seed, recorded in each run's state (probes).
    pub initial_costs: Option<&'a HashMap<u64, f64>>,
}

/// Runs `train` and turns a panic (a bug in runner) into an error for each run of `group`, so
/// that it does not take the finished runs of other groups down with it. `train` may change
/// `group` as it goes (when it hands runs on to another task), so that the errors are those of
/// the runs it held when it failed.
pub(crate) fn guarded(
    group: &mut Vec<RunSettings>,
    train: impl FnOnce(&mut Vec<RunSettings>) -> Vec<Result<RunRow>>,
) -> Vec<Result<RunRow>> {
    let held = &mut *group;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| train(held)));
    outcome.unwrap_or_else(|panic| {
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
    })
}

/// What a sweep's worker trains next: a planned group, or runs moved off a running group.
enum Task<'d> {
    Planned(Vec<RunSettings>),
    Moved(Box<Job<'d>>),
}

impl<'d> Task<'d> {
    fn settings(&self) -> &[RunSettings] {
        match self {
            Task::Planned(group) => group,
            Task::Moved(job) => &job.group,
        }
    }

    fn start(self, data: &'d Dataset, monitor: Monitor) -> Job<'d> {
        match self {
            Task::Planned(group) => Job::new(&group, data, monitor),
            Task::Moved(job) => *job,
        }
    }
}

/// The tasks of a sweep's workers (one per thread) and which workers wait for one.
struct Board<'d> {
    state: Mutex<BoardState<'d>>,
}

struct BoardState<'d> {
    tasks: std::collections::VecDeque<Task<'d>>,
    /// Tasks being trained.
    running: usize,
    /// Of those, the ones with two runs or more still training (which could be split).
    splittable: usize,
    /// Workers waiting for a task.
    idle: usize,
    splits: usize,
}

impl<'d> Board<'d> {
    fn new(groups: Vec<Vec<RunSettings>>) -> Board<'d> {
        Board {
            state: Mutex::new(BoardState {
                tasks: groups.into_iter().map(Task::Planned).collect(),
                running: 0,
                splittable: 0,
                idle: 0,
                splits: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState<'d>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next task and whether it counts as splittable, waiting for one while a running
    /// group could still give half its runs; None once no task is left and none can appear.
    /// While it waits, the thread helps with the pool's other work (a group's evaluation, the
    /// phases of a large mini-batch); once it returns None, it is one of the pool's threads again.
    fn take(&self) -> Option<(Task<'d>, bool)> {
        let mut waiting = false;
        loop {
            {
                let mut st = self.lock();
                let task = st.tasks.pop_front();
                if task.is_some() || st.splittable == 0 {
                    if waiting {
                        st.idle -= 1;
                    }
                    return task.map(|task| {
                        let splittable = task.settings().len() >= 2;
                        st.running += 1;
                        st.splittable += splittable as usize;
                        (task, splittable)
                    });
                }
                if !waiting {
                    waiting = true;
                    st.idle += 1;
                }
            }
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
    }

    /// After each epoch of a running job: records whether it can still be split
    /// (`splittable`, as [`Self::take`] returned it), and when a worker waits with no task to
    /// take, moves half its runs to a new task; true when it did.
    fn offer(&self, job: &mut Job<'d>, splittable: &mut bool) -> bool {
        let mut st = self.lock();
        let mut moved = false;
        if *splittable && st.idle > st.tasks.len() {
            if let Some(other) = job.split_off() {
                st.tasks.push_back(Task::Moved(Box::new(other)));
                st.splits += 1;
                moved = true;
            }
        }
        let can = job.session.training() && job.session.active() >= 2;
        if can != *splittable {
            *splittable = can;
            if can {
                st.splittable += 1;
            } else {
                st.splittable -= 1;
            }
        }
        moved
    }

    /// A task taken with [`Self::take`] is finished.
    fn done(&self, splittable: bool) {
        let mut st = self.lock();
        st.running -= 1;
        st.splittable -= splittable as usize;
    }

    fn splits(&self) -> usize {
        self.lock().splits
    }
}

/// A group of runs trained together, writing each run's epochs as they end.
pub(crate) struct Job<'d> {
    pub group: Vec<RunSettings>,
    pub session: Session<'d, anyhow::Error>,
    pub records: Vec<Vec<EpochRecord>>,
}

impl<'d> Job<'d> {
    pub fn new(group: &[RunSettings], data: &'d Dataset, monitor: Monitor) -> Job<'d> {
        Job {
            group: group.to_vec(),
            session: Session::new(Trainer::new(group, data, monitor)),
            records: vec![Vec::new(); group.len()],
        }
    }

    /// Moves the second half of the runs still training to a job of their own
    /// ([`Session::split_off`]), with the records they have written.
    pub fn split_off(&mut self) -> Option<Job<'d>> {
        let (session, moved) = self.session.split_off()?;
        let group = take_items(&mut self.group, &moved);
        let records = take_items(&mut self.records, &moved);
        Some(Job {
            group,
            session,
            records,
        })
    }

    /// Trains up to epoch `until`, writing every epoch's row.
    pub fn advance(&mut self, until: usize, cx: &Training) {
        let (group, records) = (&self.group, &mut self.records);
        self.session.advance(until, cx.stop, |r, record| {
            cx.out.write_epoch(&group[r], record)?;
            records[r].push(record.clone());
            cx.log.epoch(&group[r], record);
            Ok::<_, anyhow::Error>(())
        });
    }

    /// Ends the group: each run's `runs.csv` row (written with its state) or its error.
    pub fn finish(self, cx: &Training) -> Vec<Result<RunRow>> {
        let outcomes = self.session.finish();
        self.group
            .iter()
            .zip(outcomes)
            .zip(&self.records)
            .map(|((settings, outcome), records)| {
                let outcome = match outcome {
                    Ok(o) => o,
                    Err(e) => {
                        cx.log.skip(settings.epochs - records.len());
                        return Err(e);
                    }
                };
                let mut row = RunRow::new(settings, &outcome, records);
                row.initial_train_cost = cx
                    .initial_costs
                    .and_then(|costs| costs.get(&settings.seed).copied());
                if outcome.status != RunStatus::Interrupted {
                    cx.out.write_run(&row)?;
                }
                match outcome.status {
                    RunStatus::Diverged { epoch } => {
                        cx.log.line(format!(
                            "run {} {} diverged in epoch {epoch} (a cost or a parameter became NaN \
                             or infinite); its remaining epochs are skipped",
                            settings.id(),
                            settings.label()
                        ));
                        cx.log.skip(settings.epochs - epoch);
                    }
                    RunStatus::Stopped { epoch } | RunStatus::Pruned { epoch } => {
                        cx.log.skip(settings.epochs - epoch)
                    }
                    RunStatus::Completed | RunStatus::Interrupted => {}
                }
                Ok(row)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// metrics.csv of `dir` without its timing column.
    fn metrics(dir: &Path) -> Vec<Vec<String>> {
        let mut reader = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
        let skip = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "seconds")
            .unwrap();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r.iter().enumerate())
                    .filter(|&(i, _)| i != skip)
                    .map(|(_, v)| v.to_string())
                    .collect()
            })
            .collect()
    }

    /// Three runs of `epochs` epochs that train together.
    fn three_runs(epochs: usize) -> Vec<RunSettings> {
        let text = format!(
            "[data]\ndir = {:?}\ntrain_size = 100\n[grid]\neta = [0.5, 1.0, 3.0]\nepochs = {epochs}\n",
            crate::tests_support::mnist_dir()
        );
        let runs = Experiment::from_str(&text, Path::new("board.toml"))
            .unwrap()
            .runs();
        assert!(runs.iter().all(|r| r.fusion_key() == runs[0].fusion_key()));
        runs
    }

    #[test]
    fn a_waiting_worker_gets_half_of_a_running_group_then_nothing() {
        // The board's protocol step by step, with no timing in it: a second worker waits
        // while the only group runs (it could be split), gets its second half at the next
        // offer, and once no group can be split any more, a worker out of work is let go.
        let data = crate::tests_support::mnist();
        let runs = three_runs(2);
        let board = Board::new(vec![runs.clone()]);
        let (task, mut splittable) = board.take().unwrap();
        assert!(splittable, "a group of three runs can be split");
        let mut job = task.start(data, Monitor::all());
        // no one waits: nothing moves
        assert!(!board.offer(&mut job, &mut splittable));
        assert_eq!(job.group, runs);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let (task, splittable) = board.take().expect("a task once the group is split");
                (task.settings().to_vec(), splittable)
            });
            while board.lock().idle == 0 {
                std::thread::yield_now();
            }
            assert!(board.offer(&mut job, &mut splittable));
            let (moved, moved_splittable) = waiter.join().unwrap();
            assert_eq!(moved, runs[2..], "the second half moves");
            assert!(!moved_splittable, "one run cannot be split again");
            board.done(moved_splittable);
        });
        assert_eq!(job.group, runs[..2], "the first half stays");
        assert_eq!(board.splits(), 1);
        // two runs left: one more idle worker would get one of them
        assert!(splittable);
        assert_eq!(job.split_off().unwrap().group, runs[1..2]);
        assert!(!board.offer(&mut job, &mut splittable));
        assert!(!splittable, "one run left");
        // nothing left to split or to take: a worker is let go at once
        assert!(board.take().is_none());
        board.done(splittable);
        let st = board.lock();
        assert_eq!((st.running, st.splittable, st.idle), (0, 0, 0));
    }

    #[test]
    fn two_threads_and_one_give_the_same_numbers_when_groups_are_split() {
        // Three runs of one epoch and three of sixteen: on two threads the plan gives one
        // thread two long runs and the other the third long run, then the short ones; the
        // second thread usually runs out of work before the first and takes one of its runs
        // (whether it does depends on timing: the board's protocol is tested step by step in
        // a_waiting_worker_gets_half_of_a_running_group_then_nothing).
        let text = format!(
            "[data]\ndir = {:?}\ntrain_size = 400\nmonitor = [\"test_accuracy\", \"train_cost\"]\n\
             [grid]\neta = [0.5, 1.0, 3.0]\nepochs = [16, 1]\n",
            crate::tests_support::mnist_dir()
        );
        let exp = Experiment::from_str(&text, Path::new("split.toml")).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let sweep = |threads: usize| {
            let opts = SweepOptions {
                out: Some(tmp.path().join(threads.to_string())),
                threads: Some(threads),
                quiet: true,
                ..SweepOptions::default()
            };
            let report = run_sweep(&exp, &opts, &AtomicBool::new(false)).unwrap();
            assert!(report.failures.is_empty() && !report.interrupted);
            assert_eq!(report.rows.len(), 6);
            report
        };
        let one = sweep(1);
        sweep(2);
        assert_eq!(
            one.splits, 0,
            "one thread is never out of work before the end"
        );
        let rows = metrics(&tmp.path().join("1"));
        assert_eq!(rows.len(), 3 * 16 + 3);
        assert_eq!(rows, metrics(&tmp.path().join("2")));
    }
}
