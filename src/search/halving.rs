//! Synchronous successive halving: every configuration starts; at each rung (epoch
//! `min_epochs * reduction^k`) the configurations still training are ranked by the mean over
//! their seeds of each run's best value of a metric so far (as the summary takes a run's best),
//! and the best `ceil(n / reduction)` go on. Seed-aware (the default,
//! `prune = "confident"`): a configuration below them goes on too unless its seeds leave it
//! clearly below the cut (the mean of the last one kept): the 95% Student t interval of its mean
//! must lie wholly on the wrong side of the cut. The seeds' noise is taken as common to the
//! configurations (its estimate, the median of their spreads, pools their degrees of freedom),
//! and a configuration's own spread counts where it is larger. A configuration whose seeds disagree (one escaped a plateau, one not)
//! is not judged by its mean alone. The others stop with status `pruned` (their rows stay). The decisions depend only on each run's metrics at the
//! rung's epoch, so a resume, or a report reading `metrics.csv`, makes them again exactly.

use std::collections::BTreeMap;

use crate::metrics::Metric;
use crate::stats::{mean_var, t_quantile};

/// How a rung prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pruning {
    /// Only the configurations whose seeds leave them clearly below the cut.
    Confident,
    /// Every configuration below the cut, by its mean alone (the classic rule).
    Mean,
}

impl Pruning {
    pub fn name(self) -> &'static str {
        match self {
            Pruning::Confident => "confident",
            Pruning::Mean => "mean",
        }
    }
}

/// `[search] mode = "halving"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Halving {
    /// Keep the best 1/reduction at each rung.
    pub reduction: usize,
    /// The first rung's epoch.
    pub min_epochs: usize,
    /// What the configurations are ranked by.
    pub metric: Metric,
    /// Which configurations below the cut stop.
    pub prune: Pruning,
}

impl Default for Halving {
    fn default() -> Self {
        Halving {
            reduction: 3,
            min_epochs: 1,
            metric: Metric::ValidationAccuracy,
            prune: Pruning::Confident,
        }
    }
}

/// True for the metrics where higher is better (accuracies); costs are better lower.
pub fn higher_is_better(metric: Metric) -> bool {
    matches!(
        metric,
        Metric::TrainAccuracy | Metric::ValidationAccuracy | Metric::TestAccuracy
    )
}

impl Halving {
    /// The epochs at which configurations are ranked and the worst stopped: `min_epochs *
    /// reduction^k` below `epochs` (at `epochs` every run has finished anyway).
    pub fn rungs(&self, epochs: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut e = self.min_epochs;
        while e < epochs {
            out.push(e);
            e = e.saturating_mul(self.reduction);
        }
        out
    }

    /// A run's best value of the metric over `values` (its epochs so far), as the summary
    /// takes a run's best: the highest accuracy or the lowest cost; NaN once a value is not a
    /// number (the run diverged).
    pub fn best(&self, values: &[f64]) -> f64 {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return f64::NAN;
        }
        let pick = if higher_is_better(self.metric) {
            f64::max
        } else {
            f64::min
        };
        values.iter().copied().reduce(pick).unwrap_or(f64::NAN)
    }

    /// How many of `n` configurations go on.
    pub fn keep(&self, n: usize) -> usize {
        n.div_ceil(self.reduction).max(1)
    }

    /// Ranks the configurations at one rung and says which go on. `values` holds, per
    /// configuration (by its key), its tie-breaker (the smallest id of its runs) and each
    /// seed's value of the metric at the rung (NaN for a run that diverged before it).
    pub fn decide(&self, values: &BTreeMap<String, (String, Vec<f64>)>) -> Vec<Ranked> {
        let mut ranked: Vec<Ranked> = values
            .iter()
            .map(|(key, (tie, v))| Ranked {
                configuration: key.clone(),
                tie: tie.clone(),
                value: if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
                    f64::NAN
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                },
                rank: 0,
                kept: false,
                bound: f64::NAN,
                spared: false,
            })
            .collect();
        let better = higher_is_better(self.metric);
        ranked.sort_by(|a, b| {
            let (x, y) = if better {
                (-a.value, -b.value)
            } else {
                (a.value, b.value)
            };
            (a.value.is_nan(), x)
                .partial_cmp(&(b.value.is_nan(), y))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.tie.cmp(&b.tie))
        });
        let keep = self.keep(ranked.len());
        for (i, r) in ranked.iter_mut().enumerate() {
            r.rank = i + 1;
            r.kept = i < keep;
        }
        if self.prune == Pruning::Confident && keep < ranked.len() {
            self.spare(&mut ranked, keep, values);
        }
        ranked
    }

    /// Keeps the configurations below the cut whose seeds do not leave them clearly below it:
    /// the 95% t interval of their mean reaches the cut. The spread of a configuration is at
    /// least the median spread of those ranked with two seeds or more (two seeds that happen
    /// to agree say little), and t has their pooled degrees of freedom (with two seeds, t(1)
    /// = 12.7 would keep almost everything: measured, 84% of a grid's epochs).
    fn spare(
        &self,
        ranked: &mut [Ranked],
        keep: usize,
        values: &BTreeMap<String, (String, Vec<f64>)>,
    ) {
        let cut = ranked[keep - 1].value;
        if !cut.is_finite() {
            return;
        }
        let seeds = |r: &Ranked| &values[&r.configuration].1;
        let mut spreads: Vec<f64> = ranked
            .iter()
            .filter(|r| r.value.is_finite() && seeds(r).len() >= 2)
            .map(|r| mean_var(seeds(r)).1.sqrt())
            .collect();
        if spreads.is_empty() {
            return;
        }
        spreads.sort_by(f64::total_cmp);
        let floor = spreads[(spreads.len() - 1) / 2];
        // the seeds' noise is common to the configurations: its estimate pools their degrees
        // of freedom
        let df: usize = ranked
            .iter()
            .filter(|r| r.value.is_finite() && seeds(r).len() >= 2)
            .map(|r| seeds(r).len() - 1)
            .sum();
        let t = t_quantile(df);
        let better = higher_is_better(self.metric);
        for r in ranked[keep..].iter_mut() {
            let v = seeds(r);
            if !r.value.is_finite() || v.len() < 2 {
                continue;
            }
            let spread = mean_var(v).1.sqrt().max(floor);
            let half = t * spread / (v.len() as f64).sqrt();
            r.bound = if better {
                r.value + half
            } else {
                r.value - half
            };
            r.spared = if better {
                r.bound >= cut
            } else {
                r.bound <= cut
            };
            r.kept = r.spared;
        }
    }
}

/// One configuration's place at a rung.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub configuration: String,
    pub tie: String,
    /// The mean over seeds (NaN when a seed diverged).
    pub value: f64,
    pub rank: usize,
    pub kept: bool,
    /// The end of the 95% interval of the mean towards the cut (NaN where it was not needed).
    pub bound: f64,
    /// Below the cut but kept: its seeds do not leave it clearly below.
    pub spared: bool,
}

/// One run's metric so far, as successive halving sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// The metric after epoch 1, 2, ... (NaN where it was not finite).
    pub values: Vec<f64>,
    /// How the run ended, once it has.
    pub ended: Option<Ended>,
}

/// How a run ended, for the rungs after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Diverged or failed: ranked as NaN at later rungs.
    Diverged,
    /// Completed, stopped by its own rule, or pruned: its last value stands.
    Finished,
}

/// A run of the grid: its configuration (every setting but the seed), a label for it, and the
/// run's id.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub configuration: String,
    pub label: String,
    pub id: String,
}

/// The decision at one rung.
#[derive(Debug, Clone, PartialEq)]
pub struct Rung {
    /// 1 for the first rung.
    pub rung: usize,
    pub epoch: usize,
    /// The configurations still training, best first (`configuration` is the key).
    pub ranked: Vec<Ranked>,
}

impl Halving {
    /// Makes the rungs' decisions for a grid of `epochs` epochs from its runs' traces, as far
    /// as the traces go (`trace(id)` is `None` for a run not started yet): the same decisions
    /// while training, after a resume, and when a report reads `metrics.csv`.
    pub fn replay<'t>(
        &self,
        epochs: usize,
        members: &[Member],
        trace: impl Fn(&str) -> Option<&'t Trace>,
    ) -> Vec<Rung> {
        self.replay_to(epochs, members, trace).0
    }

    /// The rungs as [`Self::replay`] gives them and, when every rung is decided and every run
    /// left has ended, the standing of the configurations that trained to the end, ranked by
    /// the metric after the last epoch (the search's answer).
    pub fn replay_to<'t>(
        &self,
        epochs: usize,
        members: &[Member],
        trace: impl Fn(&str) -> Option<&'t Trace>,
    ) -> (Vec<Rung>, Option<Vec<Ranked>>) {
        let mut alive: std::collections::BTreeSet<String> =
            members.iter().map(|m| m.configuration.clone()).collect();
        let rank = |epoch: usize, alive: &std::collections::BTreeSet<String>, last: bool| {
            let mut values: BTreeMap<String, (String, Vec<f64>)> = BTreeMap::new();
            for m in members.iter().filter(|m| alive.contains(&m.configuration)) {
                let t = trace(&m.id)?;
                if last && t.ended.is_none() {
                    return None;
                }
                let value = match (t.values.len() >= epoch, t.ended) {
                    (true, _) => self.best(&t.values[..epoch]),
                    (false, Some(Ended::Diverged)) => f64::NAN,
                    (false, Some(Ended::Finished)) => self.best(&t.values),
                    (false, None) => return None, // still short of the rung
                };
                let entry = values
                    .entry(m.configuration.clone())
                    .or_insert_with(|| (m.id.clone(), Vec::new()));
                if m.id < entry.0 {
                    entry.0 = m.id.clone();
                }
                entry.1.push(value);
            }
            Some(self.decide(&values))
        };
        let mut rungs = Vec::new();
        for (k, epoch) in self.rungs(epochs).into_iter().enumerate() {
            let Some(ranked) = rank(epoch, &alive, false) else {
                return (rungs, None);
            };
            alive = ranked
                .iter()
                .filter(|r| r.kept)
                .map(|r| r.configuration.clone())
                .collect();
            rungs.push(Rung {
                rung: k + 1,
                epoch,
                ranked,
            });
        }
        let standing = rank(epochs, &alive, true);
        (rungs, standing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_grow_by_the_reduction_below_the_epochs() {
        let h = Halving::default();
        assert_eq!(h.rungs(30), vec![1, 3, 9, 27]);
        assert_eq!(h.rungs(27), vec![1, 3, 9]);
        assert_eq!(h.rungs(1), Vec::<usize>::new());
        let h = Halving {
            reduction: 2,
            min_epochs: 3,
            ..h
        };
        assert_eq!(h.rungs(20), vec![3, 6, 12]);
        assert_eq!(h.keep(7), 4);
        assert_eq!(h.keep(1), 1);
    }

    #[test]
    fn the_best_third_goes_on_nan_last_ties_by_id() {
        let h = Halving {
            prune: Pruning::Mean,
            ..Halving::default()
        };
        let mut values = BTreeMap::new();
        values.insert("a".to_string(), ("id-c".to_string(), vec![0.9, 0.8]));
        values.insert("b".to_string(), ("id-b".to_string(), vec![0.95, f64::NAN]));
        values.insert("c".to_string(), ("id-a".to_string(), vec![0.8, 0.9]));
        values.insert("d".to_string(), ("id-d".to_string(), vec![0.5, 0.6]));
        let r = h.decide(&values);
        let order: Vec<&str> = r.iter().map(|r| r.configuration.as_str()).collect();
        // a and c tie at 0.85: c's smaller id first; b diverged: last
        assert_eq!(order, ["c", "a", "d", "b"]);
        assert_eq!(r.iter().filter(|r| r.kept).count(), 2);
        assert!(r[0].kept && r[1].kept && !r[2].kept);
        assert!(r[3].value.is_nan());
        // a cost: lower is better
        let h = Halving {
            metric: Metric::ValidationCost,
            ..h
        };
        let r = h.decide(&values);
        assert_eq!(r[0].configuration, "d");
    }

    fn configurations(list: &[(&str, &[f64])]) -> BTreeMap<String, (String, Vec<f64>)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), (format!("id-{k}"), v.to_vec())))
            .collect()
    }

    #[test]
    fn a_configuration_is_pruned_only_when_its_seeds_leave_it_clearly_below_the_cut() {
        // six configurations, keep two: the cut is b's mean, 0.90
        let values = configurations(&[
            ("a", &[0.92, 0.921]),
            ("b", &[0.899, 0.901]),
            ("c", &[0.897, 0.899]), // just below, seeds agree: within the noise's reach
            ("d", &[0.50, 0.52]),   // far below: pruned
            ("e", &[0.94, 0.10]),   // one seed escaped, one did not: not judged by its mean
            ("f", &[0.3, f64::NAN]), // diverged: pruned
        ]);
        let h = Halving::default();
        let r = h.decide(&values);
        let kept: Vec<&str> = r
            .iter()
            .filter(|x| x.kept)
            .map(|x| x.configuration.as_str())
            .collect();
        assert_eq!(kept, ["a", "b", "c", "e"]);
        let spared: Vec<&str> = r
            .iter()
            .filter(|x| x.spared)
            .map(|x| x.configuration.as_str())
            .collect();
        assert_eq!(spared, ["c", "e"]);
        // c's bound: its mean + t x the median spread / sqrt(2), t with the 5 degrees of
        // freedom of the five configurations with two finite seeds
        let c = r.iter().find(|x| x.configuration == "c").unwrap();
        let want = 0.898 + 2.5706 * (0.002f64 / 2f64.sqrt()) / 2f64.sqrt();
        assert!((c.bound - want).abs() < 1e-6, "{} vs {want}", c.bound);
        let d = r.iter().find(|x| x.configuration == "d").unwrap();
        assert!(!d.kept && d.bound < 0.9);
        // the classic rule keeps the best third by the mean alone
        let mean = Halving {
            prune: Pruning::Mean,
            ..h.clone()
        };
        let r = mean.decide(&values);
        let kept: Vec<&str> = r
            .iter()
            .filter(|x| x.kept)
            .map(|x| x.configuration.as_str())
            .collect();
        assert_eq!(kept, ["a", "b"]);
        // with one seed each there is no spread to judge by: the classic rule
        let single = configurations(&[("a", &[0.9]), ("b", &[0.8]), ("c", &[0.79]), ("d", &[0.1])]);
        let r = h.decide(&single);
        assert_eq!(r.iter().filter(|x| x.kept).count(), 2);
        // a cost: lower is better, the interval's lower end must reach the cut
        let cost = Halving {
            metric: Metric::ValidationCost,
            ..h
        };
        let costs = configurations(&[
            ("a", &[0.1, 0.1]),
            ("b", &[0.2, 0.2]),
            ("c", &[0.2, 0.21]),
            ("d", &[5.0, 5.1]),
            ("e", &[0.1, 3.0]),
        ]);
        let r = cost.decide(&costs);
        let kept: Vec<&str> = r
            .iter()
            .filter(|x| x.kept)
            .map(|x| x.configuration.as_str())
            .collect();
        assert_eq!(kept, ["a", "b", "c", "e"]);
    }

    #[test]
    fn a_runs_value_is_its_best_so_far() {
        let h = Halving::default();
        assert_eq!(h.best(&[0.5, 0.9, 0.7]), 0.9);
        assert!(h.best(&[0.5, f64::NAN]).is_nan());
        assert!(h.best(&[]).is_nan());
        let cost = Halving {
            metric: Metric::ValidationCost,
            ..h
        };
        assert_eq!(cost.best(&[0.5, 0.2, 0.3]), 0.2);
    }

    proptest::proptest! {
        /// The seed-aware rule keeps every configuration the classic rule keeps, and ranks them
        /// the same.
        #[test]
        fn seed_aware_pruning_keeps_a_superset(values in proptest::collection::vec(proptest::collection::vec(0.0f64..1.0, 1..4), 1..12)) {
            let map: BTreeMap<String, (String, Vec<f64>)> = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("c{i:02}"), (format!("id{i:02}"), v)))
                .collect();
            let confident = Halving::default().decide(&map);
            let mean = Halving { prune: Pruning::Mean, ..Halving::default() }.decide(&map);
            for (c, m) in confident.iter().zip(&mean) {
                proptest::prop_assert_eq!(&c.configuration, &m.configuration);
                proptest::prop_assert!(c.kept || !m.kept);
            }
        }
    }

    #[test]
    fn a_replay_decides_as_far_as_the_traces_go() {
        let h = Halving::default();
        // nine configurations of one seed each, values growing with the index
        let members: Vec<Member> = (0..9)
            .map(|i| Member {
                configuration: format!("c{i}"),
                label: format!("eta={i}"),
                id: format!("id{i}"),
            })
            .collect();
        let full: std::collections::HashMap<String, Trace> = (0..9)
            .map(|i| {
                let values = (1..=10).map(|e| i as f64 + 0.01 * e as f64).collect();
                (
                    format!("id{i}"),
                    Trace {
                        values,
                        ended: None,
                    },
                )
            })
            .collect();
        let rungs = h.replay(10, &members, |id| full.get(id));
        assert_eq!(rungs.len(), 3, "rungs at epochs 1, 3 and 9");
        let kept = |r: &Rung| -> Vec<String> {
            r.ranked
                .iter()
                .filter(|x| x.kept)
                .map(|x| x.configuration.clone())
                .collect()
        };
        assert_eq!(kept(&rungs[0]), ["c8", "c7", "c6"]);
        assert_eq!(rungs[1].ranked.len(), 3);
        assert_eq!(kept(&rungs[1]), ["c8"]);
        assert_eq!(kept(&rungs[2]), ["c8"]);
        // a pruned configuration's runs need not go past their rung; a diverged run is NaN
        let mut short = full.clone();
        for i in 0..6 {
            let t = short.get_mut(&format!("id{i}")).unwrap();
            t.values.truncate(1);
            t.ended = Some(Ended::Finished);
        }
        let t = short.get_mut("id7").unwrap();
        t.values.truncate(2);
        t.ended = Some(Ended::Diverged);
        let rungs = h.replay(10, &members, |id| short.get(id));
        assert_eq!(kept(&rungs[1]), ["c8"]);
        assert!(rungs[1].ranked[2].value.is_nan());
        // a run still short of a rung ends the replay there
        let mut running = full.clone();
        running.get_mut("id8").unwrap().values.truncate(2);
        assert_eq!(h.replay(10, &members, |id| running.get(id)).len(), 1);
        assert_eq!(h.replay(10, &members, |_| None).len(), 0);
    }
}
