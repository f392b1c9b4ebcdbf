//! Results kept bit for bit: `tests/golden/settings.toml` sets every run setting at once on a small
//! slice of MNIST; its metrics.csv and runs.csv (timing columns aside) were produced by the build
//! before the restructure and are committed beside it. A change meant to keep results must keep
//! these files, whatever the number of threads.
//!
//! After a change that is *meant* to move results (a numeric mode, a new kernel), regenerate them in
//! that change's own commit and say why in its message:
//! `cargo run --release -- tests/golden/settings.toml --out /tmp/golden --fresh`, then copy
//! metrics.csv and runs.csv without their `seconds` column.

mod common;

use common::{repo, runner, without_seconds};

#[test]
fn every_setting_keeps_its_results_bit_for_bit() {
    let golden = repo().join("tests/golden");
    for threads in ["1", "2"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let exp = tmp.path().join("settings.toml");
        let text = std::fs::read_to_string(golden.join("settings.toml")).unwrap();
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
            let expected = csv::Reader::from_path(golden.join(file))
                .unwrap()
                .into_records()
                .map(|r| r.unwrap().iter().map(String::from).collect::<Vec<_>>());
            let got = without_seconds(&out.join(file));
            let header = csv::Reader::from_path(golden.join(file))
                .unwrap()
                .headers()
                .unwrap()
                .iter()
                .map(String::from)
                .collect::<Vec<_>>();
            assert_eq!(got[0], header, "{file} header, {threads} threads");
            let expected: Vec<Vec<String>> = expected.collect();
            assert_eq!(
                got.len() - 1,
                expected.len(),
                "{file} rows, {threads} threads"
            );
            for (row, (g, e)) in got[1..].iter().zip(&expected).enumerate() {
                assert_eq!(
                    g,
                    e,
                    "{file} row {} differs with {threads} threads",
                    row + 1
                );
            }
        }
    }
}
