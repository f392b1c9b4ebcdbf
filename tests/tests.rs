//! The end-to-end tests of the `runner` binary, in one test binary (the helpers compile once):
//! each module below is one area, run on small slices of the real MNIST. Tests that need a
//! system package (Chromium, Fashion-MNIST, Slurm, TensorBoard's reader) or root are
//! `#[ignore = "needs ..."]`; `.ci/run` installs the packages and runs them with
//! `--include-ignored`.

mod common;

mod audit;
mod cli;
mod datasets;
mod fetch;
mod golden;
mod report;
mod resume;
mod searches;
mod slurm;
mod tensorboard;
