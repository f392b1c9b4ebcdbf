//! The curvature of the training cost at a run's initial weights, and the learning rate it
//! predicts: for each experiment file given, for each of its seeds, the largest eigenvalue λ of
//! the Hessian of the first run's training cost (its network, cost, activation, lambda and
//! training set; eta does not enter), gradient descent's stability threshold 2/λ there, and the
//! book's half of it. Chapter 3's "Hessian technique", beside the thresholds `runner` measures.
//!
//! ```sh
//! cargo run --release --example curvature -- experiments/eta_sweep.toml experiments/book/three_etas.toml
//! ```
//!
//! Options (environment): `SAMPLE` training examples the cost is taken over (default 1000),
//! `ITERATIONS` of power iteration at most (default 200), `TOLERANCE` relative (default 1e-4).

use std::path::Path;

use runner::config::Experiment;

fn main() -> anyhow::Result<()> {
    let var = |name: &str, default: f64| -> f64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (sample, iterations, tolerance) = (
        var("SAMPLE", 1000.0) as usize,
        var("ITERATIONS", 200.0) as usize,
        var("TOLERANCE", 1e-4),
    );
    let files: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        !files.is_empty(),
        "give one or more experiment files, e.g. experiments/eta_sweep.toml"
    );
    for file in files {
        let exp = Experiment::from_file(Path::new(&file))?;
        let data = exp.load_data()?;
        let first = exp.run(0);
        println!(
            "{file}: {} {} {} {} lambda={} train_size={} (λ over the first {sample} training \
             examples)",
            runner::grid::settings::sizes_label(&first.sizes),
            first.cost.name(),
            first.activation.name(),
            first.init.name(),
            first.lambda,
            first.train_size
        );
        for seed in exp.seeds() {
            let mut run = first.clone();
            run.seed = seed;
            let started = std::time::Instant::now();
            let top = runner::train::initial_curvature(&run, &data, sample, iterations, tolerance);
            println!(
                "  seed {seed}: λ = {:.4} ({} iterations, {}; {:.1} s), 2/λ = {:.3}, half: {:.3}",
                top.value,
                top.estimates.len(),
                if top.converged {
                    "converged"
                } else {
                    "not converged"
                },
                started.elapsed().as_secs_f64(),
                top.threshold(),
                top.threshold() / 2.0
            );
        }
    }
    Ok(())
}
