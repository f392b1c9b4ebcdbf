//! Synchronous successive halving: every configuration starts; at each rung (epoch
//! `min_epochs * reduction^k`) the configurations still training are ranked by the mean of a
//! metric over their seeds and only the best `ceil(n / reduction)` go on; the others stop with
//! status `pruned` (their rows stay). The decisions depend only on each run's metrics at the
//! rung's epoch, so a resume, or a report reading `metrics.csv`, makes them again exactly.

use std::collections::BTreeMap;

use crate::train::metrics::Metric;

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
}
