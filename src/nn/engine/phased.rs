//! The mini-batch step on the pool's threads, for mini-batches of several chunks: per
//! mini-batch, three phases of [`run_phases`] — every chunk's gradients (and its errors scaled
//! for the first layer's step), then the upper layers' step, then the first layer's step in
//! pixel ranges. They are the pieces of [`Lockstep::apply`], in the same order per number, so
//! the results are those of the serial loop whatever the number of threads. The protocol lives
//! here, behind the engine's door: the trainer calls [`Lockstep::train_in_phases`] and holds no
//! pointer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::phases::run_phases;
use super::{step_first_layer_part, Grads, Lockstep, RunParams};
use crate::data::Examples;

/// The mini-batches an epoch trains: those of `batch_size` examples that cover the first `count`
/// of `order`, cut into chunks of `chunk` examples; `position` is the place of `order[0]` in the
/// run's sequence of training examples (for the dropout masks).
pub struct Batches<'a> {
    pub order: &'a [u32],
    pub batch_size: usize,
    pub chunk: usize,
    pub count: usize,
    pub position: u64,
}

/// A pointer to the group or to the chunks, shared by the tasks of [`run_phases`].
///
/// The phases keep the accesses through it apart: in phase 0 each task writes only its own chunk
/// and reads the group; phase 1 is one task, the only one touching anything; in phase 2 each task
/// reads the group and the chunks and writes only its own rows of the first layer (through
/// [`super::FirstLayerRows`]). `run_phases` finishes every task of a phase, with its writes
/// visible, before any task of the next one starts.
struct Shared<T>(*mut T);

// SAFETY: the pointee outlives `run_phases` (the caller holds it mutably borrowed for the call),
// and the phases make every access through it exclusive or read-only, as said above.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as for Send.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The pointer (a method, so that closures capture the whole `Shared`, not its field).
    fn get(&self) -> *mut T {
        self.0
    }
}

impl Lockstep {
    /// Before an epoch's phases: the first layer's parts for its first and last mini-batch,
    /// each lane's step count and the first mini-batch's rates.
    fn start_epoch(
        &mut self,
        plan: &PhasePlan,
        tasks: &[usize],
        chunks: usize,
        params: &[RunParams],
        train: &Examples,
    ) {
        assert!(
            tasks.iter().step_by(3).all(|&c| c <= chunks),
            "a chunk's gradients for every chunk of a mini-batch"
        );
        for b in [0, plan.starts.len().saturating_sub(1)] {
            self.part_rows(plan.parts_of(b), train);
        }
        if !plan.starts.is_empty() {
            self.set_lane_steps(params, plan.n);
            self.set_rates(params, plan.batch(0).len());
        }
    }

    /// Trains `batches` with the chunks' gradients in `grads` (one per chunk of the largest
    /// mini-batch), on up to every thread of the current pool; false when `stop` was seen set
    /// first (the mini-batch whose upper layers' step saw it is finished, the later ones are not
    /// started). The chunks are left holding the last mini-batch's gradients.
    pub fn train_in_phases(
        &mut self,
        grads: &mut [Grads],
        params: &[RunParams],
        train: &Examples,
        batches: Batches,
        stop: &AtomicBool,
    ) -> bool {
        let n = train.len();
        let plan = PhasePlan::new(&batches, n);
        let Batches {
            order,
            chunk,
            position,
            ..
        } = batches;
        let (starts, threads) = (&plan.starts, plan.threads);
        let batch = |b: usize| plan.batch(b);
        let parts_of = |b: usize| plan.parts_of(b);
        let tasks = plan.tasks();
        self.start_epoch(&plan, &tasks, grads.len(), params, train);
        let rows = self.first_layer_rows();
        let (group, chunks) = (Shared(self as *mut Lockstep), Shared(grads.as_mut_ptr()));
        // the first mini-batch not to train, once `stop` has been seen
        let stop_at = AtomicUsize::new(usize::MAX);
        run_phases(&tasks, threads, |phase, task| {
            let b = phase / 3;
            if b >= stop_at.load(Ordering::Relaxed) {
                return;
            }
            let range = batch(b);
            let used = range.len().div_ceil(chunk);
            match phase % 3 {
                0 => {
                    let from = range.start + task * chunk;
                    let examples = &order[from..(from + chunk).min(range.end)];
                    // SAFETY: in this phase the group is only read, and chunk `task` (fewer
                    // than `used` <= grads.len(), asserted above) is this task's alone.
                    let (group, g) = unsafe { (&*group.get(), &mut *chunks.get().add(task)) };
                    g.clear();
                    g.set_parts(group.part_bounds(parts_of(b)));
                    group.accumulate(g, params, train, examples, position + from as u64);
                    group.prepare_chunk(g);
                }
                1 => {
                    // SAFETY: the only task of its phase: nothing else touches the group or
                    // the chunks, and the first `used` chunks exist (asserted above).
                    let (group, chunks) = unsafe {
                        let chunks = std::slice::from_raw_parts_mut(chunks.get(), used);
                        (&mut *group.get(), chunks)
                    };
                    group.step_upper(chunks, params, range.len(), n);
                    if b + 1 < starts.len() && batch(b + 1).len() != range.len() {
                        group.set_rates(params, batch(b + 1).len());
                    }
                    // this mini-batch's step is finished by its parts; the next ones are not
                    // started
                    if stop.load(Ordering::Relaxed) {
                        stop_at.store(b + 1, Ordering::Relaxed);
                    }
                }
                _ => {
                    // SAFETY: the parts' tasks only read the group's factors and bounds and
                    // the chunks, and each changes its own rows of the first layer: the bounds
                    // of distinct parts are disjoint and within the layer.
                    let group = unsafe { &*group.get() };
                    let bounds = group.part_bounds(parts_of(b));
                    let (chunks, (w0, v0)) = unsafe {
                        let chunks = std::slice::from_raw_parts(chunks.get(), used);
                        (chunks, rows.rows(bounds[task], bounds[task + 1]))
                    };
                    step_first_layer_part(w0, v0, group.lanes(), task, bounds, chunks, train);
                }
            }
        });
        stop_at.into_inner() >= starts.len()
    }
}

/// The mini-batches of an epoch as phases: per mini-batch, its chunks (accumulated in
/// parallel), the upper layers' step (one task), the first layer's parts (in parallel).
struct PhasePlan {
    /// Where each mini-batch starts in the epoch's order.
    starts: Vec<usize>,
    batch_size: usize,
    /// Training examples.
    n: usize,
    /// Examples per chunk.
    chunk: usize,
    threads: usize,
}

impl PhasePlan {
    fn new(batches: &Batches, n: usize) -> PhasePlan {
        PhasePlan {
            starts: (0..batches.count.min(n))
                .step_by(batches.batch_size)
                .collect(),
            batch_size: batches.batch_size,
            n,
            chunk: batches.chunk,
            threads: rayon::current_num_threads().max(1),
        }
    }

    fn batch(&self, b: usize) -> std::ops::Range<usize> {
        self.starts[b]..(self.starts[b] + self.batch_size).min(self.n)
    }

    /// The parts the first layer's step of mini-batch `b` is split into.
    fn parts_of(&self, b: usize) -> usize {
        self.batch(b).len().div_ceil(self.chunk).min(self.threads)
    }

    /// The tasks of each phase, three phases per mini-batch.
    fn tasks(&self) -> Vec<usize> {
        let mut tasks = Vec::with_capacity(3 * self.starts.len());
        for b in 0..self.starts.len() {
            tasks.extend([
                self.batch(b).len().div_ceil(self.chunk),
                1,
                self.parts_of(b),
            ]);
        }
        tasks
    }
}
