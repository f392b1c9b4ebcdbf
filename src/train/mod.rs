//! Training: epochs of shuffled mini-batches, the SGD step and the per-epoch metrics, for one run
//! or for a group of runs trained in lockstep (see [`crate::nn::engine`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::data::{Dataset, Examples};
use crate::grid::RunSettings;
use crate::nn::dropout;
use crate::nn::engine::{Batches, Grads, Lockstep, RunParams, Scratch};
use crate::nn::maths::{Tally, EVAL_BLOCK};
use crate::nn::params::Network;

pub mod stopping;

use crate::metrics::{EpochRecord, Metric, MetricValues, Monitor, RunOutcome, RunStatus};
use stopping::Watch;

/// Random stream for the initial weights and biases.
const STREAM_INIT: u64 = 1;
/// Random stream for the per-epoch shuffles.
const STREAM_SHUFFLE: u64 = 2;
/// Random stream for the dropout masks.
const STREAM_DROPOUT: u64 = 3;

/// Mini-batches of at least this many examples are split into chunks whose gradients are
/// computed in parallel (below it the fork/join costs more than it saves; see BENCHMARKS.md).
pub const PARALLEL_MIN_BATCH: usize = 256;
/// Target number of examples per chunk of a parallel mini-batch.
const CHUNK_EXAMPLES: usize = 128;
/// How often (in training examples) an epoch checks whether the sweep is being stopped.
const STOP_CHECK_EXAMPLES: usize = 2000;

/// Runs in progress: their parameters, gradient buffers and the shared random stream.
pub struct Trainer<'d> {
    pub runs: Vec<RunSettings>,
    params: Vec<RunParams>,
    pub lockstep: Lockstep,
    train: Examples<'d>,
    data: &'d Dataset,
    monitor: Monitor,
    order: Vec<u32>,
    shuffle_rng: ChaCha8Rng,
    /// One buffer for a serial mini-batch, or one per chunk of a parallel one.
    grads: Vec<Grads>,
    chunk: usize,
    /// Evaluation scratch buffers, one per worker thread.
    scratch: Vec<Mutex<Scratch>>,
    epoch: usize,
}

impl<'d> Trainer<'d> {
    /// Starts `runs` (which must share [`RunSettings::fusion_key`]) from the weights drawn from their seed.
    /// The initialisation and the shuffles come from two streams of a ChaCha8 generator seeded
    /// with the seed alone, so the numbers never depend on the other runs, the threads or the
    /// scheduling.
    pub fn new(runs: &[RunSettings], data: &'d Dataset, monitor: Monitor) -> Trainer<'d> {
        let first = &runs[0];
        assert!(
            runs.iter().all(|r| r.fusion_key() == first.fusion_key()),
            "runs trained together must share their fusion key (sizes, init, batch size, epochs, \
             seed, train_size, ...)"
        );
        let mut shuffle_rng = ChaCha8Rng::seed_from_u64(first.seed);
        shuffle_rng.set_stream(STREAM_SHUFFLE);
        let network = initial_network(first);
        let group = Lockstep::from_network(&network, runs.len());
        let train = data.training(first.train_size, first.expand);
        let (chunk, chunks) = chunking(first.batch_size);
        let threads = rayon::current_num_threads().max(1);
        Trainer {
            params: runs
                .iter()
                .map(|r| RunParams {
                    eta: r.eta,
                    lambda: r.lambda,
                    cost: r.cost,
                    activation: r.activation,
                    momentum: r.momentum,
                    dropout: r.dropout,
                })
                .collect(),
            runs: runs.to_vec(),
            grads: (0..chunks).map(|_| grads(&group, first)).collect(),
            scratch: (0..threads).map(|_| Mutex::new(group.scratch())).collect(),
            lockstep: group,
            train,
            data,
            monitor,
            order: (0..train.len() as u32).collect(),
            shuffle_rng,
            chunk,
            epoch: 0,
        }
    }

    /// One pass over the shuffled training data in mini-batches, as the book's
    /// `update_mini_batch`; the last mini-batch may be smaller.
    pub fn train_epoch(&mut self) {
        self.train_epoch_until(&AtomicBool::new(false));
    }

    /// [`Self::train_epoch`], abandoned (returning false, the epoch not counted) as soon as `stop`
    /// is seen set; it is checked every [`STOP_CHECK_EXAMPLES`] examples (every mini-batch for
    /// mini-batches of several chunks).
    pub fn train_epoch_until(&mut self, stop: &AtomicBool) -> bool {
        self.order.shuffle(&mut self.shuffle_rng);
        let done = self.train_examples(self.train.len(), stop);
        if done {
            self.epoch += 1;
        }
        done
    }

    /// Trains the mini-batches that cover the first `count` examples of the current order;
    /// false when `stop` was seen set first.
    fn train_examples(&mut self, count: usize, stop: &AtomicBool) -> bool {
        if self.grads.len() > 1 {
            return self.train_examples_in_phases(count, stop);
        }
        let n = self.train.len();
        let batch_size = self.runs[0].batch_size;
        let mut start = 0;
        let mut next_check = STOP_CHECK_EXAMPLES;
        while start < count.min(n) {
            if start >= next_check {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                next_check += STOP_CHECK_EXAMPLES;
            }
            let end = (start + batch_size).min(n);
            let batch = &self.order[start..end];
            // the place of the batch's first example in the run's sequence of examples
            let position = (self.epoch * n + start) as u64;
            self.lockstep.accumulate_before(
                &mut self.grads[0],
                &self.params,
                &self.train,
                batch,
                position,
                self.order.get(end).copied(),
            );
            self.lockstep
                .apply(&mut self.grads, &self.params, &self.train, batch.len(), n);
            start = end;
        }
        true
    }

    /// [`Self::train_examples`] for mini-batches of several chunks, on the pool's threads
    /// ([`Lockstep::train_in_phases`]): the same numbers as the serial loop.
    fn train_examples_in_phases(&mut self, count: usize, stop: &AtomicBool) -> bool {
        let n = self.train.len();
        let batches = Batches {
            order: &self.order,
            batch_size: self.runs[0].batch_size,
            chunk: self.chunk,
            count,
            position: (self.epoch * n) as u64,
        };
        let done = self.lockstep.train_in_phases(
            &mut self.grads,
            &self.params,
            &self.train,
            batches,
            stop,
        );
        for g in &mut self.grads {
            g.clear();
        }
        done
    }

    /// Cost sums (where `with_cost`) and correct counts of every run on `examples`, in parallel
    /// blocks of [`EVAL_BLOCK`] summed in order.
    fn tally(&self, examples: &Examples, with_cost: bool) -> Vec<Tally> {
        let runs = self.runs.len();
        let blocks = examples.len().div_ceil(EVAL_BLOCK);
        let parts: Vec<Vec<Tally>> = (0..blocks)
            .into_par_iter()
            .map(|b| {
                let block =
                    examples.range(b * EVAL_BLOCK, ((b + 1) * EVAL_BLOCK).min(examples.len()));
                let slot = rayon::current_thread_index().unwrap_or(0) % self.scratch.len();
                let mut scratch = self.scratch[slot].lock().unwrap_or_else(|e| e.into_inner());
                let mut tallies = vec![Tally::default(); runs];
                self.lockstep
                    .tally(&mut scratch, &self.params, &block, &mut tallies, with_cost);
                tallies
            })
            .collect();
        let mut total = vec![Tally::default(); runs];
        for part in &parts {
            for (t, p) in total.iter_mut().zip(part) {
                t.cost_sum += p.cost_sum;
                t.correct += p.correct;
            }
        }
        total
    }

    /// The monitored metrics of every run's current network.
    pub fn evaluate(&self, seconds: f64) -> Vec<EpochRecord> {
        self.evaluate_watching(seconds).0
    }

    /// [`Self::evaluate`], and each run's validation accuracy when some run of the group
    /// watches it (even where it is not monitored).
    fn evaluate_watching(&self, seconds: f64) -> (Vec<EpochRecord>, Vec<Option<f64>>) {
        let watch = self.runs.iter().any(RunSettings::watches_validation);
        let mut watched = vec![None; self.runs.len()];
        let runs = self.runs.len();
        let sum_sq: Vec<f64> = (0..runs)
            .map(|r| {
                if self.params[r].lambda > 0.0 {
                    self.lockstep.sum_squared_weights(r)
                } else {
                    0.0
                }
            })
            .collect();
        let mut records: Vec<EpochRecord> = (0..runs)
            .map(|r| EpochRecord {
                eta: self.params[r].eta,
                epoch: self.epoch,
                values: MetricValues::default(),
                seconds: seconds / runs as f64,
            })
            .collect();
        let sets: [(Examples, Metric, Metric); 3] = [
            (self.train, Metric::TrainCost, Metric::TrainAccuracy),
            (
                self.data.validation.all(),
                Metric::ValidationCost,
                Metric::ValidationAccuracy,
            ),
            (self.data.test.all(), Metric::TestCost, Metric::TestAccuracy),
        ];
        for (examples, cost_metric, acc_metric) in sets {
            let (want_cost, want_acc) =
                (self.monitor.has(cost_metric), self.monitor.has(acc_metric));
            let watching = watch && acc_metric == Metric::ValidationAccuracy;
            if !want_cost && !want_acc && !watching {
                continue;
            }
            let n = examples.len() as f64;
            for (r, t) in self.tally(&examples, want_cost).iter().enumerate() {
                // The book's total_cost: mean cost + 0.5 * lambda / len(data) * sum of w^2.
                let cost = t.cost_sum / n + 0.5 * self.params[r].lambda / n * sum_sq[r];
                let accuracy = t.correct as f64 / n;
                let values = &mut records[r].values;
                values.set(cost_metric, want_cost.then_some(cost));
                values.set(acc_metric, want_acc.then_some(accuracy));
                if watching {
                    watched[r] = Some(accuracy);
                }
            }
        }
        (records, watched)
    }

    /// Measures the training speed of this shape: trains mini-batches for about `budget` and
    /// returns seconds per training example (per run). The trainer is spent afterwards.
    pub fn seconds_per_example(mut self, budget: std::time::Duration) -> f64 {
        let never = AtomicBool::new(false);
        let started = Instant::now();
        let mut examples = 0;
        let step = (self.runs[0].batch_size * 20)
            .max(200)
            .min(self.train.len());
        while started.elapsed() < budget || examples == 0 {
            self.train_examples(step, &never);
            examples += step;
        }
        started.elapsed().as_secs_f64() / (examples * self.runs.len()) as f64
    }

    /// Keeps only the runs of lanes `keep` (ascending): finished runs stop costing work.
    fn retain(&mut self, keep: &[usize]) {
        self.lockstep.retain(keep);
        self.runs = keep.iter().map(|&l| self.runs[l].clone()).collect();
        self.params = keep.iter().map(|&l| self.params[l]).collect();
        let chunks = self.grads.len();
        self.grads = (0..chunks)
            .map(|_| grads(&self.lockstep, &self.runs[0]))
            .collect();
        let threads = self.scratch.len();
        self.scratch = (0..threads)
            .map(|_| Mutex::new(self.lockstep.scratch()))
            .collect();
    }

    /// Moves the runs of lanes `moved` (ascending, not all of them) to a trainer of their own,
    /// which goes on from here as they would have in this group: the same weights, epoch, data
    /// order and shuffle stream (the group's runs share their seed). Both trainers' numbers stay
    /// those of the runs trained alone, lanes being independent.
    fn split_off(&mut self, moved: &[usize]) -> Trainer<'d> {
        debug_assert!(!moved.is_empty() && moved.len() < self.runs.len());
        let keep: Vec<usize> = (0..self.runs.len())
            .filter(|l| !moved.contains(l))
            .collect();
        let mut lockstep = self.lockstep.clone();
        lockstep.retain(moved);
        let runs: Vec<RunSettings> = moved.iter().map(|&l| self.runs[l].clone()).collect();
        let other = Trainer {
            params: moved.iter().map(|&l| self.params[l]).collect(),
            grads: (0..self.grads.len())
                .map(|_| grads(&lockstep, &runs[0]))
                .collect(),
            scratch: (0..self.scratch.len())
                .map(|_| Mutex::new(lockstep.scratch()))
                .collect(),
            runs,
            lockstep,
            train: self.train,
            data: self.data,
            monitor: self.monitor,
            order: self.order.clone(),
            shuffle_rng: self.shuffle_rng.clone(),
            chunk: self.chunk,
            epoch: self.epoch,
        };
        self.retain(&keep);
        other
    }

    /// Trains every epoch, handing each run's record to `on_epoch(run index, record)` as soon as
    /// the epoch is evaluated. A run stops early when it diverges, when its `early_stopping` or
    /// `eta_schedule` ends it, or when `on_epoch` fails for it (its result is then that error);
    /// such a run leaves the group, so it costs no more work. All stop when `stop` is set.
    pub fn run<E>(
        self,
        stop: &AtomicBool,
        on_epoch: impl FnMut(usize, &EpochRecord) -> Result<(), E>,
    ) -> Vec<Result<RunOutcome, E>> {
        let last = self.runs[0].epochs;
        let mut session = Session::new(self);
        session.advance(last, stop, on_epoch);
        session.finish()
    }
}

/// A group's training that can pause: [`Session::advance`] trains up to an epoch, and between
/// two calls runs can be stopped from outside ([`Session::prune`]), as successive halving does.
/// Trained in one call or in several, the numbers are the same.
pub struct Session<'d, E> {
    trainer: Trainer<'d>,
    results: Vec<Option<Result<RunOutcome, E>>>,
    watches: Vec<Watch>,
    /// The run each lane of the group trains; finished runs leave the group.
    active: Vec<usize>,
    written: usize,
    /// The group's last epoch: a run without another ending that has not reached it was
    /// interrupted.
    last: usize,
    interrupted: bool,
}

impl<'d, E> Session<'d, E> {
    pub fn new(trainer: Trainer<'d>) -> Session<'d, E> {
        let runs = trainer.runs.len();
        let last = trainer.runs.first().map_or(0, |r| r.epochs);
        Session {
            last,
            trainer,
            results: (0..runs).map(|_| None).collect(),
            watches: vec![Watch::default(); runs],
            active: (0..runs).collect(),
            written: 0,
            interrupted: false,
        }
    }

    /// The run settings of the group, by run index.
    pub fn len(&self) -> usize {
        self.results.len()
    }

    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }

    /// True when run `r` has ended (finished, diverged, stopped, pruned or failed).
    pub fn ended(&self, r: usize) -> bool {
        self.results[r].is_some()
    }

    /// How run `r` ended, if it has: its status, or `None` for an error.
    pub fn status(&self, r: usize) -> Option<Option<RunStatus>> {
        self.results[r]
            .as_ref()
            .map(|o| o.as_ref().ok().map(|o| o.status))
    }

    /// True while some run still trains (and the sweep was not interrupted).
    pub fn training(&self) -> bool {
        !self.interrupted
            && self.trainer.epoch < self.trainer.runs[0].epochs
            && self.results.iter().any(Option::is_none)
    }

    /// Trains epochs until epoch `until` (or the last), as [`Trainer::run`] describes.
    pub fn advance(
        &mut self,
        until: usize,
        stop: &AtomicBool,
        mut on_epoch: impl FnMut(usize, &EpochRecord) -> Result<(), E>,
    ) {
        let last = self.trainer.runs[0].epochs;
        let until = until.min(last);
        while !self.interrupted
            && self.trainer.epoch < until
            && self.results.iter().any(Option::is_none)
        {
            let t = &mut self.trainer;
            let started = Instant::now();
            if !t.train_epoch_until(stop) || stop.load(Ordering::Relaxed) {
                self.interrupted = true; // the epoch in flight is abandoned
                break;
            }
            let seconds = started.elapsed().as_secs_f64();
            let (records, watched) = t.evaluate_watching(seconds);
            if stop.load(Ordering::Relaxed) {
                self.interrupted = true;
                break;
            }
            for (lane, record) in records.iter().enumerate() {
                let r = self.active[lane];
                if let Err(e) = on_epoch(r, record) {
                    self.results[r] = Some(Err(e));
                } else if !t.lockstep.run_is_finite(lane) || record.values.cost_is_bad() {
                    self.results[r] = Some(Ok(RunOutcome {
                        status: RunStatus::Diverged { epoch: t.epoch },
                        epochs_completed: t.epoch,
                    }));
                } else if let Some(accuracy) = watched[lane].filter(|_| t.epoch < last) {
                    if self.watches[r].epoch(accuracy, &t.runs[lane], &mut t.params[lane]) {
                        self.results[r] = Some(Ok(RunOutcome {
                            status: RunStatus::Stopped { epoch: t.epoch },
                            epochs_completed: t.epoch,
                        }));
                    }
                }
            }
            self.written = t.epoch;
            self.leave();
        }
    }

    /// Epochs trained so far.
    pub fn epoch(&self) -> usize {
        self.trainer.epoch
    }

    /// Runs still training (the group's lanes).
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// Moves the second half of the runs still training (by lane) to a session of their own,
    /// to be trained on another thread: it goes on from this epoch exactly as they would have
    /// here. Returns it with the moved runs' indices (in this session's numbering); the runs
    /// left here are numbered again in order (the moved ones taken out). None when fewer than
    /// two runs are training.
    pub fn split_off(&mut self) -> Option<(Session<'d, E>, Vec<usize>)> {
        let lanes = self.active.len();
        if lanes < 2 || self.interrupted {
            return None;
        }
        let kept = lanes.div_ceil(2);
        let moved_lanes: Vec<usize> = (kept..lanes).collect();
        let moved: Vec<usize> = moved_lanes.iter().map(|&l| self.active[l]).collect();
        let other = Session {
            trainer: self.trainer.split_off(&moved_lanes),
            // all None: the moved runs are training
            results: take_items(&mut self.results, &moved),
            watches: take_items(&mut self.watches, &moved),
            active: (0..moved.len()).collect(),
            written: self.written,
            last: self.last,
            interrupted: false,
        };
        // the runs left here are numbered again: run r loses one for each moved run before it
        self.active = self.active[..kept]
            .iter()
            .map(|&r| r - moved.iter().filter(|&&m| m < r).count())
            .collect();
        Some((other, moved))
    }

    /// Stops runs `runs` (by run index) after the epochs trained so far, with status `pruned`.
    pub fn prune(&mut self, runs: &[usize]) {
        let epoch = self.trainer.epoch;
        for &r in runs {
            if self.results[r].is_none() {
                self.results[r] = Some(Ok(RunOutcome {
                    status: RunStatus::Pruned { epoch },
                    epochs_completed: epoch,
                }));
            }
        }
        self.leave();
    }

    /// Ended runs leave the group, so they cost no more work.
    fn leave(&mut self) {
        let keep: Vec<usize> = (0..self.active.len())
            .filter(|&lane| self.results[self.active[lane]].is_none())
            .collect();
        if !keep.is_empty() && keep.len() < self.active.len() {
            self.trainer.retain(&keep);
            self.active = keep.iter().map(|&lane| self.active[lane]).collect();
        }
    }

    /// How each run ended: the runs still training when the last epoch was reached completed,
    /// unless the sweep was interrupted.
    pub fn finish(self) -> Vec<Result<RunOutcome, E>> {
        // a run paused before its last epoch (between halving's rungs, say) when the session
        // ends is interrupted, not completed, whether or not an epoch in flight saw the stop
        let (interrupted, written) = (self.interrupted || self.written < self.last, self.written);
        self.results
            .into_iter()
            .map(|r| {
                r.unwrap_or(Ok(RunOutcome {
                    status: if interrupted {
                        RunStatus::Interrupted
                    } else {
                        RunStatus::Completed
                    },
                    epochs_completed: written,
                }))
            })
            .collect()
    }
}

/// Takes the items at the indices `moved` (ascending) out of `items`, in order; the others stay,
/// in order.
pub(crate) fn take_items<T>(items: &mut Vec<T>, moved: &[usize]) -> Vec<T> {
    let (mut taken, mut kept) = (Vec::new(), Vec::new());
    for (i, item) in std::mem::take(items).into_iter().enumerate() {
        if moved.contains(&i) {
            taken.push(item);
        } else {
            kept.push(item);
        }
    }
    *items = kept;
    taken
}

/// The weights `run` starts from: drawn from one stream of a ChaCha8 generator seeded with the
/// run's seed alone.
pub fn initial_network(run: &RunSettings) -> Network {
    let mut init_rng = ChaCha8Rng::seed_from_u64(run.seed);
    init_rng.set_stream(STREAM_INIT);
    Network::new(&run.sizes, run.init, &mut init_rng)
}

/// The largest eigenvalue of the Hessian of `run`'s training cost at its initial weights, over
/// the first `sample` training examples (see [`crate::nn::curvature`]): gradient descent's
/// stability threshold there is 2/λ.
pub fn initial_curvature(
    run: &RunSettings,
    data: &Dataset,
    sample: usize,
    iterations: usize,
    tolerance: f64,
) -> crate::nn::curvature::TopEigenvalue {
    use crate::nn::curvature::{top_eigenvalue, Flat, Objective};
    let net = Flat::of(&initial_network(run));
    let train = data.training(run.train_size, run.expand);
    let objective = Objective::sample(
        &train,
        sample,
        run.activation,
        run.cost,
        run.lambda,
        train.len(),
    );
    top_eigenvalue(
        |theta| objective.gradient(&net, theta),
        &net.theta,
        iterations,
        tolerance,
        run.seed,
    )
}

/// A learning-rate range test's training ([`crate::search::range_test`]): `run`'s network,
/// from its initial weights and its own shuffles, trained `steps` mini-batches (as many epochs
/// as they take), mini-batch `i` with eta `eta_at(i)`. Before each step, `on_step(i, eta, cost)`
/// gets the mini-batch's training cost at the weights the step starts from (with the L2 term of
/// the run's lambda, as the training cost of an epoch's record has it) and says whether to go on.
/// Returns false when `stop` was seen set first. The mini-batch's chunks are accumulated in
/// order on the calling thread: the numbers never depend on the threads.
pub fn range_test(
    run: &RunSettings,
    data: &Dataset,
    steps: usize,
    eta_at: impl Fn(usize) -> f64,
    stop: &AtomicBool,
    mut on_step: impl FnMut(usize, f64, f64) -> bool,
) -> bool {
    let mut t = Trainer::new(std::slice::from_ref(run), data, Monitor::only(&[]));
    let n = t.train.len();
    let batch_size = run.batch_size;
    let mut step = 0;
    loop {
        t.order.shuffle(&mut t.shuffle_rng);
        let mut start = 0;
        while start < n {
            if step == steps {
                return true;
            }
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let end = (start + batch_size).min(n);
            let batch = &t.order[start..end];
            let eta = eta_at(step);
            t.params[0].eta = eta;
            let cost_sum: f64 = batch
                .iter()
                .map(|&i| {
                    let (index, value) = t.train.nonzero(i as usize);
                    let label = t.train.labels[i as usize] as usize;
                    t.lockstep.example_costs(&t.params, index, value, label)[0]
                })
                .sum();
            let l2 = if run.lambda > 0.0 {
                0.5 * run.lambda / n as f64 * t.lockstep.sum_squared_weights(0)
            } else {
                0.0
            };
            if !on_step(step, eta, cost_sum / batch.len() as f64 + l2) {
                return true;
            }
            let position = (t.epoch * n + start) as u64;
            for (c, part) in batch.chunks(t.chunk).enumerate() {
                let at = position + (c * t.chunk) as u64;
                t.lockstep
                    .accumulate(&mut t.grads[c], &t.params, &t.train, part, at);
            }
            let used = batch.len().div_ceil(t.chunk);
            t.lockstep
                .apply(&mut t.grads[..used], &t.params, &t.train, batch.len(), n);
            start = end;
            step += 1;
        }
        t.epoch += 1;
    }
}

/// The training cost of `run`'s network before any training (the initial weights of its seed),
/// as an epoch's record gives it (with the L2 term of its lambda).
pub fn initial_training_cost(run: &RunSettings, data: &Dataset) -> f64 {
    let trainer = Trainer::new(
        std::slice::from_ref(run),
        data,
        Monitor::only(&[Metric::TrainCost]),
    );
    trainer.evaluate(0.0)[0]
        .get(Metric::TrainCost)
        .unwrap_or(f64::NAN)
}

/// Gradient buffers for the group training `first`'s group: with dropout masks drawn from the
/// seed's own stream when the group's runs use dropout.
fn grads(group: &Lockstep, first: &RunSettings) -> Grads {
    if first.dropout > 0.0 {
        group.grads_with_dropout(dropout::generator(first.seed, STREAM_DROPOUT))
    } else {
        group.grads()
    }
}

/// Chunk size and number of chunks for a mini-batch: one chunk below [`PARALLEL_MIN_BATCH`],
/// otherwise chunks of about [`CHUNK_EXAMPLES`]. Depends on the batch size alone, never on the
/// number of threads, so the order of the gradient sums is fixed.
pub fn chunking(batch_size: usize) -> (usize, usize) {
    if batch_size < PARALLEL_MIN_BATCH {
        return (batch_size, 1);
    }
    let chunks = batch_size.div_ceil(CHUNK_EXAMPLES);
    let chunk = batch_size.div_ceil(chunks);
    (chunk, batch_size.div_ceil(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::schedule::Schedule;
    use crate::nn::maths::{Activation, Cost};
    use crate::nn::params::Init;

    fn settings(train_size: usize) -> RunSettings {
        RunSettings {
            train_size,
            ..RunSettings::default()
        }
    }

    #[test]
    fn a_range_tests_costs_are_the_mini_batches_training_costs() {
        let data = crate::tests_support::mnist();
        let run = RunSettings {
            lambda: 5.0,
            cost: Cost::CrossEntropy,
            batch_size: 7,
            ..settings(700)
        };
        let stop = AtomicBool::new(false);
        let costs = |eta: f64, steps: usize| {
            let mut seen = Vec::new();
            let done = range_test(
                &run,
                data,
                steps,
                |_| eta,
                &stop,
                |i, e, c| {
                    assert_eq!((i, e), (seen.len(), eta));
                    seen.push(c);
                    true
                },
            );
            assert!(done);
            seen
        };
        // at eta 0 the weights stay: one epoch's mini-batch costs average to the training cost
        let still = costs(0.0, 100);
        let mean = still.iter().sum::<f64>() / still.len() as f64;
        let whole = initial_training_cost(&run, data);
        assert!((mean - whole).abs() < 1e-5 * whole, "{mean} vs {whole}");
        // training: the cost of the second epoch's mini-batches is below the first's
        let learning = costs(0.5, 200);
        let epoch = |e: usize| learning[e * 100..(e + 1) * 100].iter().sum::<f64>();
        assert!(epoch(1) < 0.8 * epoch(0), "{} {}", epoch(0), epoch(1));
        // a set stop flag trains nothing; on_step saying no ends the test there
        stop.store(true, Ordering::Relaxed);
        assert!(!range_test(&run, data, 10, |_| 1.0, &stop, |_, _, _| true));
        stop.store(false, Ordering::Relaxed);
        let mut calls = 0;
        assert!(range_test(
            &run,
            data,
            10,
            |_| 1.0,
            &stop,
            |i, _, _| {
                calls += 1;
                i < 3
            }
        ));
        assert_eq!(calls, 4);
    }

    fn records(runs: &[RunSettings]) -> Vec<Vec<EpochRecord>> {
        let data = crate::tests_support::mnist();
        let mut out = vec![Vec::new(); runs.len()];
        let results =
            Trainer::new(runs, data, Monitor::all()).run(&AtomicBool::new(false), |r, rec| {
                out[r].push(EpochRecord {
                    seconds: 0.0,
                    ..rec.clone()
                });
                Ok::<_, ()>(())
            });
        assert!(results.iter().all(|r| r.is_ok()));
        out
    }

    #[test]
    fn chunking_depends_on_batch_size_only() {
        assert_eq!(chunking(10), (10, 1));
        assert_eq!(chunking(255), (255, 1));
        assert_eq!(chunking(256), (128, 2));
        assert_eq!(chunking(1000), (125, 8));
        for b in [256, 300, 999, 1000, 4097] {
            let (chunk, n) = chunking(b);
            assert!(chunk * n >= b && chunk * (n - 1) < b, "{b}");
        }
    }

    #[test]
    fn same_seed_same_numbers_other_seed_other_numbers() {
        let s = RunSettings {
            epochs: 2,
            ..settings(1000)
        };
        let a = records(std::slice::from_ref(&s));
        assert_eq!(a, records(std::slice::from_ref(&s)));
        assert_ne!(a, records(&[RunSettings { seed: 2, ..s }]));
    }

    #[test]
    fn fused_runs_are_bit_identical_to_solo_runs() {
        let base = RunSettings {
            epochs: 3,
            ..settings(1500)
        };
        let runs = vec![
            RunSettings {
                eta: 0.5,
                ..base.clone()
            },
            RunSettings {
                eta: 3.0,
                lambda: 5.0,
                ..base.clone()
            },
            RunSettings {
                eta: 1.0,
                cost: Cost::CrossEntropy,
                ..base.clone()
            },
            RunSettings {
                eta: 100.0,
                ..base.clone()
            },
        ];
        let fused = records(&runs);
        for (r, run) in runs.iter().enumerate() {
            let solo = records(std::slice::from_ref(run));
            assert_eq!(fused[r], solo[0], "run {r} differs when fused");
        }
    }

    /// Two runs that watch their validation accuracy: an eta schedule (log-likelihood, eta 0.5)
    /// and early stopping (a run that learns nothing, so it stops after a couple of epochs).
    fn watching(base: &RunSettings) -> [RunSettings; 2] {
        [
            RunSettings {
                cost: Cost::LogLikelihood,
                eta: 0.5,
                eta_schedule: Schedule::Halve { patience: 1 },
                ..base.clone()
            },
            RunSettings {
                early_stopping: 1,
                eta: 1e-12,
                ..base.clone()
            },
        ]
    }

    /// Trains `runs` as one group for `before` epochs, then splits the group
    /// ([`Session::split_off`]) and trains both halves to the end: each run's records and outcome.
    fn split_after(
        runs: &[RunSettings],
        before: usize,
    ) -> (Vec<Vec<EpochRecord>>, Vec<Result<RunOutcome, ()>>) {
        let data = crate::tests_support::mnist();
        let out = std::cell::RefCell::new(vec![Vec::new(); runs.len()]);
        let stop = AtomicBool::new(false);
        let keep = |numbering: Vec<usize>| {
            let out = &out;
            move |r: usize, rec: &EpochRecord| {
                out.borrow_mut()[numbering[r]].push(EpochRecord {
                    seconds: 0.0,
                    ..rec.clone()
                });
                Ok::<_, ()>(())
            }
        };
        let mut first = Session::new(Trainer::new(runs, data, Monitor::all()));
        first.advance(before, &stop, keep((0..runs.len()).collect()));
        let (mut second, moved) = first.split_off().expect("two runs or more still training");
        assert_eq!(first.epoch(), before);
        assert_eq!(second.epoch(), before);
        let kept: Vec<usize> = (0..runs.len()).filter(|r| !moved.contains(r)).collect();
        assert_eq!(first.len() + second.len(), runs.len());
        assert_eq!(second.active(), moved.len());
        second.advance(usize::MAX, &stop, keep(moved.clone()));
        first.advance(usize::MAX, &stop, keep(kept.clone()));
        let mut outcomes: Vec<Option<Result<RunOutcome, ()>>> = vec![None; runs.len()];
        for (numbering, session) in [(kept, first), (moved, second)] {
            for (r, o) in numbering.into_iter().zip(session.finish()) {
                outcomes[r] = Some(o);
            }
        }
        let outcomes = outcomes.into_iter().map(Option::unwrap).collect();
        (out.into_inner(), outcomes)
    }

    #[test]
    fn a_group_split_between_epochs_goes_on_as_it_would_have() {
        let data = crate::tests_support::mnist();
        let base = RunSettings {
            epochs: 4,
            sizes: vec![784, 20, 10],
            ..settings(600)
        };
        // the second half moves: the runs that watch their accuracy are at the end, so that
        // what they have seen moves with them
        let mut plain = vec![
            RunSettings {
                eta: 0.5,
                lambda: 5.0,
                ..base.clone()
            },
            RunSettings {
                activation: Activation::Tanh,
                ..base.clone()
            },
            base.clone(),
        ];
        // the early-stopping run stops after a couple of epochs: after the first split, before
        // the second
        plain.extend(watching(&base));
        // momentum and dropout, in mini-batches of several chunks (the phases)
        let chunked = RunSettings {
            momentum: 0.5,
            dropout: 0.2,
            batch_size: 300,
            ..base.clone()
        };
        let phased = vec![
            RunSettings {
                eta: 0.3,
                ..chunked.clone()
            },
            RunSettings {
                eta: 1.0,
                lambda: 1.0,
                ..chunked.clone()
            },
            RunSettings {
                eta: 3.0,
                ..chunked.clone()
            },
        ];
        for runs in [plain, phased] {
            assert!(runs.iter().all(|r| r.fusion_key() == runs[0].fusion_key()));
            let mut whole = vec![Vec::new(); runs.len()];
            let outcomes =
                Trainer::new(&runs, data, Monitor::all()).run(&AtomicBool::new(false), |r, rec| {
                    whole[r].push(EpochRecord {
                        seconds: 0.0,
                        ..rec.clone()
                    });
                    Ok::<_, ()>(())
                });
            for before in [1, 3] {
                let (records, split_outcomes) = split_after(&runs, before);
                assert_eq!(records, whole, "split after epoch {before}");
                assert_eq!(split_outcomes, outcomes, "split after epoch {before}");
            }
        }
    }

    #[test]
    fn a_group_with_one_run_left_does_not_split() {
        let runs = [
            RunSettings {
                early_stopping: 1,
                eta: 1e-12,
                epochs: 6,
                ..settings(500)
            },
            RunSettings {
                epochs: 6,
                ..settings(500)
            },
        ];
        let data = crate::tests_support::mnist();
        let mut session: Session<()> = Session::new(Trainer::new(&runs, data, Monitor::all()));
        session.advance(5, &AtomicBool::new(false), |_, _| Ok(()));
        assert_eq!(session.active(), 1, "the early-stopping run has stopped");
        assert!(session.split_off().is_none());
    }

    #[test]
    fn learns_something_on_a_small_slice() {
        let s = RunSettings {
            epochs: 3,
            cost: Cost::CrossEntropy,
            init: Init::Scaled,
            eta: 0.5,
            ..settings(2000)
        };
        let recs = records(&[s]);
        let r = recs[0].last().unwrap();
        assert_eq!(recs[0].len(), 3);
        assert!(r.get(Metric::TestAccuracy).unwrap() > 0.80, "{r:?}");
        assert!(
            r.get(Metric::TrainAccuracy).unwrap() > r.get(Metric::TestAccuracy).unwrap() - 0.05
        );
    }

    #[test]
    fn metrics_match_the_dense_reference_network() {
        // After training, the engine's evaluation of a run equals the plain ndarray network's
        // evaluation of the same weights (up to float rounding in the sums).
        let data = crate::tests_support::mnist();
        let s = RunSettings {
            epochs: 1,
            lambda: 2.0,
            ..settings(1000)
        };
        let mut t = Trainer::new(std::slice::from_ref(&s), data, Monitor::all());
        t.train_epoch();
        let rec = &t.evaluate(0.0)[0];
        let net = t.lockstep.network(0);
        let tally = net.tally(&data.test.all(), s.cost);
        assert_eq!(
            rec.get(Metric::TestAccuracy),
            Some(tally.correct as f64 / 10_000.0)
        );
        let cost = tally.cost_sum / 10_000.0 + 0.5 * 2.0 / 10_000.0 * net.sum_squared_weights();
        assert!((rec.get(Metric::TestCost).unwrap() - cost).abs() < 1e-6 * cost);
    }

    #[test]
    fn parallel_chunks_do_not_depend_on_the_thread_count() {
        // Mini-batches of three chunks go through the phases on 1, 2 and 3 threads; the numbers
        // must be those of the plain loop (each chunk accumulated, then `Lockstep::apply`), for
        // a group with and without L2 and with and without momentum, the last mini-batch smaller
        // (one chunk, another rate).
        let data = crate::tests_support::mnist();
        for momentum in [0.0, 0.5] {
            let base = RunSettings {
                epochs: 1,
                batch_size: 300,
                momentum,
                ..settings(1300)
            };
            let runs = [
                RunSettings {
                    eta: 0.5,
                    lambda: 5.0,
                    ..base.clone()
                },
                RunSettings {
                    eta: 3.0,
                    ..base.clone()
                },
            ];
            let mut plain = Trainer::new(&runs, data, Monitor::all());
            plain.order.shuffle(&mut plain.shuffle_rng);
            let n = plain.train.len();
            for start in (0..n).step_by(300) {
                let batch = &plain.order[start..(start + 300).min(n)];
                let chunk = plain.chunk;
                for (c, part) in batch.chunks(chunk).enumerate() {
                    let at = (start + c * chunk) as u64;
                    let g = &mut plain.grads[c];
                    plain
                        .lockstep
                        .accumulate(g, &plain.params, &plain.train, part, at);
                }
                let used = batch.len().div_ceil(chunk);
                let grads = &mut plain.grads[..used];
                plain
                    .lockstep
                    .apply(grads, &plain.params, &plain.train, batch.len(), n);
            }
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let phased = pool.install(|| {
                    let mut t = Trainer::new(&runs, data, Monitor::all());
                    t.train_epoch();
                    t.lockstep
                });
                for r in 0..runs.len() {
                    assert!(
                        phased.network(r) == plain.lockstep.network(r),
                        "run {r}, momentum {momentum}, {threads} threads"
                    );
                }
            }
        }
    }

    #[test]
    fn no_thread_of_the_pool_is_left_flushing_subnormals() {
        // the engine borrows the floating-point mode on every thread that computes (the three
        // phases of a batch-300 epoch, the evaluation) and gives it back
        let data = crate::tests_support::mnist();
        let s = RunSettings {
            epochs: 1,
            batch_size: 300,
            ..settings(1200)
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let flushed = pool.install(|| {
            let mut t = Trainer::new(std::slice::from_ref(&s), data, Monitor::all());
            t.train_epoch();
            t.evaluate(0.0);
            rayon::broadcast(|_| crate::nn::simd::subnormals_flushed())
        });
        assert_eq!(flushed, [false, false]);
        assert!(!crate::nn::simd::subnormals_flushed());
    }

    #[test]
    fn a_stop_ends_an_epoch_of_large_mini_batches_after_the_current_one() {
        // the phases see the flag at the first mini-batch's upper-layer step: that mini-batch
        // is finished (its first layer too), the other three are not trained
        let data = crate::tests_support::mnist();
        let s = RunSettings {
            epochs: 1,
            batch_size: 300,
            ..settings(1200)
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let mut stopped = Trainer::new(std::slice::from_ref(&s), data, Monitor::all());
            assert!(!stopped.train_epoch_until(&AtomicBool::new(true)));
            assert_eq!(stopped.epoch, 0, "an abandoned epoch is not counted");
            // the same as training the first mini-batch of the shuffled order alone
            let mut one = Trainer::new(std::slice::from_ref(&s), data, Monitor::all());
            one.order.shuffle(&mut one.shuffle_rng);
            assert!(one.train_examples(300, &AtomicBool::new(false)));
            assert!(stopped.lockstep.network(0) == one.lockstep.network(0));
            let fresh = Trainer::new(std::slice::from_ref(&s), data, Monitor::all());
            assert!(stopped.lockstep.network(0) != fresh.lockstep.network(0));
        });
    }

    #[test]
    fn exploding_weight_decay_diverges_and_stops_only_that_run() {
        let data = crate::tests_support::mnist();
        // decay = 1 - eta * lambda / n = 1 - 100 * 1000 / 1000 = -99: the weights flip sign and
        // grow a hundredfold on each of the 100 mini-batches, past the largest f32.
        let base = RunSettings {
            epochs: 3,
            ..settings(1000)
        };
        let runs = [
            RunSettings {
                eta: 100.0,
                lambda: 1000.0,
                ..base.clone()
            },
            RunSettings {
                eta: 1.0,
                ..base.clone()
            },
        ];
        let mut seen = [0, 0];
        let out = Trainer::new(&runs, data, Monitor::all()).run(&AtomicBool::new(false), |r, _| {
            seen[r] += 1;
            Ok::<_, ()>(())
        });
        let out: Vec<RunOutcome> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(out[0].status, RunStatus::Diverged { epoch: 1 });
        assert_eq!(out[1].status, RunStatus::Completed);
        assert_eq!(seen, [1, 3]);
        assert_eq!((out[0].epochs_completed, out[1].epochs_completed), (1, 3));
    }

    #[test]
    fn schedule_halves_eta_on_plateaus_and_stops_at_1_128() {
        let run = RunSettings {
            eta: 0.5,
            eta_schedule: Schedule::Halve { patience: 2 },
            ..settings(1000)
        };
        let mut params = RunParams::sgd(0.5, 0.0, run.cost);
        let mut w = Watch::default();
        // improving: eta stays
        for acc in [0.5, 0.6, 0.7] {
            assert!(!w.epoch(acc, &run, &mut params));
        }
        assert_eq!(params.eta, 0.5);
        // two epochs without improvement: halved; an improvement resets the count
        assert!(!w.epoch(0.7, &run, &mut params));
        assert!(!w.epoch(0.69, &run, &mut params));
        assert_eq!(params.eta, 0.25);
        assert!(!w.epoch(0.71, &run, &mut params));
        assert!(!w.epoch(0.70, &run, &mut params));
        assert_eq!(params.eta, 0.25);
        // a long plateau: a halving every 2 epochs, stop at the 7th (eta = 0.5 / 128)
        let mut epochs = 0;
        loop {
            epochs += 1;
            if w.epoch(0.1, &run, &mut params) {
                break;
            }
            assert!(epochs < 100);
        }
        assert_eq!(params.eta, 0.5 / 128.0);
        assert_eq!(
            epochs,
            2 * 6 - 1,
            "one epoch of the plateau was counted already"
        );
    }

    #[test]
    fn early_stopping_counts_epochs_without_improvement() {
        let run = RunSettings {
            early_stopping: 3,
            ..settings(1000)
        };
        let mut params = RunParams::sgd(3.0, 0.0, run.cost);
        let mut w = Watch::default();
        let accs = [0.5, 0.6, 0.6, 0.59, 0.61, 0.6, 0.6, 0.6];
        let stops: Vec<bool> = accs
            .iter()
            .map(|&a| w.epoch(a, &run, &mut params))
            .collect();
        assert_eq!(
            stops,
            [false, false, false, false, false, false, false, true]
        );
        assert_eq!(params.eta, 3.0, "early stopping never changes eta");
    }

    #[test]
    fn early_stopping_ends_a_run_before_its_last_epoch() {
        // A run far past its best (eta tiny, 1 epoch of patience) stops early; the same run
        // without early stopping in the same group trains every epoch.
        let data = crate::tests_support::mnist();
        let base = RunSettings {
            epochs: 6,
            eta: 1e-6,
            ..settings(200)
        };
        let runs = [
            RunSettings {
                early_stopping: 1,
                ..base.clone()
            },
            base.clone(),
        ];
        let mut seen = [0, 0];
        let mut kept = Vec::new();
        let mon = Monitor::only(&[Metric::TestAccuracy]);
        let out = Trainer::new(&runs, data, mon).run(&AtomicBool::new(false), |r, rec| {
            assert_eq!(
                rec.get(Metric::ValidationAccuracy),
                None,
                "not monitored, not written"
            );
            seen[r] += 1;
            if r == 1 {
                kept.push(rec.get(Metric::TestAccuracy));
            }
            Ok::<_, ()>(())
        });
        // the run left alone in the group after the other stopped trains as it would alone
        let mut solo = Vec::new();
        Trainer::new(&runs[1..], data, mon).run(&AtomicBool::new(false), |_, rec| {
            solo.push(rec.get(Metric::TestAccuracy));
            Ok::<_, ()>(())
        });
        assert_eq!(kept, solo);
        let out: Vec<RunOutcome> = out.into_iter().map(Result::unwrap).collect();
        let RunStatus::Stopped { epoch } = out[0].status else {
            panic!("{:?}", out[0]);
        };
        assert!(epoch < 6 && seen[0] == epoch && out[0].epochs_completed == epoch);
        assert_eq!(out[1].status, RunStatus::Completed);
        assert_eq!(seen[1], 6);
    }

    #[test]
    fn new_model_settings_fused_are_bit_identical_to_solo() {
        let base = RunSettings {
            epochs: 4,
            sizes: vec![784, 20, 10],
            ..settings(600)
        };
        let mut runs = vec![
            RunSettings {
                activation: Activation::Tanh,
                eta: 0.5,
                ..base.clone()
            },
            RunSettings {
                activation: Activation::Relu,
                cost: Cost::LogLikelihood,
                eta: 0.1,
                ..base.clone()
            },
        ];
        // the early-stopping run stops after a couple of epochs and leaves the group, which goes
        // on without it
        runs.extend(watching(&base));
        runs.push(base.clone());
        let fused = records(&runs);
        assert!(fused[3].len() < 4, "{}", fused[3].len());
        assert_eq!(fused[4].len(), 4);
        for (r, run) in runs.iter().enumerate() {
            assert_eq!(fused[r], records(std::slice::from_ref(run))[0], "run {r}");
        }
        // momentum runs form their own groups
        let m = [
            RunSettings {
                momentum: 0.9,
                eta: 0.1,
                ..base.clone()
            },
            RunSettings {
                momentum: 0.5,
                eta: 0.3,
                ..base.clone()
            },
        ];
        assert_ne!(m[0].fusion_key(), base.fusion_key());
        assert_eq!(m[0].fusion_key(), m[1].fusion_key());
        let fused = records(&m);
        for (r, run) in m.iter().enumerate() {
            assert_eq!(
                fused[r],
                records(std::slice::from_ref(run))[0],
                "momentum run {r}"
            );
        }
    }

    #[test]
    fn chapter_3_networks_learn() {
        // Each new setting trains to a sensible accuracy on 2,000 images in 3 epochs.
        let base = RunSettings {
            epochs: 3,
            init: Init::Scaled,
            ..settings(2000)
        };
        let runs = [
            RunSettings {
                cost: Cost::LogLikelihood,
                eta: 0.5,
                ..base.clone()
            },
            RunSettings {
                activation: Activation::Tanh,
                cost: Cost::CrossEntropy,
                eta: 0.1,
                ..base.clone()
            },
            RunSettings {
                activation: Activation::Relu,
                cost: Cost::LogLikelihood,
                eta: 0.05,
                ..base.clone()
            },
            RunSettings {
                cost: Cost::CrossEntropy,
                momentum: 0.9,
                eta: 0.05,
                ..base.clone()
            },
        ];
        for run in runs {
            let recs = records(std::slice::from_ref(&run));
            let acc = recs[0].last().unwrap().get(Metric::TestAccuracy).unwrap();
            assert!(acc > 0.82, "{}: {acc}", run.label());
        }
    }

    #[test]
    fn a_set_stop_flag_trains_nothing() {
        let data = crate::tests_support::mnist();
        let out = Trainer::new(&[settings(100)], data, Monitor::all())
            .run(&AtomicBool::new(true), |_, _| Ok::<_, ()>(()));
        let out = out[0].as_ref().unwrap();
        assert_eq!(out.status, RunStatus::Interrupted);
        assert_eq!(out.epochs_completed, 0);
    }
}
