//! The one owner of the question "did training go well at this eta?": each seed's [`Verdict`]
//! from its training cost and accuracy, and the rule that makes a value unstable across seeds.
//! The grid summary, the threshold search and halving's report all decide through this module.
//!
//! Two views of a seed's curve are judged here, with the figures behind their thresholds:
//! - a *whole run* ([`Curve`]): the grid summary's view of a run trained for its epochs. It
//!   diverged (a cost became NaN or infinite), oscillated (the training cost rose by more than
//!   [`CURVE_RISE`] between epochs at least twice in the first ten), never left chance
//!   (best accuracy below [`CHANCE_BEST`]) with a falling cost (too slow: it fell by more than
//!   [`FLAT`], as a probe's must) or a flat one (saturated), or trained steadily;
//! - a *probe* ([`probe`]): the threshold search's view of the first `watch` epochs, compared
//!   with the untrained network's cost. A rise of more than [`RISE_TOLERANCE`] from one epoch to
//!   the next is "oscillating or increasing" (the regularised cost of a stable eta wiggles by up
//!   to about 1%, lambda 5.0 on 1,000 images, eta 0.25; an eta past the threshold makes it jump
//!   by 3-60%); a cost that ends above where epoch 1 left it, or one that falls by less than
//!   [`FLAT`] with the network at chance (saturated neurons), is unstable too.
//!
//! It imports nothing of the crate: a verdict is a pure function of per-epoch numbers.

/// Relative rise of the training cost between epochs that counts as a rise in a whole run.
pub const CURVE_RISE: f64 = 0.005;

/// A whole run whose best accuracy stays below this never left chance level.
pub const CHANCE_BEST: f64 = 0.2;

/// A rise of the training cost from one epoch to the next larger than this share is
/// "oscillating or increasing" in a probe.
pub const RISE_TOLERANCE: f64 = 0.02;

/// A cost that falls by less than this share over the watched epochs, with the network at
/// chance, is a saturated network, not a slow one.
pub const FLAT: f64 = 0.001;

/// What one seed's training shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The training cost fell: training went steadily.
    Stable,
    /// Still near chance, with a training cost that falls: eta too small, not too big.
    TooSlow,
    /// The cost rose by more than [`RISE_TOLERANCE`] from one epoch to the next (a probe).
    Rose { epoch: usize, by: f64 },
    /// The cost rose between epochs at least twice in the first ten (a whole run).
    Oscillating,
    /// Small rises and falls that end above where the first epoch left the cost.
    EndedHigher,
    /// At chance, with a cost that no longer moves: the neurons are saturated.
    Saturated,
    /// A cost or a parameter became NaN or infinite (in this epoch, where known).
    Diverged { epoch: usize },
}

impl Verdict {
    /// Whether this seed counts against its eta: anything but steady or too slow training.
    pub fn unstable(&self) -> bool {
        !matches!(self, Verdict::Stable | Verdict::TooSlow)
    }

    /// `stable` or `unstable`, the column of `threshold.csv`.
    pub fn word(&self) -> &'static str {
        if self.unstable() {
            "unstable"
        } else {
            "stable"
        }
    }

    /// Why, in a few words.
    pub fn reason(&self) -> String {
        match self {
            Verdict::Stable => "cost fell".to_string(),
            Verdict::TooSlow => "at chance, cost falling".to_string(),
            Verdict::Rose { epoch, by } => {
                format!("cost rose {:.1}% in epoch {epoch}", 100.0 * by)
            }
            Verdict::Oscillating => "cost rose between epochs early on".to_string(),
            Verdict::EndedHigher => "cost ended above epoch 1".to_string(),
            Verdict::Saturated => "saturated at chance".to_string(),
            Verdict::Diverged { epoch } => format!("diverged in epoch {epoch}"),
        }
    }

    /// How a whole run ended, in the words of the report's table.
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::Diverged { .. } => "diverged",
            Verdict::TooSlow => "too slow",
            Verdict::Oscillating | Verdict::Rose { .. } | Verdict::EndedHigher => "oscillated",
            Verdict::Saturated => "never learned",
            Verdict::Stable => "learned",
        }
    }
}

/// How many of a value's seeds must be unstable for the value to be unstable. Every answer uses
/// [`Majority::AtLeastHalf`]; the other is kept for the property that orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Majority {
    /// At least half (with two seeds, either one): the threshold search's rule.
    AtLeastHalf,
    /// More than half: the grid summary's rule.
    MoreThanHalf,
}

impl Majority {
    /// Whether `count` of `seeds` make a majority.
    pub fn reached(self, count: usize, seeds: usize) -> bool {
        match self {
            Majority::AtLeastHalf => seeds > 0 && 2 * count >= seeds,
            Majority::MoreThanHalf => 2 * count > seeds,
        }
    }

    /// Whether a value whose seeds gave `verdicts` is unstable.
    pub fn unstable(self, verdicts: &[Verdict]) -> bool {
        self.reached(
            verdicts.iter().filter(|v| v.unstable()).count(),
            verdicts.len(),
        )
    }
}

/// The facts of a whole run's curve that its verdict reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve {
    /// The first epoch after which a monitored cost was NaN or infinite.
    pub diverged: Option<usize>,
    /// The training cost rose between epochs at least twice in the first ten epochs.
    pub oscillates: bool,
    /// Whether the training cost ended more than [`FLAT`] below where it started, the same
    /// share as a probe's (None when the training cost is not monitored or there is only one
    /// epoch).
    pub cost_fell: Option<bool>,
    /// The best accuracy the run reached (the one the summary ranks by).
    pub best_accuracy: f64,
}

impl Curve {
    /// The facts of a run from its training cost after each epoch (`None` where not
    /// monitored), in epoch order, the first epoch whose monitored costs were not all finite,
    /// and its best accuracy.
    pub fn of(train_costs: &[Option<f64>], diverged: Option<usize>, best_accuracy: f64) -> Curve {
        let early: Vec<f64> = train_costs.iter().take(10).flatten().copied().collect();
        let rises = early
            .windows(2)
            .filter(|w| w[1] > w[0] * (1.0 + CURVE_RISE))
            .count();
        let all: Vec<f64> = train_costs.iter().flatten().copied().collect();
        let cost_fell = match (all.first(), all.last()) {
            (Some(&first), Some(&last)) if all.len() > 1 => Some(last < first * (1.0 - FLAT)),
            _ => None,
        };
        Curve {
            diverged,
            oscillates: rises >= 2,
            cost_fell,
            best_accuracy,
        }
    }

    /// Never left chance level.
    pub fn stuck(&self) -> bool {
        self.best_accuracy < CHANCE_BEST
    }

    /// Stuck near chance although the training cost was falling: eta too small, not too big.
    pub fn too_slow(&self) -> bool {
        self.stuck() && self.cost_fell == Some(true) && self.diverged.is_none() && !self.oscillates
    }

    /// Stuck near chance without the training cost falling (and not diverged).
    pub fn saturated(&self) -> bool {
        self.stuck() && !self.too_slow() && self.diverged.is_none()
    }

    /// The run's verdict: diverged, oscillating, too slow, saturated or stable, in that order.
    pub fn verdict(&self) -> Verdict {
        if let Some(epoch) = self.diverged {
            Verdict::Diverged { epoch }
        } else if self.oscillates {
            Verdict::Oscillating
        } else if self.too_slow() {
            Verdict::TooSlow
        } else if self.stuck() {
            Verdict::Saturated
        } else {
            Verdict::Stable
        }
    }
}

/// The verdict on one seed's probe: the training cost of the untrained network (the same for
/// every eta of a seed; `None` where unknown), the training cost after each watched epoch
/// (`None` where it was not finite), the training accuracy after the last, the epochs watched
/// (a probe with fewer diverged: probes never stop early otherwise), and the number of classes.
pub fn probe(
    initial: Option<f64>,
    costs: &[Option<f64>],
    last_accuracy: Option<f64>,
    watch: usize,
    classes: usize,
) -> Verdict {
    if let Some(k) = costs.iter().position(|c| c.is_none_or(|c| !c.is_finite())) {
        return Verdict::Diverged { epoch: k + 1 };
    }
    let costs: Vec<f64> = costs.iter().flatten().copied().collect();
    if costs.len() < watch {
        return Verdict::Diverged {
            epoch: costs.len() + 1,
        };
    }
    // from the untrained network to epoch 1, then epoch to epoch
    let mut before = initial.filter(|c| c.is_finite());
    for (k, &c) in costs.iter().enumerate() {
        if let Some(b) = before {
            let by = c / b - 1.0;
            if by > RISE_TOLERANCE {
                return Verdict::Rose { epoch: k + 1, by };
            }
        }
        before = Some(c);
    }
    let (first, last) = (costs[0], costs[costs.len() - 1]);
    if costs.len() >= 2 && last > first {
        return Verdict::EndedHigher;
    }
    let at_chance = last_accuracy.is_some_and(|a| a <= 1.5 / classes.max(2) as f64);
    if at_chance && (first - last) < FLAT * first {
        return Verdict::Saturated;
    }
    Verdict::Stable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(c: &[f64]) -> Vec<Option<f64>> {
        c.iter().map(|&x| Some(x)).collect()
    }

    #[test]
    fn probes_tell_falling_rising_saturated_and_diverged_costs_apart() {
        // chapter 1, eta 3, seed 1 (the shipped sweep): falls
        let v = probe(None, &costs(&[0.0799, 0.0613, 0.0543]), Some(0.936), 3, 10);
        assert_eq!(v, Verdict::Stable);
        // eta 10, seed 2: rises 10% in epoch 3
        let v = probe(None, &costs(&[0.0800, 0.0660, 0.0726]), Some(0.92), 3, 10);
        assert!(matches!(v, Verdict::Rose { epoch: 3, by } if (by - 0.1002).abs() < 1e-3));
        // lambda 5 on 1,000 images, eta 0.25: a 0.8% wiggle is not a rise
        let v = probe(
            None,
            &costs(&[1.456, 1.3776, 1.3886, 1.30]),
            Some(0.8),
            4,
            10,
        );
        assert_eq!(v, Verdict::Stable);
        // small rises that end higher than they started
        let v = probe(None, &costs(&[1.0, 1.015, 0.998, 1.012]), Some(0.8), 4, 10);
        assert_eq!(v, Verdict::EndedHigher);
        // eta 100: at chance, cost 0.5 falling by 1e-7
        let v = probe(
            None,
            &costs(&[0.49999993, 0.49999987, 0.49999980]),
            Some(0.099),
            3,
            10,
        );
        assert_eq!(v, Verdict::Saturated);
        // too small an eta: at chance too, but the cost falls: stable (slow, not unstable)
        let v = probe(None, &costs(&[0.484, 0.4635, 0.4355]), Some(0.12), 3, 10);
        assert_eq!(v, Verdict::Stable);
        let v = probe(None, &[Some(2.0), None], None, 3, 10);
        assert_eq!(v, Verdict::Diverged { epoch: 2 });
        let v = probe(None, &costs(&[2.0]), None, 3, 10);
        assert_eq!(v, Verdict::Diverged { epoch: 2 });
        let v = probe(None, &costs(&[2.0, f64::INFINITY, 1.0]), None, 3, 10);
        assert_eq!(v, Verdict::Diverged { epoch: 2 });
        // cross-entropy, lambda 5 on 1,000 images, eta 100: the first epoch blows the cost up
        // from the untrained network's 3.3, then it falls
        let v = probe(Some(3.3), &costs(&[63.0, 57.5, 59.2]), Some(0.1), 3, 10);
        assert!(matches!(v, Verdict::Rose { epoch: 1, .. }), "{v:?}");
        let v = probe(Some(3.3), &costs(&[2.8, 2.4, 2.1]), Some(0.6), 3, 10);
        assert_eq!(v, Verdict::Stable);
    }

    #[test]
    fn whole_runs_are_stable_too_slow_oscillating_saturated_or_diverged() {
        // falls steadily, learns
        let c = Curve::of(&costs(&[0.09, 0.06, 0.05, 0.045]), None, 0.95);
        assert_eq!(c.verdict(), Verdict::Stable);
        assert_eq!(c.verdict().outcome(), "learned");
        // at chance with a cost falling by more than 0.1%: too slow, not unstable
        let c = Curve::of(&costs(&[0.49, 0.47, 0.45]), None, 0.12);
        assert_eq!(c.verdict(), Verdict::TooSlow);
        assert!(!c.verdict().unstable());
        // the audit's eta = 0.0001 (5 epochs, 1,000 images): 1.5295 -> 1.5202 is too slow
        let c = Curve::of(&costs(&[1.5295, 1.527, 1.5248, 1.5225, 1.5202]), None, 0.1);
        assert_eq!(c.verdict(), Verdict::TooSlow);
        // at chance with a cost that falls by less than 0.1%: saturated
        let c = Curve::of(&costs(&[0.45, 0.4499, 0.4498]), None, 0.1);
        assert_eq!(c.verdict(), Verdict::Saturated);
        assert!(c.saturated() && c.verdict().unstable());
        // two rises of more than 0.5% in the first ten epochs: oscillating
        let c = Curve::of(&costs(&[1.0, 1.01, 0.9, 0.91, 0.8]), None, 0.9);
        assert_eq!(c.verdict(), Verdict::Oscillating);
        // one rise is not enough, and rises after epoch 10 are not counted
        let c = Curve::of(&costs(&[1.0, 1.01, 0.9, 0.8]), None, 0.9);
        assert_eq!(c.verdict(), Verdict::Stable);
        let mut late = vec![1.0; 10];
        late.extend([1.1, 1.0, 1.1]);
        for (k, c) in late.iter_mut().enumerate().take(10) {
            *c -= 0.01 * k as f64;
        }
        assert_eq!(
            Curve::of(&costs(&late), None, 0.9).verdict(),
            Verdict::Stable
        );
        // a NaN cost: diverged, whatever else
        let c = Curve::of(&costs(&[1.0, 0.9]), Some(2), 0.1);
        assert_eq!(c.verdict(), Verdict::Diverged { epoch: 2 });
        assert!(!c.saturated());
        // without the training cost, a run at chance cannot be told slow: saturated
        let c = Curve::of(&[None, None], None, 0.1);
        assert_eq!(c.cost_fell, None);
        assert_eq!(c.verdict(), Verdict::Saturated);
    }

    #[test]
    fn the_majorities_count_unstable_seeds() {
        let (s, u, slow) = (Verdict::Stable, Verdict::Saturated, Verdict::TooSlow);
        let at_least = Majority::AtLeastHalf;
        assert!(!at_least.unstable(&[s, s, u]));
        assert!(at_least.unstable(&[s, u, u]));
        assert!(at_least.unstable(&[s, u]));
        assert!(!at_least.unstable(&[s]));
        assert!(!at_least.unstable(&[]));
        assert!(!at_least.unstable(&[slow, slow]));
        let more_than = Majority::MoreThanHalf;
        assert!(!more_than.unstable(&[s, u]));
        assert!(more_than.unstable(&[s, u, u]));
        assert!(!more_than.unstable(&[]));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn verdict() -> impl Strategy<Value = Verdict> {
            prop_oneof![
                Just(Verdict::Stable),
                Just(Verdict::TooSlow),
                Just(Verdict::Saturated),
                Just(Verdict::Oscillating),
                Just(Verdict::EndedHigher),
                (1usize..10).prop_map(|epoch| Verdict::Diverged { epoch }),
            ]
        }

        proptest! {
            /// A cost that falls by 3-50% at every watched epoch, from an untrained cost above
            /// it, of a network above chance, is stable; a NaN at any epoch makes it diverged
            /// there.
            #[test]
            fn falling_probes_are_stable_and_a_nan_diverges_them(
                start in 0.01f64..100.0,
                falls in proptest::collection::vec(0.03f64..0.5, 2..8),
                accuracy in 0.2f64..1.0,
                nan_at in 0usize..8,
            ) {
                let mut costs = vec![start];
                for f in &falls {
                    costs.push(costs.last().unwrap() * (1.0 - f));
                }
                let watch = costs.len();
                let mut c: Vec<Option<f64>> = costs.iter().map(|&x| Some(x)).collect();
                prop_assert_eq!(probe(Some(start * 1.01), &c, Some(accuracy), watch, 10), Verdict::Stable);
                let k = nan_at % watch;
                c[k] = Some(f64::NAN);
                prop_assert_eq!(
                    probe(Some(start), &c, Some(accuracy), watch, 10),
                    Verdict::Diverged { epoch: k + 1 }
                );
            }

            /// A value unstable by more than half its seeds is unstable by at least half; a
            /// stable or too slow seed added never makes a stable value unstable.
            #[test]
            fn the_majorities_are_ordered_and_monotone(
                v in proptest::collection::vec(verdict(), 0..9),
            ) {
                if Majority::MoreThanHalf.unstable(&v) {
                    prop_assert!(Majority::AtLeastHalf.unstable(&v));
                }
                for rule in [Majority::AtLeastHalf, Majority::MoreThanHalf] {
                    let mut more = v.clone();
                    more.push(Verdict::Stable);
                    if !rule.unstable(&v) {
                        prop_assert!(!rule.unstable(&more));
                    }
                }
            }
        }
    }
}
