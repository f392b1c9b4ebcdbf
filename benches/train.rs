//! Training speed: `cargo bench` (or `cargo bench -- epoch_784_30_10` for one group).
//!
//! Throughput is reported in dense-equivalent floating-point operations, so criterion's
//! "thrpt" column reads as GFLOP/s: per training example 2 x (forward + weight-gradient
//! multiply-adds) plus the error propagation below the first layer, plus the SGD update of every
//! weight per mini-batch. One epoch of [784, 30, 10] at batch 10 is 5.03 GFLOP; one core of the
//! reference machine sustains about 99 GFLOP/s in a large float32 matrix product (the dense
//! floor: 0.051 s per epoch). The sparse first layer does less arithmetic than it is credited
//! with, so it can exceed that rate.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use runner::config::Experiment;
use runner::data::Dataset;
use runner::grid::RunSettings;
use runner::metrics::Monitor;
use runner::nn::params::Network;
use runner::nn::reference::Workspace;
use runner::sweep::{run_sweep, SweepOptions};
use runner::train::Trainer;

fn data() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| Dataset::load_mnist(&data_dir()).expect("data/mnist loads"))
}

fn data_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

/// Dense-equivalent flops of one training epoch.
fn epoch_flops(sizes: &[usize], examples: usize, batch: usize) -> u64 {
    let weights: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
    let below_first: usize = sizes.windows(2).skip(1).map(|w| w[0] * w[1]).sum();
    let per_example = 2 * (2 * weights + below_first);
    let updates = 2 * weights * examples.div_ceil(batch);
    (per_example * examples + updates) as u64
}

fn settings(sizes: &[usize], batch: usize) -> RunSettings {
    RunSettings {
        sizes: sizes.to_vec(),
        batch_size: batch,
        ..RunSettings::default()
    }
}

/// A pool of `threads` workers.
fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Measures one training epoch of the run `s` on `pool`.
fn bench_epoch(b: &mut criterion::Bencher, pool: &rayon::ThreadPool, s: &RunSettings) {
    pool.install(|| {
        let mut t = Trainer::new(std::slice::from_ref(s), data(), Monitor::all());
        b.iter(|| t.train_epoch());
    })
}

/// One training epoch of one network on one thread (the fast engine).
fn epochs(c: &mut Criterion) {
    let pool = pool(1);
    let mut group = c.benchmark_group("epoch_1thread");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    let shapes: [(&[usize], usize); 6] = [
        (&[784, 30, 10], 1),
        (&[784, 30, 10], 10),
        (&[784, 30, 10], 100),
        (&[784, 30, 10], 1000),
        (&[784, 100, 10], 10),
        (&[784, 100, 30, 10], 10),
    ];
    for (sizes, batch) in shapes {
        let s = settings(sizes, batch);
        let label = format!("{}_batch{batch}", runner::grid::sizes_label(sizes));
        group.throughput(Throughput::Elements(epoch_flops(sizes, 50_000, batch)));
        group.bench_function(BenchmarkId::new("sparse", &label), |b| {
            bench_epoch(b, &pool, &s)
        });
    }
    // The plain ndarray/matrixmultiply implementation of the same maths, for comparison.
    let sizes = [784, 30, 10];
    group.throughput(Throughput::Elements(epoch_flops(&sizes, 50_000, 10)));
    group.bench_function(BenchmarkId::new("dense_gemm", "784-30-10_batch10"), |b| {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        let mut net = Network::new(&sizes, runner::nn::params::Init::Large, &mut rng);
        let mut ws = Workspace::for_training(&sizes, 10);
        let train = data().train.all();
        let order: Vec<u32> = (0..50_000).collect();
        b.iter(|| {
            for batch in order.chunks(10) {
                ws.load_indices(&train, batch);
                net.backprop(&mut ws, batch.len(), runner::nn::maths::Cost::Quadratic);
                net.apply_gradient(&ws.grad_w, &ws.grad_b, 0.3, 1.0);
            }
        })
    });
    group.finish();
}

/// One epoch of [784, 30, 10] at batch 10 on one thread for each chapter-3 setting, beside
/// the chapter-1 sigmoid network (`cargo bench -- models`).
fn models(c: &mut Criterion) {
    use runner::nn::maths::{Activation, Cost};
    let pool = pool(1);
    let mut group = c.benchmark_group("models_784-30-10_batch10");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    let base = settings(&[784, 30, 10], 10);
    let cases: [(&str, RunSettings); 6] = [
        ("sigmoid", base.clone()),
        (
            "softmax",
            RunSettings {
                cost: Cost::LogLikelihood,
                ..base.clone()
            },
        ),
        (
            "tanh",
            RunSettings {
                activation: Activation::Tanh,
                ..base.clone()
            },
        ),
        (
            "relu",
            RunSettings {
                activation: Activation::Relu,
                eta: 0.05,
                ..base.clone()
            },
        ),
        (
            "momentum",
            RunSettings {
                momentum: 0.5,
                eta: 0.5,
                ..base.clone()
            },
        ),
        (
            "dropout",
            RunSettings {
                dropout: 0.5,
                ..base.clone()
            },
        ),
    ];
    group.throughput(Throughput::Elements(epoch_flops(
        &[784, 30, 10],
        50_000,
        10,
    )));
    for (name, s) in cases {
        group.bench_function(name, |b| bench_epoch(b, &pool, &s));
    }
    group.finish();
}

/// An epoch of a network that has trained for 20 epochs, beside the same network fresh (one
/// thread, [784, 30, 10], batch 10): at eta 3 (the book's), 10 and 100 (a saturated network whose
/// sigmoids sit at 0 or 1). A trained network meets numbers a fresh one does not (tiny slopes and
/// gradients), so this is what a real sweep's later epochs cost.
fn trained(c: &mut Criterion) {
    let pool = pool(1);
    let mut group = c.benchmark_group("trained_784-30-10_batch10");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(epoch_flops(
        &[784, 30, 10],
        50_000,
        10,
    )));
    for eta in [3.0, 10.0, 100.0] {
        let s = RunSettings {
            eta,
            ..settings(&[784, 30, 10], 10)
        };
        for after in [0, 20] {
            group.bench_function(format!("eta{eta}_after{after}"), |b| {
                pool.install(|| {
                    let mut t = Trainer::new(std::slice::from_ref(&s), data(), Monitor::all());
                    for _ in 0..after {
                        t.train_epoch();
                    }
                    b.iter(|| t.train_epoch());
                })
            });
        }
    }
    group.finish();
}

/// Within one run: a large mini-batch (1,000) on 1 and 2 threads.
fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling_784-30-10_batch1000");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    let s = settings(&[784, 30, 10], 1000);
    group.throughput(Throughput::Elements(epoch_flops(
        &[784, 30, 10],
        50_000,
        1000,
    )));
    for threads in [1, 2] {
        let pool = pool(threads);
        group.bench_function(format!("{threads}thread"), |b| bench_epoch(b, &pool, &s));
    }
    group.finish();
}

/// Several runs fused in one lockstep group against the same runs one by one (one thread).
fn fused(c: &mut Criterion) {
    let pool = pool(1);
    let mut group = c.benchmark_group("fused_7runs_epoch_1thread");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    let runs: Vec<RunSettings> = [0.01, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0]
        .iter()
        .map(|&eta| RunSettings {
            eta,
            ..settings(&[784, 30, 10], 10)
        })
        .collect();
    group.throughput(Throughput::Elements(
        7 * epoch_flops(&[784, 30, 10], 50_000, 10),
    ));
    group.bench_function("fused", |b| {
        pool.install(|| {
            let mut t = Trainer::new(&runs, data(), Monitor::all());
            b.iter(|| t.train_epoch());
        })
    });
    group.bench_function("one_by_one", |b| {
        pool.install(|| {
            let mut ts: Vec<Trainer> = runs
                .iter()
                .map(|r| Trainer::new(std::slice::from_ref(r), data(), Monitor::all()))
                .collect();
            b.iter(|| ts.iter_mut().for_each(|t| t.train_epoch()));
        })
    });
    group.finish();
    // the group sizes a 7-run sweep on 2 threads trains (4 + 3, then halves of them)
    let mut group = c.benchmark_group("fused_group_epoch_1thread");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    for n in [2, 3, 4] {
        group.throughput(Throughput::Elements(
            n as u64 * epoch_flops(&[784, 30, 10], 50_000, 10),
        ));
        group.bench_function(format!("{n}runs"), |b| {
            pool.install(|| {
                let mut t = Trainer::new(&runs[runs.len() - n..], data(), Monitor::all());
                b.iter(|| t.train_epoch());
            })
        });
    }
    group.finish();
}

/// Evaluation of 10,000 examples (forward passes, cost and accuracy), 1 and 2 threads.
fn evaluation(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate_10000");
    group.sample_size(20);
    let sizes = [784, 30, 10];
    let weights: usize = 784 * 30 + 30 * 10;
    group.throughput(Throughput::Elements((2 * weights * 10_000) as u64));
    let s = RunSettings {
        train_size: 10_000,
        ..settings(&sizes, 10)
    };
    let monitor = Monitor::only(&[runner::metrics::Metric::TestAccuracy]);
    for threads in [1, 2] {
        let pool = pool(threads);
        group.bench_function(format!("{threads}thread"), |b| {
            pool.install(|| {
                let t = Trainer::new(std::slice::from_ref(&s), data(), monitor);
                b.iter(|| t.evaluate(0.0));
            })
        });
    }
    group.finish();
}

fn loading(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_mnist");
    group.sample_size(10);
    // the repository's data/mnist: read, inflate, recognise by the compressed bytes' digest, index
    group.bench_function("files", |b| {
        b.iter(|| Dataset::load_mnist(&data_dir()).unwrap())
    });
    // the four gzip files built into the binary: inflate and index (hashed when built in)
    group.bench_function("built_in", |b| {
        b.iter(|| Dataset::load_built_in_mnist(10_000).unwrap())
    });
    group.finish();
}

/// The eta sweep network, 7 learning rates x 3 epochs, test accuracy monitored, through the
/// whole sweep machinery (results written to a temporary folder).
fn sweep(c: &mut Criterion) {
    let mut group = c.benchmark_group("sweep_7eta_3epochs");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(
        21 * epoch_flops(&[784, 30, 10], 50_000, 10),
    ));
    let text = format!(
        "description = \"bench\"\n[data]\ndir = \"{}\"\nmonitor = [\"test_accuracy\"]\n[grid]\neta = [0.01, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0]\nepochs = 3\n",
        data_dir().display()
    );
    let exp = Experiment::from_str(&text, Path::new("bench.toml")).unwrap();
    let out = tempfile::tempdir().unwrap();
    for (threads, fuse) in [(1, true), (2, true), (1, false), (2, false)] {
        let name = format!("{threads}thread_{}", if fuse { "fused" } else { "unfused" });
        group.bench_function(name, |b| {
            b.iter(|| {
                let opts = SweepOptions {
                    out: Some(out.path().join("r")),
                    threads: Some(threads),
                    quiet: true,
                    fresh: true,
                    no_fuse: !fuse,
                    ..SweepOptions::default()
                };
                run_sweep(&exp, &opts, &std::sync::atomic::AtomicBool::new(false)).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // criterion's HTML charts need system fonts; the numbers are what matter here
    config = Criterion::default().without_plots();
    targets = epochs, models, trained, scaling, fused, evaluation, loading, sweep
}
criterion_main!(benches);
