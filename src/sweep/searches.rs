//! Sweeps driven by a search: the threshold procedure's rounds of probes, and successive
//! halving's rungs. The decisions come from [`crate::search`], fed with the metrics as they are
//! written, so that a resume or a report makes the same ones from `metrics.csv`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Result};

use super::{results_dir, sweep_runs, Job, Mode, SweepOptions, SweepReport, Training};
use crate::config::Experiment;
use crate::data::Dataset;
use crate::grid::{float_label, RunSettings};
use crate::metrics::{RunStatus, Status};
use crate::search::curvature::SeedCurvature;
use crate::search::halving::{Ended, Member, Rung, Trace};
use crate::search::range_test::{self as range, RangeStep, SeedRange};
use crate::search::{CurvatureSearch, Halving, RangeTest, ThresholdSearch};
use crate::store::exchange::adopt;
use crate::store::lock::{DirLock, SEARCHING};
use crate::store::read_metrics;
use crate::store::resume::{prepare, read_states};
use crate::store::shard::Shard;
use crate::store::table::by_run;
use crate::store::{ResultsDir, RunRow};

/// Searches decide each step from every result before it, so a shard could not go on alone.
pub(super) fn refuse_shard(exp: &Experiment, opts: &SweepOptions, what: &str) -> Result<()> {
    if opts.shard.is_some() {
        bail!(
            "{}: {what} decides what to train from the results so far, so it cannot be split \
             into shards; run it on one machine (it uses every core), or write the grid out and \
             shard that",
            exp.path().display()
        );
    }
    Ok(())
}

impl SweepReport {
    /// A report of nothing done yet, into `dir`.
    fn empty(dir: PathBuf) -> SweepReport {
        SweepReport {
            dir,
            rows: Vec::new(),
            resumed: 0,
            planned: 0,
            repaired_rows: 0,
            failures: Vec::new(),
            interrupted: false,
            seconds: 0.0,
            splits: 0,
            warnings: Vec::new(),
        }
    }

    /// Adds what another sweep into the same folder did.
    fn absorb(&mut self, other: SweepReport) {
        self.rows.extend(other.rows);
        self.resumed += other.resumed;
        self.planned += other.planned;
        self.repaired_rows += other.repaired_rows;
        self.failures.extend(other.failures);
        self.interrupted |= other.interrupted;
        self.splits += other.splits;
        self.warnings.extend(other.warnings);
    }
}

/// The shards of a sharded threshold search: each trains its share of every round (and of the
/// final runs), copies the rest from its siblings' folders as they finish them, and trains
/// itself what a sibling that is not running leaves undone, so that every shard ends with the
/// whole search, and the merge of their folders is the unsharded search's folder.
struct Exchange {
    shard: Shard,
    /// The other shards' folders, with their shard.
    siblings: Vec<(Shard, PathBuf)>,
    /// Held while this shard runs: siblings wait for a running shard's share.
    _running: DirLock,
}

impl Exchange {
    fn new(exp: &Experiment, opts: &SweepOptions, dir: &Path) -> Result<Option<Exchange>> {
        let Some(shard) = opts.shard else {
            return Ok(None);
        };
        let own = shard.folder_suffix();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(&own));
        let Some(stem) = name else {
            bail!(
                "{}: the shards of a threshold search exchange results through sibling folders \
                 named NAME-shard-I-of-N; '{}' does not end in '{own}' (leave out --out, or give \
                 one ending in '{own}')",
                exp.path().display(),
                dir.display()
            );
        };
        let siblings = (1..=shard.count)
            .filter(|&i| i != shard.index)
            .map(|index| {
                let s = Shard {
                    index,
                    count: shard.count,
                };
                (
                    s,
                    dir.with_file_name(format!("{stem}{}", s.folder_suffix())),
                )
            })
            .collect();
        crate::store::ensure_ours(dir, "writes and deletes")?;
        let running = DirLock::acquire_file(dir, SEARCHING)?;
        // the lock file made the folder: mark it as runner's before anything else sees it
        crate::store::mark(dir)?;
        Ok(Some(Exchange {
            shard,
            siblings,
            _running: running,
        }))
    }

    /// The shard that trains `run` of `runs` (a share dealt as for a grid).
    fn owner(&self, runs: &[RunSettings], run: &RunSettings) -> Shard {
        (1..=self.shard.count)
            .map(|index| Shard {
                index,
                count: self.shard.count,
            })
            .find(|s| s.select(runs).iter().any(|r| r.id() == run.id()))
            .expect("every run is in a shard")
    }

    /// Copies into the folder `dir` what the siblings have finished of `runs` and it lacks;
    /// returns the runs copied. The folder is locked and opened (which rewrites its
    /// experiment.toml) only when a sibling has something to copy: the wait for siblings asks
    /// every 200 ms.
    fn gather(&self, exp: &Experiment, dir: &Path, runs: &[RunSettings]) -> Result<Vec<RunRow>> {
        let ours = read_states(dir)?;
        let mut wanted: HashSet<String> = runs
            .iter()
            .map(|r| r.id())
            .filter(|id| !ours.contains_key(id))
            .collect();
        let mut sources = Vec::new();
        for (_, sibling) in &self.siblings {
            let theirs = read_states(sibling)?;
            if theirs.keys().any(|id| wanted.contains(id)) {
                sources.push((sibling, theirs));
            }
        }
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let _lock = DirLock::acquire(dir)?;
        let out = ResultsDir::open(dir, exp.text(), &exp.grid().extra_columns())?;
        let mut copied = Vec::new();
        for (sibling, theirs) in &sources {
            if wanted.is_empty() {
                break;
            }
            for row in adopt(&out, sibling, theirs, exp, &wanted)? {
                wanted.remove(&row.settings.run);
                copied.push(row);
            }
        }
        Ok(copied)
    }

    fn running(&self, shard: Shard) -> bool {
        self.siblings
            .iter()
            .any(|(s, dir)| *s == shard && DirLock::held(dir, SEARCHING))
    }
}

/// The curvature search: each seed's λ at its initial weights (`curvature.csv`), then half the
/// sharpest seed's threshold trained for the grid's epochs with every seed. λ is computed again
/// on a resume (the same numbers: it depends on the seed and the data alone); a stop between
/// seeds ends the search before it trains.
pub(super) fn curvature(
    exp: &Experiment,
    c: &CurvatureSearch,
    opts: &SweepOptions,
    stop: &AtomicBool,
) -> Result<SweepReport> {
    refuse_shard(exp, opts, "a curvature search")?;
    let started = Instant::now();
    let base = exp.run(0);
    let dir = results_dir(exp, opts);
    let data = exp.load_data()?;
    let say = |text: String| {
        if !opts.quiet {
            crate::say!("{text}");
        }
    };
    let mut seeds = Vec::new();
    for seed in exp.seeds() {
        if stop.load(Ordering::Relaxed) {
            let mut report = SweepReport::empty(dir);
            report.interrupted = true;
            return Ok(report);
        }
        let run = RunSettings {
            seed,
            ..base.clone()
        };
        let top = crate::train::initial_curvature(&run, &data, c.sample, c.iterations, c.tolerance);
        say(format!(
            "curvature search, seed {seed}: lambda = {:.4} after {} iterations{} (2/lambda = {})",
            top.value,
            top.estimates.len(),
            if top.converged { "" } else { ", not converged" },
            float_label(crate::search::round3(top.threshold()))
        ));
        seeds.push(SeedCurvature {
            seed,
            estimates: top.estimates,
            converged: top.converged,
        });
    }
    let lambdas: Vec<f64> = seeds.iter().map(SeedCurvature::lambda).collect();
    let Some(eta) = c.recommended(&lambdas) else {
        bail!(
            "{}: the curvature at the initial weights is not positive (lambda = {lambdas:?}): \
             no threshold to halve",
            exp.path().display()
        );
    };
    say(format!(
        "curvature search: training the recommended eta = {} for {} epochs",
        float_label(eta),
        base.epochs
    ));
    let runs = c.final_runs(&base, eta, &exp.seeds());
    let train = Computed {
        exp,
        opts,
        data: &data,
        stop,
        started,
    };
    train.then(&runs, |dir| crate::store::curvature::write(dir, &seeds))
}

/// What a search computed before it trains (curvature, a range test): the runs it chose are
/// trained into the folder, then its own file is saved there under the folder's lock.
struct Computed<'a> {
    exp: &'a Experiment,
    opts: &'a SweepOptions,
    data: &'a Dataset,
    stop: &'a AtomicBool,
    started: Instant,
}

impl Computed<'_> {
    fn then(
        self,
        runs: &[RunSettings],
        save: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<SweepReport> {
        let order = runs.iter().enumerate().map(|(i, r)| (r.id(), i)).collect();
        let mut report = sweep_runs(
            self.exp,
            self.opts,
            runs,
            &order,
            Mode::All,
            Some(self.data),
            self.stop,
        )?;
        {
            let _lock = DirLock::acquire(&report.dir)?;
            save(&report.dir)?;
        }
        report.seconds = self.started.elapsed().as_secs_f64();
        Ok(report)
    }
}

/// The learning-rate range test: one run per seed (in parallel) whose eta grows every
/// mini-batch, stopped once its smoothed cost blows up (`range_test.csv`); then, with
/// `then_train`, the recommended suggestion trained for the grid's epochs with every seed. The
/// tests are run again on a resume (the same numbers: they depend on the seed and the data
/// alone); a stop during them ends the search before it trains.
pub(super) fn range_test(
    exp: &Experiment,
    r: &RangeTest,
    opts: &SweepOptions,
    stop: &AtomicBool,
) -> Result<SweepReport> {
    use rayon::prelude::*;
    refuse_shard(exp, opts, "a range test")?;
    let started = Instant::now();
    let base = exp.run(0);
    let dir = results_dir(exp, opts);
    let data = exp.load_data()?;
    let steps = r.steps_for(&base);
    let tested: Vec<Option<SeedRange>> = exp
        .seeds()
        .par_iter()
        .map(|&seed| {
            let run = RunSettings {
                seed,
                ..base.clone()
            };
            let mut curve = Vec::new();
            let (mut average, mut lowest) = (0.0, f64::INFINITY);
            let finished = crate::train::range_test(
                &run,
                &data,
                steps,
                |i| r.eta_at(i, steps),
                stop,
                |i, eta, cost| {
                    let (a, smoothed) = range::smooth(average, cost, i);
                    average = a;
                    curve.push(RangeStep {
                        eta,
                        cost,
                        smoothed,
                    });
                    lowest = lowest.min(smoothed);
                    !range::blown_up(smoothed, lowest)
                },
            );
            finished.then_some(SeedRange { seed, steps: curve })
        })
        .collect();
    let Some(seeds) = tested.into_iter().collect::<Option<Vec<SeedRange>>>() else {
        let mut report = SweepReport::empty(dir);
        report.interrupted = true;
        return Ok(report);
    };
    let suggestions: Vec<range::Suggestions> =
        seeds.iter().map(|s| range::suggestions(&s.steps)).collect();
    if !opts.quiet {
        for (s, found) in seeds.iter().zip(&suggestions) {
            let show = crate::search::range_test::label;
            crate::say!(
                "range test, seed {}: {} steps to eta = {}; valley {}, steepest {}, minimum/10 {}",
                s.seed,
                s.steps.len(),
                float_label(crate::search::round3(
                    s.steps.last().map_or(r.min, |x| x.eta)
                )),
                show(found.valley),
                show(found.steepest),
                show(found.minimum)
            );
        }
    }
    let runs = match (r.then_train, r.recommended(&suggestions)) {
        (true, Some(eta)) => {
            if !opts.quiet {
                crate::say!(
                    "range test: training the {} suggestion, eta = {}, for {} epochs",
                    r.suggestion.name(),
                    float_label(eta),
                    base.epochs
                );
            }
            r.final_runs(&base, eta, &exp.seeds())
        }
        _ => Vec::new(),
    };
    let train = Computed {
        exp,
        opts,
        data: &data,
        stop,
        started,
    };
    train.then(&runs, |dir| crate::store::range_test::save(dir, &seeds))
}

/// The book's procedure: rounds of probes until the threshold is bracketed, then (with
/// `then_train`) the recommended eta for the grid's epochs with every seed.
pub(super) fn threshold(
    exp: &Experiment,
    t: &ThresholdSearch,
    opts: &SweepOptions,
    stop: &AtomicBool,
) -> Result<SweepReport> {
    let started = Instant::now();
    let base = exp.run(0);
    let seeds = exp.seeds();
    let dir = results_dir(exp, opts);
    let data = exp.load_data()?;
    let exchange = Exchange::new(exp, opts, &dir)?;
    let initial = t.initial_costs(&base, &seeds, &data);
    let mut round_opts = opts.clone();
    if exchange.is_some() && opts.fresh {
        // the shard's folder is emptied once, before anything is copied into it
        let _lock = DirLock::acquire(&dir)?;
        prepare(&dir, exp, true)?;
        round_opts.fresh = false;
    }
    let mut p = Probing {
        exp,
        opts: round_opts,
        stop,
        total: SweepReport::empty(dir.clone()),
        dir,
        data: &data,
        exchange,
        initial: &initial,
        planned: Vec::new(),
    };
    let outcome = t.run(&seeds, |round, etas| {
        p.say(format!(
            "threshold search, round {round}: eta = {} ({} seeds, {} epochs each)",
            etas.iter()
                .map(|e| float_label(*e))
                .collect::<Vec<_>>()
                .join(", "),
            seeds.len(),
            t.watch
        ));
        let runs = etas
            .iter()
            .flat_map(|&eta| seeds.iter().map(move |&seed| (eta, seed)))
            .map(|(eta, seed)| t.probe_run(&base, eta, seed))
            .collect();
        if !p.step(runs)? {
            return Ok(None);
        }
        p.verdicts(t, &base, &seeds, etas)
    })?;
    let mut recommended = outcome.answer.as_ref().and_then(|a| a.recommended());
    let threshold = outcome.answer.as_ref().and_then(|a| a.threshold());
    if let (true, Some(threshold)) = (t.refine, threshold) {
        if p.total.interrupted || !p.total.failures.is_empty() {
            recommended = None;
        } else {
            let etas = t.refine_etas(threshold);
            p.say(format!(
                "threshold search, refining: eta = {} ({} seeds, {} epochs each, ranked by \
                 validation accuracy)",
                etas.iter()
                    .map(|e| float_label(*e))
                    .collect::<Vec<_>>()
                    .join(", "),
                seeds.len(),
                t.refine_epochs(base.epochs)
            ));
            let runs = etas
                .iter()
                .flat_map(|&eta| seeds.iter().map(move |&seed| (eta, seed)))
                .map(|(eta, seed)| t.refine_run(&base, eta, seed))
                .collect();
            recommended = if p.step(runs)? {
                let rows = read_metrics(&ResultsDir::metrics_path(&p.dir))?;
                let runs = by_run(&rows);
                let done = read_states(&p.dir)?;
                t.refine_scores(
                    &base,
                    &seeds,
                    &etas,
                    |id| done.contains_key(id),
                    |id| crate::store::table::values_of(&runs, id),
                )
                .and_then(|scores| ThresholdSearch::refined(&scores))
            } else {
                None
            };
        }
    }
    if let Some(eta) = recommended {
        if t.then_train && !p.total.interrupted && p.total.failures.is_empty() {
            p.say(format!(
                "threshold search: training the recommended eta = {} for {} epochs",
                float_label(eta),
                base.epochs
            ));
            p.step(t.final_runs(&base, eta, &seeds))?;
        }
    }
    let mut total = p.total;
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

/// A threshold search under way: its folder, its data set, the probes planned so far (in the
/// order the files keep) and what the rounds have reported.
struct Probing<'a> {
    exp: &'a Experiment,
    /// The options of each round's sweep (`fresh` only for the first).
    opts: SweepOptions,
    stop: &'a AtomicBool,
    dir: PathBuf,
    data: &'a Dataset,
    exchange: Option<Exchange>,
    /// The untrained networks' training costs by seed.
    initial: &'a HashMap<u64, f64>,
    planned: Vec<RunSettings>,
    total: SweepReport,
}

impl Probing<'_> {
    fn say(&self, text: String) {
        if !self.opts.quiet {
            crate::say!("{text}");
        }
    }

    fn order(&self) -> HashMap<String, usize> {
        self.planned
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id(), i))
            .collect()
    }

    /// Trains `runs` into the folder; true when all finished.
    fn train(&mut self, runs: &[RunSettings]) -> Result<bool> {
        let report = sweep_runs(
            self.exp,
            &self.opts,
            runs,
            &self.order(),
            Mode::Probes {
                initial_costs: self.initial,
            },
            Some(self.data),
            self.stop,
        )?;
        self.opts.fresh = false;
        self.total.absorb(report);
        Ok(!self.total.interrupted && self.total.failures.is_empty())
    }

    /// One step of the search: every run of `runs` finished in the folder, by this process or
    /// (sharded) by the shard whose share it is. False when stopped or failed.
    fn step(&mut self, runs: Vec<RunSettings>) -> Result<bool> {
        self.planned.extend(runs.iter().cloned());
        let Some(x) = self.exchange.take() else {
            return self.train(&runs);
        };
        let finished = self.shared_step(&x, &runs);
        self.exchange = Some(x);
        if !finished? {
            return Ok(false);
        }
        let _lock = DirLock::acquire(&self.dir)?;
        crate::store::sort_results(&self.dir, &self.order())?;
        // the step's runs, once each, whoever trained them
        let mut done = read_states(&self.dir)?;
        let ids: HashSet<String> = runs.iter().map(|r| r.id()).collect();
        self.total.rows.retain(|r| !ids.contains(&r.settings.run));
        self.total
            .rows
            .extend(runs.iter().filter_map(|r| done.remove(&r.id())));
        Ok(true)
    }

    /// A sharded step: this shard's share trained, the siblings' copied as they finish, and the
    /// share of a sibling that is not running trained here.
    fn shared_step(&mut self, x: &Exchange, runs: &[RunSettings]) -> Result<bool> {
        self.copy(x, runs)?;
        if !self.train(&x.shard.select(runs))? {
            return Ok(false);
        }
        loop {
            self.copy(x, runs)?;
            let done = read_states(&self.dir)?;
            let left: Vec<&RunSettings> = runs
                .iter()
                .filter(|r| !done.contains_key(&r.id()))
                .collect();
            if left.is_empty() {
                return Ok(true);
            }
            // a sibling that is not running (not started, stopped, failed) does not hold the
            // search up: its share is trained here
            let orphans: Vec<RunSettings> = left
                .into_iter()
                .filter(|r| !x.running(x.owner(runs, r)))
                .cloned()
                .collect();
            if !orphans.is_empty() {
                self.say(format!(
                    "  training {} runs of shards that are not running",
                    orphans.len()
                ));
                if !self.train(&orphans)? {
                    return Ok(false);
                }
            } else if self.stop.load(Ordering::Relaxed) {
                self.total.interrupted = true;
                return Ok(false);
            } else {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }

    /// Copies what the siblings finished of `runs`.
    fn copy(&mut self, x: &Exchange, runs: &[RunSettings]) -> Result<()> {
        let copied = x.gather(self.exp, &self.dir, runs)?;
        if !copied.is_empty() {
            self.say(format!(
                "  copied {} runs finished by the other shards",
                copied.len()
            ));
        }
        self.total.rows.extend(copied);
        Ok(())
    }

    /// The round's verdicts from the folder's metrics, each eta's said.
    fn verdicts(
        &self,
        t: &ThresholdSearch,
        base: &RunSettings,
        seeds: &[u64],
        etas: &[f64],
    ) -> Result<Option<Vec<Vec<crate::stability::Verdict>>>> {
        let rows = read_metrics(&ResultsDir::metrics_path(&self.dir))?;
        let runs = by_run(&rows);
        let verdicts = t.verdicts(
            base,
            seeds,
            etas,
            |s| self.initial.get(&s).copied(),
            |id| crate::store::table::values_of(&runs, id),
        );
        if let Some(v) = &verdicts {
            for (eta, v) in etas.iter().zip(v) {
                let words: Vec<String> = v.iter().map(|v| v.reason()).collect();
                self.say(format!(
                    "  eta = {}: {} ({})",
                    float_label(*eta),
                    if crate::search::threshold::majority_unstable(v) {
                        "unstable"
                    } else {
                        "stable"
                    },
                    words.join("; ")
                ));
            }
        }
        Ok(verdicts)
    }
}

/// The traces of the runs a folder already holds finished, for the rungs' decisions.
fn finished_traces(
    dir: &std::path::Path,
    done: &HashMap<String, RunRow>,
    h: &Halving,
) -> Result<HashMap<String, Trace>> {
    let mut traces: HashMap<String, Trace> = HashMap::new();
    if done.is_empty() {
        return Ok(traces);
    }
    let mut rows = read_metrics(&ResultsDir::metrics_path(dir))?;
    rows.retain(|r| done.contains_key(&r.run));
    rows.sort_by_key(|r| r.epoch);
    for r in &rows {
        traces
            .entry(r.run.clone())
            .or_default()
            .values
            .push(r.get(h.metric).unwrap_or(f64::NAN));
    }
    for (id, row) in done {
        traces.entry(id.clone()).or_default().ended = Some(if row.status == Status::Diverged {
            Ended::Diverged
        } else {
            Ended::Finished
        });
    }
    Ok(traces)
}

/// How a run that has ended counts at later rungs.
fn ended(status: Option<Option<RunStatus>>) -> Option<Ended> {
    status.map(|s| match s {
        None | Some(RunStatus::Diverged { .. }) => Ended::Diverged,
        Some(_) => Ended::Finished,
    })
}

/// The members of a grid for the rungs: each run's configuration and id.
pub fn members(runs: &[RunSettings]) -> Vec<Member> {
    runs.iter()
        .map(|r| Member {
            configuration: r.configuration_key(),
            label: r.configuration_label(),
            id: r.id(),
        })
        .collect()
}

/// Successive halving: every group trains to the next rung (all at once, a worker per thread),
/// then the configurations are ranked and the worst stopped with status `pruned`.
#[allow(clippy::too_many_arguments)]
pub(super) fn halve(
    h: &Halving,
    cx: &Training,
    all_runs: &[RunSettings],
    done: &HashMap<String, RunRow>,
    tasks: &[Vec<RunSettings>],
    data: &Dataset,
    threads: usize,
    pool: &rayon::ThreadPool,
    report_run: &(dyn Fn(&RunSettings, Result<RunRow>) + Sync),
) -> Result<()> {
    let Some(epochs) = all_runs.first().map(|r| r.epochs) else {
        return Ok(());
    };
    let members = members(all_runs);
    let mut traces = finished_traces(&cx.out.dir, done, h)?;
    let jobs: Vec<Mutex<Option<Job>>> = tasks
        .iter()
        .map(|g| Mutex::new(Some(Job::new(g, data, cx.exp.data().monitor))))
        .collect();
    let end = |slot: &mut Option<Job>| {
        if let Some(job) = slot.take() {
            let mut group = job.group.clone();
            let outcomes = super::guarded(&mut group, |_| job.finish(cx));
            for (s, r) in group.iter().zip(outcomes) {
                report_run(s, r);
            }
        }
    };
    let mut stops = h.rungs(epochs);
    stops.push(epochs);
    for (k, &until) in stops.iter().enumerate() {
        advance_all(&jobs, until, cx, threads, pool, report_run);
        if until < epochs {
            crate::fault::rung_reached(k + 1);
        }
        if cx.stop.load(Ordering::Relaxed) {
            break;
        }
        for slot in &jobs {
            if let Some(job) = lock_job(slot).as_ref() {
                for (r, s) in job.group.iter().enumerate() {
                    let values = job.records[r]
                        .iter()
                        .map(|rec| rec.get(h.metric).unwrap_or(f64::NAN))
                        .collect();
                    let ended = ended(job.session.status(r));
                    traces.insert(s.id(), Trace { values, ended });
                }
            }
        }
        if until < epochs {
            let rungs = h.replay(epochs, &members, |id| traces.get(id));
            if let Some(rung) = rungs.get(k) {
                prune(&jobs, rung, until, cx);
            }
        }
        // a group with no run left training ends now: its rows and states are saved
        for slot in &jobs {
            let mut slot = lock_job(slot);
            if slot.as_ref().is_some_and(|j| !j.session.training()) {
                end(&mut slot);
            }
        }
    }
    for slot in &jobs {
        end(&mut lock_job(slot));
    }
    Ok(())
}

/// Trains every job still held up to epoch `until`, one worker per thread taking the next; a
/// job that panics is dropped and its runs reported failed.
fn advance_all(
    jobs: &[Mutex<Option<Job>>],
    until: usize,
    cx: &Training,
    threads: usize,
    pool: &rayon::ThreadPool,
    report_run: &(dyn Fn(&RunSettings, Result<RunRow>) + Sync),
) {
    let next = AtomicUsize::new(0);
    pool.scope(|scope| {
        for _ in 0..threads.min(jobs.len()) {
            scope.spawn(|_| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = jobs.get(i) else { break };
                let mut slot = lock_job(slot);
                let Some(job) = slot.as_mut() else { continue };
                let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    job.advance(until, cx)
                }));
                if trained.is_err() {
                    let group = slot.take().expect("a job").group;
                    for s in &group {
                        report_run(
                            s,
                            Err(anyhow::anyhow!(
                                "internal error in runner (please report it) while training"
                            )),
                        );
                    }
                }
            });
        }
    });
}

/// Stops the runs of the configurations a rung did not keep.
fn prune(jobs: &[Mutex<Option<Job>>], rung: &Rung, until: usize, cx: &Training) {
    let pruned: HashSet<&str> = rung
        .ranked
        .iter()
        .filter(|r| !r.kept)
        .map(|r| r.configuration.as_str())
        .collect();
    cx.log.line(format!(
        "halving, rung {} (epoch {until}): {} of {} configurations go on",
        rung.rung,
        rung.ranked.len() - pruned.len(),
        rung.ranked.len()
    ));
    for slot in jobs {
        if let Some(job) = lock_job(slot).as_mut() {
            let lanes: Vec<usize> = (0..job.group.len())
                .filter(|&r| pruned.contains(job.group[r].configuration_key().as_str()))
                .collect();
            job.session.prune(&lanes);
        }
    }
}

fn lock_job<'m, 'd>(m: &'m Mutex<Option<Job<'d>>>) -> std::sync::MutexGuard<'m, Option<Job<'d>>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
