//! Synchronous successive halving: every configuration starts; at each rung (epoch
//! `min_epochs * reduction^k`) the configurations still training are ranked by the mean of a
//! metric over their seeds and only the best `ceil(n / reduction)` go on; the others stop with
//! status `pruned` (their rows stay). The decisions depend only on each run's metrics at the
//! rung's epoch, so a resume, or a report reading `metrics.csv`, makes them again exactly.

use std::collections::BTreeMap;

use crate::metrics::Metric;

/// `[search] mode = "halving"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Halving {
    /// Keep the best 1/reduction at each rung.
    pub reduction: usize,
    /// The first rung's epoch.
    pub min_epochs: usize,
    /// What the configurations are ranked by.
    pub metric: Metric,
}

impl Default for Halving {
    fn default() -> Self {
        Halving {
            reduction: 3,
            min_epochs: 1,
            metric: Metric::ValidationAccuracy,
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
        ranked
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
                let value = match (t.values.get(epoch - 1), t.ended) {
                    (Some(v), _) => *v,
                    (None, Some(Ended::Diverged)) => f64::NAN,
                    (None, Some(Ended::Finished)) => t.values.last().copied().unwrap_or(f64::NAN),
                    (None, None) => return None, // still short of the rung
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
        let h = Halving::default();
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
