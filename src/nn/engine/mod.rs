//! The fast training engine: a group of networks of one shape, trained in lockstep on the same
//! mini-batches, with a first layer that skips zero input pixels.
//!
//! Runs that share layer sizes, initialisation, batch size, epochs, training-set size and seed
//! start from the same weights and see the same mini-batches in the same order; only eta,
//! lambda and the cost differ. Their first layers are stored interleaved, row `k` of the
//! first-layer weights holding input pixel `k`'s weights for every run side by side, so each
//! non-zero pixel of an example costs one contiguous multiply-add over all the runs' hidden
//! neurons instead of one small one per run. Only about 19% of MNIST's pixels are non-zero, and
//! the first layer holds about 97% of the arithmetic of the book's networks.
//!
//! Every value is computed by the same sequence of float operations whatever the group size (each
//! lane of the interleaved rows is independent), so a run trained in a group is bit-for-bit the
//! run trained alone. Rust never fuses a multiply and an add into an FMA on its own, so the
//! results do not depend on the instruction set the kernels are compiled for either.
//!
//! Layout: each layer's neurons are padded to a multiple of [`LANES`] per run (padding weights,
//! biases and errors are zero), so every inner loop is whole SIMD vectors.
//!
//! The folder: this file holds the layout and parameters ([`Lockstep`], [`Grads`], [`Scratch`])
//! with the forward pass, backpropagation, accumulation and evaluation; `kernels.rs` the SIMD
//! loops, which know the shapes but not the group; `step.rs` the step and the partitioning of
//! the first layer's rows; `phased.rs` the step of large mini-batches on the pool's threads
//! ([`Lockstep::train_in_phases`], over `phases.rs`'s phase runner); `tests.rs` the checks
//! against the dense reference network and finite differences. From outside, the trainer calls a
//! handful of safe methods: `accumulate`, `apply`, `train_in_phases`, `tally`, and the
//! parameters' accessors.

#[macro_use]
mod kernels;
mod phased;
mod phases;
mod step;

use kernels::*;
pub use phased::Batches;
use step::step_first_layer_part;

use crate::data::Examples;
use crate::dispatch;
use crate::nn::dropout::Masks;
use crate::nn::maths::{argmax, example_cost, Activation, Cost, Tally};
use crate::nn::params::Network;
use crate::nn::simd::{prefetch, vector_starts, Buf, FlushSubnormals, Scalar, Simd};

/// Floats per SIMD vector the layout is padded for (one AVX-512 register).
pub const LANES: usize = 16;

/// `n` rounded up to whole vectors.
pub fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// What differs between the runs of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunParams {
    pub eta: f64,
    pub lambda: f64,
    /// The cost, which also chooses the output layer (softmax for the log-likelihood).
    pub cost: Cost,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// Momentum coefficient mu; the runs of a group either all use momentum or none does.
    pub momentum: f64,
    /// Probability of dropping each hidden neuron while training; the runs of a group either
    /// all use dropout or none does.
    pub dropout: f64,
}

impl RunParams {
    /// Plain SGD with sigmoid hidden layers (the book's chapters 1 and 3 network).
    pub fn sgd(eta: f64, lambda: f64, cost: Cost) -> RunParams {
        RunParams {
            eta,
            lambda,
            cost,
            activation: Activation::Sigmoid,
            momentum: 0.0,
            dropout: 0.0,
        }
    }
}

/// One step of momentum-based SGD for one parameter (the book, chapter 3, with the L2 term in
/// the gradient): `v <- mu v - (wd w + rate g)`, `w <- w + v`, where `rate = eta / m` multiplies
/// the summed gradient `g` and `wd = eta lambda / n` (0 for biases).
#[inline(always)]
pub fn momentum_step(w: &mut f32, v: &mut f32, g: f32, mu: f32, rate: f32, wd: f32) {
    *v = mu * *v - (wd * *w + rate * g);
    *w += *v;
}

/// The parameters of `runs` networks with the same layer sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Lockstep {
    sizes: Vec<usize>,
    runs: usize,
    /// Padded width of layer `l + 1` (the output of weight layer `l`).
    pad: Vec<usize>,
    /// `w[0]`: `[784][runs * pad[0]]`, pixel-major, runs interleaved within a row.
    /// `w[l >= 1]`: `[runs][sizes[l]][pad[l]]`, input-major per run.
    w: Vec<Buf>,
    /// `b[l]`: `[runs * pad[l]]`.
    b: Vec<Buf>,
    /// `wt[l >= 1]`: the transpose of `w[l]`, `[runs][sizes[l + 1]][pad[l - 1]]`, kept in step
    /// with `w[l]` to propagate errors down with the same row kernel; `wt[0]` is empty.
    wt: Vec<Buf>,
    /// Zeros, as wide as the widest padded layer (the "bias" of the error propagation).
    zeros: Buf,
    /// Velocities of momentum-based SGD, laid out as `w` and `b`; empty until a step with
    /// momentum allocates them.
    vw: Vec<Buf>,
    vb: Vec<Buf>,
    /// Per-lane factors of the first layer's step.
    lanes: LaneSteps,
    /// The pixel ranges of a first-layer update split in `parts` ([`Self::part_rows`]), at
    /// index `parts`: `parts + 1` row boundaries; empty until computed.
    part_bounds: Vec<Vec<usize>>,
}

/// Per-lane factors of a mini-batch's first-layer step, one row's worth each (a lane is one
/// column of the interleaved rows; each run's columns hold its values).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LaneSteps {
    /// eta / m.
    rate: Buf,
    /// With momentum: mu and eta·lambda/n.
    mu: Buf,
    wd: Buf,
    /// Without momentum: the columns and factor `1 - eta lambda / n` of each run whose factor
    /// is not 1.
    decay: Vec<(usize, usize, f32)>,
    momentum: bool,
}

/// A group's first-layer weights (and velocities, with momentum) as raw rows, so that threads
/// can step disjoint pixel ranges at once ([`Lockstep::first_layer_rows`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct FirstLayerRows {
    w0: *mut f32,
    /// Null without momentum.
    v0: *mut f32,
    row_len: usize,
    rows: usize,
}

// SAFETY: the pointers are only turned into slices by `FirstLayerRows::rows`, whose contract
// makes the threads' row ranges disjoint.
unsafe impl Send for FirstLayerRows {}
unsafe impl Sync for FirstLayerRows {}

impl FirstLayerRows {
    /// Rows `from..to` of the weights and, with momentum, of the velocities.
    ///
    /// # Safety
    /// The group these rows came from is alive, has not been reshaped or had its velocities
    /// allocated since, and nothing else reads or writes rows `from..to` while the slices live.
    pub unsafe fn rows<'a>(self, from: usize, to: usize) -> (&'a mut [f32], Option<&'a mut [f32]>) {
        assert!(from <= to && to <= self.rows);
        let (at, len) = (from * self.row_len, (to - from) * self.row_len);
        // SAFETY: inside the buffers (checked above); exclusive by the caller's contract.
        unsafe {
            let w0 = std::slice::from_raw_parts_mut(self.w0.add(at), len);
            let v0 =
                (!self.v0.is_null()).then(|| std::slice::from_raw_parts_mut(self.v0.add(at), len));
            (w0, v0)
        }
    }
}

/// Activations and errors of one example, for every layer and run.
#[derive(Debug, Clone)]
pub struct Scratch {
    /// `act[l]`: `[runs * pad[l]]`, the output of weight layer `l`.
    act: Vec<Buf>,
    delta: Vec<Buf>,
}

/// What a mini-batch (or a chunk of one) contributes to the SGD step: the upper layers' weight
/// gradients and every layer's bias gradients summed over its examples, and, for the first layer,
/// each example's errors. The first layer's update `x ⊗ delta` is applied straight from those,
/// only to the rows of the example's non-zero pixels.
#[derive(Debug, Clone)]
pub struct Grads {
    /// `g[l >= 1]` as `w[l]`; `g[0]` is empty.
    g: Vec<Buf>,
    gb: Vec<Buf>,
    /// First-layer errors, `[examples][runs * pad[0]]`, in the order of `rows`.
    d0: Buf,
    /// The examples accumulated, in order.
    rows: Vec<u32>,
    /// The first row of each part of the first layer's update after the first (none: one part).
    cut_rows: Vec<usize>,
    /// Per example, where each part's pixels begin in the data set's pixel lists, and where the
    /// last part's end: `[examples][parts + 1]`, found as the example is accumulated (its list is
    /// then in the cache), so that the update reads them in order.
    spans: Vec<u32>,
    scratch: Scratch,
    /// The dropout masks, when the group's runs use dropout.
    dropout: Option<Masks>,
    /// Per upper layer `l >= 1`, the inputs `act[l - 1]` and errors `delta[l]` of the examples
    /// accumulated since the last [`flush_outer`]: their outer products are added to `g[l]`
    /// together, each weight's gradient still summed example by example in order.
    pending: Vec<Pending>,
}

/// Inputs and errors of one upper layer, `[examples][runs * pad]` each.
#[derive(Debug, Clone, Default)]
struct Pending {
    input: Vec<f32>,
    error: Vec<f32>,
}

impl Grads {
    /// Zeroes the gradients for the next mini-batch.
    pub fn clear(&mut self) {
        for g in self.g.iter_mut().skip(1) {
            g.fill(0.0);
        }
        for gb in &mut self.gb {
            gb.fill(0.0);
        }
        self.rows.clear();
        self.spans.clear();
        for p in &mut self.pending {
            p.input.clear();
            p.error.clear();
        }
    }

    /// Splits the first layer's update of the examples accumulated next at the rows
    /// `bounds[1..parts]` (`bounds` as [`Lockstep::part_rows`] gives them).
    pub fn set_parts(&mut self, bounds: &[usize]) {
        self.cut_rows.clear();
        if bounds.len() > 2 {
            self.cut_rows
                .extend_from_slice(&bounds[1..bounds.len() - 1]);
        }
    }

    /// Records where example `i`'s pixels lie for each part of the update (after its pass).
    #[inline(always)]
    fn record_spans(&mut self, examples: &Examples, i: usize, index: &[u16]) {
        let (start, end) = examples.place(i);
        self.spans.push(start);
        for &row in &self.cut_rows {
            let cut = index.partition_point(|&k| (k as usize) < row);
            self.spans.push(start + cut as u32);
        }
        self.spans.push(end);
    }
}

impl Lockstep {
    /// `runs` copies of `net` (the runs of a group start from the same weights).
    pub fn from_network(net: &Network, runs: usize) -> Lockstep {
        let sizes = net.sizes.clone();
        let pad: Vec<usize> = sizes[1..].iter().map(|&n| padded(n)).collect();
        let mut w = Vec::new();
        let mut b = Vec::new();
        for l in 0..net.layers() {
            let (n_in, n_out, p) = (sizes[l], sizes[l + 1], pad[l]);
            let weights = &net.weights[l]; // [n_out, n_in]
            let mut wl = Buf::zeros(runs * n_in * p);
            for r in 0..runs {
                for k in 0..n_in {
                    for j in 0..n_out {
                        let at = if l == 0 {
                            k * runs * p + r * p + j
                        } else {
                            (r * n_in + k) * p + j
                        };
                        wl[at] = weights[[j, k]];
                    }
                }
            }
            let mut bl = Buf::zeros(runs * p);
            for r in 0..runs {
                bl[r * p..r * p + n_out].copy_from_slice(net.biases[l].as_slice().unwrap());
            }
            w.push(wl);
            b.push(bl);
        }
        let zeros = Buf::zeros(runs * pad.iter().max().copied().unwrap_or(0));
        let wt = w.iter().map(|_| Buf::default()).collect();
        let mut group = Lockstep {
            sizes,
            runs,
            pad,
            w,
            b,
            wt,
            zeros,
            vw: Vec::new(),
            vb: Vec::new(),
            lanes: LaneSteps::default(),
            part_bounds: Vec::new(),
        };
        for l in 1..group.layers() {
            group.wt[l] = Buf::zeros(runs * group.sizes[l + 1] * group.pad[l - 1]);
            for r in 0..runs {
                group.transpose(l, r);
            }
        }
        group
    }

    /// Keeps only the runs `keep` (ascending lane indices), in that order, with their weights,
    /// biases and velocities: a run that has finished (stopped early, diverged) stops costing
    /// work. Every kept lane's numbers are unchanged, lanes being independent.
    pub fn retain(&mut self, keep: &[usize]) {
        debug_assert!(keep.windows(2).all(|w| w[0] < w[1]) && keep.iter().all(|&r| r < self.runs));
        let old = self.runs;
        let p0 = self.pad[0];
        // first layer: per pixel row, the kept lanes' segments
        let first = |v: &[f32]| -> Buf {
            v.chunks_exact(old * p0)
                .flat_map(|row| keep.iter().flat_map(move |&r| &row[r * p0..(r + 1) * p0]))
                .copied()
                .collect::<Vec<f32>>()
                .into()
        };
        // per-run blocks of `block` floats
        let blocks = |v: &[f32], block: usize| -> Buf {
            keep.iter()
                .flat_map(|&r| &v[r * block..(r + 1) * block])
                .copied()
                .collect::<Vec<f32>>()
                .into()
        };
        for l in 0..self.layers() {
            let block = self.sizes[l] * self.pad[l];
            if l == 0 {
                self.w[0] = first(&self.w[0]);
            } else {
                self.w[l] = blocks(&self.w[l], block);
                let tblock = self.sizes[l + 1] * self.pad[l - 1];
                self.wt[l] = blocks(&self.wt[l], tblock);
            }
            self.b[l] = blocks(&self.b[l], self.pad[l]);
            if !self.vw.is_empty() {
                self.vw[l] = if l == 0 {
                    first(&self.vw[0])
                } else {
                    blocks(&self.vw[l], block)
                };
                self.vb[l] = blocks(&self.vb[l], self.pad[l]);
            }
        }
        self.runs = keep.len();
        self.zeros
            .resize(self.runs * self.pad.iter().max().copied().unwrap_or(0), 0.0);
        // the lanes' factors are set again before the next step
        self.lanes = LaneSteps::default();
    }

    /// Refreshes run `r`'s block of `wt[l]` from `w[l]`.
    fn transpose(&mut self, l: usize, r: usize) {
        let (n_in, n_out, p_in, p) = (
            self.sizes[l],
            self.sizes[l + 1],
            self.pad[l - 1],
            self.pad[l],
        );
        let w = &self.w[l][r * n_in * p..(r + 1) * n_in * p];
        let wt = &mut self.wt[l][r * n_out * p_in..(r + 1) * n_out * p_in];
        for (k, row) in w.chunks_exact(p).enumerate() {
            transpose_row(wt, &row[..n_out], k, p_in);
        }
    }

    /// Run `r`'s parameters as a plain [`Network`].
    pub fn network(&self, r: usize) -> Network {
        let mut net = Network {
            sizes: self.sizes.clone(),
            weights: self
                .sizes
                .windows(2)
                .map(|s| ndarray::Array2::zeros((s[1], s[0])))
                .collect(),
            biases: self.sizes[1..]
                .iter()
                .map(|&n| ndarray::Array1::zeros(n))
                .collect(),
        };
        for l in 0..self.layers() {
            let (n_in, n_out, p) = (self.sizes[l], self.sizes[l + 1], self.pad[l]);
            for k in 0..n_in {
                let row = self.row(l, r, k);
                for (j, &w) in row[..n_out].iter().enumerate() {
                    net.weights[l][[j, k]] = w;
                }
            }
            for j in 0..n_out {
                net.biases[l][j] = self.b[l][r * p + j];
            }
        }
        net
    }

    pub fn runs(&self) -> usize {
        self.runs
    }

    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Weights from input `k` of layer `l` to its outputs, for run `r` (padded).
    #[inline(always)]
    fn row(&self, l: usize, r: usize, k: usize) -> &[f32] {
        let p = self.pad[l];
        let at = if l == 0 {
            k * self.runs * p + r * p
        } else {
            (r * self.sizes[l] + k) * p
        };
        &self.w[l][at..at + p]
    }

    /// A scratch buffer for one example.
    pub fn scratch(&self) -> Scratch {
        let act: Vec<Buf> = self
            .pad
            .iter()
            .map(|&p| Buf::zeros(self.runs * p))
            .collect();
        Scratch {
            delta: act.clone(),
            act,
        }
    }

    /// Zeroed gradient buffers.
    pub fn grads(&self) -> Grads {
        Grads {
            g: self
                .w
                .iter()
                .enumerate()
                .map(|(l, w)| Buf::zeros(if l == 0 { 0 } else { w.len() }))
                .collect(),
            gb: self.b.iter().map(|b| Buf::zeros(b.len())).collect(),
            d0: Buf::default(),
            rows: Vec::new(),
            cut_rows: Vec::new(),
            spans: Vec::new(),
            scratch: self.scratch(),
            dropout: None,
            pending: vec![Pending::default(); self.layers()],
        }
    }

    /// Gradient buffers that drop hidden neurons with each run's `dropout` probability, the
    /// masks drawn from `rng` (see [`crate::nn::dropout`]).
    pub fn grads_with_dropout(&self, rng: rand_chacha::ChaCha8Rng) -> Grads {
        Grads {
            dropout: Some(Masks::new(rng, &self.sizes, &self.pad, self.runs)),
            ..self.grads()
        }
    }

    /// True when none of run `r`'s parameters is NaN or infinite.
    pub fn run_is_finite(&self, r: usize) -> bool {
        (0..self.layers()).all(|l| {
            let p = self.pad[l];
            (0..self.sizes[l]).all(|k| self.row(l, r, k).iter().all(|x| x.is_finite()))
                && self.b[l][r * p..(r + 1) * p].iter().all(|x| x.is_finite())
        })
    }

    /// Sum of run `r`'s squared weights, in f64 (for the L2 term of the cost).
    pub fn sum_squared_weights(&self, r: usize) -> f64 {
        let _mode = FlushSubnormals::enter();
        (0..self.layers())
            .map(|l| {
                (0..self.sizes[l])
                    .flat_map(|k| self.row(l, r, k).iter())
                    .map(|&x| (x as f64) * (x as f64))
                    .sum::<f64>()
            })
            .sum()
    }

    /// Forward pass of one example (given by its non-zero pixels) for every run. With `logits`,
    /// the output layer keeps its weighted inputs z; otherwise it gets the softmax (log-likelihood
    /// runs) or the sigmoid. Hidden layers get each run's activation.
    #[inline(always)]
    unsafe fn forward<V: Simd>(
        &self,
        s: &mut Scratch,
        params: &[RunParams],
        index: &[u16],
        value: &[u8],
        logits: bool,
        mut masks: Option<&mut Masks>,
    ) {
        let layers = self.layers();
        let (runs, p0) = (self.runs, self.pad[0]);
        let n_out = self.sizes[layers];
        let row_len = runs * p0;
        let a0 = &mut s.act[0];
        let terms = SparseTerms { index, value };
        weighted_rows::<V>(a0, &self.b[0], &self.w[0], row_len, terms);
        if !(logits && layers == 1) {
            activate_runs(a0, p0, params, (layers == 1).then_some(n_out));
        }
        if let Some(m) = masks.as_deref_mut().filter(|_| layers > 1) {
            drop_neurons::<V>(a0, &mut m.kept[0], &m.scale[0]);
        }
        for l in 1..layers {
            let (n_in, p_in, p) = (self.sizes[l], self.pad[l - 1], self.pad[l]);
            let (below, above) = s.act.split_at_mut(l);
            let input = &below[l - 1];
            let out = &mut above[0];
            let last = l + 1 == layers;
            let sums = RunSums {
                bias: &self.b[l],
                bias_stride: p,
                w: &self.w[l],
                input,
                in_stride: p_in,
                terms: n_in,
                runs,
            };
            weighted_runs::<V>(out, p, sums);
            if !(logits && last) {
                activate_runs(out, p, params, last.then_some(n_out));
            }
            if let Some(m) = masks.as_deref_mut().filter(|_| !last) {
                drop_neurons::<V>(out, &mut m.kept[l], &m.scale[l]);
            }
        }
    }

    /// Forward and backward pass of one example, adding its gradient to `grads`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn backprop_example<V: Simd>(
        &self,
        grads: &mut Grads,
        params: &[RunParams],
        position: u64,
        example: u32,
        index: &[u16],
        value: &[u8],
        label: usize,
    ) {
        let layers = self.layers();
        let runs = self.runs;
        let Grads {
            gb,
            d0: errors,
            rows,
            scratch: s,
            dropout,
            pending,
            ..
        } = grads;
        if let Some(m) = dropout.as_mut() {
            m.draw(position, params.iter().map(|p| p.dropout));
        }
        self.forward::<V>(s, params, index, value, false, dropout.as_mut());
        self.output_error::<V>(s, params, label);
        // The first layer's errors go straight to their place among the mini-batch's.
        let row_len = runs * self.pad[0];
        let at = rows.len() * row_len;
        if errors.len() < at + row_len {
            errors.resize(at + row_len, 0.0);
        }
        let d0 = &mut errors[at..at + row_len];
        if layers == 1 {
            d0.copy_from_slice(&s.delta[0]);
        }
        for l in (1..layers).rev() {
            let (n_out, p_in, p) = (self.sizes[l + 1], self.pad[l - 1], self.pad[l]);
            let (below, above) = s.delta.split_at_mut(l);
            let d_in = if l == 1 {
                &mut *d0
            } else {
                &mut below[l - 1][..]
            };
            let d_out = &above[0];
            let input = &s.act[l - 1];
            add::<V>(&mut gb[l][..runs * p], &d_out[..runs * p]);
            // the weight gradient `input ⊗ d_out` once the batch's examples are all in
            pending[l].input.extend_from_slice(&input[..runs * p_in]);
            pending[l].error.extend_from_slice(&d_out[..runs * p]);
            // delta_in = (W delta_out) * a (1 - a), through the transposed weights.
            let sums = RunSums {
                bias: &self.zeros[..p_in],
                bias_stride: 0,
                w: &self.wt[l],
                input: d_out,
                in_stride: p,
                terms: n_out,
                runs,
            };
            weighted_runs::<V>(d_in, p_in, sums);
            self.hidden_slopes::<V>(d_in, input, params, dropout.as_ref(), l);
        }
        add::<V>(&mut gb[0], d0);
        rows.push(example);
    }

    /// The output layer's errors of every run for one example: (a - y) a (1 - a) for the
    /// quadratic cost, a - y for cross-entropy and for the softmax with the log-likelihood.
    ///
    /// # Safety
    /// As for [`Self::backprop_example`]: `V`'s instructions are available.
    #[inline(always)]
    unsafe fn output_error<V: Simd>(&self, s: &mut Scratch, params: &[RunParams], label: usize) {
        let top = self.layers() - 1;
        let (n_out, p) = (self.sizes[top + 1], self.pad[top]);
        for (r, params) in params.iter().enumerate() {
            let a = &s.act[top][r * p..(r + 1) * p];
            let d = &mut s.delta[top][r * p..(r + 1) * p];
            // y = 0 on every output first (a - 0 is a, exactly), in whole vectors; then the right
            // digit's y = 1, and no error on the padding
            let error = |a: f32, y: f32| match params.cost {
                Cost::Quadratic => (a - y) * a * (1.0 - a),
                Cost::CrossEntropy | Cost::LogLikelihood => a - y,
            };
            match params.cost {
                Cost::Quadratic => {
                    let one = V::splat(1.0);
                    for at in vector_starts::<V>(d.len().min(a.len())) {
                        let a = V::load(&a[at..]);
                        a.mul(a).mul(one.sub(a)).store(&mut d[at..]);
                    }
                }
                Cost::CrossEntropy | Cost::LogLikelihood => d.copy_from_slice(a),
            }
            if label < n_out {
                d[label] = error(a[label], 1.0);
            }
            d[n_out..].fill(0.0);
        }
    }

    /// A hidden layer's errors times the activation's slope (and the dropout mask), in place.
    ///
    /// # Safety
    /// As for [`Self::backprop_example`]: `V`'s instructions are available.
    #[inline(always)]
    unsafe fn hidden_slopes<V: Simd>(
        &self,
        d_in: &mut [f32],
        input: &[f32],
        params: &[RunParams],
        dropout: Option<&Masks>,
        l: usize,
    ) {
        let (runs, p_in) = (self.runs, self.pad[l - 1]);
        let f = params[0].activation;
        if dropout.is_none() && params.iter().all(|pr| pr.activation == f) {
            // every run's slopes in one pass, element by element as run by run
            times_slope::<V>(&mut d_in[..runs * p_in], &input[..runs * p_in], f);
            return;
        }
        for r in 0..runs {
            let a_in = &input[r * p_in..(r + 1) * p_in];
            let di = &mut d_in[r * p_in..(r + 1) * p_in];
            match dropout.as_ref() {
                None => times_slope::<V>(di, a_in, params[r].activation),
                Some(m) => {
                    // the slope at the activation before the mask, times the mask
                    let lane = r * p_in..(r + 1) * p_in;
                    times_slope::<V>(di, &m.kept[l - 1][lane.clone()], params[r].activation);
                    let scaled = &m.scale[l - 1][lane];
                    di.iter_mut().zip(scaled).for_each(|(d, &s)| *d *= s);
                }
            }
        }
    }

    /// Adds another chunk's sums (upper-layer and bias gradients) to `into`.
    fn merge_grads(&self, into: &mut Grads, other: &Grads) {
        // SAFETY: plain scalars need no instruction set.
        unsafe {
            for l in 1..self.layers() {
                add::<Scalar>(&mut into.g[l], &other.g[l]);
            }
            for l in 0..self.layers() {
                add::<Scalar>(&mut into.gb[l], &other.gb[l]);
            }
        }
    }

    /// Adds the gradients of examples `indices` of `examples` to `grads` (weights unchanged).
    /// `position` is the place of `indices[0]` in the run's sequence of training examples (for
    /// the dropout masks).
    pub fn accumulate(
        &self,
        grads: &mut Grads,
        params: &[RunParams],
        examples: &Examples,
        indices: &[u32],
        position: u64,
    ) {
        self.accumulate_before(grads, params, examples, indices, position, None)
    }

    /// [`Self::accumulate`] where example `next` of `examples` is the one trained after
    /// `indices` (its pixels are fetched early, as each next one's).
    pub fn accumulate_before(
        &self,
        grads: &mut Grads,
        params: &[RunParams],
        examples: &Examples,
        indices: &[u32],
        position: u64,
        next: Option<u32>,
    ) {
        let _mode = FlushSubnormals::enter();
        accumulate_dispatch(self, grads, params, examples, indices, position, next)
    }

    /// Adds, per run, the correct predictions of `examples` to `tallies`, and the cost where
    /// `with_cost` (one `exp` per output and example, skipped when the cost is not monitored).
    pub fn tally(
        &self,
        s: &mut Scratch,
        params: &[RunParams],
        examples: &Examples,
        tallies: &mut [Tally],
        with_cost: bool,
    ) {
        let _mode = FlushSubnormals::enter();
        tally_dispatch(self, s, params, examples, tallies, with_cost)
    }

    /// Per-run cost sum of one example (for the gradient checks).
    pub fn example_costs(
        &self,
        params: &[RunParams],
        index: &[u16],
        value: &[u8],
        label: usize,
    ) -> Vec<f64> {
        let _mode = FlushSubnormals::enter();
        let mut s = self.scratch();
        // SAFETY: plain scalars need no instruction set.
        unsafe { self.forward::<Scalar>(&mut s, params, index, value, true, None) };
        let (top, n_out) = (self.layers() - 1, self.sizes[self.layers()]);
        let p = self.pad[top];
        params
            .iter()
            .enumerate()
            .map(|(r, pr)| example_cost(pr.cost, &s.act[top][r * p..r * p + n_out], label))
            .collect()
    }
}

dispatch!(fn accumulate_dispatch(group: &Lockstep, grads: &mut Grads, params: &[RunParams], examples: &Examples, indices: &[u32], position: u64, next: Option<u32>) => accumulate_batch);
dispatch!(fn tally_dispatch(group: &Lockstep, s: &mut Scratch, params: &[RunParams], examples: &Examples, tallies: &mut [Tally], with_cost: bool) => tally_block);

#[inline(always)]
unsafe fn accumulate_batch<V: Simd>(
    group: &Lockstep,
    grads: &mut Grads,
    params: &[RunParams],
    examples: &Examples,
    indices: &[u32],
    position: u64,
    next: Option<u32>,
) {
    for (t, &i) in indices.iter().enumerate() {
        // The examples are visited in shuffled order: fetch the next one's pixels early.
        if let Some(next) = indices.get(t + 1).copied().or(next) {
            let (index, value) = examples.nonzero(next as usize);
            prefetch(index);
            prefetch(value);
        }
        let (index, value) = examples.nonzero(i as usize);
        let label = examples.labels[i as usize] as usize;
        let at = position + t as u64;
        group.backprop_example::<V>(grads, params, at, i, index, value, label);
        grads.record_spans(examples, i as usize, index);
    }
    flush_outer::<V>(group, grads);
}

/// Adds the outer products of the examples pending in `grads` (see [`Grads::pending`]) to the
/// upper layers' weight gradients and clears them: `g[l][k * p..][..p] += input_e[k] * error_e`
/// for each example `e` in order, exactly the additions of one example at a time, but each
/// gradient vector loaded and stored once per 8 examples instead of once per example.
#[inline(always)]
unsafe fn flush_outer<V: Simd>(group: &Lockstep, grads: &mut Grads) {
    let runs = group.runs;
    for l in 1..group.layers() {
        let (n_in, p_in, p) = (group.sizes[l], group.pad[l - 1], group.pad[l]);
        let pending = &mut grads.pending[l];
        let (a_stride, d_stride) = (runs * p_in, runs * p);
        let examples = pending.error.len() / d_stride;
        for r in 0..runs {
            let g = &mut grads.g[l][r * n_in * p..(r + 1) * n_in * p];
            let (input, error) = (&pending.input[r * p_in..], &pending.error[r * p..]);
            let mut first = 0;
            while first < examples {
                let count = (examples - first).min(8);
                let outer = Outer {
                    input: &input[first * a_stride..],
                    a_stride,
                    error: &error[first * d_stride..],
                    d_stride,
                    n_in,
                };
                by_width!(count, outer_examples::<V, _>(g, outer));
                first += count;
            }
        }
        pending.input.clear();
        pending.error.clear();
    }
}

#[inline(always)]
unsafe fn tally_block<V: Simd>(
    group: &Lockstep,
    s: &mut Scratch,
    params: &[RunParams],
    examples: &Examples,
    tallies: &mut [Tally],
    with_cost: bool,
) {
    let (top, n_out) = (group.layers() - 1, group.sizes[group.layers()]);
    let p = group.pad[top];
    for i in 0..examples.len() {
        let (index, value) = examples.nonzero(i);
        let label = examples.labels[i] as usize;
        group.forward::<V>(s, params, index, value, true, None);
        for (r, (pr, t)) in params.iter().zip(tallies.iter_mut()).enumerate() {
            let z = &s.act[top][r * p..r * p + n_out];
            if with_cost {
                t.cost_sum += example_cost(pr.cost, z, label);
            }
            t.correct += (argmax(z) == label) as usize;
        }
    }
}

#[cfg(test)]
mod tests;
