//! What a search found, replayed from `metrics.csv` (and the state files): the threshold
//! procedure's probes, bracket and recommendation (`threshold.csv`), successive halving's rungs
//! (`rungs.csv`) and the epochs it saved.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde::Serialize;

use super::compare::Versus;

use crate::config::Experiment;
use crate::grid::float_label;
use crate::metrics::Status;
use crate::search::halving::{Ended, Member, Trace};
use crate::search::threshold::Ending;
use crate::search::{Halving, Search, ThresholdSearch};
use crate::store::table::by_run;
use crate::store::MetricsRow;
use crate::store::RunRow;

/// One seed's verdict on one probed eta.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedVerdict {
    pub seed: u64,
    /// `stable` or `unstable`.
    pub verdict: &'static str,
    pub reason: String,
}

/// One probed eta.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeSummary {
    pub round: usize,
    pub eta: f64,
    pub unstable: bool,
    pub seeds: Vec<SeedVerdict>,
}

/// What a threshold search found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdSummary {
    /// Epochs each probe watched.
    pub watch: usize,
    pub probes: Vec<ProbeSummary>,
    /// False while the search has not ended (interrupted).
    pub finished: bool,
    /// `bracketed`, `no unstable eta` or `no stable eta`.
    pub ending: Option<&'static str>,
    pub largest_stable: Option<f64>,
    pub smallest_unstable: Option<f64>,
    /// Etas that trained steadily although a smaller one did not (ascending): verdicts that
    /// contradict the bracket, a sign that the threshold is blurred by chance.
    pub stable_above: Vec<f64>,
    /// The estimate of the threshold: the largest eta that trained steadily.
    pub threshold: Option<f64>,
    /// What the search recommends: the refinement's pick, or (`refine = false`) about half the
    /// threshold.
    pub recommended: Option<f64>,
    /// About half the threshold: the book's rule.
    pub book: Option<f64>,
    /// The refinement's etas and scores (mean over seeds of the best validation accuracy), once
    /// it has finished; empty with `refine = false`.
    pub refined: Vec<(f64, f64)>,
    /// Epochs of each refinement run.
    pub refine_epochs: Option<usize>,
    /// Epochs trained by the probes (and the refinement).
    pub probe_epochs: usize,
    /// Runs that trained the recommended eta for the grid's epochs.
    pub final_runs: usize,
}

/// `"recommended": {"eta": VALUE}` in the JSON summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recommended {
    pub eta: f64,
}

/// One configuration at one rung.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RungEntry {
    pub rung: usize,
    pub epoch: usize,
    pub configuration: String,
    pub value: f64,
    pub rank: usize,
    pub kept: bool,
    /// Below the cut but kept: its seeds do not leave it clearly below.
    pub spared: bool,
}

/// What successive halving did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HalvingSummary {
    pub reduction: usize,
    pub metric: &'static str,
    /// The pruning rule: `confident` or `mean`.
    pub prune: &'static str,
    /// The rungs' epochs.
    pub rungs: Vec<usize>,
    pub entries: Vec<RungEntry>,
    /// Epochs trained, against the full grid's.
    pub epochs_trained: usize,
    pub full_grid_epochs: usize,
    /// The configurations that trained to the end, best first, with the mean over seeds of
    /// each seed's best value of the metric (as the summary takes a run's best).
    pub standing: Vec<(String, f64)>,
    /// The best configuration against the runner-up of the standing, seed by seed, on each
    /// seed's best value of the metric (a cost's sign turned, so that better is positive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versus_runner_up: Option<Versus>,
}

/// The training cost of each seed's untrained network, which the verdicts compare the first
/// epoch with: as the probes' states recorded it when they trained. A folder written before the
/// states recorded it gets them computed again from the data set (built in for MNIST); where it
/// cannot be loaded, the first epoch is not compared with them.
fn initial_costs(
    exp: &Experiment,
    t: &ThresholdSearch,
    states: &HashMap<String, RunRow>,
) -> HashMap<u64, f64> {
    let seeds = exp.seeds();
    let recorded: HashMap<u64, f64> = states
        .values()
        .filter_map(|r| Some((r.value("seed").parse().ok()?, r.initial_train_cost?)))
        .collect();
    if seeds.iter().all(|s| recorded.contains_key(s)) {
        return recorded;
    }
    exp.load_data()
        .map(|data| t.initial_costs(&exp.run(0), &seeds, &data))
        .unwrap_or_default()
}

/// Replays a threshold search from the rows; returns what it found and the ids of its probes.
pub fn threshold(
    exp: &Experiment,
    t: &ThresholdSearch,
    rows: &[MetricsRow],
    states: &HashMap<String, RunRow>,
) -> (ThresholdSummary, HashSet<String>) {
    let base = exp.run(0);
    let seeds = exp.seeds();
    let runs = by_run(rows);
    let initial = initial_costs(exp, t, states);
    let outcome = t
        .run(&seeds, |_, etas| {
            Ok::<_, ()>(t.verdicts(
                &base,
                &seeds,
                etas,
                |s| initial.get(&s).copied(),
                |id| crate::store::table::values_of(&runs, id),
            ))
        })
        .unwrap_or_default();
    let mut ids = HashSet::new();
    for p in &outcome.probes {
        for (seed, _) in &p.seeds {
            ids.insert(t.probe_run(&base, p.eta, *seed).id());
        }
    }
    // the refinement's runs count as the search's probes
    let refined = match outcome.answer.as_ref().and_then(|a| a.threshold()) {
        Some(threshold) if t.refine => {
            let etas = t.refine_etas(threshold);
            for &eta in &etas {
                for &seed in &seeds {
                    ids.insert(t.refine_run(&base, eta, seed).id());
                }
            }
            t.refine_scores(
                &base,
                &seeds,
                &etas,
                |id| states.contains_key(id),
                |id| crate::store::table::values_of(&runs, id),
            )
        }
        _ => None,
    };
    let refine_epochs = t.refine.then(|| t.refine_epochs(base.epochs));
    let summary = ThresholdSummary::of(t, &outcome, refined, refine_epochs);
    let final_runs = summary.recommended.map_or(0, |eta| {
        t.final_runs(&base, eta, &seeds)
            .iter()
            .filter(|r| runs.contains_key(r.id().as_str()))
            .count()
    });
    let probe_epochs = rows.iter().filter(|r| ids.contains(&r.run)).count();
    let summary = ThresholdSummary {
        probe_epochs,
        final_runs,
        ..summary
    };
    (summary, ids)
}

impl ThresholdSummary {
    /// The summary of a search's outcome and (with `refine`) its refinement's scores, once
    /// they are all there (the epochs and final runs counted by the caller).
    pub fn of(
        t: &ThresholdSearch,
        outcome: &crate::search::threshold::Outcome,
        refined: Option<Vec<(f64, f64)>>,
        refine_epochs: Option<usize>,
    ) -> ThresholdSummary {
        let answer = outcome.answer.as_ref();
        let book = answer.and_then(|a| a.recommended());
        let refining = t.refine && answer.and_then(|a| a.threshold()).is_some();
        let recommended = if refining {
            refined.as_deref().and_then(ThresholdSearch::refined)
        } else {
            book
        };
        ThresholdSummary {
            watch: t.watch,
            probe_epochs: 0,
            final_runs: 0,
            book,
            refine_epochs,
            refined: refined.unwrap_or_default(),
            probes: outcome
                .probes
                .iter()
                .map(|p| ProbeSummary {
                    round: p.round,
                    eta: p.eta,
                    unstable: p.unstable,
                    seeds: p
                        .seeds
                        .iter()
                        .map(|(seed, v)| SeedVerdict {
                            seed: *seed,
                            verdict: v.word(),
                            reason: v.reason(),
                        })
                        .collect(),
                })
                .collect(),
            finished: answer.is_some() && (!refining || recommended.is_some()),
            ending: answer.map(|a| match a.ending {
                Ending::Bracketed => "bracketed",
                Ending::NoUnstable => "no unstable eta",
                Ending::NoStable => "no stable eta",
            }),
            largest_stable: answer.and_then(|a| a.largest_stable),
            smallest_unstable: answer.and_then(|a| a.smallest_unstable),
            stable_above: stable_above(&outcome.probes, answer.and_then(|a| a.smallest_unstable)),
            threshold: answer.and_then(|a| a.threshold()),
            recommended,
        }
    }
}

/// The probed etas above `smallest_unstable` that trained steadily, ascending.
fn stable_above(
    probes: &[crate::search::threshold::Probe],
    smallest_unstable: Option<f64>,
) -> Vec<f64> {
    let Some(u) = smallest_unstable else {
        return Vec::new();
    };
    let mut etas: Vec<f64> = probes
        .iter()
        .filter(|p| !p.unstable && p.eta > u)
        .map(|p| p.eta)
        .collect();
    etas.sort_by(f64::total_cmp);
    etas
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl ThresholdSummary {
    /// The answer, as a paragraph.
    pub fn answer(&self, t_then_train: bool) -> String {
        let eta = |x: Option<f64>| x.map_or("-".to_string(), float_label);
        let rounds = self.probes.last().map_or(0, |p| p.round);
        let mut text = format!(
            "**Threshold search** (the book's procedure: a probe trains {} epochs per seed; an \
             eta is unstable when the training cost of at least half its seeds rises by more \
             than 2% from one epoch to the next (or from the untrained network to epoch 1), ends \
             above where it started, diverges or \
             saturates at chance): {} etas in {rounds} rounds, {} epochs. ",
            self.watch,
            self.probes.len(),
            self.probe_epochs
        );
        match self.ending {
            None => {
                text.push_str("The search has not finished: run the experiment again to resume it.")
            }
            Some("bracketed") => {
                let _ = write!(
                    text,
                    "The cost falls steadily up to eta = {} and not at eta = {}: the threshold \
                     is about {}. ",
                    eta(self.largest_stable),
                    eta(self.smallest_unstable),
                    eta(self.threshold),
                );
                text.push_str(&self.pick());
                if !self.stable_above.is_empty() {
                    let etas: Vec<String> =
                        self.stable_above.iter().copied().map(float_label).collect();
                    let _ = write!(
                        text,
                        " Not every verdict agrees: eta = {} trained steadily although {} did \
                         not. Near the threshold whether the cost rises within a few epochs is \
                         partly chance (the seed, even the last bits of the arithmetic), so the \
                         threshold is only known roughly: somewhere from {} to {}; half the lower \
                         end is the cautious choice.",
                        and_list(&etas),
                        eta(self.smallest_unstable),
                        eta(self.largest_stable),
                        eta(self.stable_above.last().copied())
                    );
                }
            }
            Some("no unstable eta") => {
                let _ = write!(
                    text,
                    "Every eta up to {} trained steadily, so no threshold was found; half the \
                     largest is eta = {}, but check the network (a cost that never rises is \
                     unusual).",
                    eta(self.largest_stable),
                    eta(self.recommended)
                );
            }
            Some(_) => {
                let _ = write!(
                    text,
                    "Every eta down to {} was unstable: the network does not train at any eta \
                     tried (check the cost, the initialisation and the data).",
                    eta(self.smallest_unstable)
                );
            }
        }
        if self.recommended.is_some() && self.finished {
            if self.final_runs > 0 {
                let _ = write!(
                    text,
                    " The table below is the recommended eta trained for the grid's epochs."
                );
            } else if !t_then_train {
                text.push_str(
                    " Set `then_train = true` in [search] to train it for the grid's epochs.",
                );
            }
        }
        text
    }

    /// The recommendation in words: the book's half of the threshold, or the refinement's pick.
    fn pick(&self) -> String {
        let eta = |x: Option<f64>| x.map_or("-".to_string(), float_label);
        let Some(epochs) = self.refine_epochs else {
            return format!(
                "**Recommended: eta = {}**, about half the threshold, as the book advises.",
                eta(self.recommended)
            );
        };
        if self.refined.is_empty() {
            return format!(
                "Half of it, the book's rule, is eta = {}; the refinement (short runs at 1/2 to \
                 1/16 of the threshold) has not finished: run the experiment again to resume it.",
                eta(self.book)
            );
        }
        let scores: Vec<String> = self
            .refined
            .iter()
            .map(|(e, s)| format!("{} {:.2}%", float_label(*e), 100.0 * s))
            .collect();
        format!(
            "Half of it, the book's rule, is eta = {}. Refined by {epochs}-epoch runs at 1/2 to \
             1/16 of the threshold, ranked by the mean over seeds of the best validation accuracy \
             ({}): **Recommended: eta = {}**.",
            eta(self.book),
            scores.join(", "),
            eta(self.recommended)
        )
    }

    /// `threshold.csv`: `round,eta,seed,epochs,verdict,reason`.
    pub fn csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["round", "eta", "seed", "epochs", "verdict", "reason"])?;
        for p in &self.probes {
            for s in &p.seeds {
                w.write_record([
                    p.round.to_string(),
                    float_label(p.eta),
                    s.seed.to_string(),
                    self.watch.to_string(),
                    s.verdict.to_string(),
                    s.reason.clone(),
                ])?;
            }
        }
        Ok(String::from_utf8(w.into_inner().context("encoding CSV")?)?)
    }

    /// The probes as a Markdown table.
    pub fn table(&self) -> String {
        let mut out =
            String::from("| round | eta | verdict | seeds |\n| --- | --- | --- | --- |\n");
        for p in &self.probes {
            let seeds: Vec<String> = p
                .seeds
                .iter()
                .map(|s| format!("{}: {}", s.seed, s.reason))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                p.round,
                float_label(p.eta),
                if p.unstable { "unstable" } else { "stable" },
                seeds.join("; ")
            );
        }
        out
    }
}

/// Replays successive halving from the rows and the state files (`states`: finished runs).
pub fn halving(
    exp: &Experiment,
    h: &Halving,
    rows: &[MetricsRow],
    states: &HashMap<String, RunRow>,
) -> HalvingSummary {
    let grid = exp.runs();
    let epochs = grid.first().map_or(0, |r| r.epochs);
    let members: Vec<Member> = grid
        .iter()
        .map(|r| Member {
            configuration: r.configuration_key(),
            label: r.configuration_label(),
            id: r.id(),
        })
        .collect();
    let runs = by_run(rows);
    let traces: HashMap<&str, Trace> = runs
        .iter()
        .map(|(id, rows)| {
            let ended = states.get(*id).map(|s| {
                if s.status == Status::Diverged {
                    Ended::Diverged
                } else {
                    Ended::Finished
                }
            });
            let values = rows
                .iter()
                .map(|r| r.get(h.metric).unwrap_or(f64::NAN))
                .collect();
            (*id, Trace { values, ended })
        })
        .collect();
    let (rungs, standing) = h.replay_to(epochs, &members, |id| traces.get(id));
    let versus_runner_up = match standing.as_deref() {
        Some([best, second, ..]) => {
            let last = |c: &str| best_values(h, &grid, &traces, c);
            Some(Versus::of(
                &last(&best.configuration),
                &last(&second.configuration),
            ))
        }
        _ => None,
    };
    let label = |key: &str| {
        members
            .iter()
            .find(|m| m.configuration == key)
            .map_or(key.to_string(), |m| m.label.clone())
    };
    HalvingSummary {
        reduction: h.reduction,
        metric: h.metric.name(),
        prune: h.prune.name(),
        rungs: h.rungs(epochs),
        entries: rungs
            .iter()
            .flat_map(|r| {
                r.ranked.iter().map(|x| RungEntry {
                    rung: r.rung,
                    epoch: r.epoch,
                    configuration: label(&x.configuration),
                    value: x.value,
                    rank: x.rank,
                    kept: x.kept,
                    spared: x.spared,
                })
            })
            .collect(),
        epochs_trained: rows.len(),
        full_grid_epochs: grid.len() * epochs,
        standing: standing
            .unwrap_or_default()
            .iter()
            .map(|r| (label(&r.configuration), r.value))
            .collect(),
        versus_runner_up,
    }
}

/// Each seed's best value of halving's metric, for one configuration (a cost's sign turned, so
/// that better is higher).
fn best_values(
    h: &Halving,
    grid: &[crate::grid::RunSettings],
    traces: &HashMap<&str, Trace>,
    configuration: &str,
) -> Vec<(u64, f64)> {
    let sign = if crate::search::halving::higher_is_better(h.metric) {
        1.0
    } else {
        -1.0
    };
    grid.iter()
        .filter(|r| r.configuration_key() == configuration)
        .filter_map(|r| {
            let t = traces.get(r.id().as_str())?;
            let upto = t.values.get(..r.epochs)?;
            Some((r.seed, sign * h.best(upto)))
        })
        .collect()
}

impl HalvingSummary {
    /// The answer, as a paragraph.
    pub fn answer(&self) -> String {
        let rungs: Vec<String> = self.rungs.iter().map(|e| e.to_string()).collect();
        let spared = self.entries.iter().filter(|e| e.spared).count();
        let rule = if self.prune == "confident" {
            format!(
                ", and any whose seeds do not leave it clearly below the last one kept: {spared} \
                 such {} kept",
                if spared == 1 { "was" } else { "were" }
            )
        } else {
            String::new()
        };
        let mut text = format!(
            "**Successive halving** (keeping the best 1/{} of the configurations after epochs \
             {}, ranked by the mean over seeds of each run's best {} so far{rule}) trained {} epochs, {:.0}% of the {} the \
             full grid trains.",
            self.reduction,
            rungs.join(", "),
            self.metric,
            self.epochs_trained,
            100.0 * self.epochs_trained as f64 / self.full_grid_epochs.max(1) as f64,
            self.full_grid_epochs
        );
        let value = |v: f64| {
            if self.metric.ends_with("accuracy") {
                format!("{:.2}%", 100.0 * v)
            } else {
                format!("{v:.4}")
            }
        };
        match self.standing.first() {
            Some((best, v)) => {
                let _ = write!(
                    text,
                    " **Best configuration: {best}**, best {} {} (the mean over seeds).",
                    self.metric,
                    value(*v)
                );
                if let (Some((second, _)), Some(versus)) =
                    (self.standing.get(1), &self.versus_runner_up)
                {
                    let _ = write!(
                        text,
                        " Against the runner-up, {second}: {}.",
                        versus.describe()
                    );
                }
            }
            None => text.push_str(" It has not finished: run the experiment again to resume it."),
        }
        text
    }

    /// `rungs.csv`: `rung,epoch,configuration,value,rank,kept`.
    pub fn csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["rung", "epoch", "configuration", "value", "rank", "kept"])?;
        for e in &self.entries {
            w.write_record([
                e.rung.to_string(),
                e.epoch.to_string(),
                e.configuration.clone(),
                e.value.to_string(),
                e.rank.to_string(),
                e.kept.to_string(),
            ])?;
        }
        Ok(String::from_utf8(w.into_inner().context("encoding CSV")?)?)
    }

    /// The rungs as a Markdown table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "| rung | epoch | configuration | {} | rank | kept |\n| --- | --- | --- | --- | --- | --- |\n",
            self.metric
        );
        for e in &self.entries {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.4} | {} | {} |",
                e.rung,
                e.epoch,
                e.configuration,
                e.value,
                e.rank,
                match (e.kept, e.spared) {
                    (true, false) => "yes",
                    (true, true) => "yes (its seeds reach the cut)",
                    _ => "pruned",
                }
            );
        }
        out
    }
}

/// What a learning-rate range test found (`range_test.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeTestSummary {
    pub min: f64,
    pub max: f64,
    /// The suggestion recommended: `valley`, `steepest` or `minimum`.
    pub suggestion: &'static str,
    /// The rule of that suggestion, in words.
    pub rule: &'static str,
    pub seeds: Vec<SeedRangeSummary>,
    /// The median over the seeds of the chosen suggestion, rounded.
    pub recommended: Option<f64>,
    /// Whether the recommendation was trained for the grid's epochs.
    pub then_train: bool,
    /// Why there is nothing to show (the file missing or damaged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One seed's range test: its suggestions and its curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedRangeSummary {
    pub seed: u64,
    /// Mini-batches trained.
    pub steps: usize,
    /// The last eta trained.
    pub last_eta: f64,
    /// Whether the smoothed cost blew up before `max`.
    pub blew_up: bool,
    pub suggestions: crate::search::range_test::Suggestions,
    /// (eta, smoothed cost) of each step, for the plot.
    #[serde(skip)]
    pub curve: Vec<(f64, f64)>,
}

impl RangeTestSummary {
    /// Reads `dir/range_test.csv` for the search `r`.
    pub fn of(r: &crate::search::RangeTest, dir: &std::path::Path) -> RangeTestSummary {
        use crate::search::range_test::{blown_up, suggestions};
        let (seeds, problem) = match crate::store::range_test::read(dir) {
            Ok(seeds) => (seeds, None),
            Err(e) => (
                Vec::new(),
                Some(format!(
                    "{e:#} (it is written when every seed's range test has ended: run the \
                     experiment again)"
                )),
            ),
        };
        let seeds: Vec<SeedRangeSummary> = seeds
            .into_iter()
            .map(|s| {
                let lowest = s
                    .steps
                    .iter()
                    .map(|x| x.smoothed)
                    .fold(f64::INFINITY, f64::min);
                let last = s.steps.last().copied();
                SeedRangeSummary {
                    seed: s.seed,
                    steps: s.steps.len(),
                    last_eta: last.map_or(f64::NAN, |x| x.eta),
                    blew_up: last.is_some_and(|x| blown_up(x.smoothed, lowest)),
                    suggestions: suggestions(&s.steps),
                    curve: s.steps.iter().map(|x| (x.eta, x.smoothed)).collect(),
                }
            })
            .collect();
        let found: Vec<_> = seeds.iter().map(|s| s.suggestions).collect();
        RangeTestSummary {
            min: r.min,
            max: r.max,
            suggestion: r.suggestion.name(),
            rule: r.suggestion.rule(),
            recommended: if seeds.is_empty() {
                None
            } else {
                r.recommended(&found)
            },
            seeds,
            then_train: r.then_train,
            problem,
        }
    }

    /// Each seed's test, as a Markdown table.
    pub fn table(&self) -> String {
        let show = crate::search::range_test::label;
        let mut out = String::from(
            "| seed | steps | last eta | blew up | valley | steepest | minimum / 10 |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for s in &self.seeds {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                s.seed,
                s.steps,
                show(Some(s.last_eta)),
                if s.blew_up { "yes" } else { "no" },
                show(s.suggestions.valley),
                show(s.suggestions.steepest),
                show(s.suggestions.minimum)
            );
        }
        out
    }

    /// The answer, as a paragraph.
    pub fn answer(&self) -> String {
        if let Some(problem) = &self.problem {
            return format!("**Range test**: no range test to show: {problem}.");
        }
        let show = crate::search::range_test::label;
        let per_seed: Vec<String> = self
            .seeds
            .iter()
            .map(|s| {
                format!(
                    "seed {}: valley {}, steepest {}, minimum/10 {} ({} steps{})",
                    s.seed,
                    show(s.suggestions.valley),
                    show(s.suggestions.steepest),
                    show(s.suggestions.minimum),
                    s.steps,
                    if s.blew_up {
                        format!(", blew up at eta = {}", show(Some(s.last_eta)))
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        let mut text = format!(
            "**Range test** (eta growing exponentially from {} to {} over one run per seed, one \
             mini-batch per step, the training cost smoothed): {}.",
            float_label(self.min),
            float_label(self.max),
            per_seed.join("; ")
        );
        match self.recommended {
            Some(eta) => {
                let _ = write!(
                    text,
                    " **Recommended: eta = {}**, the median over the seeds of the suggestion {}.",
                    float_label(eta),
                    self.rule
                );
                text.push_str(if self.then_train {
                    " The table below is that eta trained for the grid's epochs."
                } else {
                    " Set `then_train = true` to train it for the grid's epochs."
                });
            }
            None => {
                let _ = write!(
                    text,
                    " No {} suggestion: the curve is too short (the cost blew up within a few \
                     steps: lower `search.min`, or give more `steps`).",
                    self.suggestion
                );
            }
        }
        text.push_str(
            " A range test reads the cost of the first mini-batches only: it finds where \
             training starts to fall fastest, not the eta that ends best after many epochs.",
        );
        text
    }
}

/// What a curvature search found (`curvature.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurvatureSummary {
    /// Training examples the Hessian was taken over.
    pub sample: usize,
    pub seeds: Vec<SeedLambda>,
    /// Half the smallest threshold, rounded: what the search trained.
    pub recommended: Option<f64>,
    /// Why there is nothing to show (the file missing or damaged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One seed's λ and what it predicts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedLambda {
    pub seed: u64,
    pub lambda: f64,
    /// Gradient descent's threshold 2/λ.
    pub threshold: f64,
    pub iterations: usize,
    pub converged: bool,
    /// The estimate after each iteration (the convergence).
    pub estimates: Vec<f64>,
}

impl CurvatureSummary {
    /// Reads `dir/curvature.csv` for the search `c`.
    pub fn of(c: &crate::search::CurvatureSearch, dir: &std::path::Path) -> CurvatureSummary {
        let (seeds, problem) = match crate::store::curvature::read(dir) {
            Ok(seeds) => (seeds, None),
            Err(e) => (
                Vec::new(),
                Some(format!(
                    "{e:#} (it is written when the search has computed every seed's curvature: \
                     run the experiment again)"
                )),
            ),
        };
        let lambdas: Vec<f64> = seeds.iter().map(|s| s.lambda()).collect();
        CurvatureSummary {
            sample: c.sample,
            recommended: c.recommended(&lambdas),
            seeds: seeds
                .into_iter()
                .map(|s| SeedLambda {
                    seed: s.seed,
                    lambda: s.lambda(),
                    threshold: 2.0 / s.lambda(),
                    iterations: s.estimates.len(),
                    converged: s.converged,
                    estimates: s.estimates,
                })
                .collect(),
            problem,
        }
    }

    /// The answer, as a paragraph.
    pub fn answer(&self) -> String {
        if let Some(problem) = &self.problem {
            return format!("**Curvature search**: no curvature to show: {problem}.");
        }
        let list = |f: &dyn Fn(&SeedLambda) -> String| -> String {
            self.seeds.iter().map(f).collect::<Vec<_>>().join(", ")
        };
        let not_converged: Vec<String> = self
            .seeds
            .iter()
            .filter(|s| !s.converged)
            .map(|s| s.seed.to_string())
            .collect();
        let mut text = format!(
            "**Curvature search** (the Hessian of the training cost at the initial weights, over \
             the first {} training examples): its largest eigenvalue is {} for seed{} {}, so \
             gradient descent is stable there for eta below 2/λ = {}.",
            self.sample,
            list(&|s| format!("λ = {:.4}", s.lambda)),
            if self.seeds.len() == 1 { "" } else { "s" },
            list(&|s| s.seed.to_string()),
            list(&|s| float_label(crate::search::round3(s.threshold)))
        );
        if !not_converged.is_empty() {
            let _ = write!(
                text,
                " The power iteration did not settle for seed {} (raise `search.iterations`).",
                not_converged.join(", ")
            );
        }
        if let Some(eta) = self.recommended {
            let _ = write!(
                text,
                " Recommended: eta = {}, half the smallest threshold, as the book advises; the \
                 table below is that eta trained for the grid's epochs. This threshold belongs \
                 to the weights training starts from; the threshold search \
                 (`mode = \"threshold\"`) measures where training itself stops falling steadily.",
                float_label(eta)
            );
        }
        text
    }
}

/// The search of a results folder's saved experiment, if any.
pub fn search_of(exp: Option<&Experiment>) -> Search {
    exp.map_or(Search::Grid, |e| e.search().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(probes: &[(f64, bool)]) -> ThresholdSummary {
        let probes: Vec<ProbeSummary> = probes
            .iter()
            .map(|&(eta, unstable)| ProbeSummary {
                round: 1,
                eta,
                unstable,
                seeds: Vec::new(),
            })
            .collect();
        let found: Vec<crate::search::threshold::Probe> = probes
            .iter()
            .map(|p| crate::search::threshold::Probe {
                round: p.round,
                eta: p.eta,
                seeds: Vec::new(),
                unstable: p.unstable,
            })
            .collect();
        ThresholdSummary {
            watch: 3,
            stable_above: stable_above(&found, Some(20.5)),
            probes,
            finished: true,
            ending: Some("bracketed"),
            largest_stable: Some(17.8),
            smallest_unstable: Some(20.5),
            threshold: Some(17.8),
            recommended: Some(8.9),
            book: Some(8.9),
            refined: Vec::new(),
            refine_epochs: None,
            probe_epochs: 72,
            final_runs: 0,
        }
    }

    #[test]
    fn stable_verdicts_above_the_threshold_are_reported_as_blur() {
        let blurred = summary(&[
            (10.0, false),
            (17.8, false),
            (20.5, true),
            (27.4, false),
            (23.7, false),
            (31.6, true),
        ]);
        assert_eq!(blurred.stable_above, vec![23.7, 27.4]);
        let text = blurred.answer(false);
        assert!(
            text.contains("eta = 23.7 and 27.4 trained steadily although 20.5 did not"),
            "{text}"
        );
        assert!(text.contains("somewhere from 17.8 to 27.4"), "{text}");
        assert!(text.contains("**Recommended: eta = 8.9**"), "{text}");
        let sharp = summary(&[(10.0, false), (17.8, false), (20.5, true), (31.6, true)]);
        assert!(sharp.stable_above.is_empty());
        assert!(!sharp.answer(false).contains("Not every verdict"));
        assert_eq!(
            and_list(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
    }
}
