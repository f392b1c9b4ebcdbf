//! A network's parameters, drawn from its run's seeded generator: the starting point of both
//! the fast engine and the reference network.

use std::fmt;

use ndarray::{Array1, Array2};
use rand::Rng;
use rand_distr::StandardNormal;

/// Initialisation of weights and biases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Init {
    /// Weights and biases N(0, 1) (chapter 1).
    Large,
    /// Weights N(0, 1/n_in), biases N(0, 1) (chapter 3).
    Scaled,
}

impl Init {
    pub const ALL: [Init; 2] = [Init::Large, Init::Scaled];

    pub fn name(self) -> &'static str {
        match self {
            Init::Large => "large",
            Init::Scaled => "scaled",
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Weights and biases.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub sizes: Vec<usize>,
    /// `weights[l]` is `[sizes[l + 1], sizes[l]]`.
    pub weights: Vec<Array2<f32>>,
    /// `biases[l]` is `[sizes[l + 1]]`.
    pub biases: Vec<Array1<f32>>,
}

impl Network {
    /// A network with random parameters drawn from `rng`: biases N(0, 1); weights N(0, 1) for
    /// [`Init::Large`] or N(0, 1/n_in) for [`Init::Scaled`].
    pub fn new(sizes: &[usize], init: Init, rng: &mut impl Rng) -> Network {
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in sizes.windows(2) {
            let (n_in, n_out) = (w[0], w[1]);
            let scale = match init {
                Init::Large => 1.0,
                Init::Scaled => 1.0 / (n_in as f32).sqrt(),
            };
            let bias: Array1<f32> = (0..n_out).map(|_| rng.sample(StandardNormal)).collect();
            let weight = Array2::from_shape_simple_fn((n_out, n_in), || {
                rng.sample::<f32, _>(StandardNormal) * scale
            });
            biases.push(bias);
            weights.push(weight);
        }
        Network {
            sizes: sizes.to_vec(),
            weights,
            biases,
        }
    }

    /// Number of weight layers.
    pub fn layers(&self) -> usize {
        self.weights.len()
    }

    /// True when no parameter is NaN or infinite.
    pub fn is_finite(&self) -> bool {
        self.weights.iter().all(|w| w.iter().all(|x| x.is_finite()))
            && self.biases.iter().all(|b| b.iter().all(|x| x.is_finite()))
    }

    /// Sum of the squared weights (biases are not regularised), in f64.
    pub fn sum_squared_weights(&self) -> f64 {
        self.weights
            .iter()
            .flat_map(|w| w.iter())
            .map(|&x| (x as f64) * (x as f64))
            .sum()
    }
}
