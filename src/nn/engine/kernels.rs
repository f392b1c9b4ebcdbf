//! The engine's SIMD kernels: loops over whole vectors of floats that know the layout's shapes
//! (padded rows, interleaved runs) but nothing of [`super::Lockstep`]. Each is generic over the
//! instruction set ([`Simd`]) and is compiled for the one detected at run time through
//! `dispatch!`; the two block macros pick a block width as a const generic so that a block's
//! vectors live in registers.

use super::RunParams;
use crate::data::pixel;
use crate::dispatch;
use crate::nn::maths::{sigmoid, softmax, tanh, Activation, Cost};
use crate::nn::simd::{vector_starts, Simd};

/// Input `k`'s row of one run's weights (its real outputs) into column `k` of the run's
/// transpose, whose rows are `p_in` long.
#[inline]
pub(super) fn transpose_row(wt: &mut [f32], row: &[f32], k: usize, p_in: usize) {
    // one check here instead of one per element: every row of `wt` holds column k
    assert!(k < p_in && wt.len() >= row.len() * p_in);
    for (wt_row, &v) in wt.chunks_exact_mut(p_in).zip(row) {
        wt_row[k] = v;
    }
}

dispatch!(pub(super) fn step_dispatch(w: &mut [f32], g: &[f32], decay: f32, rate: f32) => step_plain);

/// `w <- decay w - rate g` over whole vectors (with `decay = 1`, `w - rate g` exactly: `1 w = w`).
#[inline(always)]
pub(super) unsafe fn step_plain<V: Simd>(w: &mut [f32], g: &[f32], decay: f32, rate: f32) {
    let (decay, rate) = (V::splat(decay), V::splat(rate));
    for at in vector_starts::<V>(w.len().min(g.len())) {
        let wc = &mut w[at..];
        decay
            .mul(V::load(wc))
            .sub(rate.mul(V::load(&g[at..])))
            .store(wc);
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
pub(super) unsafe fn add<V: Simd>(y: &mut [f32], x: &[f32]) {
    for at in vector_starts::<V>(y.len().min(x.len())) {
        let yc = &mut y[at..];
        V::load(yc).add(V::load(&x[at..])).store(yc);
    }
}

/// Dropout of one hidden layer (every run): keeps the activations in `kept` for the slopes, then
/// multiplies them by the mask's `scale` (0 or `1 / (1 - p)`).
#[inline(always)]
pub(super) unsafe fn drop_neurons<V: Simd>(a: &mut [f32], kept: &mut [f32], scale: &[f32]) {
    kept.copy_from_slice(a);
    for at in vector_starts::<V>(a.len().min(scale.len())) {
        let ac = &mut a[at..];
        V::load(ac).mul(V::load(&scale[at..])).store(ac);
    }
}

/// `d = d * f'(z)`, with the slope computed from the activation `a = f(z)`: `a (1 - a)` for the
/// sigmoid, `1 - a^2` for tanh, `[a > 0]` for the ReLU, lane by lane.
#[inline(always)]
pub(super) unsafe fn times_slope<V: Simd>(d: &mut [f32], a: &[f32], f: Activation) {
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
pub(super) fn activate(z: &mut [f32], output: Option<(Cost, usize)>, f: Activation) {
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
pub(super) fn activate_runs(z: &mut [f32], p: usize, params: &[RunParams], output: Option<usize>) {
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
pub(super) struct SparseTerms<'a> {
    pub(super) index: &'a [u16],
    pub(super) value: &'a [u8],
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
pub(super) unsafe fn weighted_rows<V: Simd>(
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
pub(super) unsafe fn weighted_block<V: Simd, const B: usize>(
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
    /// `acc += a * w[k * stride..][..B * LANES]`, where `base` points at `w[col]`.
    ///
    /// # Safety
    /// `base` points into a slice holding `rows` blocks `stride` floats apart (the checks
    /// above); `k < rows` is asserted here. V's instruction set is available.
    #[inline(always)]
    unsafe fn step<V: Simd, const B: usize>(
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
pub(super) struct RunSums<'a> {
    pub(super) bias: &'a [f32],
    pub(super) bias_stride: usize,
    pub(super) w: &'a [f32],
    pub(super) input: &'a [f32],
    pub(super) in_stride: usize,
    pub(super) terms: usize,
    pub(super) runs: usize,
}

/// [`RunSums`] into `out` (run stride `p`), each vector of each run with exactly
/// [`weighted_rows`]' arithmetic (`(b + even terms) + odd terms`), but a few runs' vectors at a
/// time: one run's sums are short chains of dependent additions, and several runs' side by side
/// keep the processor busy where one run alone would wait on each addition.
#[inline(always)]
pub(super) unsafe fn weighted_runs<V: Simd>(out: &mut [f32], p: usize, sums: RunSums) {
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
pub(super) unsafe fn runs_block<V: Simd, const B: usize>(
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
///
/// # Safety
/// For every `i`, `xp[i].add(t)` is a readable float and `wp[i].add(t * p)` starts `LANES`
/// readable floats (`runs_block` checks the slices they point into); V's instruction set is
/// available.
#[inline(always)]
pub(super) unsafe fn runs_step<V: Simd, const B: usize>(
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

dispatch!(pub(super) fn momentum_decay_dispatch(v0: &mut [f32], w0: &[f32], mu: &[f32], wd: &[f32]) => momentum_decay);
dispatch!(pub(super) fn add_dispatch(y: &mut [f32], x: &[f32]) => add_rows);

/// `v <- mu ⊙ v - wd ⊙ w` row by row, `mu` and `wd` holding one row's per-lane values.
#[inline(always)]
pub(super) unsafe fn momentum_decay<V: Simd>(v0: &mut [f32], w0: &[f32], mu: &[f32], wd: &[f32]) {
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
pub(super) unsafe fn add_rows<V: Simd>(y: &mut [f32], x: &[f32]) {
    add::<V>(y, x)
}

/// `W` examples' inputs (`input[e * a_stride..][..n_in]`) and errors (`error[e * d_stride..]`,
/// one run's padded row each) for [`outer_examples`].
#[derive(Clone, Copy)]
pub(super) struct Outer<'a> {
    pub(super) input: &'a [f32],
    pub(super) a_stride: usize,
    pub(super) error: &'a [f32],
    pub(super) d_stride: usize,
    pub(super) n_in: usize,
}

/// `g[k * p..][..p] += input_e[k] * error_e` for the `W` examples of `o` in order (`p =
/// g.len() / n_in`), their errors held in registers a vector of the row at a time.
#[inline(always)]
pub(super) unsafe fn outer_examples<V: Simd, const W: usize>(g: &mut [f32], o: Outer) {
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
pub(super) unsafe fn scale_lanes<V: Simd>(delta: &mut [f32], rates: &[f32]) {
    for at in vector_starts::<V>(delta.len().min(rates.len())) {
        let dc = &mut delta[at..];
        V::load(&rates[at..]).mul(V::load(dc)).store(dc);
    }
}

/// `w0[k - first_row][col..][..B * LANES] += (-x_k) * scaled[col..]` for each pixel `(k, x_k)`:
/// one example's first-layer step on one block of columns, `scaled` held in registers.
#[inline(always)]
pub(super) unsafe fn step_rows<V: Simd, const B: usize>(
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
