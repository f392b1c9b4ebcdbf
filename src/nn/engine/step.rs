//! The step: a mini-batch's gradients applied to every run's parameters. The upper layers step
//! run by run; the first layer steps example by example in pixel ranges (its rows split in parts
//! by [`Lockstep::part_rows`], each part's rows independent of the others'), so that the step can
//! run on several threads ([`super::phased`]) with the numbers of the serial [`Lockstep::apply`].

use super::kernels::*;
use super::*;

impl Lockstep {
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
    pub(super) fn set_lane_steps(&mut self, params: &[RunParams], n: usize) {
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
    pub(super) fn set_rates(&mut self, params: &[RunParams], m: usize) {
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
    pub(super) fn prepare_chunk(&self, chunk: &mut Grads) {
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
    pub(super) fn step_upper(
        &mut self,
        chunks: &mut [Grads],
        params: &[RunParams],
        m: usize,
        n: usize,
    ) {
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
    pub(super) fn part_bounds(&self, parts: usize) -> &[usize] {
        self.part_bounds.get(parts).map_or(&[], |b| &b[..])
    }

    /// The factors [`step_first_layer_part`] needs.
    pub(super) fn lanes(&self) -> &LaneSteps {
        &self.lanes
    }

    /// The first layer's rows, for steps of disjoint parts on several threads at once. Call
    /// after [`Self::set_lane_steps`] (which allocates the velocities).
    pub(super) fn first_layer_rows(&mut self) -> FirstLayerRows {
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
    pub(super) fn part_rows(&mut self, parts: usize, examples: &Examples) -> &[usize] {
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
}

dispatch!(pub(super) fn update_dispatch(w0: &mut [f32], first_row: usize, part: usize, parts: usize, row_len: usize, chunks: &[Grads], examples: &Examples) => update_first_layer);
dispatch!(pub(super) fn scale_dispatch(delta: &mut [f32], rates: &[f32]) => scale_lanes);

/// Part `part` of the first layer's step (rows `bounds[part]..bounds[part + 1]`: `w0`, and `v0`
/// with momentum) from the prepared chunks ([`Lockstep::prepare_chunk`]): the weight decay (or
/// momentum's `v <- mu v - wd w`), then every example's step in order, then (momentum) `w += v`.
/// Each row's numbers are the same whichever parts the rows are split in.
pub(super) fn step_first_layer_part(
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

/// `w0[k] -= x_k * scaled` for every accumulated example (chunk by chunk, in order) and each of
/// its non-zero pixels `k` in the rows `w0` holds (part `part` of `parts`, from `first_row`),
/// where `scaled` is the example's errors already multiplied by the lanes' rates.
#[inline(always)]
pub(super) unsafe fn update_first_layer<V: Simd>(
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
