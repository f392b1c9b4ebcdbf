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

mod phased;
mod phases;

pub use phased::Batches;

use crate::data::{pixel, Examples};
use crate::dispatch;
use crate::nn::dropout::Masks;
use crate::nn::maths::{argmax, example_cost, sigmoid, softmax, tanh, Activation, Cost, Tally};
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

/// Input `k`'s row of one run's weights (its real outputs) into column `k` of the run's
/// transpose, whose rows are `p_in` long.
#[inline]
fn transpose_row(wt: &mut [f32], row: &[f32], k: usize, p_in: usize) {
    // one check here instead of one per element: every row of `wt` holds column k
    assert!(k < p_in && wt.len() >= row.len() * p_in);
    for (wt_row, &v) in wt.chunks_exact_mut(p_in).zip(row) {
        wt_row[k] = v;
    }
}

dispatch!(fn step_dispatch(w: &mut [f32], g: &[f32], decay: f32, rate: f32) => step_plain);

/// `w <- decay w - rate g` over whole vectors (with `decay = 1`, `w - rate g` exactly: `1 w = w`).
#[inline(always)]
fn step_plain<V: Simd>(w: &mut [f32], g: &[f32], decay: f32, rate: f32) {
    let (decay, rate) = (V::splat(decay), V::splat(rate));
    for at in vector_starts::<V>(w.len().min(g.len())) {
        let wc = &mut w[at..];
        decay
            .mul(V::load(wc))
            .sub(rate.mul(V::load(&g[at..])))
            .store(wc);
    }
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
pub struct FirstLayerRows {
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

/// `$f::<V, W, ..>(args)` with the run-time block width `$width` (1 to 8 vectors) as the const
/// generic `W` (written `_`), so that a block's vectors can live in registers.
macro_rules! by_width {
    ($width:expr, $f:ident::<$v:ty, _ $(, $t:ty)*>($($arg:expr),* $(,)?)) => {
        match $width {
            8 => $f::<$v, 8 $(, $t)*>($($arg),*),
            7 => $f::<$v, 7 $(, $t)*>($($arg),*),
            6 => $f::<$v, 6 $(, $t)*>($($arg),*),
            5 => $f::<$v, 5 $(, $t)*>($($arg),*),
            4 => $f::<$v, 4 $(, $t)*>($($arg),*),
            3 => $f::<$v, 3 $(, $t)*>($($arg),*),
            2 => $f::<$v, 2 $(, $t)*>($($arg),*),
            _ => $f::<$v, 1 $(, $t)*>($($arg),*),
        }
    };
}

/// `$f::<V, W>(args)` for each block of up to `$max` of `$vectors` vectors, in order: `$first`
/// is the block's first vector (usable in `args`) and `W` its width, as [`by_width!`]. A macro,
/// not a helper taking a closure: a closure would not share the kernel's instruction set.
macro_rules! in_blocks {
    ($vectors:expr, $max:expr, |$first:ident| $f:ident::<$v:ty, _>($($arg:expr),* $(,)?)) => {{
        let (vectors, max): (usize, usize) = ($vectors, $max);
        let mut $first = 0;
        while $first < vectors {
            let width = (vectors - $first).min(max);
            by_width!(width, $f::<$v, _>($($arg),*));
            $first += width;
        }
    }};
}

/// `y += x`, lane by lane.
#[inline(always)]
fn add<V: Simd>(y: &mut [f32], x: &[f32]) {
    for at in vector_starts::<V>(y.len().min(x.len())) {
        let yc = &mut y[at..];
        V::load(yc).add(V::load(&x[at..])).store(yc);
    }
}

/// Dropout of one hidden layer (every run): keeps the activations in `kept` for the slopes, then
/// multiplies them by the mask's `scale` (0 or `1 / (1 - p)`).
#[inline(always)]
fn drop_neurons<V: Simd>(a: &mut [f32], kept: &mut [f32], scale: &[f32]) {
    kept.copy_from_slice(a);
    for at in vector_starts::<V>(a.len().min(scale.len())) {
        let ac = &mut a[at..];
        V::load(ac).mul(V::load(&scale[at..])).store(ac);
    }
}

/// `d = d * f'(z)`, with the slope computed from the activation `a = f(z)`: `a (1 - a)` for the
/// sigmoid, `1 - a^2` for tanh, `[a > 0]` for the ReLU, lane by lane.
#[inline(always)]
fn times_slope<V: Simd>(d: &mut [f32], a: &[f32], f: Activation) {
    match f {
        Activation::Sigmoid => {
            let one = V::splat(1.0);
            for at in vector_starts::<V>(d.len().min(a.len())) {
                let (dc, a) = (&mut d[at..], V::load(&a[at..]));
                V::load(dc).mul(a.mul(one.sub(a))).store(dc);
            }
        }
        Activation::Tanh => {
            let one = V::splat(1.0);
            for at in vector_starts::<V>(d.len().min(a.len())) {
                let (dc, a) = (&mut d[at..], V::load(&a[at..]));
                V::load(dc).mul(one.sub(a.mul(a))).store(dc);
            }
        }
        Activation::Relu => {
            for (d, &a) in d.iter_mut().zip(a) {
                if a <= 0.0 {
                    *d = 0.0;
                }
            }
        }
    }
}

/// The activation of a layer's weighted inputs `z` (one run's padded block) in place: `f` for a
/// hidden layer; for the output layer the softmax of the first `n_out` entries (log-likelihood)
/// or the sigmoid.
#[inline(always)]
fn activate(z: &mut [f32], output: Option<(Cost, usize)>, f: Activation) {
    match output {
        Some((cost, n_out)) if cost.softmax() => softmax(&mut z[..n_out]),
        Some(_) => z.iter_mut().for_each(|z| *z = sigmoid(*z)),
        None => match f {
            Activation::Sigmoid => z.iter_mut().for_each(|z| *z = sigmoid(*z)),
            Activation::Tanh => z.iter_mut().for_each(|z| *z = tanh(*z)),
            Activation::Relu => z.iter_mut().for_each(|z| *z = z.max(0.0)),
        },
    }
}

/// [`activate`] on every run's slice `z[r * p..(r + 1) * p]` (the output layer's where
/// `output`): in one pass over all of them when the runs apply the same function, so that the
/// runs' vectors are independent work for the processor rather than one run's latency after
/// another's; element by element, the same numbers.
#[inline(always)]
fn activate_runs(z: &mut [f32], p: usize, params: &[RunParams], output: Option<usize>) {
    let kind = |pr: &RunParams| match output {
        Some(_) if pr.cost.softmax() => None,
        Some(_) => Some(Activation::Sigmoid),
        None => Some(pr.activation),
    };
    let first = kind(&params[0]);
    if let Some(f) = first.filter(|_| params.iter().all(|pr| kind(pr) == first)) {
        return activate(&mut z[..params.len() * p], None, f);
    }
    for (r, pr) in params.iter().enumerate() {
        let output = output.map(|n_out| (pr.cost, n_out));
        activate(&mut z[r * p..(r + 1) * p], output, pr.activation);
    }
}

/// The terms `(k, a)` of the first layer's weighted sum of rows: a sparse input's non-zero
/// pixels.
#[derive(Clone, Copy)]
struct SparseTerms<'a> {
    index: &'a [u16],
    value: &'a [u8],
}

impl SparseTerms<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.index.len()
    }
    #[inline(always)]
    fn term(&self, t: usize) -> (usize, f32) {
        (self.index[t] as usize, pixel(self.value[t]))
    }
}

/// `out = bias + sum over terms (k, a) of a * w[k * stride ..][..out.len()]`, accumulated in
/// registers a block of vectors at a time (the terms are walked once per block). Per lane this is
/// always `z = (b + sum of the even terms) + sum of the odd terms`, each sum in term order: two
/// accumulators per vector hide the latency of the additions, and the block width (which depends
/// on the group size and the vector width) never changes a lane's arithmetic.
#[inline(always)]
fn weighted_rows<V: Simd>(
    out: &mut [f32],
    bias: &[f32],
    w: &[f32],
    stride: usize,
    terms: SparseTerms,
) {
    let vectors = out.len() / V::LANES;
    // Two accumulators per vector must fit in the registers: 32 with AVX-512, 16 otherwise.
    let max_block = if V::LANES == 16 { 8 } else { 4 };
    in_blocks!(vectors, max_block, |first| weighted_block::<V, _>(
        &mut out[first * V::LANES..],
        &bias[first * V::LANES..],
        w,
        stride,
        first * V::LANES,
        terms
    ));
}

#[inline(always)]
fn weighted_block<V: Simd, const B: usize>(
    out: &mut [f32],
    bias: &[f32],
    w: &[f32],
    stride: usize,
    col: usize,
    terms: SparseTerms,
) {
    let mut even = [V::splat(0.0); B];
    let mut odd = [V::splat(0.0); B];
    for (q, a) in even.iter_mut().enumerate() {
        *a = V::load(&bias[q * V::LANES..]);
    }
    // One check per call and one comparison per term instead of a slice's bounds checks per
    // row: rows `k < rows` have their block `w[k * stride + col..][..B * LANES]` inside `w`.
    assert!(stride > 0 && w.len() >= col + B * V::LANES);
    let rows = (w.len() - col - B * V::LANES) / stride + 1;
    // SAFETY: col <= w.len() (checked above).
    let base = unsafe { w.as_ptr().add(col) };
    #[inline(always)]
    fn step<V: Simd, const B: usize>(
        acc: &mut [V; B],
        base: *const f32,
        rows: usize,
        stride: usize,
        k: usize,
        a: f32,
    ) {
        assert!(k < rows);
        let a = V::splat(a);
        for (q, acc) in acc.iter_mut().enumerate() {
            // SAFETY: k < rows, so the block's B * LANES floats lie inside `w`.
            let x = unsafe { V::load_ptr(base.add(k * stride + q * V::LANES)) };
            *acc = acc.add(a.mul(x));
        }
    }
    let n = terms.len();
    let mut t = 0;
    while t + 1 < n {
        let (k, a) = terms.term(t);
        step(&mut even, base, rows, stride, k, a);
        let (k, a) = terms.term(t + 1);
        step(&mut odd, base, rows, stride, k, a);
        t += 2;
    }
    if t < n {
        let (k, a) = terms.term(t);
        step(&mut even, base, rows, stride, k, a);
    }
    for (q, (e, o)) in even.iter().zip(&odd).enumerate() {
        e.add(*o).store(&mut out[q * V::LANES..]);
    }
}

/// Every run's weighted sums in one dense layer: for each run `r`, `out[r * p..][..p] =
/// bias[r * bias_stride..][..p] + sum over t < terms of input[r * in_stride + t] *
/// w[(r * terms + t) * p..][..p]` (`p` the output's padded width).
#[derive(Clone, Copy)]
struct RunSums<'a> {
    bias: &'a [f32],
    bias_stride: usize,
    w: &'a [f32],
    input: &'a [f32],
    in_stride: usize,
    terms: usize,
    runs: usize,
}

/// [`RunSums`] into `out` (run stride `p`), each vector of each run with exactly
/// [`weighted_rows`]' arithmetic (`(b + even terms) + odd terms`), but a few runs' vectors at a
/// time: one run's sums are short chains of dependent additions, and several runs' side by side
/// keep the processor busy where one run alone would wait on each addition.
#[inline(always)]
fn weighted_runs<V: Simd>(out: &mut [f32], p: usize, sums: RunSums) {
    let RunSums {
        bias,
        bias_stride,
        w,
        input,
        in_stride,
        terms,
        runs,
    } = sums;
    let per_run = p / V::LANES;
    let vectors = runs * per_run;
    // Every block's reads and writes lie inside the slices (checked once here).
    assert!(p.is_multiple_of(V::LANES) && out.len() >= runs * p);
    assert!(runs == 0 || bias.len() >= (runs - 1) * bias_stride + p);
    assert!(w.len() >= runs * terms * p);
    assert!(runs == 0 || terms == 0 || input.len() >= (runs - 1) * in_stride + terms);
    in_blocks!(vectors, 4, |first| runs_block::<V, _>(
        out, p, sums, first, per_run
    ));
}

/// `B` vectors of [`weighted_runs`] from vector `first` on (vector `v` is column
/// `(v % per_run) * LANES` of run `v / per_run`).
#[inline(always)]
fn runs_block<V: Simd, const B: usize>(
    out: &mut [f32],
    p: usize,
    sums: RunSums,
    first: usize,
    per_run: usize,
) {
    let RunSums {
        bias,
        bias_stride,
        w,
        input,
        in_stride,
        terms,
        ..
    } = sums;
    let mut even = [V::splat(0.0); B];
    let mut odd = [V::splat(0.0); B];
    let mut wp = [w.as_ptr(); B];
    let mut xp = [input.as_ptr(); B];
    let mut op = [0; B];
    for i in 0..B {
        let (r, c) = ((first + i) / per_run, (first + i) % per_run * V::LANES);
        even[i] = V::load(&bias[r * bias_stride + c..]);
        op[i] = r * p + c;
        // SAFETY: in bounds by weighted_runs' checks (r < runs, c + LANES <= p).
        unsafe {
            wp[i] = w.as_ptr().add(r * terms * p + c);
            xp[i] = input.as_ptr().add(r * in_stride);
        }
    }
    let mut t = 0;
    while t + 1 < terms {
        runs_step(&mut even, &wp, &xp, t, p);
        runs_step(&mut odd, &wp, &xp, t + 1, p);
        t += 2;
    }
    if t < terms {
        runs_step(&mut even, &wp, &xp, t, p);
    }
    for i in 0..B {
        even[i].add(odd[i]).store(&mut out[op[i]..]);
    }
}

/// `acc[i] += x_i[t] * w_i[t * p..]` for every vector `i` of a [`runs_block`].
#[inline(always)]
fn runs_step<V: Simd, const B: usize>(
    acc: &mut [V; B],
    wp: &[*const f32; B],
    xp: &[*const f32; B],
    t: usize,
    p: usize,
) {
    for i in 0..B {
        // SAFETY: t < terms, so row t of the run's weights and its input's term t lie inside
        // the slices (weighted_runs' checks).
        unsafe {
            let a = V::splat(*xp[i].add(t));
            acc[i] = acc[i].add(a.mul(V::load_ptr(wp[i].add(t * p))));
        }
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
    fn forward<V: Simd>(
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
    fn backprop_example<V: Simd>(
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
        // Output error: (a - y) * a (1 - a) for the quadratic cost, a - y for cross-entropy and
        // for the softmax with the log-likelihood.
        let top = layers - 1;
        let (n_out, p) = (self.sizes[layers], self.pad[top]);
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
            let f = params[0].activation;
            if dropout.is_none() && params.iter().all(|pr| pr.activation == f) {
                // every run's slopes in one pass, element by element as run by run
                times_slope::<V>(&mut d_in[..runs * p_in], &input[..runs * p_in], f);
                continue;
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
        add::<V>(&mut gb[0], d0);
        rows.push(example);
    }

    /// Adds another chunk's sums (upper-layer and bias gradients) to `into`.
    fn merge_grads(&self, into: &mut Grads, other: &Grads) {
        for l in 1..self.layers() {
            add::<Scalar>(&mut into.g[l], &other.g[l]);
        }
        for l in 0..self.layers() {
            add::<Scalar>(&mut into.gb[l], &other.gb[l]);
        }
    }

    /// The SGD step of every run from a mini-batch of `m` examples whose contributions were
    /// accumulated in `chunks` (in order), with L2 weight decay (`n` = training-set size):
    /// `w <- (1 - eta lambda / n) w - (eta / m) sum_x grad`, `b <- b - (eta / m) sum_x grad_b`.
    /// The first layer takes each example's `x ⊗ delta` in turn, on the rows of its non-zero
    /// pixels. Clears the chunks for the next mini-batch.
    ///
    /// All on the calling thread. The trainer runs the same pieces in parallel for mini-batches
    /// of several chunks (`crate::train`'s phases): [`Self::set_lane_steps`] and
    /// [`Self::set_rates`]; [`Self::prepare_chunk`] on every chunk; [`Self::step_upper`];
    /// [`step_first_layer_part`] on every part of [`Self::part_rows`] (rows of disjoint pixel
    /// ranges are independent, and each row sees the examples in the same order however the rows
    /// are split, so the split never changes a number).
    pub fn apply(
        &mut self,
        chunks: &mut [Grads],
        params: &[RunParams],
        examples: &Examples,
        m: usize,
        n: usize,
    ) {
        let _mode = FlushSubnormals::enter();
        self.set_lane_steps(params, n);
        self.set_rates(params, m);
        // one pixel range: all the rows
        self.part_rows(1, examples);
        let bounds = std::mem::take(&mut self.part_bounds[1]);
        for chunk in chunks.iter_mut() {
            self.prepare_chunk(chunk);
        }
        self.step_upper(chunks, params, m, n);
        let Lockstep { w, vw, lanes, .. } = self;
        let v0 = if lanes.momentum {
            Some(&mut vw[0][..])
        } else {
            None
        };
        step_first_layer_part(&mut w[0], v0, lanes, 0, &bounds, chunks, examples);
        self.part_bounds[1] = bounds;
        for chunk in chunks.iter_mut() {
            chunk.clear();
        }
    }

    /// Sets the per-lane factors of the first layer's step that depend on the runs and the
    /// training-set size `n` alone: momentum's mu and eta·lambda/n, or the weight decay
    /// `1 - eta lambda / n`; allocates the velocities at the first step with momentum.
    pub fn set_lane_steps(&mut self, params: &[RunParams], n: usize) {
        let p0 = self.pad[0];
        let row_len = self.runs * p0;
        let momentum = params.iter().any(|p| p.momentum > 0.0);
        debug_assert!(!momentum || params.iter().all(|p| p.momentum > 0.0));
        if momentum && self.vw.is_empty() {
            self.vw = self.w.iter().map(|w| Buf::zeros(w.len())).collect();
            self.vb = self.b.iter().map(|b| Buf::zeros(b.len())).collect();
        }
        let lanes = &mut self.lanes;
        lanes.momentum = momentum;
        lanes.decay.clear();
        if momentum {
            lanes.mu.resize(row_len, 0.0);
            lanes.wd.resize(row_len, 0.0);
        }
        for (r, params) in params.iter().enumerate() {
            let lane = r * p0..(r + 1) * p0;
            if momentum {
                lanes.mu[lane.clone()].fill(params.momentum as f32);
                let wd = (params.eta * params.lambda / n as f64) as f32;
                lanes.wd[lane].fill(wd);
            } else {
                let decay = (1.0 - params.eta * params.lambda / n as f64) as f32;
                if decay != 1.0 {
                    lanes.decay.push((lane.start, lane.end, decay));
                }
            }
        }
    }

    /// Sets the per-lane learning rates `eta / m` of a mini-batch of `m` examples.
    pub fn set_rates(&mut self, params: &[RunParams], m: usize) {
        let p0 = self.pad[0];
        self.lanes.rate.resize(self.runs * p0, 0.0);
        for (r, params) in params.iter().enumerate() {
            let rate = (params.eta / m as f64) as f32;
            self.lanes.rate[r * p0..(r + 1) * p0].fill(rate);
        }
    }

    /// Readies an accumulated chunk for the first layer's step: each example's errors times its
    /// lanes' rates ([`Self::set_rates`]), in place (the bias gradients were summed from them
    /// already).
    pub fn prepare_chunk(&self, chunk: &mut Grads) {
        let _mode = FlushSubnormals::enter();
        let rates = &self.lanes.rate;
        let row_len = rates.len();
        let Grads { rows, d0, .. } = chunk;
        for slot in 0..rows.len() {
            scale_dispatch(&mut d0[slot * row_len..(slot + 1) * row_len], rates);
        }
    }

    /// Every step but the first layer's weights: the chunks' upper-layer and bias gradients
    /// summed into the first chunk (in order), then each run's upper layers and biases.
    /// Needs [`Self::set_lane_steps`] first.
    pub fn step_upper(&mut self, chunks: &mut [Grads], params: &[RunParams], m: usize, n: usize) {
        // on whichever thread the phases run it, as every entry point of the engine
        let _mode = FlushSubnormals::enter();
        let (first, rest) = chunks.split_at_mut(1);
        let first = &mut first[0];
        for other in rest.iter() {
            self.merge_grads(first, other);
        }
        let momentum = self.lanes.momentum;
        for (r, params) in params.iter().enumerate() {
            let rate = (params.eta / m as f64) as f32;
            if momentum {
                // v <- mu v - wd w - rate g, w <- w + v
                let mu = params.momentum as f32;
                let wd = (params.eta * params.lambda / n as f64) as f32;
                for l in 1..self.layers() {
                    let len = self.sizes[l] * self.pad[l];
                    let w = &mut self.w[l][r * len..(r + 1) * len];
                    let v = &mut self.vw[l][r * len..(r + 1) * len];
                    let g = &first.g[l][r * len..(r + 1) * len];
                    for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
                        momentum_step(w, v, g, mu, rate, wd);
                    }
                }
                for l in 0..self.layers() {
                    let p = self.pad[l];
                    let b = &mut self.b[l][r * p..(r + 1) * p];
                    let v = &mut self.vb[l][r * p..(r + 1) * p];
                    let gb = &first.gb[l][r * p..(r + 1) * p];
                    for ((b, v), &g) in b.iter_mut().zip(v.iter_mut()).zip(gb) {
                        momentum_step(b, v, g, mu, rate, 0.0);
                    }
                }
                continue;
            }
            let decay = (1.0 - params.eta * params.lambda / n as f64) as f32;
            for l in 1..self.layers() {
                let len = self.sizes[l] * self.pad[l];
                let w = &mut self.w[l][r * len..(r + 1) * len];
                let g = &first.g[l][r * len..(r + 1) * len];
                step_dispatch(w, g, decay, rate);
            }
            for l in 0..self.layers() {
                let p = self.pad[l];
                let b = &mut self.b[l][r * p..(r + 1) * p];
                let gb = &first.gb[l][r * p..(r + 1) * p];
                step_dispatch(b, gb, 1.0, rate);
            }
        }
        // The transposes once every run has stepped: reading a weight just written as part of
        // a vector waits for the write to land, which by now it has.
        for r in 0..params.len() {
            for l in 1..self.layers() {
                self.transpose(l, r);
            }
        }
    }

    /// The bounds [`Self::part_rows`] computed for `parts` parts (empty if it has not).
    pub fn part_bounds(&self, parts: usize) -> &[usize] {
        self.part_bounds.get(parts).map_or(&[], |b| &b[..])
    }

    /// The factors [`step_first_layer_part`] needs.
    pub fn lanes(&self) -> &LaneSteps {
        &self.lanes
    }

    /// The first layer's rows, for steps of disjoint parts on several threads at once. Call
    /// after [`Self::set_lane_steps`] (which allocates the velocities).
    pub fn first_layer_rows(&mut self) -> FirstLayerRows {
        let row_len = self.runs * self.pad[0];
        let v0 = if self.lanes.momentum {
            self.vw[0].as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        FirstLayerRows {
            w0: self.w[0].as_mut_ptr(),
            v0,
            row_len,
            rows: self.sizes[0],
        }
    }

    /// The first rows of `parts` pixel ranges that hold about equal shares of the non-zero
    /// pixels of `examples`, and the number of rows at the end (`parts + 1` entries). Computed
    /// once per number of parts: `examples` is the training set the group trains on.
    pub fn part_rows(&mut self, parts: usize, examples: &Examples) -> &[usize] {
        let rows = self.sizes[0];
        if self.part_bounds.len() <= parts {
            self.part_bounds.resize(parts + 1, Vec::new());
        }
        if self.part_bounds[parts].is_empty() {
            let mut counts = vec![0u64; rows];
            if parts > 1 {
                for i in 0..examples.len() {
                    for &k in examples.nonzero(i).0 {
                        counts[k as usize] += 1;
                    }
                }
            }
            let total: u64 = counts.iter().sum::<u64>().max(1);
            let mut bounds = vec![0];
            let mut seen = 0u64;
            for (k, &c) in counts.iter().enumerate() {
                // the next range starts once the ones before hold their shares
                if bounds.len() < parts && seen * parts as u64 >= total * bounds.len() as u64 {
                    bounds.push(k);
                }
                seen += c;
            }
            bounds.resize(parts, rows);
            bounds.push(rows);
            self.part_bounds[parts] = bounds;
        }
        &self.part_bounds[parts]
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
        self.forward::<Scalar>(&mut s, params, index, value, true, None);
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
dispatch!(fn update_dispatch(w0: &mut [f32], first_row: usize, part: usize, parts: usize, row_len: usize, chunks: &[Grads], examples: &Examples) => update_first_layer);
dispatch!(fn scale_dispatch(delta: &mut [f32], rates: &[f32]) => scale_lanes);
dispatch!(fn tally_dispatch(group: &Lockstep, s: &mut Scratch, params: &[RunParams], examples: &Examples, tallies: &mut [Tally], with_cost: bool) => tally_block);

/// Part `part` of the first layer's step (rows `bounds[part]..bounds[part + 1]`: `w0`, and `v0`
/// with momentum) from the prepared chunks ([`Lockstep::prepare_chunk`]): the weight decay (or
/// momentum's `v <- mu v - wd w`), then every example's step in order, then (momentum) `w += v`.
/// Each row's numbers are the same whichever parts the rows are split in.
pub fn step_first_layer_part(
    w0: &mut [f32],
    v0: Option<&mut [f32]>,
    lanes: &LaneSteps,
    part: usize,
    bounds: &[usize],
    chunks: &[Grads],
    examples: &Examples,
) {
    let _mode = FlushSubnormals::enter();
    let row_len = lanes.rate.len();
    let (first_row, parts) = (bounds[part], bounds.len() - 1);
    match v0 {
        Some(v0) => {
            momentum_decay_dispatch(v0, w0, &lanes.mu, &lanes.wd);
            update_dispatch(v0, first_row, part, parts, row_len, chunks, examples);
            add_dispatch(w0, v0);
        }
        None => {
            for &(from, to, decay) in &lanes.decay {
                for row in w0.chunks_exact_mut(row_len) {
                    row[from..to].iter_mut().for_each(|w| *w *= decay);
                }
            }
            update_dispatch(w0, first_row, part, parts, row_len, chunks, examples);
        }
    }
}

dispatch!(fn momentum_decay_dispatch(v0: &mut [f32], w0: &[f32], mu: &[f32], wd: &[f32]) => momentum_decay);
dispatch!(fn add_dispatch(y: &mut [f32], x: &[f32]) => add_rows);

/// `v <- mu ⊙ v - wd ⊙ w` row by row, `mu` and `wd` holding one row's per-lane values.
#[inline(always)]
fn momentum_decay<V: Simd>(v0: &mut [f32], w0: &[f32], mu: &[f32], wd: &[f32]) {
    let row_len = mu.len();
    for (v, w) in v0.chunks_exact_mut(row_len).zip(w0.chunks_exact(row_len)) {
        for at in vector_starts::<V>(row_len) {
            let vc = &mut v[at..];
            V::load(&mu[at..])
                .mul(V::load(vc))
                .sub(V::load(&wd[at..]).mul(V::load(&w[at..])))
                .store(vc);
        }
    }
}

/// `y += x` over whole vectors.
#[inline(always)]
fn add_rows<V: Simd>(y: &mut [f32], x: &[f32]) {
    add::<V>(y, x)
}

#[inline(always)]
fn accumulate_batch<V: Simd>(
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
fn flush_outer<V: Simd>(group: &Lockstep, grads: &mut Grads) {
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

/// `W` examples' inputs (`input[e * a_stride..][..n_in]`) and errors (`error[e * d_stride..]`,
/// one run's padded row each) for [`outer_examples`].
#[derive(Clone, Copy)]
struct Outer<'a> {
    input: &'a [f32],
    a_stride: usize,
    error: &'a [f32],
    d_stride: usize,
    n_in: usize,
}

/// `g[k * p..][..p] += input_e[k] * error_e` for the `W` examples of `o` in order (`p =
/// g.len() / n_in`), their errors held in registers a vector of the row at a time.
#[inline(always)]
fn outer_examples<V: Simd, const W: usize>(g: &mut [f32], o: Outer) {
    let p = g.len() / o.n_in;
    assert!(o.input.len() > (W - 1) * o.a_stride + o.n_in - 1);
    assert!(o.error.len() >= (W - 1) * o.d_stride + p);
    for col in vector_starts::<V>(p) {
        let mut d = [V::splat(0.0); W];
        for (e, d) in d.iter_mut().enumerate() {
            *d = V::load(&o.error[e * o.d_stride + col..]);
        }
        for k in 0..o.n_in {
            let at = k * p + col;
            let mut acc = V::load(&g[at..]);
            for (e, d) in d.iter().enumerate() {
                acc = acc.add(V::splat(o.input[e * o.a_stride + k]).mul(*d));
            }
            acc.store(&mut g[at..]);
        }
    }
}

/// `delta = rates ⊙ delta`, lane by lane (an example's first-layer errors times its lanes' rates).
#[inline(always)]
fn scale_lanes<V: Simd>(delta: &mut [f32], rates: &[f32]) {
    for at in vector_starts::<V>(delta.len().min(rates.len())) {
        let dc = &mut delta[at..];
        V::load(&rates[at..]).mul(V::load(dc)).store(dc);
    }
}

/// `w0[k] -= x_k * scaled` for every accumulated example (chunk by chunk, in order) and each of
/// its non-zero pixels `k` in the rows `w0` holds (part `part` of `parts`, from `first_row`),
/// where `scaled` is the example's errors already multiplied by the lanes' rates.
#[inline(always)]
fn update_first_layer<V: Simd>(
    w0: &mut [f32],
    first_row: usize,
    part: usize,
    parts: usize,
    row_len: usize,
    chunks: &[Grads],
    examples: &Examples,
) {
    let vectors = row_len / V::LANES;
    for grads in chunks {
        assert_eq!(
            grads.spans.len(),
            grads.rows.len() * (parts + 1),
            "parts as accumulated"
        );
    }
    // this part's pixels of example `slot` of `grads`, where they were recorded as it was
    // accumulated
    let pixels = |grads: &Grads, slot: usize| {
        let at = slot * (parts + 1) + part;
        examples.pixels_at(grads.spans[at] as usize, grads.spans[at + 1] as usize)
    };
    // A large mini-batch's pixel lists are no longer in the caches: fetch each next example's
    // early (they are in shuffled order). A small one's were just read by its forward passes.
    let fetch_ahead = chunks.len() > 1;
    for (c, grads) in chunks.iter().enumerate() {
        for slot in 0..grads.rows.len() {
            let next = if !fetch_ahead {
                None
            } else if slot + 1 < grads.rows.len() {
                Some((grads, slot + 1))
            } else {
                chunks[c + 1..]
                    .iter()
                    .find(|g| !g.rows.is_empty())
                    .map(|g| (g, 0))
            };
            if let Some((g, s)) = next {
                let (index, value) = pixels(g, s);
                prefetch(index);
                prefetch(value);
            }
            let scaled = &grads.d0[slot * row_len..(slot + 1) * row_len];
            let pixels = pixels(grads, slot);
            // a block of up to 8 vectors of the rows at a time, its `scaled` kept in registers;
            // each weight still takes the examples' steps in order
            in_blocks!(vectors, 8, |block| step_rows::<V, _>(
                &mut *w0,
                row_len,
                block * V::LANES,
                scaled,
                pixels,
                first_row
            ));
        }
    }
}

/// `w0[k - first_row][col..][..B * LANES] += (-x_k) * scaled[col..]` for each pixel `(k, x_k)`:
/// one example's first-layer step on one block of columns, `scaled` held in registers.
#[inline(always)]
fn step_rows<V: Simd, const B: usize>(
    w0: &mut [f32],
    row_len: usize,
    col: usize,
    scaled: &[f32],
    (index, value): (&[u16], &[u8]),
    first_row: usize,
) {
    let mut s = [V::splat(0.0); B];
    for (q, s) in s.iter_mut().enumerate() {
        *s = V::load(&scaled[col + q * V::LANES..]);
    }
    assert!(col + B * V::LANES <= row_len);
    let rows = w0.len() / row_len;
    let base = w0.as_mut_ptr();
    for (&k, &x) in index.iter().zip(value) {
        let k = (k as usize).wrapping_sub(first_row);
        assert!(k < rows);
        let a = V::splat(-pixel(x));
        for (q, s) in s.iter().enumerate() {
            // SAFETY: k < rows and col + B * LANES <= row_len, so the block lies inside w0.
            unsafe {
                let p = base.add(k * row_len + col + q * V::LANES);
                V::load_ptr(p).add(a.mul(*s)).store_ptr(p);
            }
        }
    }
}

#[inline(always)]
fn tally_block<V: Simd>(
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
mod tests {
    use super::*;
    use crate::nn::params::Init;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Lanes of every kind: both sigmoid costs, softmax with the log-likelihood, tanh and ReLU
    /// hidden layers.
    fn params() -> Vec<RunParams> {
        vec![
            RunParams::sgd(3.0, 0.0, Cost::Quadratic),
            RunParams::sgd(0.5, 5.0, Cost::CrossEntropy),
            RunParams {
                activation: Activation::Tanh,
                ..RunParams::sgd(0.1, 0.0, Cost::LogLikelihood)
            },
            RunParams {
                activation: Activation::Relu,
                ..RunParams::sgd(0.1, 0.0, Cost::CrossEntropy)
            },
            RunParams {
                activation: Activation::Relu,
                ..RunParams::sgd(0.1, 0.0, Cost::LogLikelihood)
            },
        ]
    }

    /// The first layer's gradient summed over the accumulated examples, dense, laid out as
    /// `w[0]`: sum over examples of x_k * delta.
    fn first_layer_gradient(group: &Lockstep, grads: &Grads, examples: &Examples) -> Vec<f32> {
        let row_len = group.runs * group.pad[0];
        let mut g = vec![0f32; group.w[0].len()];
        for (slot, &i) in grads.rows.iter().enumerate() {
            let d = &grads.d0[slot * row_len..(slot + 1) * row_len];
            let (index, value) = examples.nonzero(i as usize);
            for (&k, &v) in index.iter().zip(value) {
                let row = &mut g[k as usize * row_len..(k as usize + 1) * row_len];
                row.iter_mut().zip(d).for_each(|(g, &d)| *g += pixel(v) * d);
            }
        }
        g
    }

    #[test]
    fn update_parts_hold_equal_shares_of_the_pixels() {
        let data = crate::tests_support::mnist();
        let examples = data.train.examples(2000);
        let net = Network::new(&[784, 10], Init::Large, &mut ChaCha8Rng::seed_from_u64(1));
        let mut group = Lockstep::from_network(&net, 1);
        assert_eq!(group.part_rows(1, &examples), [0, 784]);
        let mut counts = vec![0u64; 784];
        for i in 0..examples.len() {
            for &k in examples.nonzero(i).0 {
                counts[k as usize] += 1;
            }
        }
        for parts in [2, 3, 4, 8] {
            let bounds = group.part_rows(parts, &examples).to_vec();
            assert_eq!(bounds.len(), parts + 1);
            assert_eq!((bounds[0], bounds[parts]), (0, 784));
            assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
            let total: u64 = counts.iter().sum();
            let busiest = *counts.iter().max().unwrap();
            for w in bounds.windows(2) {
                let share: u64 = counts[w[0]..w[1]].iter().sum();
                // within one row's count of an equal share
                let fair = total / parts as u64;
                assert!(share.abs_diff(fair) <= busiest, "{parts} parts: {bounds:?}");
            }
        }
    }

    #[test]
    fn accumulated_examples_record_where_each_parts_pixels_lie() {
        let data = crate::tests_support::mnist();
        let examples = data.train.examples(50);
        let net = Network::new(
            &[784, 30, 10],
            Init::Large,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        let group = Lockstep::from_network(&net, 2);
        let params = params()[..2].to_vec();
        let order: Vec<u32> = (0..50).rev().step_by(3).collect();
        for bounds in [vec![0, 784], vec![0, 300, 784], vec![0, 200, 201, 500, 784]] {
            let mut grads = group.grads();
            grads.set_parts(&bounds);
            group.accumulate(&mut grads, &params, &examples, &order, 0);
            let parts = bounds.len() - 1;
            assert_eq!(grads.spans.len(), order.len() * (parts + 1));
            for (slot, &i) in order.iter().enumerate() {
                let spans = &grads.spans[slot * (parts + 1)..(slot + 1) * (parts + 1)];
                let mut joined = (Vec::new(), Vec::new());
                for part in 0..parts {
                    let (index, value) =
                        examples.pixels_at(spans[part] as usize, spans[part + 1] as usize);
                    // the part's pixels are the example's pixels in its rows
                    let rows = bounds[part]..bounds[part + 1];
                    assert!(
                        index.iter().all(|&k| rows.contains(&(k as usize))),
                        "{bounds:?}"
                    );
                    joined.0.extend_from_slice(index);
                    joined.1.extend_from_slice(value);
                }
                let (index, value) = examples.nonzero(i as usize);
                assert_eq!(
                    (&joined.0[..], &joined.1[..]),
                    (index, value),
                    "example {i}"
                );
            }
            grads.clear();
            assert!(grads.spans.is_empty());
        }
    }

    #[test]
    fn round_trips_through_a_plain_network() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for sizes in [vec![784, 30, 10], vec![784, 10], vec![784, 20, 17, 10]] {
            let net = Network::new(&sizes, Init::Large, &mut rng);
            let g = Lockstep::from_network(&net, 3);
            for r in 0..3 {
                assert_eq!(g.network(r), net);
            }
        }
    }

    /// The engine's gradient against central finite differences of its own cost, for both costs
    /// in one group, on 2-, 3- and 4-layer networks, for a few examples of real MNIST.
    #[test]
    fn gradient_matches_finite_differences() {
        let data = crate::tests_support::mnist();
        let examples = data.train.examples(3);
        let params = params();
        for sizes in [vec![784, 10], vec![784, 7, 10], vec![784, 6, 5, 10]] {
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let net = Network::new(&sizes, Init::Scaled, &mut rng);
            let runs = params.len();
            let mut group = Lockstep::from_network(&net, runs);
            let mut grads = group.grads();
            group.accumulate(&mut grads, &params, &examples, &[0, 1, 2], 0);
            let g0 = first_layer_gradient(&group, &grads, &examples);
            let cost = |g: &Lockstep| -> Vec<f64> {
                let mut total = vec![0.0; runs];
                for i in 0..3 {
                    let (index, value) = examples.nonzero(i);
                    let c = g.example_costs(&params, index, value, examples.labels[i] as usize);
                    for (t, c) in total.iter_mut().zip(c) {
                        *t += c;
                    }
                }
                total
            };
            let h = 1e-2f32;
            let mut checked = 0;
            for l in 0..group.layers() {
                // every weight and bias of the upper layers; every 97th of the first layer
                let n = group.w[l].len();
                let step = if l == 0 { 97 } else { 1 };
                for idx in (0..n + group.b[l].len()).step_by(step) {
                    let (is_w, at) = if idx < n {
                        (true, idx)
                    } else {
                        (false, idx - n)
                    };
                    let analytic = match (is_w, l) {
                        (true, 0) => g0[at],
                        (true, _) => grads.g[l][at],
                        (false, _) => grads.gb[l][at],
                    } as f64;
                    let run = if l == 0 {
                        (at % (runs * group.pad[0])) / group.pad[0]
                    } else if is_w {
                        at / (group.sizes[l] * group.pad[l])
                    } else {
                        at / group.pad[l]
                    };
                    fn param(g: &mut Lockstep, is_w: bool, l: usize, at: usize) -> &mut f32 {
                        if is_w {
                            &mut g.w[l][at]
                        } else {
                            &mut g.b[l][at]
                        }
                    }
                    let orig = *param(&mut group, is_w, l, at);
                    *param(&mut group, is_w, l, at) = orig + h;
                    let plus = cost(&group)[run];
                    *param(&mut group, is_w, l, at) = orig - h;
                    let minus = cost(&group)[run];
                    *param(&mut group, is_w, l, at) = orig;
                    let numeric = (plus - minus) / (2.0 * h as f64);
                    let err =
                        (numeric - analytic).abs() / (1e-3 + numeric.abs().max(analytic.abs()));
                    assert!(
                        err < 2e-2,
                        "{sizes:?} run {run} ({:?}) layer {l} {} {at}: numeric {numeric} vs backprop {analytic}",
                        params[run],
                        if is_w { "weight" } else { "bias" }
                    );
                    checked += 1;
                }
            }
            assert!(checked > 40, "{checked}");
        }
    }

    #[test]
    fn gradient_agrees_with_the_dense_reference() {
        let data = crate::tests_support::mnist();
        let examples = data.train.examples(10);
        let indices: Vec<u32> = (0..10).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let net = Network::new(&[784, 30, 10], Init::Large, &mut rng);
        for cost in Cost::ALL {
            let p = [RunParams::sgd(1.0, 0.0, cost)];
            let group = Lockstep::from_network(&net, 1);
            let mut grads = group.grads();
            group.accumulate(&mut grads, &p, &examples, &indices, 0);
            let g0 = first_layer_gradient(&group, &grads, &examples);
            let mut ws = crate::nn::reference::Workspace::for_training(&net.sizes, 10);
            ws.load_indices(&examples, &indices);
            net.backprop(&mut ws, 10, cost);
            let close = |fast: f32, dense: f32| (fast - dense).abs() <= 1e-4 * (1.0 + dense.abs());
            for j in 0..10 {
                for k in 0..30 {
                    assert!(close(grads.g[1][k * 16 + j], ws.grad_w[1][[j, k]]));
                }
            }
            for k in 0..784 {
                for j in 0..30 {
                    assert!(close(g0[k * 32 + j], ws.grad_w[0][[j, k]]), "{k} {j}");
                }
            }
        }
    }

    #[test]
    fn retained_lanes_keep_their_parameters() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let sizes = [784, 20, 12, 10];
        let nets: Vec<Network> = (0..4)
            .map(|_| Network::new(&sizes, Init::Scaled, &mut rng))
            .collect();
        // a group of four different networks, built lane by lane
        let mut group = Lockstep::from_network(&nets[0], 4);
        for (r, net) in nets.iter().enumerate() {
            let one = Lockstep::from_network(net, 1);
            for (l, &n_in) in sizes[..3].iter().enumerate() {
                let p = group.pad[l];
                for k in 0..n_in {
                    let at = if l == 0 {
                        k * 4 * p + r * p
                    } else {
                        (r * n_in + k) * p
                    };
                    group.w[l][at..at + p].copy_from_slice(one.row(l, 0, k));
                }
                group.b[l][r * p..(r + 1) * p].copy_from_slice(&one.b[l][..p]);
                if l > 0 {
                    group.transpose(l, r);
                }
            }
        }
        for (r, net) in nets.iter().enumerate() {
            assert_eq!(&group.network(r), net);
        }
        group.retain(&[1, 3]);
        assert_eq!(group.runs(), 2);
        assert_eq!(group.network(0), nets[1]);
        assert_eq!(group.network(1), nets[3]);
        let one = Lockstep::from_network(&nets[3], 1);
        let block = 10 * group.pad[1];
        assert_eq!(
            &group.wt[2][block..],
            &one.wt[2][..],
            "the transposes follow"
        );
    }

    #[test]
    fn momentum_step_by_hand() {
        // w = 2, v = 0.5, summed gradient g = 4, mu = 0.9, eta = 0.5, m = 2 -> rate = 0.25,
        // lambda = 10, n = 100 -> wd = 0.05:
        // v' = 0.9 * 0.5 - (0.05 * 2 + 0.25 * 4) = 0.45 - 1.1 = -0.65; w' = 2 - 0.65 = 1.35
        let (mut w, mut v) = (2.0f32, 0.5f32);
        momentum_step(&mut w, &mut v, 4.0, 0.9, 0.25, 0.05);
        assert!((v + 0.65).abs() < 1e-6, "{v}");
        assert!((w - 1.35).abs() < 1e-6, "{w}");
        // a second step with g = 0: v'' = 0.9 * -0.65 - 0.05 * 1.35 = -0.6525; w'' = 0.6975
        momentum_step(&mut w, &mut v, 0.0, 0.9, 0.25, 0.05);
        assert!((v + 0.6525).abs() < 1e-6, "{v}");
        assert!((w - 0.6975).abs() < 1e-6, "{w}");
        // mu = 0 and no decay is the plain step w - rate g
        let (mut w, mut v) = (1.0f32, 123.0f32);
        momentum_step(&mut w, &mut v, 2.0, 0.0, 0.25, 0.0);
        assert_eq!(w, 0.5);
    }

    #[test]
    fn momentum_steps_match_the_formula_on_every_parameter() {
        // Three mini-batches of momentum SGD with weight decay (the second split in two chunks)
        // against v <- mu v - eta (lambda / n) w - (eta / m) grad, w <- w + v, computed on the
        // plain network from the reference gradients.
        let data = crate::tests_support::mnist();
        let examples = data.train.examples(30);
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut net = Network::new(&[784, 20, 10], Init::Scaled, &mut rng);
        let (eta, lambda, mu, n, m) = (0.5f64, 5.0f64, 0.9f32, 1000usize, 10usize);
        let p = [RunParams {
            momentum: mu as f64,
            ..RunParams::sgd(eta, lambda, Cost::CrossEntropy)
        }];
        let mut group = Lockstep::from_network(&net, 1);
        let mut chunks = vec![group.grads(), group.grads()];
        let mut ws = crate::nn::reference::Workspace::for_training(&net.sizes, m);
        let mut vw: Vec<_> = net.weights.iter().map(|w| w.mapv(|_| 0f32)).collect();
        let mut vb: Vec<_> = net.biases.iter().map(|b| b.mapv(|_| 0f32)).collect();
        let rate = (eta / m as f64) as f32;
        let wd = (eta * lambda / n as f64) as f32;
        for (step, batch) in (0u32..30).collect::<Vec<_>>().chunks(m).enumerate() {
            if step == 1 {
                group.accumulate(&mut chunks[0], &p, &examples, &batch[..4], 0);
                group.accumulate(&mut chunks[1], &p, &examples, &batch[4..], 0);
                group.apply(&mut chunks, &p, &examples, m, n);
            } else {
                group.accumulate(&mut chunks[0], &p, &examples, batch, 0);
                group.apply(&mut chunks[..1], &p, &examples, m, n);
            }
            ws.load_indices(&examples, batch);
            net.backprop(&mut ws, m, Cost::CrossEntropy);
            for l in 0..2 {
                ndarray::Zip::from(&mut net.weights[l])
                    .and(&mut vw[l])
                    .and(&ws.grad_w[l])
                    .for_each(|w, v, &g| {
                        *v = mu * *v - wd * *w - rate * g;
                        *w += *v;
                    });
                ndarray::Zip::from(&mut net.biases[l])
                    .and(&mut vb[l])
                    .and(&ws.grad_b[l])
                    .for_each(|b, v, &g| {
                        *v = mu * *v - rate * g;
                        *b += *v;
                    });
            }
        }
        let fast = group.network(0);
        let mut moved = 0;
        for l in 0..2 {
            for (a, b) in fast.weights[l].iter().zip(net.weights[l].iter()) {
                assert!((a - b).abs() <= 2e-5 * (1.0 + b.abs()), "{a} {b}");
            }
            for (a, b) in fast.biases[l].iter().zip(net.biases[l].iter()) {
                assert!((a - b).abs() <= 2e-5 * (1.0 + b.abs()), "{a} {b}");
            }
            moved += fast.weights[l]
                .iter()
                .zip(
                    Lockstep::from_network(
                        &Network::new(
                            &[784, 20, 10],
                            Init::Scaled,
                            &mut ChaCha8Rng::seed_from_u64(8),
                        ),
                        1,
                    )
                    .network(0)
                    .weights[l]
                        .iter(),
                )
                .filter(|(a, b)| a != b)
                .count();
        }
        assert!(moved > 1000, "the steps changed {moved} weights");
    }

    #[test]
    fn steps_match_the_plain_formula() {
        // SGD steps with weight decay, the batch split in two chunks, equal the dense
        // reference's steps up to float rounding.
        let data = crate::tests_support::mnist();
        let examples = data.train.examples(20);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut net = Network::new(&[784, 20, 10], Init::Scaled, &mut rng);
        let p = [RunParams::sgd(0.5, 5.0, Cost::CrossEntropy)];
        let mut group = Lockstep::from_network(&net, 1);
        let mut chunks = vec![group.grads(), group.grads()];
        let mut ws = crate::nn::reference::Workspace::for_training(&net.sizes, 10);
        for batch in [
            [0u32, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
        ] {
            group.accumulate(&mut chunks[0], &p, &examples, &batch[..4], 0);
            group.accumulate(&mut chunks[1], &p, &examples, &batch[4..], 0);
            group.apply(&mut chunks, &p, &examples, 10, 1000);
            ws.load_indices(&examples, &batch);
            net.backprop(&mut ws, 10, Cost::CrossEntropy);
            net.apply_gradient(
                &ws.grad_w,
                &ws.grad_b,
                0.05,
                (1.0 - 0.5 * 5.0 / 1000.0) as f32,
            );
        }
        let fast = group.network(0);
        for l in 0..2 {
            for (a, b) in fast.weights[l].iter().zip(net.weights[l].iter()) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} {b}");
            }
            for (a, b) in fast.biases[l].iter().zip(net.biases[l].iter()) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} {b}");
            }
        }
        assert!(chunks.iter().all(|c| c.rows.is_empty()));
        assert!(chunks[0].gb.iter().all(|g| g.iter().all(|&x| x == 0.0)));
    }

    /// Dropout worked by hand on one example and one SGD step of a [784, 3, 10] network
    /// (quadratic cost, eta 2, batch 1): the mask drawn for a position of seed 9's stream drops
    /// some hidden neurons and scales the others by 1 / (1 - p); the engine's new weights are
    /// those of the book's backpropagation written out neuron by neuron with that mask.
    #[test]
    fn dropout_matches_a_hand_worked_step() {
        use crate::nn::dropout::{generator, Masks};
        let data = crate::tests_support::mnist();
        let examples = data.train.examples(1);
        let (index, value) = examples.nonzero(0);
        let label = examples.labels[0] as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let net = Network::new(&[784, 3, 10], Init::Scaled, &mut rng);
        let (eta, p) = (2.0f32, 0.5);
        let params = [RunParams {
            dropout: p,
            ..RunParams::sgd(eta as f64, 0.0, Cost::Quadratic)
        }];
        // the mask, drawn as the engine draws it, at the first position that both drops a
        // neuron and keeps one
        let mut masks = Masks::new(generator(9, 3), &[784, 3, 10], &[16, 16], 1);
        let position = (0..)
            .find(|&t| {
                masks.draw(t, [p].into_iter());
                let s = &masks.scale[0][..3];
                s.contains(&0.0) && s.contains(&2.0)
            })
            .unwrap();
        let scale: Vec<f32> = masks.scale[0][..3].to_vec();
        assert!(scale.iter().all(|&s| s == 0.0 || s == 2.0));
        // by hand: hidden a = sigmoid(W1 x + b1), h = a * scale, output o = sigmoid(W2 h + b2)
        let (w1, b1, w2, b2) = (
            &net.weights[0],
            &net.biases[0],
            &net.weights[1],
            &net.biases[1],
        );
        let mut a = [0f32; 3];
        for j in 0..3 {
            let mut z = b1[j];
            for (&k, &v) in index.iter().zip(value) {
                z += w1[[j, k as usize]] * pixel(v);
            }
            a[j] = sigmoid(z);
        }
        let h: Vec<f32> = (0..3).map(|j| a[j] * scale[j]).collect();
        let mut d_out = [0f32; 10];
        for (i, d) in d_out.iter_mut().enumerate() {
            let z = b2[i] + (0..3).map(|j| w2[[i, j]] * h[j]).sum::<f32>();
            let o = sigmoid(z);
            let y = (i == label) as u8 as f32;
            *d = (o - y) * o * (1.0 - o);
        }
        let d_hidden: Vec<f32> = (0..3)
            .map(|j| {
                let back: f32 = (0..10).map(|i| w2[[i, j]] * d_out[i]).sum();
                back * a[j] * (1.0 - a[j]) * scale[j]
            })
            .collect();
        // the engine's step
        let mut group = Lockstep::from_network(&net, 1);
        let mut grads = vec![group.grads_with_dropout(generator(9, 3))];
        group.accumulate(&mut grads[0], &params, &examples, &[0], position);
        group.apply(&mut grads, &params, &examples, 1, 1);
        let after = group.network(0);
        let close = |x: f32, y: f32| (x - y).abs() <= 1e-6 * (1.0 + y.abs());
        for j in 0..3 {
            let want = b1[j] - eta * d_hidden[j];
            assert!(close(after.biases[0][j], want), "b1[{j}]");
            for (&k, &v) in index.iter().zip(value) {
                let want = w1[[j, k as usize]] - eta * d_hidden[j] * pixel(v);
                assert!(
                    close(after.weights[0][[j, k as usize]], want),
                    "w1[{j}, {k}]"
                );
            }
            if scale[j] == 0.0 {
                // a dropped neuron learns nothing from this example, in or out
                assert_eq!(after.biases[0][j], b1[j]);
                assert!((0..10).all(|i| after.weights[1][[i, j]] == w2[[i, j]]));
            }
        }
        for i in 0..10 {
            assert!(close(after.biases[1][i], b2[i] - eta * d_out[i]), "b2[{i}]");
            for j in 0..3 {
                let want = w2[[i, j]] - eta * d_out[i] * h[j];
                assert!(close(after.weights[1][[i, j]], want), "w2[{i}, {j}]");
            }
        }
    }

    /// With dropout on, lanes stay independent: a lane trained in a group of three computes the
    /// same bits as alone, and p = 0 inside a dropout group is plain training (scale 1).
    #[test]
    fn dropout_lanes_are_independent() {
        use crate::nn::dropout::generator;
        let data = crate::tests_support::mnist();
        let examples = data.train.examples(40);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = Network::new(&[784, 12, 8, 10], Init::Scaled, &mut rng);
        let all = [
            RunParams {
                dropout: 0.5,
                ..RunParams::sgd(0.5, 0.0, Cost::CrossEntropy)
            },
            RunParams {
                dropout: 0.2,
                activation: Activation::Relu,
                ..RunParams::sgd(0.1, 1.0, Cost::LogLikelihood)
            },
            RunParams {
                dropout: 0.0,
                ..RunParams::sgd(3.0, 0.0, Cost::Quadratic)
            },
        ];
        let train = |params: &[RunParams], dropout: bool| -> Lockstep {
            let mut g = Lockstep::from_network(&net, params.len());
            let mut grads = vec![if dropout {
                g.grads_with_dropout(generator(1, 3))
            } else {
                g.grads()
            }];
            for b in 0..4u32 {
                let batch: Vec<u32> = (b * 10..b * 10 + 10).collect();
                g.accumulate(&mut grads[0], params, &examples, &batch, (b * 10) as u64);
                g.apply(&mut grads, params, &examples, 10, 40);
            }
            g
        };
        let fused = train(&all, true);
        for (r, p) in all.iter().enumerate() {
            let alone = train(std::slice::from_ref(p), true);
            assert_eq!(fused.network(r), alone.network(0), "lane {r}");
        }
        assert_eq!(
            fused.network(2),
            train(&all[2..], false).network(0),
            "p = 0 is plain SGD"
        );
        assert_ne!(fused.network(0), train(&all[..1], false).network(0));
    }
}
