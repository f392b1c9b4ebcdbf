//! Sweeps driven by a search: the threshold procedure's rounds of probes, and successive
//! halving's rungs. The decisions come from [`crate::search`], fed with the metrics as they are
//! written, so that a resume or a report makes the same ones from `metrics.csv`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Result};

use super::{results_dir, sweep_runs, Job, SweepOptions, SweepReport, Training};
use crate::config::Experiment;
use crate::data::Dataset;
use crate::grid::{float_label, RunSettings};
use crate::report::searches::{by_run, probe_verdicts};
use crate::report::summary::read_metrics;
use crate::search::halving::{Ended, Member, Trace};
use crate::search::{Halving, ThresholdSearch};
use crate::store::{ResultsDir, RunRow};
use crate::train::metrics::RunStatus;

/// Searches decide each step from every result before it, so a shard could not go on alone.
pub(super) fn refuse_shard(exp: &Experiment, opts: &SweepOptions, what: &str) -> Result<()> {
    if opts.shard.is_some() {
        bail!(
            "{}: {what} decides what to train from the results so far, so it cannot be split \
             into shards; run it on one machine (it uses every core), or write the grid out and \
             shard that",
            exp.path.display()
        );
    }
    Ok(())
}

impl SweepReport {
    /// Adds what another sweep into the same folder did.
    fn absorb(&mut self, other: SweepReport) {
        self.rows.extend(other.rows);
        self.resumed += other.resumed;
        self.planned += other.planned;
        self.repaired_rows += other.repaired_rows;
        self.failures.extend(other.failures);
        self.interrupted |= other.interrupted;
        self.warnings.extend(other.warnings);
    }
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
    let initial = t.initial_costs(&base, &seeds, &data);
    let mut total = SweepReport {
        dir: dir.clone(),
        rows: Vec::new(),
        resumed: 0,
        planned: 0,
        repaired_rows: 0,
        failures: Vec::new(),
        interrupted: false,
        seconds: 0.0,
        warnings: Vec::new(),
    };
    let mut planned: Vec<RunSettings> = Vec::new();
    let say = |text: String| {
        if !opts.quiet {
            eprintln!("{text}");
        }
    };
    let mut round_opts = opts.clone();
    let mut sweep = |runs: Vec<RunSettings>,
                     planned: &mut Vec<RunSettings>,
                     total: &mut SweepReport|
     -> Result<bool> {
        planned.extend(runs.iter().cloned());
        let order: HashMap<String, usize> = planned
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id(), i))
            .collect();
        let report = sweep_runs(exp, &round_opts, &runs, &order, None, Some(&data), stop)?;
        round_opts.fresh = false;
        total.absorb(report);
        Ok(!total.interrupted && total.failures.is_empty())
    };
    let outcome = t.run(&seeds, |round, etas| {
        let shown: Vec<String> = etas.iter().map(|e| float_label(*e)).collect();
        say(format!(
            "threshold search, round {round}: eta = {} ({} seeds, {} epochs each)",
            shown.join(", "),
            seeds.len(),
            t.watch
        ));
        let runs = etas
            .iter()
            .flat_map(|&eta| seeds.iter().map(move |&seed| (eta, seed)))
            .map(|(eta, seed)| t.probe_run(&base, eta, seed))
            .collect();
        if !sweep(runs, &mut planned, &mut total)? {
            return Ok(None);
        }
        let rows = read_metrics(&ResultsDir::metrics_path(&dir))?;
        let runs = by_run(&rows);
        let verdicts = probe_verdicts(t, &base, &seeds, etas, &initial, &runs);
        if let Some(v) = &verdicts {
            for (eta, v) in etas.iter().zip(v) {
                let words: Vec<String> = v.iter().map(|v| v.reason()).collect();
                say(format!(
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
        Ok::<_, anyhow::Error>(verdicts)
    })?;
    if let Some(eta) = outcome.answer.as_ref().and_then(|a| a.recommended()) {
        if t.then_train && !total.interrupted && total.failures.is_empty() {
            say(format!(
                "threshold search: training the recommended eta = {} for {} epochs",
                float_label(eta),
                base.epochs
            ));
            sweep(t.final_runs(&base, eta, &seeds), &mut planned, &mut total)?;
        }
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
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
        traces.entry(id.clone()).or_default().ended = Some(if row.status == "diverged" {
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
    let dir = &cx.out.dir;
    let members = members(all_runs);
    let mut traces = finished_traces(dir, done, h)?;
    let jobs: Vec<Mutex<Option<Job>>> = tasks
        .iter()
        .map(|g| Mutex::new(Some(Job::new(g, data, cx.exp.data.monitor))))
        .collect();
    let end = |slot: &mut Option<Job>| {
        if let Some(job) = slot.take() {
            let group = job.group.clone();
            for (s, r) in group.iter().zip(super::guarded(&group, || job.finish(cx))) {
                report_run(s, r);
            }
        }
    };
    let mut stops = h.rungs(epochs);
    stops.push(epochs);
    for (k, &until) in stops.iter().enumerate() {
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
                for slot in &jobs {
                    if let Some(job) = lock_job(slot).as_mut() {
                        let lanes: Vec<usize> = (0..job.group.len())
                            .filter(|&r| pruned.contains(job.group[r].configuration_key().as_str()))
                            .collect();
                        job.session.prune(&lanes);
                    }
                }
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

fn lock_job<'m, 'd>(m: &'m Mutex<Option<Job<'d>>>) -> std::sync::MutexGuard<'m, Option<Job<'d>>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
