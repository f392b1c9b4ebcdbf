//! Results kept bit for bit. `tests/golden/settings.toml` sets every run setting at once on a
//! small slice of MNIST; its metrics.csv and runs.csv (timing columns aside) were produced by the
//! build before the restructure and are committed beside it. `tests/golden/dropout.toml` does the
//! same for dropout (added after the restructure). A change meant to keep results must keep these
//! files, whatever the number of threads.
//!
//! After a change that is *meant* to move results (a numeric mode, a new kernel), regenerate them in
//! that change's own commit and say why in its message:
//! `cargo run --release -- tests/golden/NAME.toml --out /tmp/golden --fresh`, then copy
//! metrics.csv and runs.csv without their `seconds` column.

use crate::common::{repo, runner, without_seconds};

/// Runs `tests/golden/{name}.toml` on 1 and 2 threads and compares its CSV files with the
/// committed ones (`{prefix}metrics.csv`, `{prefix}runs.csv`).
fn keeps_its_results(name: &str, prefix: &str) {
    let golden = repo().join("tests/golden");
    for threads in ["1", "2"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let exp = tmp.path().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(golden.join(format!("{name}.toml"))).unwrap();
        let data = repo().join("data/mnist");
        let text = text.replace(
            "[data]\n",
            &format!("[data]\ndir = \"{}\"\n", data.display()),
        );
        std::fs::write(&exp, text).unwrap();
        runner(tmp.path())
            .args(["--threads", threads, "-q", "--out"])
            .arg(&out)
            .arg(&exp)
            .assert()
            .success();
        for file in ["metrics.csv", "runs.csv"] {
            let committed = golden.join(format!("{prefix}{file}"));
            let mut reader = csv::Reader::from_path(&committed).unwrap();
            let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
            let expected: Vec<Vec<String>> = reader
                .records()
                .map(|r| r.unwrap().iter().map(String::from).collect())
                .collect();
            let got = without_seconds(&out.join(file));
            assert_eq!(got[0], header, "{name} {file} header, {threads} threads");
            assert_eq!(
                got.len() - 1,
                expected.len(),
                "{name} {file} rows, {threads} threads"
            );
            for (row, (g, e)) in got[1..].iter().zip(&expected).enumerate() {
                assert_eq!(
                    g,
                    e,
                    "{name} {file} row {} differs with {threads} threads",
                    row + 1
                );
            }
        }
    }
}

#[test]
fn every_setting_keeps_its_results_bit_for_bit() {
    keeps_its_results("settings", "");
}

#[test]
fn dropout_keeps_its_results_bit_for_bit() {
    keeps_its_results("dropout", "dropout_");
}
