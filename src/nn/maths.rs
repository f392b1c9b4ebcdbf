//! The maths both networks share: activations, the output layer's costs, and the tally of an
//! evaluation. The fast engine ([`super::engine`]) and the dense reference network
//! ([`super::reference`]) compute the same functions from here.

use std::fmt;

/// Cost function of the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cost {
    /// C = 1/2 ||a - y||^2 (chapter 1).
    Quadratic,
    /// C = -sum y ln a + (1 - y) ln(1 - a); output delta = a - y (chapter 3).
    CrossEntropy,
    /// A softmax output layer with C = -ln a_y; output delta = a - y (chapter 3). Chosen by
    /// `output = "softmax"` or `cost = "log-likelihood"`.
    LogLikelihood,
}

impl Cost {
    pub const ALL: [Cost; 3] = [Cost::Quadratic, Cost::CrossEntropy, Cost::LogLikelihood];

    pub fn name(self) -> &'static str {
        match self {
            Cost::Quadratic => "quadratic",
            Cost::CrossEntropy => "cross-entropy",
            Cost::LogLikelihood => "log-likelihood",
        }
    }

    /// True for the softmax output layer (log-likelihood cost); false for sigmoid outputs.
    pub fn softmax(self) -> bool {
        self == Cost::LogLikelihood
    }
}

/// The activation function of the hidden layers (the output layer is sigmoid or softmax, by the
/// cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Activation {
    /// 1 / (1 + e^-z) (chapters 1 and 3).
    #[default]
    Sigmoid,
    /// tanh z (chapter 3, "other models of artificial neuron").
    Tanh,
    /// max(0, z), the rectified linear unit (chapter 3).
    Relu,
}

impl Activation {
    pub const ALL: [Activation; 3] = [Activation::Sigmoid, Activation::Tanh, Activation::Relu];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        }
    }

    /// The activation of a weighted input `z`.
    #[inline(always)]
    pub fn apply(self, z: f32) -> f32 {
        match self {
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => tanh(z),
            Activation::Relu => z.max(0.0),
        }
    }

    /// The slope at the weighted input that gave activation `a`, from `a` alone:
    /// a (1 - a), 1 - a^2, or 1 where a > 0 (0 otherwise).
    #[inline(always)]
    pub fn slope(self, a: f32) -> f32 {
        match self {
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
            Activation::Relu => (a > 0.0) as u8 as f32,
        }
    }
}

/// tanh z = 1 - 2 / (e^2z + 1): one `exp`, as the sigmoid, which is about three times as fast as
/// libm's `tanhf` and within 2e-7 of it; exactly ±1 where e^2z overflows or underflows.
#[inline(always)]
pub fn tanh(z: f32) -> f32 {
    1.0 - 2.0 / ((2.0 * z).exp() + 1.0)
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The logistic function 1 / (1 + e^-z).
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// ln(1 + e^x), without overflow.
#[inline]
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The softmax of `z` in place: e^z_j / sum_k e^z_k (shifted by the largest z, so it never
/// overflows).
#[inline]
pub fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for x in z.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in z.iter_mut() {
        *x /= sum;
    }
}

/// Per-example cost of output pre-activations `z` against the digit `label`:
/// quadratic 1/2 ||sigmoid(z) - y||^2, or cross-entropy
/// -sum y ln a + (1 - y) ln(1 - a) computed from `z` so that it stays finite when `a` saturates,
/// or the log-likelihood -ln softmax(z)_label = ln sum_k e^z_k - z_label.
pub fn example_cost(cost: Cost, z: &[f32], label: usize) -> f64 {
    if cost == Cost::LogLikelihood {
        let max = z
            .iter()
            .map(|&x| x as f64)
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = z.iter().map(|&x| (x as f64 - max).exp()).sum();
        return max + sum.ln() - z[label] as f64;
    }
    let mut total = 0.0f64;
    for (j, &zj) in z.iter().enumerate() {
        let y = (j == label) as u8 as f64;
        total += match cost {
            Cost::Quadratic => {
                let d = sigmoid(zj) as f64 - y;
                0.5 * d * d
            }
            Cost::CrossEntropy => {
                if y == 1.0 {
                    softplus(-(zj as f64))
                } else {
                    softplus(zj as f64)
                }
            }
            Cost::LogLikelihood => unreachable!("handled above"),
        };
    }
    total
}

/// Index of the largest value; the first on ties (as numpy's argmax).
#[inline]
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Sum of per-example costs and number of correct predictions over a set of examples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub cost_sum: f64,
    pub correct: usize,
}

/// Examples per evaluation block: the unit of parallel work, fixed so that sums are always
/// taken in the same order.
pub const EVAL_BLOCK: usize = 500;
