//! One training run: epochs of shuffled mini-batches, the SGD step, and the per-epoch metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::data::{Examples, Mnist};
use crate::experiment::{Metric, Monitor};
use crate::grid::RunSettings;
use crate::network::{Network, Tally, Workspace};

/// Random stream for the initial weights and biases.
const STREAM_INIT: u64 = 1;
/// Random stream for the per-epoch shuffles.
const STREAM_SHUFFLE: u64 = 2;

/// Mini-batches of at least this many examples are split into chunks whose gradients are
/// computed in parallel (measured: below it the fork/join and extra sums cost more than they save).
pub const PARALLEL_MIN_BATCH: usize = 256;
/// How often (in training examples) an epoch checks whether the sweep is being stopped.
const STOP_CHECK_EXAMPLES: usize = 2000;
/// Target number of examples per chunk of a parallel mini-batch.
const CHUNK_EXAMPLES: usize = 128;

/// The metrics of one epoch; `None` for a metric not monitored.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// 1 after the first pass over the training data.
    pub epoch: usize,
    pub train_cost: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub validation_cost: Option<f64>,
    pub validation_accuracy: Option<f64>,
    pub test_cost: Option<f64>,
    pub test_accuracy: Option<f64>,
    /// Wall time of the epoch's training (evaluation not included).
    pub seconds: f64,
}

impl EpochRecord {
    pub fn get(&self, m: Metric) -> Option<f64> {
        match m {
            Metric::TrainCost => self.train_cost,
            Metric::TrainAccuracy => self.train_accuracy,
            Metric::ValidationCost => self.validation_cost,
            Metric::ValidationAccuracy => self.validation_accuracy,
            Metric::TestCost => self.test_cost,
            Metric::TestAccuracy => self.test_accuracy,
        }
    }

    /// True when a monitored cost is NaN or infinite.
    fn cost_is_bad(&self) -> bool {
        [self.train_cost, self.validation_cost, self.test_cost]
            .iter()
            .flatten()
            .any(|c| !c.is_finite())
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Completed,
    /// The parameters or a cost became NaN or infinite during this epoch.
    Diverged {
        epoch: usize,
    },
    /// Stopped by an interruption before the last epoch.
    Interrupted,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Diverged { .. } => "diverged",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub epochs_completed: usize,
    pub seconds: f64,
}

/// A run in progress: the network, its workspaces and its random stream.
pub struct Trainer<'d> {
    pub settings: RunSettings,
    pub network: Network,
    train: Examples<'d>,
    data: &'d Mnist,
    monitor: Monitor,
    order: Vec<u32>,
    shuffle_rng: ChaCha8Rng,
    /// One workspace for a serial mini-batch, or one per chunk of a parallel one.
    workspaces: Vec<Workspace>,
    chunk: usize,
    epoch: usize,
}

impl<'d> Trainer<'d> {
    /// Initialises the network from the run's seed. The initialisation and the shuffles come from
    /// two streams of a ChaCha8 generator seeded with the run's seed alone, so a run's numbers
    /// never depend on the other runs, the threads or the scheduling.
    pub fn new(settings: &RunSettings, data: &'d Mnist, monitor: Monitor) -> Trainer<'d> {
        let mut init_rng = ChaCha8Rng::seed_from_u64(settings.seed);
        init_rng.set_stream(STREAM_INIT);
        let mut shuffle_rng = ChaCha8Rng::seed_from_u64(settings.seed);
        shuffle_rng.set_stream(STREAM_SHUFFLE);
        let network = Network::new(&settings.sizes, settings.init, &mut init_rng);
        let train = data.train.examples(settings.train_size);
        let (chunk, chunks) = chunking(settings.batch_size);
        let workspaces = (0..chunks)
            .map(|_| Workspace::for_training(&settings.sizes, chunk))
            .collect();
        Trainer {
            settings: settings.clone(),
            network,
            train,
            data,
            monitor,
            order: (0..train.len() as u32).collect(),
            shuffle_rng,
            workspaces,
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
    /// is seen set; it is checked every [`STOP_CHECK_EXAMPLES`] examples.
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
        let s = &self.settings;
        let n = self.train.len();
        let decay = (1.0 - s.eta * s.lambda / n as f64) as f32;
        let mut start = 0;
        let mut next_check = STOP_CHECK_EXAMPLES;
        while start < count.min(n) {
            if start >= next_check {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                next_check += STOP_CHECK_EXAMPLES;
            }
            let end = (start + s.batch_size).min(n);
            let batch = &self.order[start..end];
            let m = batch.len();
            let rate = (s.eta / m as f64) as f32;
            if self.workspaces.len() == 1 {
                let ws = &mut self.workspaces[0];
                ws.load_indices(&self.train, batch);
                self.network.backprop(ws, m, s.cost);
            } else {
                let (net, train, chunk, cost) = (&self.network, &self.train, self.chunk, s.cost);
                self.workspaces
                    .par_iter_mut()
                    .zip(batch.par_chunks(chunk))
                    .for_each(|(ws, part)| {
                        ws.load_indices(train, part);
                        net.backprop(ws, part.len(), cost);
                    });
                let used = m.div_ceil(chunk);
                let (first, rest) = self.workspaces.split_at_mut(1);
                for other in &rest[..used - 1] {
                    first[0].add_gradients(other);
                }
            }
            let ws = &self.workspaces[0];
            self.network
                .apply_gradient(&ws.grad_w, &ws.grad_b, rate, decay);
            start = end;
        }
        true
    }

    /// Measures the training speed of this run's shape: trains mini-batches for about `budget`
    /// and returns seconds per training example. The trainer is spent afterwards.
    pub fn seconds_per_example(mut self, budget: std::time::Duration) -> f64 {
        let never = AtomicBool::new(false);
        let started = Instant::now();
        let mut examples = 0;
        let step = (self.settings.batch_size * 20)
            .max(200)
            .min(self.train.len());
        while started.elapsed() < budget || examples == 0 {
            self.train_examples(step, &never);
            examples += step;
        }
        started.elapsed().as_secs_f64() / examples as f64
    }

    /// The monitored metrics of the current network.
    pub fn evaluate(&self, seconds: f64) -> EpochRecord {
        let s = &self.settings;
        let sum_sq = if s.lambda > 0.0 {
            self.network.sum_squared_weights()
        } else {
            0.0
        };
        let wants = |cost: Metric, acc: Metric| self.monitor.has(cost) || self.monitor.has(acc);
        // The book's total_cost: mean cost plus 0.5 * lambda / len(data) * sum of squared weights.
        let measure = |examples: &Examples, cost_metric: Metric, acc_metric: Metric| {
            if !wants(cost_metric, acc_metric) {
                return (None, None);
            }
            let Tally { cost_sum, correct } = self.network.tally(examples, s.cost);
            let n = examples.len() as f64;
            let cost = cost_sum / n + 0.5 * s.lambda / n * sum_sq;
            (
                self.monitor.has(cost_metric).then_some(cost),
                self.monitor.has(acc_metric).then_some(correct as f64 / n),
            )
        };
        let (train_cost, train_accuracy) =
            measure(&self.train, Metric::TrainCost, Metric::TrainAccuracy);
        let (validation_cost, validation_accuracy) = measure(
            &self.data.validation.all(),
            Metric::ValidationCost,
            Metric::ValidationAccuracy,
        );
        let (test_cost, test_accuracy) = measure(
            &self.data.test.all(),
            Metric::TestCost,
            Metric::TestAccuracy,
        );
        EpochRecord {
            epoch: self.epoch,
            train_cost,
            train_accuracy,
            validation_cost,
            validation_accuracy,
            test_cost,
            test_accuracy,
            seconds,
        }
    }

    /// Trains every epoch, handing each epoch's record to `on_epoch` as soon as it is known.
    /// Stops early when the run diverges, when `stop` is set, or when `on_epoch` fails.
    pub fn run<E>(
        mut self,
        stop: &AtomicBool,
        mut on_epoch: impl FnMut(&EpochRecord) -> Result<(), E>,
    ) -> Result<RunOutcome, E> {
        let started = Instant::now();
        let mut status = RunStatus::Completed;
        let mut written = 0;
        while self.epoch < self.settings.epochs {
            if stop.load(Ordering::Relaxed) {
                status = RunStatus::Interrupted;
                break;
            }
            let t = Instant::now();
            if !self.train_epoch_until(stop) || stop.load(Ordering::Relaxed) {
                // The epoch in flight is abandoned: its record is not written.
                status = RunStatus::Interrupted;
                break;
            }
            let seconds = t.elapsed().as_secs_f64();
            let record = self.evaluate(seconds);
            if stop.load(Ordering::Relaxed) {
                status = RunStatus::Interrupted;
                break;
            }
            on_epoch(&record)?;
            written = self.epoch;
            if !self.network.is_finite() || record.cost_is_bad() {
                status = RunStatus::Diverged { epoch: self.epoch };
                break;
            }
        }
        if status == RunStatus::Interrupted {
            self.epoch = self.epoch.min(written);
        }
        Ok(RunOutcome {
            status,
            epochs_completed: self.epoch,
            seconds: started.elapsed().as_secs_f64(),
        })
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
    use crate::grid::{Cost, Grid, Init};

    fn settings(train_size: usize) -> RunSettings {
        Grid::default().get(0, train_size)
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
    fn same_seed_same_network_and_numbers() {
        let data = crate::tests_support::mnist();
        let s = RunSettings {
            epochs: 2,
            ..settings(1000)
        };
        let stop = AtomicBool::new(false);
        let collect = |s: &RunSettings| {
            let mut recs = Vec::new();
            Trainer::new(s, data, Monitor::all())
                .run(&stop, |r| {
                    recs.push(r.clone());
                    Ok::<_, ()>(())
                })
                .unwrap();
            recs
        };
        let a = collect(&s);
        let b = collect(&s);
        let strip = |v: &[EpochRecord]| {
            v.iter()
                .map(|r| EpochRecord {
                    seconds: 0.0,
                    ..r.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&a), strip(&b));
        let c = collect(&RunSettings {
            seed: 2,
            ..s.clone()
        });
        assert_ne!(strip(&a), strip(&c));
    }

    #[test]
    fn learns_something_on_a_small_slice() {
        let data = crate::tests_support::mnist();
        let s = RunSettings {
            epochs: 3,
            cost: Cost::CrossEntropy,
            init: Init::Scaled,
            eta: 0.5,
            ..settings(2000)
        };
        let mut last = None;
        let out = Trainer::new(&s, data, Monitor::all())
            .run(&AtomicBool::new(false), |r| {
                last = Some(r.clone());
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(out.status, RunStatus::Completed);
        assert_eq!(out.epochs_completed, 3);
        let r = last.unwrap();
        assert!(r.test_accuracy.unwrap() > 0.80, "{r:?}");
        assert!(r.train_accuracy.unwrap() > r.test_accuracy.unwrap() - 0.05);
    }

    #[test]
    fn parallel_chunks_do_not_depend_on_the_thread_count() {
        let data = crate::tests_support::mnist();
        let s = RunSettings {
            epochs: 1,
            batch_size: 300,
            ..settings(1200)
        };
        let run_with = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut t = Trainer::new(&s, data, Monitor::all());
                t.train_epoch();
                t.network
            })
        };
        assert_eq!(run_with(1), run_with(2));
    }

    #[test]
    fn exploding_weight_decay_diverges_and_stops() {
        let data = crate::tests_support::mnist();
        // decay = 1 - eta * lambda / n = 1 - 100 * 1000 / 1000 = -99: the weights flip sign and
        // grow a hundredfold on each of the 100 mini-batches, past the largest f32.
        let s = RunSettings {
            epochs: 5,
            eta: 100.0,
            lambda: 1000.0,
            ..settings(1000)
        };
        let mut seen = 0;
        let out = Trainer::new(&s, data, Monitor::all())
            .run(&AtomicBool::new(false), |_| {
                seen += 1;
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(out.status, RunStatus::Diverged { epoch: 1 });
        assert_eq!((out.epochs_completed, seen), (1, 1));
    }

    #[test]
    fn a_set_stop_flag_trains_nothing() {
        let data = crate::tests_support::mnist();
        let out = Trainer::new(&settings(100), data, Monitor::all())
            .run(&AtomicBool::new(true), |_| Ok::<_, ()>(()))
            .unwrap();
        assert_eq!(out.status, RunStatus::Interrupted);
        assert_eq!(out.epochs_completed, 0);
    }
}
