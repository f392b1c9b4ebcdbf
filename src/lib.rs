//! `runner`: trains grids of small fully connected networks (Nielsen's *Neural Networks and Deep
//! Learning*, chapters 1 and 3) on MNIST, in parallel on all cores, with bit-for-bit reproducible
//! per-epoch metrics.
//!
//! The library is layered, bottom first; each module imports only those before it:
//! - [`metrics`]: the shared vocabulary (metrics, their values per epoch, how a run ended);
//! - [`stability`]: the one verdict on whether training at an eta went well;
//! - [`stats`]: means, variances and Student's t for the comparisons over seeds;
//! - [`fault`]: the hidden fault-injection points the tests stop the process at;
//! - [`console`]: messages on standard error that a closed stream never turns into a panic;
//! - [`files`]: files written whole (a temporary file, a flush, a rename);
//! - [`data`]: IDX files, checksums and the train / validation / test split;
//! - [`nn`]: parameters, the shared maths, the fast lockstep engine behind one door (its SIMD
//!   kernels, step and parallel step), and the dense reference network the tests check it
//!   against;
//! - [`grid`]: the runs of an experiment, enumerated lazily by index; run ids;
//! - [`train`]: epochs, mini-batches and the stopping rules of a run or a group;
//! - [`search`]: the searches' decisions (random draws, the book's threshold procedure for eta,
//!   successive halving, curvature, the range test), apart from the I/O;
//! - [`config`]: the experiment file, read as written (raw, with spans), then validated in one
//!   step against the table of run settings into an [`config::Experiment`];
//! - [`store`]: the results folder: its schema and one reader, writers, resume, lock, shards and
//!   merge;
//! - [`report`]: the summary across seeds, the plots and the HTML report;
//! - [`sweep`]: planning the runs into groups and shards, scheduling them on the pool, progress.

pub mod cli;
pub mod config;
pub mod console;
pub mod data;
pub mod fault;
pub mod files;
pub mod grid;
pub mod metrics;
pub mod nn;
pub mod report;
pub mod search;
pub mod stability;
pub mod stats;
pub mod store;
pub mod sweep;
pub mod train;

#[cfg(test)]
pub(crate) mod tests_support {
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use crate::data::Dataset;

    pub fn mnist_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
    }

    /// An experiment with the given `[grid]` body (and every other setting at its default).
    pub fn grid_experiment(grid: &str) -> crate::config::Experiment {
        crate::config::Experiment::from_str(
            &format!("[grid]\n{grid}"),
            std::path::Path::new("e.toml"),
        )
        .unwrap()
    }

    /// The real data set, loaded once for all unit tests.
    pub fn mnist() -> &'static Dataset {
        static DATA: OnceLock<Dataset> = OnceLock::new();
        DATA.get_or_init(|| Dataset::load_mnist(&mnist_dir()).expect("data/mnist loads"))
    }
}
