//! End-to-end tests of the `runner` binary on small slices of MNIST.

mod common;

use common::{experiment, runner, without_seconds};
use predicates::prelude::*;

const SMALL: &str = "train_size = 500\n[grid]\neta = [0.5, 1.0]\nseed = [1, 2]\nepochs = 2\ncost = \"cross-entropy\"\ninit = \"scaled\"\n";

#[test]
fn a_tiny_sweep_writes_the_documented_files() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "tiny", SMALL);
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains("4 runs finished"))
        .stdout(predicate::str::contains("best valid."));
    let out = tmp.path().join("results/tiny");
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    assert_eq!(
        lines.next().unwrap(),
        "run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,train_cost,train_accuracy,validation_cost,validation_accuracy,test_cost,test_accuracy,seconds"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 8, "4 runs x 2 epochs");
    for r in &rows {
        assert_eq!(r.len(), 18);
        assert_eq!((r[1], r[6], r[7]), ("784-30-10", "cross-entropy", "scaled"));
        assert_eq!(r[9], "500");
        for (c, cell) in r.iter().enumerate().skip(11) {
            let v: f64 = cell.parse().unwrap();
            assert!(v.is_finite() && v >= 0.0);
            if [12, 14, 16].contains(&c) {
                assert!(v <= 1.0, "accuracies are fractions");
            }
        }
    }
    // grid order: eta then seed, epochs in order
    let keys: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[2], r[5], r[10])).collect();
    assert_eq!(
        keys,
        vec![
            ("0.5", "1", "1"),
            ("0.5", "1", "2"),
            ("0.5", "2", "1"),
            ("0.5", "2", "2"),
            ("1.0", "1", "1"),
            ("1.0", "1", "2"),
            ("1.0", "2", "1"),
            ("1.0", "2", "2")
        ]
    );
    // learning happened: after 100 mini-batches every run is far above chance (10%) on the test set
    for r in rows.iter().filter(|r| r[10] == "2") {
        let acc: f64 = r[16].parse().unwrap();
        assert!(acc > 0.7, "test accuracy {acc}");
    }
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 5);
    assert!(runs.lines().skip(1).all(|l| l.contains(",completed,")));
    assert_eq!(
        std::fs::read_to_string(out.join("experiment.toml")).unwrap(),
        std::fs::read_to_string(&exp).unwrap()
    );
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "det",
        "train_size = 600\n[grid]\neta = [0.5, 3.0]\nseed = [1, 2]\nepochs = 2\nbatch_size = [10, 300]\n",
    );
    for threads in ["1", "2"] {
        runner(tmp.path())
            .args([
                exp.to_str().unwrap(),
                "--threads",
                threads,
                "--out",
                threads,
            ])
            .assert()
            .success();
    }
    for file in ["metrics.csv", "runs.csv"] {
        let one = without_seconds(&tmp.path().join("1").join(file));
        let two = without_seconds(&tmp.path().join("2").join(file));
        assert_eq!(one.len(), if file == "metrics.csv" { 17 } else { 9 });
        assert_eq!(one, two, "{file} differs between 1 and 2 threads");
    }
}

#[test]
fn only_monitored_metrics_are_filled_in() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "mon",
        "train_size = 200\nmonitor = [\"test_accuracy\"]\n[grid]\nepochs = 1\n",
    );
    runner(tmp.path()).arg(&exp).assert().success();
    let metrics = std::fs::read_to_string(tmp.path().join("results/mon/metrics.csv")).unwrap();
    let row: Vec<&str> = metrics.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(&row[11..16], &["", "", "", "", ""]);
    assert!(row[16].parse::<f64>().unwrap() > 0.0);
}

#[test]
fn a_diverging_run_does_not_stop_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    // eta * lambda / n = 100: the weight decay factor is -99 and the weights blow up.
    let exp = experiment(
        tmp.path(),
        "div",
        "train_size = 1000\n[grid]\neta = [0.1, 100.0]\nlambda = 1000.0\nepochs = 3\n",
    );
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stderr(predicate::str::contains("diverged in epoch 1"));
    let runs = common::without_seconds(&tmp.path().join("results/div/runs.csv"));
    assert_eq!(runs[1][10..13], ["completed", "", "3"]);
    assert_eq!(runs[2][10..13], ["diverged", "1", "1"]);
}

#[test]
fn bad_experiment_files_get_a_clear_error_and_no_training() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "bad", "[grid]\neta = [3.0, 0]\n");
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml:5:7:"))
        .stderr(predicate::str::contains(
            "`grid.eta`: 0 is not allowed: the learning rate eta must be a finite number > 0",
        ))
        .stderr(predicate::str::contains("panicked").not());
    assert!(
        !tmp.path().join("results").exists(),
        "nothing is written for a bad file"
    );

    runner(tmp.path())
        .arg("missing.toml")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "missing.toml: cannot read the experiment file",
        ));

    let exp = tmp.path().join("nodata.toml");
    std::fs::write(&exp, "description = \"x\"\n[data]\ndir = \"no/such/dir\"\n").unwrap();
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`data.dir`: the data folder 'no/such/dir' does not exist",
        ));
}

#[test]
fn help_describes_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    runner(tmp.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("--threads"))
        .stdout(predicate::str::contains("--out"))
        .stdout(predicate::str::contains("EXPERIMENT.toml"));
}
