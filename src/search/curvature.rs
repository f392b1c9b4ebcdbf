//! The curvature search's decisions (`[search] mode = "curvature"`): for each seed, the largest
//! eigenvalue λ of the Hessian of the training cost at the run's initial weights (computed by
//! [`crate::train::initial_curvature`]); gradient descent's threshold 2/λ; and the book's half
//! of it, 1/λ, taken at the sharpest seed (the cautious choice) and rounded to three
//! significant digits, which the search then trains for the grid's epochs with every seed.

use crate::grid::RunSettings;

/// `[search] mode = "curvature"`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvatureSearch {
    /// Training examples the cost is taken over (the first of the training set).
    pub sample: usize,
    /// Power iterations at most.
    pub iterations: usize,
    /// Relative change of the estimate that ends the iteration.
    pub tolerance: f64,
}

impl Default for CurvatureSearch {
    fn default() -> Self {
        CurvatureSearch {
            sample: 1000,
            iterations: 200,
            tolerance: 1e-4,
        }
    }
}

impl CurvatureSearch {
    /// The eta recommended from each seed's λ: half the smallest threshold, 1 / max λ, rounded
    /// to three significant digits; `None` without a positive, finite λ.
    pub fn recommended(&self, lambdas: &[f64]) -> Option<f64> {
        if lambdas.is_empty() || lambdas.iter().any(|l| !l.is_finite() || *l <= 0.0) {
            return None;
        }
        let sharpest = lambdas.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        Some(super::round3(1.0 / sharpest))
    }

    /// The runs that train the recommended eta: the grid's one network with every seed.
    pub fn final_runs(&self, base: &RunSettings, eta: f64, seeds: &[u64]) -> Vec<RunSettings> {
        super::runs_at(base, eta, seeds)
    }
}

/// One seed's power iteration: the estimate after each iteration (the last is λ).
#[derive(Debug, Clone, PartialEq)]
pub struct SeedCurvature {
    pub seed: u64,
    pub estimates: Vec<f64>,
    pub converged: bool,
}

impl SeedCurvature {
    /// λ, the last estimate.
    pub fn lambda(&self) -> f64 {
        self.estimates.last().copied().unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_threshold_of_the_sharpest_seed() {
        let c = CurvatureSearch::default();
        // thresholds 2/0.2 = 10 and 2/0.25 = 8: half the smaller, 4
        assert_eq!(c.recommended(&[0.2, 0.25]), Some(4.0));
        assert_eq!(c.recommended(&[3.0]), Some(0.333));
        assert_eq!(c.recommended(&[]), None);
        assert_eq!(c.recommended(&[0.2, f64::NAN]), None);
        assert_eq!(c.recommended(&[-1.0]), None);
    }
}
