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
    1.0 - 2.0 / (exp(2.0 * z) + 1.0)
}

/// e^x in f32, without branches or calls, so that a loop of them compiles to SIMD code (libm's
/// `expf` is a scalar call per element). Range reduction x = n ln 2 + r, |r| <= ln 2 / 2 (ln 2
/// split in two parts so that r is exact), a degree-6 polynomial for e^r (Cephes' `expf`
/// coefficients), times 2^n built from the exponent bits. Only multiplications and additions in a
/// fixed order, never fused: the same bits on every instruction set. Within 2 ulp of the correctly
/// rounded result over [-87, 88] (tested); arguments are clamped to [-87.3, 88.3], where e^x is
/// normal: larger gives 2.2e38 (not infinity), smaller 1.2e-38 (not 0); NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // adding 1.5 * 2^23 rounds to the nearest integer (ties to even) in the low mantissa bits
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes: 5.0000001e-1, which is 0.5 in f32
    let er = (p * r) * r + r + 1.0;
    // n is in the low bits of t's mantissa: 2^n from the exponent field
    let bits = (t.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23;
    er * f32::from_bits(bits as u32)
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
    1.0 / (1.0 + exp(-z))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite f32 of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_correctly_rounded_value() {
        let mut worst = 0;
        let mut x = -87.0f32;
        while x < 88.0 {
            let exact = (x as f64).exp() as f32;
            let got = exp(x);
            worst = worst.max(ulps(got, exact));
            x += 0.000_37;
        }
        assert!(worst <= 2, "{worst} ulp");
        for x in [0.0f32, 1.0, -1.0, 0.5, 1e-7, -1e-7] {
            assert!(ulps(exp(x), (x as f64).exp() as f32) <= 1, "{x}");
        }
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn exp_saturates_finite_and_keeps_nan() {
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 2e38);
        assert!(exp(f32::INFINITY) > 2e38);
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1.3e-38);
        assert!(exp(f32::NAN).is_nan());
        // the sigmoid at the ends, as with libm's expf
        assert_eq!(sigmoid(100.0), 1.0);
        assert!(sigmoid(-100.0) < 1e-38);
        assert_eq!(sigmoid(0.0), 0.5);
        let mut z = -30.0f32;
        while z < 30.0 {
            let libm = 1.0 / (1.0 + (-z).exp());
            assert!(
                (sigmoid(z) - libm).abs() <= 4.0 * f32::EPSILON * libm.max(1e-30),
                "{z}"
            );
            z += 0.01;
        }
    }
}
