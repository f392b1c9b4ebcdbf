//! Tells the tests which system packages and privileges they can use: `has_chromium` (Debian's chromium, for the
//! report in a real headless browser), `has_tensorboard` (the tensorboard Python package, whose
//! reader checks the event files), `has_slurm` (Debian's Slurm daemons and client, for a real
//! single-node cluster), `has_fashion_mnist` (Debian's dataset-fashion-mnist) and
//! `is_root` (a full disk is simulated with a tiny tmpfs, which only root can mount).
//! A test that needs a missing package is compiled as `#[ignore]` with the reason, so it shows as
//! ignored in the count instead of passing silently. Under CI (`CI=true`, where `.ci/run` installs
//! both packages first) both are always on: the tests must run there, and fail if the install did.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_chromium)");
    println!("cargo::rustc-check-cfg=cfg(has_fashion_mnist)");
    println!("cargo::rustc-check-cfg=cfg(is_root)");
    println!("cargo::rustc-check-cfg=cfg(has_tensorboard)");
    println!("cargo::rustc-check-cfg=cfg(has_slurm)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    // Debian records every install here: installing a package re-runs this script
    if Path::new("/var/lib/dpkg/status").exists() {
        println!("cargo::rerun-if-changed=/var/lib/dpkg/status");
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if ci || Path::new("/usr/bin/chromium").exists() {
        println!("cargo::rustc-cfg=has_chromium");
    }
    // the tensorboard Python package, in the virtual environment .ci/run makes (its reader
    // checks the event files)
    let venv = Path::new("target/tensorboard-venv/bin/python");
    if venv.exists() {
        println!("cargo::rerun-if-changed={}", venv.display());
    }
    if ci || venv.exists() {
        println!("cargo::rustc-cfg=has_tensorboard");
    }
    // a single-node Slurm cluster for the README's sbatch scripts
    if ci || (Path::new("/usr/sbin/slurmctld").exists() && Path::new("/usr/bin/sbatch").exists()) {
        println!("cargo::rustc-cfg=has_slurm");
    }
    if ci || Path::new("/usr/share/datasets/fashion-mnist").is_dir() {
        println!("cargo::rustc-cfg=has_fashion_mnist");
    }
    // root can mount a small tmpfs to fill a disk on purpose (CI runs as root)
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    });
    if root {
        println!("cargo::rustc-cfg=is_root");
    }
}
