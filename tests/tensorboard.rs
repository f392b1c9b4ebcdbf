//! TensorBoard event files, read back by TensorBoard's own reader (the `tensorboard` Python
//! package's EventAccumulator and its HParams plugin parsers, in the virtual environment that
//! `.ci/run` makes at `target/tensorboard-venv`): every scalar of metrics.csv once per epoch,
//! every setting of runs.csv, seeds grouped, the status; after a kill and resume, through
//! shards and a merge. Where the package is missing the test is ignored, visibly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use crate::common::{csv_rows, experiment, repo, runner, Held};

/// 3 etas x 2 seeds, 4 epochs, on slices of MNIST; eta 100 saturates, the others learn.
const SWEEP: &str = "train_size = 2000\nvalidation_size = 500\n[grid]\neta = [0.5, 3.0, 100.0]\nlambda = [0.0, 1.0]\nepochs = 4\nseeds = 2\n";

fn python() -> PathBuf {
    repo().join("target/tensorboard-venv/bin/python")
}

fn read(logdir: &Path) -> serde_json::Value {
    let out = StdCommand::new(python())
        .arg(repo().join("tests/tools/read_tensorboard.py"))
        .arg(logdir)
        .output()
        .expect("the tensorboard virtual environment (.ci/run makes it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Checks that TensorBoard reads in `dir/tensorboard` exactly what metrics.csv and runs.csv hold.
fn agrees_with_the_csv(dir: &Path) {
    let tb = read(&dir.join("tensorboard"));
    let runs = csv_rows(&dir.join("runs.csv"));
    let metrics = csv_rows(&dir.join("metrics.csv"));
    let seen = tb["runs"].as_object().unwrap();
    assert_eq!(
        seen.len(),
        runs.len(),
        "one TensorBoard run per finished run"
    );
    let settings = [
        "sizes",
        "eta",
        "batch_size",
        "epochs",
        "seed",
        "cost",
        "init",
        "lambda",
    ];
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for run in &runs {
        let id = &run["run"];
        let r = &seen[id.as_str()];
        // every setting, with its value
        for key in settings {
            let v = &r["hparams"][key];
            match v.as_f64() {
                Some(x) => assert_eq!(x, run[key].parse::<f64>().unwrap(), "{id} {key}"),
                None => assert_eq!(v.as_str().unwrap(), run[key], "{id} {key}"),
            }
        }
        assert_eq!(r["status"], if run["status"] == "diverged" { 2 } else { 1 });
        groups
            .entry(r["group"].as_str().unwrap().to_string())
            .or_default()
            .push(format!("{}|{}|{}", run["eta"], run["lambda"], run["seed"]));
        // every monitored value of every epoch, once, at its epoch
        let mine: Vec<_> = metrics.iter().filter(|m| &m["run"] == id).collect();
        for (column, tag) in [
            ("train_cost", "cost/train"),
            ("train_accuracy", "accuracy/train"),
            ("validation_cost", "cost/validation"),
            ("validation_accuracy", "accuracy/validation"),
            ("test_cost", "cost/test"),
            ("test_accuracy", "accuracy/test"),
        ] {
            let points = r["scalars"][tag].as_array().unwrap();
            assert_eq!(points.len(), mine.len(), "{id} {tag}: one point per epoch");
            for (p, m) in points.iter().zip(&mine) {
                assert_eq!(p[0].as_u64().unwrap().to_string(), m["epoch"], "{id} {tag}");
                let want: f64 = m[column].parse().unwrap();
                match p[1].as_f64() {
                    Some(got) => assert!(
                        (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                        "{id} {tag} epoch {}: {got} vs {want}",
                        m["epoch"]
                    ),
                    None => assert!(want.is_nan(), "{id} {tag}"),
                }
            }
        }
    }
    // seeds group together: one group per configuration, both seeds in it
    assert_eq!(groups.len(), runs.len() / 2, "{groups:?}");
    for members in groups.values() {
        assert_eq!(members.len(), 2, "{members:?}");
        let config = |m: &String| m.rsplit_once('|').unwrap().0.to_string();
        assert_eq!(config(&members[0]), config(&members[1]));
    }
    // the experiment: the settings that vary, with their values, and the metrics
    let exp = &tb["experiment"];
    assert_eq!(exp["hparams"]["eta"], serde_json::json!([0.5, 3.0, 100.0]));
    assert_eq!(exp["hparams"]["lambda"], serde_json::json!([0.0, 1.0]));
    // only the settings that vary are columns of the HParams views
    assert_eq!(exp["hparams"].as_object().unwrap().len(), 2, "{exp}");
    assert_eq!(exp["metrics"].as_array().unwrap().len(), 6);
}

/// Kills a sweep once it has written `rows` rows of `metrics.csv`.
fn kill_after_rows(tmp: &Path, args: &[&str], rows: usize) {
    let mut held = Held::spawn(tmp, args, &format!("rows={rows}"));
    held.wait();
    held.kill();
}

#[test]
#[ignore = "needs the tensorboard Python package in target/tensorboard-venv (.ci/run makes it and runs it with --include-ignored)"]
fn tensorboard_reads_every_scalar_and_setting_after_a_kill_shards_and_a_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "tb", SWEEP);
    let e = exp.to_str().unwrap();
    // one folder, killed mid-sweep and resumed: no step twice
    kill_after_rows(
        tmp.path(),
        &[e, "--out", "whole", "--threads", "1", "-q"],
        10,
    );
    runner(tmp.path())
        .args([e, "--out", "whole", "-q"])
        .assert()
        .success();
    agrees_with_the_csv(&tmp.path().join("whole"));

    // two shards, one killed and resumed, then merged
    let shard = |i: &str| tmp.path().join(format!("results/tb-shard-{i}-of-2"));
    kill_after_rows(
        tmp.path(),
        &[e, "--shard", "1/2", "--threads", "1", "-q"],
        5,
    );
    for i in ["1", "2"] {
        runner(tmp.path())
            .args([e, "--shard", &format!("{i}/2"), "-q"])
            .assert()
            .success();
    }
    runner(tmp.path())
        .args([
            "merge",
            "merged",
            shard("1").to_str().unwrap(),
            shard("2").to_str().unwrap(),
        ])
        .assert()
        .success();
    runner(tmp.path())
        .args(["summary", "merged"])
        .assert()
        .success();
    agrees_with_the_csv(&tmp.path().join("merged"));
}

#[test]
fn every_finished_run_has_its_event_file_and_a_resume_drops_the_unfinished_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "tb", SWEEP);
    let e = exp.to_str().unwrap();
    let dir = tmp.path().join("out");
    kill_after_rows(tmp.path(), &[e, "--out", "out", "--threads", "1", "-q"], 6);
    runner(tmp.path())
        .args([e, "--out", "out", "-q"])
        .assert()
        .success();
    let runs = csv_rows(&dir.join("runs.csv"));
    let folders: Vec<String> = std::fs::read_dir(dir.join("tensorboard"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(folders.len(), runs.len());
    for run in &runs {
        let files: Vec<_> = std::fs::read_dir(dir.join("tensorboard").join(&run["run"]))
            .unwrap()
            .flatten()
            .collect();
        // one event file per run: the killed attempt's was removed before the run restarted
        assert_eq!(files.len(), 1, "{}", run["run"]);
        assert!(files[0]
            .file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents."));
    }
    // --fresh starts the event files afresh too
    runner(tmp.path())
        .args([e, "--out", "out", "-q", "--fresh"])
        .assert()
        .success();
    for run in &runs {
        let n = std::fs::read_dir(dir.join("tensorboard").join(&run["run"]))
            .unwrap()
            .count();
        assert_eq!(n, 1);
    }
}

#[test]
#[ignore = "needs the tensorboard Python package in target/tensorboard-venv (.ci/run makes it and runs it with --include-ignored)"]
fn tensorboard_reads_a_range_tests_curve_step_by_step() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "range",
        "train_size = 1000\nvalidation_size = 500\n[search]\nmode = \"range_test\"\nsteps = 150\n[grid]\nhidden = 10\nseeds = 2\n",
    );
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--out", "out", "-q"])
        .assert()
        .success();
    let tb = read(&tmp.path().join("out/tensorboard"));
    let rows = csv_rows(&tmp.path().join("out/range_test.csv"));
    for seed in ["1", "2"] {
        let run = &tb["runs"][format!("range_test-seed-{seed}")];
        let ours: Vec<_> = rows.iter().filter(|r| r["seed"] == seed).collect();
        for (tag, column) in [
            ("range_test/eta", "eta"),
            ("range_test/cost", "cost"),
            ("range_test/smoothed_cost", "smoothed"),
        ] {
            let seen = run["scalars"][tag].as_array().unwrap();
            assert_eq!(seen.len(), ours.len(), "{tag}: one value per mini-batch");
            for (i, (s, r)) in seen.iter().zip(&ours).enumerate() {
                assert_eq!(s[0].as_u64().unwrap(), i as u64 + 1);
                let want = r[column].parse::<f64>().unwrap() as f32;
                assert_eq!(s[1].as_f64().unwrap() as f32, want, "{tag}, step {}", i + 1);
            }
        }
    }
}
