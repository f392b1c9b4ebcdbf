//! Other data sets: Fashion-MNIST where Debian installs it, and any folder of IDX files.

use std::io::Read;
use std::path::Path;

use crate::common::{repo, runner};
use predicates::prelude::*;

/// The first `n` items of a gzipped IDX file, written uncompressed to `out`.
fn truncated_idx(src: &Path, out: &Path, n: usize) {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(src).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let ndim = bytes[3] as usize;
    let mut header = bytes[..4 + 4 * ndim].to_vec();
    header[4..8].copy_from_slice(&(n as u32).to_be_bytes());
    let item: usize = (1..ndim)
        .map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().unwrap()) as usize)
        .product();
    header.extend_from_slice(&bytes[4 + 4 * ndim..4 + 4 * ndim + n * item]);
    std::fs::write(out, header).unwrap();
}

#[test]
fn any_folder_of_idx_files_with_its_own_split() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("small");
    std::fs::create_dir(&data).unwrap();
    let src = repo().join("data/mnist");
    for (name, n) in [
        ("train-images-idx3-ubyte", 1200),
        ("train-labels-idx1-ubyte", 1200),
        ("t10k-images-idx3-ubyte", 300),
        ("t10k-labels-idx1-ubyte", 300),
    ] {
        truncated_idx(&src.join(format!("{name}.gz")), &data.join(name), n);
    }
    let exp = tmp.path().join("idx.toml");
    std::fs::write(
        &exp,
        format!(
            "description = \"t\"\n[data]\ndataset = \"idx\"\ndir = \"{}\"\nvalidation_size = 200\ntrain_size = 1000\n[grid]\nepochs = 2\ncost = \"cross-entropy\"\ninit = \"scaled\"\neta = 0.5\n",
            data.display()
        ),
    )
    .unwrap();
    runner(tmp.path()).arg(&exp).assert().success();
    let metrics = std::fs::read_to_string(tmp.path().join("results/idx/metrics.csv")).unwrap();
    let row: Vec<&str> = metrics.lines().nth(2).unwrap().split(',').collect();
    assert_eq!(row[9], "1000");
    assert!(
        row[14].parse::<f64>().unwrap() > 0.6,
        "validation accuracy {}",
        row[14]
    );

    // MNIST's checksums are still enforced for dataset = "mnist"
    let strict = tmp.path().join("strict.toml");
    std::fs::write(
        &strict,
        format!(
            "description = \"t\"\n[data]\ndir = \"{}\"\n",
            data.display()
        ),
    )
    .unwrap();
    runner(tmp.path())
        .arg(&strict)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not the standard MNIST file"));

    // a train_size larger than the folder holds is an error naming the key
    let big = tmp.path().join("big.toml");
    std::fs::write(
        &big,
        format!("description = \"t\"\n[data]\ndataset = \"idx\"\ndir = \"{}\"\nvalidation_size = 200\ntrain_size = 5000\n", data.display()),
    )
    .unwrap();
    runner(tmp.path())
        .arg(&big)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
        "big.toml:6:14: `data.train_size`: 5000 is not allowed: train_size must be from 1 to 1000",
    ));
    // the same message where a zip or a variant asks for more than the folder holds
    for (name, extra) in [
        (
            "zipped",
            "[[grid.zip]]\ntrain_size = [500, 20000]\neta = [1.0, 2.0]\n",
        ),
        (
            "variant",
            "[[variant]]\nname = \"small\"\n[[variant]]\nname = \"big\"\ntrain_size = 20000\n",
        ),
    ] {
        let path = tmp.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!("description = \"t\"\n[data]\ndataset = \"idx\"\ndir = \"{}\"\nvalidation_size = 200\ntrain_size = 500\n{extra}", data.display()),
        )
        .unwrap();
        let key = if name == "zipped" {
            "`grid.zip.0.train_size`"
        } else {
            "`variant.1.train_size`"
        };
        runner(tmp.path())
            .arg(&path)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "{key}: 20000 is not allowed: train_size must be from 1 to 1000"
            )));
        assert!(!tmp
            .path()
            .join("results")
            .join(name)
            .join("metrics.csv")
            .exists());
    }
}

#[test]
#[ignore = "needs Debian's dataset-fashion-mnist (.ci/run installs it and runs it with --include-ignored)"]
fn fashion_mnist_trains() {
    assert!(
        Path::new("/usr/share/datasets/fashion-mnist").is_dir(),
        "Debian's dataset-fashion-mnist is not installed (.ci/run installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("fashion.toml");
    std::fs::write(
        &exp,
        "description = \"t\"\n[data]\ndataset = \"fashion-mnist\"\ntrain_size = 2000\nmonitor = [\"test_accuracy\"]\n[grid]\nepochs = 2\ncost = \"cross-entropy\"\ninit = \"scaled\"\neta = 0.5\n",
    )
    .unwrap();
    runner(tmp.path()).arg(&exp).assert().success();
    let metrics = std::fs::read_to_string(tmp.path().join("results/fashion/metrics.csv")).unwrap();
    let acc: f64 = metrics
        .lines()
        .nth(2)
        .unwrap()
        .split(',')
        .nth(16)
        .unwrap()
        .parse()
        .unwrap();
    // clothes are harder than digits: well above chance, below MNIST's figure for this budget
    assert!(acc > 0.55 && acc < 0.9, "test accuracy {acc}");
}
