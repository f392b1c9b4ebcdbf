//! The learning-rate range test's decisions (`[search] mode = "range_test"`, Smith 2017; the
//! `lr_find` of fastai and Lightning): per seed, one run whose eta grows exponentially from
//! `min` to `max`, one mini-batch per step, records each mini-batch's training cost (computed
//! by [`crate::train::range_test`]); here are the schedule, the smoothing, the blow-up rule and
//! the suggestions read off the smoothed curve.
//!
//! The suggestions follow fastai's definitions, on at most [`CURVE_POINTS`] points of the
//! smoothed curve spaced evenly in log eta (fastai's own default is 100 steps in all; a test of
//! thousands of steps would otherwise make "steepest" the noise of one step), with the first
//! tenth and the last five points left out as fastai leaves them out:
//! - **steepest**: where the cost falls fastest per unit of log eta;
//! - **valley**: the longest run of falling costs (a longest decreasing subsequence), and the
//!   point half-way along it;
//! - **minimum**: the eta of the lowest cost, divided by 10.

use crate::grid::RunSettings;

/// The exponential moving average's weight on the past (fastai's 0.98).
pub const SMOOTHING: f64 = 0.98;
/// The test stops once the smoothed cost exceeds this many times its lowest value (fastai's 4).
pub const BLOW_UP: f64 = 4.0;
/// The suggestions are read off at most this many points of the smoothed curve.
pub const CURVE_POINTS: usize = 100;

/// Which suggestion the search recommends (and trains with `then_train`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggestion {
    Valley,
    Steepest,
    Minimum,
}

impl Suggestion {
    pub const ALL: [Suggestion; 3] = [
        Suggestion::Valley,
        Suggestion::Steepest,
        Suggestion::Minimum,
    ];

    /// The name in experiment files and CSV columns.
    pub fn name(self) -> &'static str {
        match self {
            Suggestion::Valley => "valley",
            Suggestion::Steepest => "steepest",
            Suggestion::Minimum => "minimum",
        }
    }

    /// The rule in words, for the answer.
    pub fn rule(self) -> &'static str {
        match self {
            Suggestion::Valley => {
                "half-way along the longest stretch of falling cost (fastai's \"valley\")"
            }
            Suggestion::Steepest => {
                "where the cost falls fastest per unit of log eta (\"steepest\")"
            }
            Suggestion::Minimum => "a tenth of the eta at the lowest cost (\"minimum / 10\")",
        }
    }

    pub fn parse(name: &str) -> Option<Suggestion> {
        Suggestion::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// `[search] mode = "range_test"`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeTest {
    /// The first eta.
    pub min: f64,
    /// The last eta (reached when the cost has not blown up first).
    pub max: f64,
    /// Mini-batches in the test; `None`: one epoch's.
    pub steps: Option<usize>,
    /// The suggestion recommended.
    pub suggestion: Suggestion,
    /// Train the recommended eta for the grid's epochs with every seed.
    pub then_train: bool,
}

impl Default for RangeTest {
    fn default() -> Self {
        RangeTest {
            min: 1e-3,
            max: 100.0,
            steps: None,
            suggestion: Suggestion::Valley,
            then_train: false,
        }
    }
}

/// One mini-batch of a range test: its eta, its cost and the smoothed cost up to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeStep {
    pub eta: f64,
    pub cost: f64,
    pub smoothed: f64,
}

/// One seed's range test.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedRange {
    pub seed: u64,
    pub steps: Vec<RangeStep>,
}

/// The three suggestions of one curve (`None` where the curve is too short to have one).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Suggestions {
    pub valley: Option<f64>,
    pub steepest: Option<f64>,
    pub minimum: Option<f64>,
}

impl Suggestions {
    pub fn get(&self, s: Suggestion) -> Option<f64> {
        match s {
            Suggestion::Valley => self.valley,
            Suggestion::Steepest => self.steepest,
            Suggestion::Minimum => self.minimum,
        }
    }
}

/// A suggestion as the answer and the console show it: three significant digits, or "none".
pub fn label(v: Option<f64>) -> String {
    v.map_or("none".to_string(), |v| {
        crate::grid::float_label(super::round3(v))
    })
}

impl RangeTest {
    /// The test's mini-batches for `run`: `steps`, or one epoch's.
    pub fn steps_for(&self, run: &RunSettings) -> usize {
        self.steps
            .unwrap_or_else(|| run.train_size.div_ceil(run.batch_size))
            .max(2)
    }

    /// The eta of step `i` of `steps`: `min` at the first, `max` at the last, exponential between.
    pub fn eta_at(&self, i: usize, steps: usize) -> f64 {
        let t = i as f64 / (steps.max(2) - 1) as f64;
        self.min * (self.max / self.min).powf(t)
    }

    /// The recommended eta from each seed's suggestions: the median of the chosen one over the
    /// seeds (the lower middle value for an even count, the cautious side), to three significant
    /// digits; `None` when a seed has none.
    pub fn recommended(&self, per_seed: &[Suggestions]) -> Option<f64> {
        let mut picks: Vec<f64> = per_seed
            .iter()
            .map(|s| s.get(self.suggestion))
            .collect::<Option<_>>()?;
        if picks.is_empty() {
            return None;
        }
        picks.sort_by(f64::total_cmp);
        Some(super::round3(picks[(picks.len() - 1) / 2]))
    }

    /// The runs that train the recommended eta.
    pub fn final_runs(&self, base: &RunSettings, eta: f64, seeds: &[u64]) -> Vec<RunSettings> {
        super::runs_at(base, eta, seeds)
    }
}

/// The exponential moving average of `cost` after `previous` (the average of the `step`
/// costs before, undebiased: start it at 0), and its debiased value (fastai's smoothing):
/// returns `(average, smoothed)`.
pub fn smooth(previous: f64, cost: f64, step: usize) -> (f64, f64) {
    let average = SMOOTHING * previous + (1.0 - SMOOTHING) * cost;
    let smoothed = average / (1.0 - SMOOTHING.powi(step as i32 + 1));
    (average, smoothed)
}

/// Whether the smoothed cost has blown up: not a number, or above [`BLOW_UP`] times the lowest
/// so far.
pub fn blown_up(smoothed: f64, lowest: f64) -> bool {
    !smoothed.is_finite() || smoothed > BLOW_UP * lowest
}

/// The suggestions of one seed's curve.
pub fn suggestions(steps: &[RangeStep]) -> Suggestions {
    // at most CURVE_POINTS points, evenly spaced (the steps are evenly spaced in log eta)
    let stride = steps.len().div_ceil(CURVE_POINTS).max(1);
    let points: Vec<(f64, f64)> = steps
        .iter()
        .step_by(stride)
        .filter(|s| s.smoothed.is_finite())
        .map(|s| (s.eta, s.smoothed))
        .collect();
    let skip_start = points.len() / 10;
    let end = points.len().saturating_sub(5);
    if end < skip_start + 3 {
        return Suggestions::default();
    }
    let curve = &points[skip_start..end];
    Suggestions {
        valley: valley(curve),
        steepest: steepest(curve),
        minimum: curve
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|p| p.0 / 10.0),
    }
}

/// The point after the steepest fall per unit of log eta.
fn steepest(curve: &[(f64, f64)]) -> Option<f64> {
    let slope = |w: &[(f64, f64)]| (w[1].1 - w[0].1) / (w[1].0.ln() - w[0].0.ln());
    let at = curve
        .windows(2)
        .enumerate()
        .min_by(|a, b| slope(a.1).total_cmp(&slope(b.1)))?
        .0;
    Some(curve[at + 1].0)
}

/// Half-way along the valley: the stretch that ends where the longest decreasing subsequence
/// of the costs ends and is as long as it (fastai's reading: the costs of a valley fall, with
/// bumps of noise left out).
fn valley(curve: &[(f64, f64)]) -> Option<f64> {
    // run[i]: the length of the longest decreasing subsequence ending at i
    let n = curve.len();
    let mut run = vec![1usize; n];
    for i in 1..n {
        for j in 0..i {
            if curve[i].1 < curve[j].1 && run[j] + 1 > run[i] {
                run[i] = run[j] + 1;
            }
        }
    }
    let end = (0..n).max_by_key(|&i| (run[i], std::cmp::Reverse(i)))?;
    let start = end + 1 - run[end];
    Some(curve[start + (end - start) / 2].0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A curve of `n` steps from eta 1e-3 to 100 whose cost is `f(log10 eta)`.
    fn curve(n: usize, f: impl Fn(f64) -> f64) -> Vec<RangeStep> {
        let t = RangeTest::default();
        (0..n)
            .map(|i| {
                let eta = t.eta_at(i, n);
                let cost = f(eta.log10());
                RangeStep {
                    eta,
                    cost,
                    smoothed: cost,
                }
            })
            .collect()
    }

    #[test]
    fn the_schedule_runs_from_min_to_max_exponentially() {
        let t = RangeTest::default();
        assert_eq!(t.eta_at(0, 101), 1e-3);
        assert!((t.eta_at(100, 101) - 100.0).abs() < 1e-9);
        assert!(
            (t.eta_at(60, 101) - 1.0).abs() < 1e-9,
            "{}",
            t.eta_at(60, 101)
        );
    }

    #[test]
    fn the_suggestions_of_a_known_curve() {
        // flat, a fall from eta 0.01 to 1 steepest at 0.1, flat to 10, then a blow-up
        let c = curve(500, |x| {
            if x < -2.0 {
                1.0
            } else if x < 0.0 {
                0.55 + 0.45 * (std::f64::consts::PI * (x + 2.0) / 2.0).cos()
            } else if x < 1.0 {
                0.1 - 0.01 * x
            } else {
                0.09 + (x - 1.0) * 3.0
            }
        });
        let s = suggestions(&c);
        let near = |v: Option<f64>, want: f64, factor: f64| {
            let v = v.expect("a suggestion");
            assert!(v / want < factor && want / v < factor, "{v} vs {want}");
        };
        near(s.steepest, 0.1, 1.2);
        // the falling stretch runs from 0.01 to 10: half-way in log steps is 0.3
        near(s.valley, 10f64.powf(-0.5), 1.3);
        near(s.minimum, 1.0, 1.2);
    }

    #[test]
    fn the_smoothing_is_debiased() {
        let (a, s) = smooth(0.0, 2.0, 0);
        assert!((s - 2.0).abs() < 1e-12);
        let (_, s) = smooth(a, 2.0, 1);
        assert!((s - 2.0).abs() < 1e-12);
        assert!(blown_up(4.1, 1.0) && !blown_up(3.9, 1.0) && blown_up(f64::NAN, 1.0));
    }

    #[test]
    fn the_recommendation_is_the_cautious_median() {
        let t = RangeTest::default();
        let s = |v: f64| Suggestions {
            valley: Some(v),
            steepest: None,
            minimum: Some(v / 2.0),
        };
        assert_eq!(t.recommended(&[s(3.0), s(1.0), s(2.0)]), Some(2.0));
        assert_eq!(t.recommended(&[s(3.0), s(1.0)]), Some(1.0));
        let steep = RangeTest {
            suggestion: Suggestion::Steepest,
            ..t
        };
        assert_eq!(steep.recommended(&[s(3.0)]), None);
        assert_eq!(t.recommended(&[]), None);
    }

    proptest! {
        /// Every suggestion lies within the tested range (the minimum's a tenth below it), for
        /// any curve.
        #[test]
        fn suggestions_lie_in_the_range(costs in proptest::collection::vec(0.0f64..10.0, 20..400)) {
            let n = costs.len();
            let c = curve(n, |_| 0.0);
            let c: Vec<RangeStep> = c.iter().zip(&costs).map(|(s, &cost)| RangeStep { cost, smoothed: cost, ..*s }).collect();
            let s = suggestions(&c);
            for v in [s.valley, s.steepest].into_iter().flatten() {
                prop_assert!((1e-3..=100.0 + 1e-9).contains(&v), "{}", v);
            }
            if let Some(m) = s.minimum {
                prop_assert!((1e-4..=10.0 + 1e-9).contains(&m), "{}", m);
            }
        }
    }
}
