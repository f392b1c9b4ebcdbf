//! A fully connected feed-forward network of sigmoid neurons, computed a whole mini-batch at a time.
//!
//! Layout: examples are rows. The activations of layer `l` for a batch of `m` examples are an
//! `[m, n_l]` matrix; the weights into layer `l + 1` are `[n_{l+1}, n_l]` as in the book, so the
//! forward product is `A_l · W^T` and the weight gradient `delta^T · A_l`, one matrix product per
//! layer through `general_mat_mul` (matrixmultiply) into buffers owned by a [`Workspace`].

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2};

use super::maths::{argmax, example_cost, sigmoid, softmax, Activation, Cost, Tally, EVAL_BLOCK};
use super::params::Network;
use crate::data::{pixel, Examples, IMAGE_PIXELS};

impl Network {
    /// Forward pass of the first `m` rows of `ws.acts[0]`. Every layer but the last gets the
    /// sigmoid; the last layer's pre-activations `z` are left in `ws.acts[L]`.
    pub fn forward_logits(&self, ws: &mut Workspace, m: usize) {
        self.forward_logits_with(ws, m, Activation::Sigmoid)
    }

    /// [`Self::forward_logits`] with `hidden` as the hidden layers' activation.
    pub fn forward_logits_with(&self, ws: &mut Workspace, m: usize, hidden: Activation) {
        for l in 0..self.layers() {
            let (before, after) = ws.acts.split_at_mut(l + 1);
            let input = before[l].slice(s![..m, ..]);
            let mut out = after[0].slice_mut(s![..m, ..]);
            // [m, n_out] = [m, n_in] · [n_in, n_out]
            general_mat_mul(1.0, &input, &self.weights[l].t(), 0.0, &mut out);
            let bias = self.biases[l].as_slice().unwrap();
            let last = l + 1 == self.layers();
            for mut row in out.rows_mut() {
                let row = row.as_slice_mut().unwrap();
                if last {
                    for (z, &b) in row.iter_mut().zip(bias) {
                        *z += b;
                    }
                } else {
                    for (z, &b) in row.iter_mut().zip(bias) {
                        *z = hidden.apply(*z + b);
                    }
                }
            }
        }
    }

    /// Forward pass with the sigmoid on every layer: `ws.acts[l]` holds the activations.
    pub fn forward(&self, ws: &mut Workspace, m: usize) {
        self.forward_with(ws, m, Activation::Sigmoid, Cost::Quadratic);
    }

    /// Forward pass with `hidden` on the hidden layers and, on the output layer, the softmax for
    /// the log-likelihood cost or the sigmoid for the others.
    pub fn forward_with(&self, ws: &mut Workspace, m: usize, hidden: Activation, cost: Cost) {
        self.forward_logits_with(ws, m, hidden);
        let l = self.layers();
        let mut out = ws.acts[l].slice_mut(s![..m, ..]);
        if cost.softmax() {
            for mut row in out.rows_mut() {
                softmax(row.as_slice_mut().unwrap());
            }
        } else {
            out.mapv_inplace(sigmoid);
        }
    }

    /// Forward and backward pass of the mini-batch loaded in `ws` (its first `m` rows): leaves
    /// in `ws.grad_w` / `ws.grad_b` the gradient of the cost summed over the batch (not averaged).
    pub fn backprop(&self, ws: &mut Workspace, m: usize, cost: Cost) {
        self.backprop_with(ws, m, cost, Activation::Sigmoid)
    }

    /// [`Self::backprop`] with `hidden` as the hidden layers' activation.
    pub fn backprop_with(&self, ws: &mut Workspace, m: usize, cost: Cost, hidden: Activation) {
        self.forward_with(ws, m, hidden, cost);
        let layers = self.layers();
        // Output error: (a - y) * sigma'(z) for the quadratic cost, a - y for cross-entropy and
        // for the softmax with the log-likelihood.
        {
            let a = ws.acts[layers].slice(s![..m, ..]);
            let mut delta = ws.deltas[layers - 1].slice_mut(s![..m, ..]);
            for ((i, j), d) in delta.indexed_iter_mut() {
                let aij = a[[i, j]];
                let y = (ws.labels[i] as usize == j) as u8 as f32;
                *d = match cost {
                    Cost::Quadratic => (aij - y) * aij * (1.0 - aij),
                    Cost::CrossEntropy | Cost::LogLikelihood => aij - y,
                };
            }
        }
        for l in (0..layers).rev() {
            let (lower, upper) = ws.deltas.split_at_mut(l);
            let delta = upper[0].slice(s![..m, ..]);
            let input = ws.acts[l].slice(s![..m, ..]);
            // [n_out, n_in] = [n_out, m] · [m, n_in]
            general_mat_mul(1.0, &delta.t(), &input, 0.0, &mut ws.grad_w[l]);
            sum_rows(&delta, ws.grad_b[l].as_slice_mut().unwrap());
            if l > 0 {
                let mut prev = lower[l - 1].slice_mut(s![..m, ..]);
                // [m, n_in] = [m, n_out] · [n_out, n_in], then * sigma'(z), from a
                general_mat_mul(1.0, &delta, &self.weights[l], 0.0, &mut prev);
                prev.zip_mut_with(&input, |d, &a| *d *= hidden.slope(a));
            }
        }
    }

    /// Gradient-descent step with L2 weight decay:
    /// `w <- decay * w - rate * grad_w`, `b <- b - rate * grad_b`,
    /// with `rate = eta / m` and `decay = 1 - eta * lambda / n`.
    pub fn apply_gradient(
        &mut self,
        grad_w: &[Array2<f32>],
        grad_b: &[Array1<f32>],
        rate: f32,
        decay: f32,
    ) {
        for (w, g) in self.weights.iter_mut().zip(grad_w) {
            if decay == 1.0 {
                w.zip_mut_with(g, |w, &g| *w -= rate * g);
            } else {
                w.zip_mut_with(g, |w, &g| *w = decay * *w - rate * g);
            }
        }
        for (b, g) in self.biases.iter_mut().zip(grad_b) {
            b.zip_mut_with(g, |b, &g| *b -= rate * g);
        }
    }
}

/// Column sums of `m` (sum over the examples of a batch) into `out`.
fn sum_rows(m: &ArrayView2<f32>, out: &mut [f32]) {
    out.fill(0.0);
    for row in m.rows() {
        for (o, &x) in out.iter_mut().zip(row.iter()) {
            *o += x;
        }
    }
}

/// Buffers for the forward and backward pass of up to `capacity` examples, allocated once.
#[derive(Debug, Clone)]
pub struct Workspace {
    capacity: usize,
    /// `acts[0]` is the input `[capacity, 784]`; `acts[l]` the activations of layer `l`.
    pub acts: Vec<Array2<f32>>,
    /// Labels of the loaded examples.
    pub labels: Vec<u8>,
    /// `deltas[l]` is the error of layer `l + 1`, `[capacity, sizes[l + 1]]` (training only).
    deltas: Vec<Array2<f32>>,
    pub grad_w: Vec<Array2<f32>>,
    pub grad_b: Vec<Array1<f32>>,
}

impl Workspace {
    /// Buffers for training (forward, backward and gradients).
    pub fn for_training(sizes: &[usize], capacity: usize) -> Workspace {
        let mut ws = Self::for_inference(sizes, capacity);
        ws.deltas = sizes[1..]
            .iter()
            .map(|&n| Array2::zeros((capacity, n)))
            .collect();
        ws.grad_w = sizes
            .windows(2)
            .map(|w| Array2::zeros((w[1], w[0])))
            .collect();
        ws.grad_b = sizes[1..].iter().map(|&n| Array1::zeros(n)).collect();
        ws
    }

    /// Buffers for the forward pass only.
    pub fn for_inference(sizes: &[usize], capacity: usize) -> Workspace {
        Workspace {
            capacity,
            acts: sizes
                .iter()
                .map(|&n| Array2::zeros((capacity, n)))
                .collect(),
            labels: vec![0; capacity],
            deltas: Vec::new(),
            grad_w: Vec::new(),
            grad_b: Vec::new(),
        }
    }

    /// True when the buffers fit a network of these layer sizes.
    pub fn fits(&self, sizes: &[usize]) -> bool {
        self.acts.len() == sizes.len() && self.acts.iter().zip(sizes).all(|(a, &n)| a.ncols() == n)
    }

    /// Copies the examples `indices` of `examples` into the first rows, pixels scaled to [0, 1].
    pub fn load_indices(&mut self, examples: &Examples, indices: &[u32]) {
        debug_assert!(indices.len() <= self.capacity);
        for (r, &i) in indices.iter().enumerate() {
            self.load_row(r, examples.image(i as usize), examples.labels[i as usize]);
        }
    }

    /// Copies all of `examples` (at most `capacity`) into the first rows.
    pub fn load_range(&mut self, examples: &Examples) {
        debug_assert!(examples.len() <= self.capacity);
        for r in 0..examples.len() {
            self.load_row(r, examples.image(r), examples.labels[r]);
        }
    }

    #[inline]
    fn load_row(&mut self, r: usize, image: &[u8], label: u8) {
        let mut row = self.acts[0].row_mut(r);
        let row = row.as_slice_mut().unwrap();
        debug_assert_eq!(row.len(), IMAGE_PIXELS);
        for (x, &p) in row.iter_mut().zip(image) {
            *x = pixel(p);
        }
        self.labels[r] = label;
    }

    /// The first `m` rows of the output layer.
    pub fn output(&self, m: usize) -> ArrayView2<'_, f32> {
        self.acts.last().unwrap().slice(s![..m, ..])
    }

    /// Mutable view of the first `m` input rows (for tests and custom inputs).
    pub fn input_mut(&mut self, m: usize) -> ArrayViewMut2<'_, f32> {
        self.acts[0].slice_mut(s![..m, ..])
    }

    /// Adds another workspace's gradients to this one's, element by element.
    pub fn add_gradients(&mut self, other: &Workspace) {
        for (a, b) in self.grad_w.iter_mut().zip(&other.grad_w) {
            *a += b;
        }
        for (a, b) in self.grad_b.iter_mut().zip(&other.grad_b) {
            *a += b;
        }
    }
}

impl Network {
    /// Cost sum and correct count of one block of at most `ws.capacity()` examples.
    pub fn tally_block(&self, ws: &mut Workspace, examples: &Examples, cost: Cost) -> Tally {
        self.tally_block_with(ws, examples, cost, Activation::Sigmoid)
    }

    /// [`Self::tally_block`] with `hidden` as the hidden layers' activation.
    pub fn tally_block_with(
        &self,
        ws: &mut Workspace,
        examples: &Examples,
        cost: Cost,
        hidden: Activation,
    ) -> Tally {
        let m = examples.len();
        ws.load_range(examples);
        self.forward_logits_with(ws, m, hidden);
        let mut tally = Tally::default();
        for (i, z) in ws.output(m).rows().into_iter().enumerate() {
            let z = z.as_slice().unwrap();
            let label = examples.labels[i] as usize;
            tally.cost_sum += example_cost(cost, z, label);
            tally.correct += (argmax(z) == label) as usize;
        }
        tally
    }

    /// Evaluates the network on `examples` in blocks of [`EVAL_BLOCK`], in parallel on the
    /// rayon pool, summing the blocks in order so that the result never depends on the threads.
    pub fn tally(&self, examples: &Examples, cost: Cost) -> Tally {
        use rayon::prelude::*;
        let blocks = examples.len().div_ceil(EVAL_BLOCK);
        let parts: Vec<Tally> = (0..blocks)
            .into_par_iter()
            .map(|b| {
                let block =
                    examples.range(b * EVAL_BLOCK, ((b + 1) * EVAL_BLOCK).min(examples.len()));
                with_eval_workspace(&self.sizes, |ws| self.tally_block(ws, &block, cost))
            })
            .collect();
        parts.iter().fold(Tally::default(), |acc, t| Tally {
            cost_sum: acc.cost_sum + t.cost_sum,
            correct: acc.correct + t.correct,
        })
    }
}

thread_local! {
    static EVAL_WS: std::cell::RefCell<Option<Workspace>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's evaluation workspace, allocated once per thread and network shape.
fn with_eval_workspace<R>(sizes: &[usize], f: impl FnOnce(&mut Workspace) -> R) -> R {
    let mut ws = EVAL_WS
        .with(|c| c.borrow_mut().take())
        .filter(|ws| ws.fits(sizes))
        .unwrap_or_else(|| Workspace::for_inference(sizes, EVAL_BLOCK));
    let r = f(&mut ws);
    EVAL_WS.with(|c| *c.borrow_mut() = Some(ws));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::Init;
    use rand::Rng;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Total cost of the batch in `ws` (first m rows), in f64, from the network's outputs.
    fn batch_cost(
        net: &Network,
        ws: &mut Workspace,
        m: usize,
        cost: Cost,
        hidden: Activation,
    ) -> f64 {
        net.forward_logits_with(ws, m, hidden);
        (0..m)
            .map(|i| {
                let z = ws.output(m).row(i).to_vec();
                example_cost(cost, &z, ws.labels[i] as usize)
            })
            .sum()
    }

    /// Compares backprop's gradient with central finite differences on every parameter of a
    /// small 3-layer network (run in f32, so the step and tolerance are chosen for f32).
    fn gradient_check(cost: Cost, sizes: &[usize]) {
        gradient_check_with(cost, Activation::Sigmoid, sizes)
    }

    fn gradient_check_with(cost: Cost, hidden: Activation, sizes: &[usize]) {
        let (checked, worst) = gradient_error(cost, cost, hidden, sizes);
        assert!(checked > 50);
        assert!(
            worst < GRADIENT_TOLERANCE,
            "{cost:?} {hidden:?} {sizes:?}: worst relative error {worst}"
        );
    }

    /// Largest relative difference allowed between backpropagation and finite differences.
    const GRADIENT_TOLERANCE: f64 = 2e-2;

    /// Compares the gradient backpropagation computes for `analytic_cost` with central finite
    /// differences of `numeric_cost`, on every parameter of a small network (in f32, so the step
    /// and tolerance are chosen for f32): the number of parameters checked and the worst
    /// relative error. The two costs are the same for a real check; a test that passes different
    /// ones shows the check can fail.
    fn gradient_error(
        numeric_cost: Cost,
        analytic_cost: Cost,
        hidden: Activation,
        sizes: &[usize],
    ) -> (usize, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut net = Network::new(sizes, Init::Scaled, &mut rng);
        let m = 4;
        let mut ws = Workspace::for_training(sizes, m);
        for v in ws.input_mut(m).iter_mut() {
            *v = rng.random::<f32>();
        }
        ws.labels[..m].copy_from_slice(&[0, 3, 1, 3]);
        net.backprop_with(&mut ws, m, analytic_cost, hidden);
        let (gw, gb) = (ws.grad_w.clone(), ws.grad_b.clone());
        // (a smaller step for the ReLU, so that no step crosses its kink at 0)
        let h = if hidden == Activation::Relu {
            1e-3
        } else {
            1e-2f32
        };
        let mut checked = 0;
        let mut worst = 0.0f64;
        for l in 0..net.layers() {
            for idx in 0..net.weights[l].len() + net.biases[l].len() {
                let nw = net.weights[l].len();
                let param = |net: &mut Network| -> *mut f32 {
                    if idx < nw {
                        &mut net.weights[l].as_slice_mut().unwrap()[idx]
                    } else {
                        &mut net.biases[l].as_slice_mut().unwrap()[idx - nw]
                    }
                };
                let p = param(&mut net);
                // SAFETY: p points into `net`, which is not moved or reallocated here.
                let orig = unsafe { *p };
                unsafe { *p = orig + h };
                let plus = batch_cost(&net, &mut ws, m, numeric_cost, hidden);
                unsafe { *p = orig - h };
                let minus = batch_cost(&net, &mut ws, m, numeric_cost, hidden);
                unsafe { *p = orig };
                let numeric = (plus - minus) / (2.0 * h as f64);
                let analytic = if idx < nw {
                    gw[l].as_slice().unwrap()[idx]
                } else {
                    gb[l].as_slice().unwrap()[idx - nw]
                } as f64;
                let err = (numeric - analytic).abs() / (1e-3 + numeric.abs().max(analytic.abs()));
                worst = worst.max(err);
                checked += 1;
            }
        }
        (checked, worst)
    }

    #[test]
    fn gradient_matches_finite_differences_quadratic() {
        gradient_check(Cost::Quadratic, &[6, 5, 4]);
        gradient_check(Cost::Quadratic, &[5, 4, 3, 4]);
    }

    #[test]
    fn gradient_matches_finite_differences_cross_entropy() {
        gradient_check(Cost::CrossEntropy, &[6, 5, 4]);
        gradient_check(Cost::CrossEntropy, &[5, 4, 3, 4]);
    }

    #[test]
    fn gradient_matches_finite_differences_softmax_log_likelihood() {
        gradient_check(Cost::LogLikelihood, &[6, 5, 4]);
        gradient_check(Cost::LogLikelihood, &[5, 4, 3, 4]);
        gradient_check(Cost::LogLikelihood, &[12, 5]);
    }

    #[test]
    fn gradient_matches_finite_differences_tanh_and_relu() {
        for hidden in [Activation::Tanh, Activation::Relu] {
            for cost in Cost::ALL {
                gradient_check_with(cost, hidden, &[6, 5, 4]);
                gradient_check_with(cost, hidden, &[5, 4, 3, 4]);
            }
        }
    }

    #[test]
    fn activations_and_their_slopes() {
        for hidden in Activation::ALL {
            for z in [-2.0f32, -0.3, 0.4, 1.7] {
                let a = hidden.apply(z);
                let h = 1e-3f32;
                let numeric = (hidden.apply(z + h) - hidden.apply(z - h)) / (2.0 * h);
                assert!(
                    (hidden.slope(a) - numeric).abs() < 1e-2,
                    "{hidden:?} at {z}"
                );
            }
        }
        assert_eq!(Activation::Relu.apply(-1.0), 0.0);
        assert_eq!(Activation::Relu.apply(2.5), 2.5);
        assert!((Activation::Tanh.apply(1.0) - 0.761_594_2).abs() < 1e-6);
        // one exp instead of libm's tanh: within 2.5e-7 everywhere, exactly ±1 far out
        for i in -2000..=2000 {
            let z = i as f32 / 100.0;
            let (ours, libm) = (crate::nn::maths::tanh(z), z.tanh());
            assert!((ours - libm).abs() < 2.5e-7, "{z}: {ours} vs {libm}");
        }
        assert_eq!(crate::nn::maths::tanh(100.0), 1.0);
        assert_eq!(crate::nn::maths::tanh(-100.0), -1.0);
        let mut z = [1.0f32, 2.0, 3.0];
        softmax(&mut z);
        let e = [1f32.exp(), 2f32.exp(), 3f32.exp()];
        let sum: f32 = e.iter().sum();
        for (a, e) in z.iter().zip(e) {
            assert!((a - e / sum).abs() < 1e-6);
        }
        // no overflow for large weighted inputs
        let mut big = [1000.0f32, 1000.0];
        softmax(&mut big);
        assert_eq!(big, [0.5, 0.5]);
    }

    #[test]
    fn a_wrong_gradient_would_be_caught() {
        // The checker itself must be able to fail: give it the gradient of another cost than the
        // one it differentiates numerically, and it must report an error far above its tolerance.
        for (numeric, analytic) in [
            (Cost::Quadratic, Cost::CrossEntropy),
            (Cost::CrossEntropy, Cost::Quadratic),
            (Cost::CrossEntropy, Cost::LogLikelihood),
        ] {
            let (checked, worst) =
                gradient_error(numeric, analytic, Activation::Sigmoid, &[3, 5, 4]);
            assert!(checked > 30);
            assert!(
                worst > 10.0 * GRADIENT_TOLERANCE,
                "{numeric:?} checked against {analytic:?}'s gradient: worst {worst}"
            );
        }
        // and the right gradient passes on the same network
        let (_, worst) = gradient_error(
            Cost::Quadratic,
            Cost::Quadratic,
            Activation::Sigmoid,
            &[3, 5, 4],
        );
        assert!(worst < GRADIENT_TOLERANCE);
    }

    #[test]
    fn initialisation_scales() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let large = Network::new(&[784, 100, 10], Init::Large, &mut rng);
        let scaled = Network::new(&[784, 100, 10], Init::Scaled, &mut rng);
        let std = |a: &Array2<f32>| {
            let n = a.len() as f64;
            (a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / n).sqrt()
        };
        assert!((std(&large.weights[0]) - 1.0).abs() < 0.02);
        assert!((std(&scaled.weights[0]) - 1.0 / 28.0).abs() < 0.002);
        assert!((std(&scaled.weights[1]) - 0.1).abs() < 0.01);
        assert_eq!(large.weights[0].dim(), (100, 784));
        assert_eq!(large.biases[1].len(), 10);
    }

    #[test]
    fn costs_and_argmax() {
        let z = [0.0f32, 0.0];
        // quadratic: 0.5 * ((0.5 - 1)^2 + 0.5^2) = 0.25
        assert!((example_cost(Cost::Quadratic, &z, 0) - 0.25).abs() < 1e-7);
        // cross-entropy: -ln 0.5 - ln 0.5 = 2 ln 2
        assert!((example_cost(Cost::CrossEntropy, &z, 1) - 2.0 * 2f64.ln()).abs() < 1e-9);
        // stays finite where the output saturates
        assert!((example_cost(Cost::CrossEntropy, &[-200.0], 0) - 200.0).abs() < 1e-9);
        // log-likelihood: -ln softmax(z)_y = -ln 1/2
        assert!((example_cost(Cost::LogLikelihood, &z, 1) - 2f64.ln()).abs() < 1e-9);
        // -ln(e^1 / (e^1 + e^3 + e^0))
        let ll = example_cost(Cost::LogLikelihood, &[1.0, 3.0, 0.0], 0);
        let want = -(1f64.exp() / (1f64.exp() + 3f64.exp() + 1.0)).ln();
        assert!((ll - want).abs() < 1e-9);
        assert!(example_cost(Cost::LogLikelihood, &[500.0, -500.0], 1).is_finite());
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
    }

    #[test]
    fn sgd_step_with_weight_decay() {
        let mut net = Network {
            sizes: vec![1, 1],
            weights: vec![Array2::from_elem((1, 1), 2.0)],
            biases: vec![Array1::from_elem(1, 1.0)],
        };
        let gw = vec![Array2::from_elem((1, 1), 4.0)];
        let gb = vec![Array1::from_elem(1, 2.0)];
        // eta = 0.5, m = 2 -> rate 0.25; lambda = 10, n = 100 -> decay 1 - 0.05
        net.apply_gradient(&gw, &gb, 0.25, 0.95);
        assert!((net.weights[0][[0, 0]] - (0.95 * 2.0 - 1.0)).abs() < 1e-6);
        assert!((net.biases[0][0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn chunked_gradients_add_up_to_the_whole_batch() {
        let sizes = [8, 6, 4];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = Network::new(&sizes, Init::Scaled, &mut rng);
        let mut whole = Workspace::for_training(&sizes, 6);
        for v in whole.input_mut(6).iter_mut() {
            *v = rng.random::<f32>();
        }
        whole.labels[..6].copy_from_slice(&[0, 1, 2, 3, 0, 1]);
        let mut a = Workspace::for_training(&sizes, 3);
        let mut b = Workspace::for_training(&sizes, 3);
        a.input_mut(3).assign(&whole.acts[0].slice(s![..3, ..]));
        b.input_mut(3).assign(&whole.acts[0].slice(s![3..6, ..]));
        a.labels.copy_from_slice(&whole.labels[..3]);
        b.labels.copy_from_slice(&whole.labels[3..6]);
        net.backprop(&mut whole, 6, Cost::Quadratic);
        net.backprop(&mut a, 3, Cost::Quadratic);
        net.backprop(&mut b, 3, Cost::Quadratic);
        a.add_gradients(&b);
        for l in 0..2 {
            for (x, y) in a.grad_w[l].iter().zip(whole.grad_w[l].iter()) {
                assert!((x - y).abs() < 1e-5);
            }
        }
    }
}
