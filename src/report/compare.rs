//! Is the best really better than the runner-up? The one owner of that decision.
//!
//! Every seed of a configuration is a draw: the best value of a sweep can lead by chance. Two
//! configurations are compared on the seeds they share, by the mean of the paired differences of
//! their best accuracy and its 95% Student t interval (a seed's initial weights and mini-batches
//! are shared across configurations that differ only in eta or lambda, so pairing removes most of
//! the seed's effect). Where they share fewer than two seeds, Welch's unpaired t interval over
//! all their seeds is used instead. The best is called *clearly better* only when the interval
//! lies above zero; with a single seed on either side nothing can be said.

use serde::Serialize;

use crate::stats::{mean_var, t_quantile, t_quantile_real};

/// The confidence of the intervals.
pub const CONFIDENCE: f64 = 0.95;

/// How two configurations compare.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Versus {
    /// Mean difference best − runner-up, as a fraction (0.004 is 0.4 points).
    pub difference: f64,
    /// The 95% interval of the difference; `None` with too few seeds to tell.
    pub interval: Option<(f64, f64)>,
    pub confidence: f64,
    /// The interval lies above zero.
    pub clearly_better: bool,
    /// `paired t` (on `seeds` shared seeds), `Welch t` (unpaired, all seeds), or `too few seeds`
    /// (one seed on a side: no interval).
    pub method: &'static str,
    pub seeds: usize,
}

impl Versus {
    /// Compares `best` with `second`, each a list of (seed, value).
    pub fn of(best: &[(u64, f64)], second: &[(u64, f64)]) -> Versus {
        let pairs: Vec<f64> = best
            .iter()
            .filter_map(|(seed, b)| second.iter().find(|(s, _)| s == seed).map(|(_, v)| b - v))
            .filter(|d| d.is_finite())
            .collect();
        let values = |xs: &[(u64, f64)]| -> Vec<f64> {
            xs.iter()
                .map(|&(_, v)| v)
                .filter(|v| v.is_finite())
                .collect()
        };
        let (difference, interval, method, seeds) = if pairs.len() >= 2 {
            let (mean, var) = mean_var(&pairs);
            let n = pairs.len() as f64;
            let half = t_quantile(pairs.len() - 1) * (var / n).sqrt();
            (
                mean,
                Some((mean - half, mean + half)),
                "paired t",
                pairs.len(),
            )
        } else {
            let (a, b) = (values(best), values(second));
            let difference = mean_var(&a).0 - mean_var(&b).0;
            let interval = welch(&a, &b).map(|(df, se)| {
                let half = t_quantile_real(df) * se;
                (difference - half, difference + half)
            });
            let method = if interval.is_some() {
                "Welch t"
            } else {
                "too few seeds"
            };
            (difference, interval, method, a.len().min(b.len()))
        };
        Versus {
            difference,
            interval,
            confidence: CONFIDENCE,
            clearly_better: interval.is_some_and(|(low, _)| low > 0.0),
            method,
            seeds,
        }
    }

    /// The comparison in words, for the summary: "paired over the 3 seeds they share, the
    /// difference is +0.40 points (95% interval -0.72 to +1.51): not clearly better".
    pub fn describe(&self) -> String {
        let points = |x: f64| format!("{:+.2}", 100.0 * x);
        let over = match self.method {
            "paired t" => format!("paired over the {} seeds they share", self.seeds),
            "Welch t" => "unpaired (they share fewer than two seeds)".to_string(),
            _ => "with a single seed".to_string(),
        };
        match self.interval {
            None => format!(
                "{over}, the difference is {} points; too few seeds to tell whether it is \
                 clearly better",
                points(self.difference)
            ),
            Some((low, high)) => format!(
                "{over}, the difference is {} points (95% interval {} to {}): {}",
                points(self.difference),
                points(low),
                points(high),
                if self.clearly_better {
                    "clearly better"
                } else {
                    "not clearly better"
                }
            ),
        }
    }
}

/// Welch's degrees of freedom and the standard error of the difference of means; `None` unless
/// both sides have two values or more.
fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (
        mean_var(a).1 / a.len() as f64,
        mean_var(b).1 / b.len() as f64,
    );
    let se2 = va + vb;
    if se2 == 0.0 {
        return Some((1.0, 0.0));
    }
    let df = se2 * se2 / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    Some((df, se2.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(values: &[f64]) -> Vec<(u64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u64 + 1, v))
            .collect()
    }

    #[test]
    fn a_paired_difference_against_a_hand_computation() {
        // differences 0.02, 0.03, 0.04: mean 0.03, sd 0.01, se 0.01/sqrt(3), t(2) = 4.3027
        let v = Versus::of(&seeds(&[0.92, 0.93, 0.94]), &seeds(&[0.90, 0.90, 0.90]));
        assert_eq!(v.method, "paired t");
        assert!((v.difference - 0.03).abs() < 1e-12);
        let (low, high) = v.interval.unwrap();
        let half = 4.3027 * 0.01 / 3f64.sqrt();
        assert!((low - (0.03 - half)).abs() < 1e-9 && (high - (0.03 + half)).abs() < 1e-9);
        assert!(v.clearly_better);
        // differences 0.01, 0.02, 0.03: the interval reaches below zero
        let v = Versus::of(&seeds(&[0.91, 0.92, 0.93]), &seeds(&[0.90, 0.90, 0.90]));
        assert!(!v.clearly_better && v.interval.unwrap().0 < 0.0, "{v:?}");
        // the same means, but one seed goes the other way: not clearly better
        let v = Versus::of(&seeds(&[0.95, 0.92, 0.89]), &seeds(&[0.90, 0.90, 0.90]));
        assert!(!v.clearly_better, "{v:?}");
        assert!(
            v.describe().contains("not clearly better"),
            "{}",
            v.describe()
        );
    }

    #[test]
    fn pairing_sees_a_steady_lead_the_spread_hides() {
        // the seeds move both configurations together: a constant lead of 0.2 points is clear
        // paired, though each side's spread over seeds (2 points) is ten times larger
        let base = [0.90, 0.92, 0.94, 0.91, 0.93];
        let lead: Vec<f64> = base.iter().map(|b| b + 0.002).collect();
        let v = Versus::of(&seeds(&lead), &seeds(&base));
        assert!(v.clearly_better && v.method == "paired t", "{v:?}");
        // without shared seeds the same values are not clearly different
        let other: Vec<(u64, f64)> = base
            .iter()
            .enumerate()
            .map(|(i, &b)| (100 + i as u64, b))
            .collect();
        let v = Versus::of(&seeds(&lead), &other);
        assert_eq!(v.method, "Welch t");
        assert!(!v.clearly_better, "{v:?}");
    }

    #[test]
    fn one_seed_says_nothing() {
        let v = Versus::of(&seeds(&[0.95]), &seeds(&[0.10]));
        assert_eq!((v.interval, v.method), (None, "too few seeds"));
        assert!(!v.clearly_better);
        assert!(v.describe().contains("too few seeds"));
    }
}
