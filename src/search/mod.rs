//! Searches: the decisions, apart from the I/O. Random search draws the grid's points
//! ([`random`]); the book's procedure for the threshold of eta ([`threshold`]) and successive
//! halving of a large grid ([`halving`]) choose what to train from what has been trained, and
//! their verdicts come from [`crate::stability`]. The sweep (`sweep/searches.rs`) feeds them
//! the metrics as runs finish; the report (`report/searches.rs`) replays them from the results.
//!
//! Both are pure functions of the experiment and of the metrics already recorded: the sweep
//! drives them while training, and the report replays them from `metrics.csv`, so a resumed,
//! merged or re-read results folder always gives the same decisions.

pub mod curvature;
pub mod halving;
pub mod random;
pub mod range_test;
pub mod threshold;

use crate::grid::RunSettings;

pub use curvature::CurvatureSearch;
pub use halving::Halving;
pub use range_test::RangeTest;
pub use threshold::ThresholdSearch;

/// How an experiment chooses its runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Search {
    /// Every run of the grid (also after a random search has drawn the grid's points).
    #[default]
    Grid,
    /// The book's procedure for eta: probes of a few epochs until the threshold is bracketed.
    Threshold(ThresholdSearch),
    /// Every configuration starts; at each rung the worst are stopped.
    Halving(Halving),
    /// The Hessian's largest eigenvalue at the initial weights, then half its threshold trained.
    Curvature(CurvatureSearch),
    /// The learning-rate range test: one run per seed with eta growing every mini-batch.
    RangeTest(RangeTest),
}

impl Search {
    /// Whether the search chooses its runs (rather than training its grid's, or some of them):
    /// its folder's runs are the ones it chose, in the order it chose them.
    pub fn chooses_its_runs(&self) -> bool {
        matches!(
            self,
            Search::Threshold(_) | Search::Curvature(_) | Search::RangeTest(_)
        )
    }
}

/// The runs that train an eta a search chose: `base`'s one network with every seed.
pub fn runs_at(base: &RunSettings, eta: f64, seeds: &[u64]) -> Vec<RunSettings> {
    seeds
        .iter()
        .map(|&seed| RunSettings {
            eta,
            seed,
            ..base.clone()
        })
        .collect()
}

/// `x` rounded to three significant digits, so that the etas a search tries read well and name
/// the same run every time.
pub fn round3(x: f64) -> f64 {
    format!("{x:.2e}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(round3(3.16227766), 3.16);
        assert_eq!(round3(0.0017782794), 0.00178);
        assert_eq!(round3(100.0), 100.0);
    }
}
