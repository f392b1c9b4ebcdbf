//! The book's procedure for eta (chapter 3): "estimate the threshold value for eta at which the
//! cost on the training data immediately begins decreasing, instead of oscillating or
//! increasing", then use about half of it.
//!
//! A probe trains the experiment's network at one eta for `watch` epochs with every seed, and each
//! seed's training cost gives a [`Verdict`]. The coarse scan starts at `start` and steps by
//! `factor` (up while the probes are stable, down while they are not) until the threshold is
//! bracketed; bisection on a log scale then narrows the bracket to `precision`. Each round probes
//! `probes` etas at once so that every core is busy; which etas depends only on the verdicts so
//! far, never on the threads, so a search is the same whatever the machine.
//!
//! The book's half of the threshold can land far from the best eta (measured on [784, 100, 10]
//! with cross-entropy: 4.5x above it, 3.1 points below its accuracy), so by default the search
//! then refines it (`refine = true`): it trains the etas at 1/2, 1/4, 1/8 and 1/16 of the
//! threshold with every seed for a third of the grid's epochs and recommends the one with the
//! best mean over seeds of the best validation accuracy. `refine = false` keeps the book's rule.

use std::collections::HashMap;

use crate::data::Dataset;
use crate::grid::schedule::Schedule;
use crate::grid::RunSettings;
use crate::train::initial_training_cost;

use super::round3;
use crate::metrics::{Metric, MetricValues};
use crate::stability::{probe, Majority, Verdict};

/// `[search] mode = "threshold"`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdSearch {
    /// The first eta tried.
    pub start: f64,
    /// The step of the coarse scan, up or down.
    pub factor: f64,
    /// Epochs each probe trains and watches ("the first few epochs").
    pub watch: usize,
    /// Refine until smallest unstable / largest stable is at most this.
    pub precision: f64,
    /// Etas probed in each round.
    pub probes: usize,
    /// Train the recommended eta for the grid's epochs with every seed once the search ends.
    pub then_train: bool,
    /// Refine the book's half of the threshold by short runs below it.
    pub refine: bool,
}

impl Default for ThresholdSearch {
    fn default() -> Self {
        ThresholdSearch {
            start: 0.01,
            factor: 10.0,
            watch: 3,
            precision: 1.5,
            probes: 3,
            then_train: false,
            refine: true,
        }
    }
}

/// The scan gives up below this eta (every probe unstable) ...
pub const LOWEST_ETA: f64 = 1e-6;
/// ... and above this one (every probe stable).
pub const HIGHEST_ETA: f64 = 1e6;

/// An eta is unstable when at least half of its seeds are (with two seeds, either one).
pub fn majority_unstable(verdicts: &[Verdict]) -> bool {
    Majority::AtLeastHalf.unstable(verdicts)
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ending {
    /// The bracket is within the precision (or as narrow as three digits allow).
    Bracketed,
    /// Every eta up to [`HIGHEST_ETA`] trained steadily.
    NoUnstable,
    /// Every eta down to [`LOWEST_ETA`] was unstable.
    NoStable,
}

/// The search's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub ending: Ending,
    /// The largest eta that trained steadily below the smallest unstable one.
    pub largest_stable: Option<f64>,
    /// The smallest unstable eta tried.
    pub smallest_unstable: Option<f64>,
}

impl Answer {
    /// The estimate of the threshold: the largest eta at which the cost fell during the watched
    /// epochs, as the book estimates it.
    pub fn threshold(&self) -> Option<f64> {
        match self.ending {
            Ending::NoStable => None,
            _ => self.largest_stable,
        }
    }

    /// About half the threshold, as the book recommends.
    pub fn recommended(&self) -> Option<f64> {
        self.threshold().map(|t| round3(t / 2.0))
    }
}

/// What to do next given the etas tried so far and whether each was unstable.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Probe(Vec<f64>),
    Done(Answer),
}

impl ThresholdSearch {
    /// The next round's etas, or the answer. Depends only on the verdicts (and the search's
    /// settings), so a resumed or replayed search takes the same steps.
    pub fn next(&self, tried: &[(f64, bool)]) -> Next {
        let k = self.probes as i32;
        let fresh = |etas: Vec<f64>| -> Vec<f64> {
            let mut out: Vec<f64> = Vec::new();
            for e in etas.into_iter().map(round3) {
                if !out.contains(&e) && !tried.iter().any(|(t, _)| *t == e) {
                    out.push(e);
                }
            }
            out
        };
        if tried.is_empty() {
            return Next::Probe(fresh(
                (0..k).map(|i| self.start * self.factor.powi(i)).collect(),
            ));
        }
        // the search climbs from a stable probe: an unstable eta below the smallest stable one
        // (a network too slow to move in the watched epochs looks saturated) does not bound it
        let smallest_stable = tried
            .iter()
            .filter(|(_, u)| !*u)
            .map(|(e, _)| *e)
            .fold(None, |m: Option<f64>, e| Some(m.map_or(e, |m| m.min(e))));
        let smallest_unstable = tried
            .iter()
            .filter(|(e, u)| *u && smallest_stable.is_none_or(|s| *e > s))
            .map(|(e, _)| *e)
            .fold(None, |m: Option<f64>, e| Some(m.map_or(e, |m| m.min(e))));
        let largest_stable_below = |limit: f64| {
            tried
                .iter()
                .filter(|(e, u)| !*u && *e < limit)
                .map(|(e, _)| *e)
                .fold(None, |m: Option<f64>, e| Some(m.map_or(e, |m| m.max(e))))
        };
        let answer = |ending, s, u| Answer {
            ending,
            largest_stable: s,
            smallest_unstable: u,
        };
        match smallest_unstable {
            None => {
                let top = largest_stable_below(f64::INFINITY).expect("something was tried");
                if top >= HIGHEST_ETA {
                    return Next::Done(answer(Ending::NoUnstable, Some(top), None));
                }
                Next::Probe(fresh((1..=k).map(|i| top * self.factor.powi(i)).collect()))
            }
            Some(u) => match largest_stable_below(u) {
                None => {
                    if u <= LOWEST_ETA {
                        return Next::Done(answer(Ending::NoStable, None, Some(u)));
                    }
                    Next::Probe(fresh((1..=k).map(|i| u / self.factor.powi(i)).collect()))
                }
                Some(s) => {
                    let done = Next::Done(answer(Ending::Bracketed, Some(s), Some(u)));
                    let ratio = u / s;
                    if ratio <= self.precision * (1.0 + 1e-9) {
                        return done;
                    }
                    let candidates = fresh(
                        (1..=k)
                            .map(|i| s * ratio.powf(i as f64 / (k + 1) as f64))
                            .filter(|e| *e > s && *e < u)
                            .collect(),
                    );
                    let candidates: Vec<f64> = candidates
                        .into_iter()
                        .filter(|e| *e > s && *e < u)
                        .collect();
                    if candidates.is_empty() {
                        done
                    } else {
                        Next::Probe(candidates)
                    }
                }
            },
        }
    }
}

/// One probed eta: its round, each seed's verdict, and the majority's.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub round: usize,
    pub eta: f64,
    pub seeds: Vec<(u64, Verdict)>,
    pub unstable: bool,
}

/// A search as far as it went: its probes in order, and the answer once it ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub probes: Vec<Probe>,
    pub answer: Option<Answer>,
}

impl ThresholdSearch {
    /// Runs the procedure with `probe(round, etas)` giving each eta's verdicts, seed by seed in
    /// the order of `seeds` (`None`: not available yet, as when a report reads an unfinished
    /// search; the outcome then ends there).
    pub fn run<E>(
        &self,
        seeds: &[u64],
        mut probe: impl FnMut(usize, &[f64]) -> Result<Option<Vec<Vec<Verdict>>>, E>,
    ) -> Result<Outcome, E> {
        let mut outcome = Outcome::default();
        let mut tried: Vec<(f64, bool)> = Vec::new();
        for round in 1.. {
            match self.next(&tried) {
                Next::Done(answer) => {
                    outcome.answer = Some(answer);
                    break;
                }
                Next::Probe(etas) => {
                    let Some(verdicts) = probe(round, &etas)? else {
                        break;
                    };
                    for (eta, v) in etas.iter().zip(verdicts) {
                        let unstable = majority_unstable(&v);
                        tried.push((*eta, unstable));
                        outcome.probes.push(Probe {
                            round,
                            eta: *eta,
                            seeds: seeds.iter().copied().zip(v).collect(),
                            unstable,
                        });
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// The run that probes `eta` with `seed`: the experiment's run `base` trained for `watch`
    /// epochs at a constant eta, without early stopping.
    pub fn probe_run(&self, base: &RunSettings, eta: f64, seed: u64) -> RunSettings {
        RunSettings {
            eta,
            seed,
            epochs: self.watch,
            eta_schedule: Schedule::Constant,
            early_stopping: 0,
            ..base.clone()
        }
    }

    /// Each seed's verdict on each eta of `etas`, from `initial(seed)` (the training cost of the
    /// seed's untrained network) and `rows(id)`: a probe run's metrics after each epoch, in epoch
    /// order. `None` when a probe has no rows yet.
    pub fn verdicts(
        &self,
        base: &RunSettings,
        seeds: &[u64],
        etas: &[f64],
        initial: impl Fn(u64) -> Option<f64>,
        rows: impl Fn(&str) -> Option<Vec<MetricValues>>,
    ) -> Option<Vec<Vec<Verdict>>> {
        let classes = base.sizes.last().copied().unwrap_or(10);
        etas.iter()
            .map(|&eta| {
                seeds
                    .iter()
                    .map(|&seed| {
                        let rows = rows(&self.probe_run(base, eta, seed).id())?;
                        let costs: Vec<Option<f64>> =
                            rows.iter().map(|r| r.get(Metric::TrainCost)).collect();
                        let accuracy = rows.last().and_then(|r| r.get(Metric::TrainAccuracy));
                        Some(probe(initial(seed), &costs, accuracy, self.watch, classes))
                    })
                    .collect()
            })
            .collect()
    }

    /// The training cost of each seed's untrained network, which the verdicts compare the
    /// first epoch with (the same for every eta of a seed).
    pub fn initial_costs(
        &self,
        base: &RunSettings,
        seeds: &[u64],
        data: &Dataset,
    ) -> HashMap<u64, f64> {
        seeds
            .iter()
            .map(|&s| {
                let probe = self.probe_run(base, self.start, s);
                (s, initial_training_cost(&probe, data))
            })
            .collect()
    }

    /// The runs that train the recommended eta for the grid's epochs, one per seed.
    pub fn final_runs(&self, base: &RunSettings, eta: f64, seeds: &[u64]) -> Vec<RunSettings> {
        super::runs_at(base, eta, seeds)
    }

    /// The etas the refinement trains below the threshold: 1/2 (the book's), 1/4, 1/8, 1/16.
    pub fn refine_etas(&self, threshold: f64) -> Vec<f64> {
        let mut etas: Vec<f64> = (1..=REFINE_ETAS)
            .map(|k| round3(threshold / 2f64.powi(k)))
            .collect();
        etas.dedup();
        etas
    }

    /// The epochs of a refinement run: a third of the grid's, at least `watch`, at most all.
    pub fn refine_epochs(&self, epochs: usize) -> usize {
        (epochs / 3).max(self.watch).min(epochs)
    }

    /// The run that refines `eta` with `seed`.
    pub fn refine_run(&self, base: &RunSettings, eta: f64, seed: u64) -> RunSettings {
        RunSettings {
            epochs: self.refine_epochs(base.epochs),
            ..self.probe_run(base, eta, seed)
        }
    }

    /// Each refined eta's score, the mean over seeds of the best validation accuracy of its
    /// refinement runs, from `rows(id)` (a run's metrics after each epoch); `None` until every
    /// run has all its epochs (or diverged: a diverged run scores its best before).
    pub fn refine_scores(
        &self,
        base: &RunSettings,
        seeds: &[u64],
        etas: &[f64],
        finished: impl Fn(&str) -> bool,
        rows: impl Fn(&str) -> Option<Vec<MetricValues>>,
    ) -> Option<Vec<(f64, f64)>> {
        etas.iter()
            .map(|&eta| {
                let best: Option<Vec<f64>> = seeds
                    .iter()
                    .map(|&seed| {
                        let id = self.refine_run(base, eta, seed).id();
                        if !finished(&id) {
                            return None;
                        }
                        let best = rows(&id)?
                            .iter()
                            .filter_map(|v| v.get(Metric::ValidationAccuracy))
                            .filter(|a| a.is_finite())
                            .fold(0.0, f64::max);
                        Some(best)
                    })
                    .collect();
                let best = best?;
                Some((eta, best.iter().sum::<f64>() / best.len().max(1) as f64))
            })
            .collect()
    }

    /// The refinement's pick: the best score (the smaller eta on a tie).
    pub fn refined(scores: &[(f64, f64)]) -> Option<f64> {
        scores
            .iter()
            .copied()
            .filter(|(_, s)| s.is_finite())
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.total_cmp(&a.0)))
            .map(|(eta, _)| eta)
    }
}

/// How many etas below the threshold the refinement trains.
pub const REFINE_ETAS: i32 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refinement_tries_halves_below_the_threshold_and_keeps_the_best() {
        let t = ThresholdSearch::default();
        assert_eq!(t.refine_etas(17.8), vec![8.9, 4.45, 2.23, 1.11]);
        assert_eq!(t.refine_epochs(30), 10);
        assert_eq!(t.refine_epochs(4), 3, "at least the watched epochs");
        assert_eq!(t.refine_epochs(2), 2, "at most the grid's");
        let base = RunSettings::default();
        let r = t.refine_run(&base, 2.23, 7);
        assert_eq!((r.eta, r.seed, r.epochs), (2.23, 7, 10));
        assert_ne!(r.id(), t.probe_run(&base, 2.23, 7).id());
        assert_eq!(
            ThresholdSearch::refined(&[(8.9, 0.94), (4.45, 0.95), (2.23, 0.95), (1.11, f64::NAN)]),
            Some(2.23),
            "the best score; on a tie the smaller eta"
        );
        assert_eq!(ThresholdSearch::refined(&[]), None);
    }

    #[test]
    fn half_the_seeds_make_an_eta_unstable() {
        let (s, u) = (Verdict::Stable, Verdict::Saturated);
        assert!(!majority_unstable(&[s, s, u]));
        assert!(majority_unstable(&[s, u, u]));
        assert!(majority_unstable(&[s, u]));
        assert!(!majority_unstable(&[s]));
        assert!(!majority_unstable(&[]));
    }

    /// Runs the search against a network whose etas are unstable from `threshold` up.
    fn search_with_threshold(search: &ThresholdSearch, threshold: f64) -> Outcome {
        search
            .run(&[1, 2], |_, etas| {
                Ok::<_, ()>(Some(
                    etas.iter()
                        .map(|&e| {
                            let v = if e >= threshold {
                                Verdict::Saturated
                            } else {
                                Verdict::Stable
                            };
                            vec![v, v]
                        })
                        .collect(),
                ))
            })
            .unwrap()
    }

    #[test]
    fn the_scan_brackets_the_threshold_and_bisection_narrows_it() {
        let search = ThresholdSearch::default();
        for threshold in [0.00042, 0.013, 0.5, 4.2, 7.0, 37.0, 2500.0] {
            let o = search_with_threshold(&search, threshold);
            let a = o.answer.clone().expect("the search ends");
            assert_eq!(a.ending, Ending::Bracketed, "{threshold}");
            let (s, u) = (a.largest_stable.unwrap(), a.smallest_unstable.unwrap());
            assert!(s < threshold && threshold <= u, "{threshold}: [{s}, {u}]");
            assert!(u / s <= 1.5 + 1e-9, "{threshold}: [{s}, {u}]");
            assert_eq!(a.recommended(), Some(round3(s / 2.0)));
            // a round probes at most `probes` new etas, and no eta twice
            let mut etas: Vec<f64> = o.probes.iter().map(|p| p.eta).collect();
            let n = etas.len();
            etas.sort_by(f64::total_cmp);
            etas.dedup();
            assert_eq!(etas.len(), n);
            let rounds = o.probes.last().unwrap().round;
            assert!(rounds <= 8, "{threshold}: {rounds} rounds");
            for r in 1..=rounds {
                let in_round = o.probes.iter().filter(|p| p.round == r).count();
                assert!((1..=3).contains(&in_round));
            }
        }
    }

    #[test]
    fn the_first_round_scans_up_from_start_and_goes_down_when_start_is_unstable() {
        let search = ThresholdSearch::default();
        assert_eq!(search.next(&[]), Next::Probe(vec![0.01, 0.1, 1.0]));
        let next = search.next(&[(0.01, true), (0.1, true), (1.0, true)]);
        assert_eq!(next, Next::Probe(vec![0.001, 0.0001, 0.00001]));
        let next = search.next(&[(0.01, false), (0.1, false), (1.0, false)]);
        assert_eq!(next, Next::Probe(vec![10.0, 100.0, 1000.0]));
        // bracket [1, 10]: three points a quarter of the log-distance apart
        let next = search.next(&[(0.01, false), (0.1, false), (1.0, false), (10.0, true)]);
        assert_eq!(next, Next::Probe(vec![1.78, 3.16, 5.62]));
    }

    #[test]
    fn a_small_start_climbs_from_its_stable_probes() {
        // the audit's start = 0.00001: 1e-5 looks saturated (too slow to move in 3 epochs),
        // 1e-4 and 1e-3 are stable; the search must climb to the real threshold (here 0.5), not
        // step down to 1e-8 and say that nothing trains
        let search = ThresholdSearch {
            start: 0.00001,
            ..ThresholdSearch::default()
        };
        let o = search
            .run(&[1, 2], |_, etas| {
                Ok::<_, ()>(Some(
                    etas.iter()
                        .map(|&e| {
                            let v = if !(0.00005..0.5).contains(&e) {
                                Verdict::Saturated
                            } else {
                                Verdict::Stable
                            };
                            vec![v, v]
                        })
                        .collect(),
                ))
            })
            .unwrap();
        let a = o.answer.expect("the search ends");
        assert_eq!(a.ending, Ending::Bracketed);
        let (s, u) = (a.largest_stable.unwrap(), a.smallest_unstable.unwrap());
        assert!(s < 0.5 && 0.5 <= u, "[{s}, {u}]");
        assert!(
            o.probes.iter().all(|p| p.eta >= 0.00001),
            "never below start"
        );
    }

    #[test]
    fn searches_that_find_no_edge_end() {
        let search = ThresholdSearch::default();
        let o = search_with_threshold(&search, f64::INFINITY);
        assert_eq!(o.answer.unwrap().ending, Ending::NoUnstable);
        let o = search_with_threshold(&search, 0.0);
        let a = o.answer.unwrap();
        assert_eq!(a.ending, Ending::NoStable);
        assert_eq!(a.recommended(), None);
    }

    #[test]
    fn an_unavailable_round_ends_the_replay_without_an_answer() {
        let search = ThresholdSearch::default();
        let o = search
            .run(&[1], |round, etas| {
                Ok::<_, ()>((round == 1).then(|| vec![vec![Verdict::Stable]; etas.len()]))
            })
            .unwrap();
        assert_eq!(o.probes.len(), 3);
        assert_eq!(o.answer, None);
    }
}
