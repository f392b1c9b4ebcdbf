//! `runner`: trains grids of small fully connected networks (Nielsen's *Neural Networks and Deep
//! Learning*, chapters 1 and 3) on MNIST, in parallel on all cores, with bit-for-bit reproducible
//! per-epoch metrics.
//!
//! The pipeline, one module a step: an [`experiment`] file is parsed and validated into a
//! [`grid`] of runs; the [`data`] set is loaded once and shared; each run trains a [`network`]
//! ([`train`]); the [`sweep`] schedules the runs on the rayon pool and the [`output`] module
//! writes `metrics.csv` and `runs.csv` as epochs finish.

pub mod cli;
pub mod data;
pub mod error;
pub mod experiment;
pub mod grid;
pub mod group;
pub mod network;
pub mod output;
pub mod plot;
pub mod report;
pub mod resume;
pub mod simd;
pub mod summary;
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

    /// The real data set, loaded once for all unit tests.
    pub fn mnist() -> &'static Dataset {
        static DATA: OnceLock<Dataset> = OnceLock::new();
        DATA.get_or_init(|| Dataset::load_mnist(&mnist_dir()).expect("data/mnist loads"))
    }
}
