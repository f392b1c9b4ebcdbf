//! End-to-end tests of the `runner` binary on small slices of MNIST.

use std::path::Path;

use crate::common::{experiment, runner, without_seconds};
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
fn results_do_not_depend_on_the_instruction_set() {
    // RUNNER_NO_AVX512 makes the kernels use AVX where the processor has AVX-512 (on a machine
    // without it, both runs use the same kernels)
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "isa",
        "train_size = 600\n[grid]\neta = [0.5, 3.0, 100.0]\nepochs = 2\nbatch_size = [10, 300]\n",
    );
    for (out, no_avx512) in [("wide", false), ("narrow", true)] {
        let mut cmd = runner(tmp.path());
        if no_avx512 {
            cmd.env("RUNNER_NO_AVX512", "1");
        }
        cmd.args([exp.to_str().unwrap(), "--threads", "2", "--out", out])
            .assert()
            .success();
    }
    let wide = without_seconds(&tmp.path().join("wide/metrics.csv"));
    let narrow = without_seconds(&tmp.path().join("narrow/metrics.csv"));
    assert_eq!(wide.len(), 13);
    assert_eq!(wide, narrow, "metrics differ between AVX-512 and AVX");
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
    let runs = crate::common::without_seconds(&tmp.path().join("results/div/runs.csv"));
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

#[test]
fn variants_and_chapter_3_settings_get_their_own_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let body = "train_size = 500\n[grid]\nepochs = 3\ninit = \"scaled\"\neta = [0.1, 0.5]\n\
                [[variant]]\nname = \"sigmoid\"\ncost = \"cross-entropy\"\n\
                [[variant]]\nname = \"tanh + softmax\"\nactivation = \"tanh\"\noutput = \"softmax\"\n\
                [[variant]]\nname = \"momentum\"\ncost = \"cross-entropy\"\nmomentum = 0.5\n";
    let exp = experiment(tmp.path(), "variants", body);
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains("6 runs finished"));
    let out = tmp.path().join("results/variants");
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    let header = lines.next().unwrap();
    assert!(
        header.ends_with(",test_accuracy,seconds,activation,momentum,variant"),
        "{header}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 18, "3 variants x 2 eta x 3 epochs");
    let settings: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .step_by(6)
        .map(|r| (r[6], r[18], r[19], r[20]))
        .collect();
    assert_eq!(
        settings,
        vec![
            ("cross-entropy", "sigmoid", "0.0", "sigmoid"),
            ("log-likelihood", "tanh", "0.0", "tanh + softmax"),
            ("cross-entropy", "sigmoid", "0.5", "momentum"),
        ]
    );
    for r in rows.iter().filter(|r| r[10] == "3") {
        let acc: f64 = r[16].parse().unwrap();
        assert!(acc > 0.6, "{r:?}");
    }
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert!(runs
        .lines()
        .next()
        .unwrap()
        .ends_with(",seconds,activation,momentum,variant"));
    assert_eq!(runs.lines().filter(|l| l.ends_with(",momentum")).count(), 2);
    // the summary and the plots name the variants
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("**variant**"), "{summary}");
    assert!(summary.contains("tanh + softmax"));
    let curves = std::fs::read_to_string(out.join("plots/learning_curves.svg")).unwrap();
    assert!(
        curves.contains("variant=momentum"),
        "the legend names the variants"
    );
    // a second invocation finds everything done
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stderr(predicate::str::contains("6 of 6 runs already finished"));
}

#[test]
fn early_stopping_and_the_schedule_end_runs_early() {
    let tmp = tempfile::tempdir().unwrap();
    // eta so small that nothing improves for long: both rules end the runs well before 40 epochs
    let body = "train_size = 200\nvalidation_size = 1000\nmonitor = [\"validation_accuracy\"]\n[grid]\n\
                epochs = 40\neta = 0.000001\n\
                [[grid.zip]]\nearly_stopping = [2, 0]\neta_schedule = [\"constant\", \"halve:1\"]\n";
    let exp = experiment(tmp.path(), "stops", body);
    runner(tmp.path()).arg(&exp).assert().success();
    let out = tmp.path().join("results/stops");
    let mut reader = csv::Reader::from_path(out.join("runs.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(&r[col("status")], "stopped", "{r:?}");
        let done: usize = r[col("epochs_completed")].parse().unwrap();
        assert!((2..=20).contains(&done), "{r:?}");
    }
    // halve:1 stops after the 7th halving: at most 8 epochs (each without improvement)
    let halved = rows
        .iter()
        .find(|r| &r[col("eta_schedule")] == "halve:1")
        .unwrap();
    let done: usize = halved[col("epochs_completed")].parse().unwrap();
    assert!(done <= 8 + 3, "{done}");
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let completed: usize = rows
        .iter()
        .map(|r| r[col("epochs_completed")].parse::<usize>().unwrap())
        .sum();
    assert_eq!(metrics.lines().count() - 1, completed);
    // epoch_eta: the eta each epoch was trained with; halved at most once per epoch
    let mut reader = csv::Reader::from_path(out.join("metrics.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.iter().next_back(), Some("epoch_eta"));
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let etas: Vec<f64> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[at("eta_schedule")] == "halve:1")
        .map(|r| r[at("epoch_eta")].parse().unwrap())
        .collect();
    assert_eq!(etas[0], 0.000001);
    for w in etas.windows(2) {
        assert!(w[1] == w[0] || w[1] == w[0] / 2.0, "{etas:?}");
    }
    assert!(etas.last().unwrap() < &etas[0], "{etas:?}");
}

#[test]
fn expanded_training_data_is_five_times_the_images() {
    let tmp = tempfile::tempdir().unwrap();
    let body =
        "train_size = 200\nmonitor = [\"train_cost\", \"test_accuracy\"]\n[grid]\nepochs = 2\n\
                cost = \"cross-entropy\"\ninit = \"scaled\"\neta = 0.5\nexpand = [false, true]\n";
    let exp = experiment(tmp.path(), "expand", body);
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains("2 runs finished"));
    let rows = without_seconds(&tmp.path().join("results/expand/metrics.csv"));
    assert_eq!(rows[0].last().unwrap(), "expand");
    assert_eq!(rows.len(), 5);
    let expanded: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[17] == "true").collect();
    assert_eq!(expanded.len(), 2);
    // five times the mini-batches per epoch: the expanded run learns more per epoch
    let acc = |r: &Vec<String>| r[16].parse::<f64>().unwrap();
    let plain = rows[1..]
        .iter()
        .find(|r| r[17] == "false" && r[10] == "1")
        .unwrap();
    let more = expanded.iter().find(|r| r[10] == "1").unwrap();
    assert!(acc(more) > acc(plain), "{more:?} vs {plain:?}");
}

#[test]
fn dropout_is_a_setting_like_the_others_and_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let body = "train_size = 600\nmonitor = [\"validation_accuracy\", \"train_cost\"]\n[grid]\nhidden = 20\neta = 0.5\ncost = \"cross-entropy\"\ndropout = [0.0, 0.2, 0.5]\nbatch_size = [10, 300]\nepochs = 2\nseeds = 2\n";
    let exp = experiment(tmp.path(), "drop", body);
    let mut outputs = Vec::new();
    for (n, args) in [
        vec!["--threads", "1"],
        vec!["--threads", "2"],
        vec!["--threads", "2", "--no-fuse"],
    ]
    .into_iter()
    .enumerate()
    {
        let out = tmp.path().join(format!("out{n}"));
        runner(tmp.path())
            .args(&args)
            .arg("-q")
            .arg("--out")
            .arg(&out)
            .arg(&exp)
            .assert()
            .success();
        outputs.push(without_seconds(&out.join("metrics.csv")));
    }
    assert_eq!(outputs[0], outputs[1], "1 and 2 threads");
    assert_eq!(outputs[0], outputs[2], "fused and solo");
    let rows = &outputs[0];
    let col = rows[0]
        .iter()
        .position(|h| h == "dropout")
        .expect("a dropout column");
    let values: std::collections::BTreeSet<&str> =
        rows[1..].iter().map(|r| r[col].as_str()).collect();
    assert_eq!(
        values.into_iter().collect::<Vec<_>>(),
        ["0.0", "0.2", "0.5"]
    );
    // p = 0 is the run without dropout: same id, same numbers
    let plain = experiment(
        tmp.path(),
        "plain",
        &body.replace("dropout = [0.0, 0.2, 0.5]\n", ""),
    );
    let out = tmp.path().join("plain");
    runner(tmp.path())
        .args(["-q", "--out"])
        .arg(&out)
        .arg(&plain)
        .assert()
        .success();
    let plain_rows = without_seconds(&out.join("metrics.csv"));
    let zero: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[col] == "0.0").collect();
    assert_eq!(zero.len(), plain_rows.len() - 1);
    for (z, p) in zero.iter().zip(&plain_rows[1..]) {
        assert_eq!(&z[..col], &p[..], "p = 0 is plain training");
    }
    // dropout changes the numbers
    let half: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[col] == "0.5").collect();
    assert_ne!(half[0][11..col], zero[0][11..col]);
}

#[test]
fn hostile_inputs_get_clear_errors_and_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    // a seed range at the very ends of the integers
    let exp = experiment(
        tmp.path(),
        "seeds",
        "[grid]\nseed = { range = [-9223372036854775808, 0] }\n",
    );
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`grid.seed`: the range gives more than 100000 values",
        ))
        .stderr(predicate::str::contains("panicked").not());
    // eta below what f32 can hold
    let exp = experiment(tmp.path(), "tiny_eta", "[grid]\neta = 1e-50\n");
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("from 1.2e-38 to 3.4e38"));
    // a file named `...toml` gives the name "..": refused like `name = ".."`, nothing written
    let dots = tmp.path().join("...toml");
    std::fs::write(&dots, "[data]\ntrain_size = 100\n").unwrap();
    runner(tmp.path())
        .arg(&dots)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("taken from its file name, \"..\""));
    assert!(!tmp.path().join("results").exists());
    // a truncated .gz: the file, what is wrong and how to restore it, once; no results folder
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for entry in std::fs::read_dir(crate::common::repo().join("data/mnist")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, data.join(p.file_name().unwrap())).unwrap();
    }
    let labels = data.join("t10k-labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&labels).unwrap();
    std::fs::write(&labels, &bytes[..bytes.len() / 2]).unwrap();
    let exp = tmp.path().join("gz.toml");
    std::fs::write(
        &exp,
        format!("[data]\ndir = \"{}\"\ntrain_size = 100\n", data.display()),
    )
    .unwrap();
    let out = runner(tmp.path())
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("t10k-labels-idx1-ubyte.gz"))
        .stderr(predicate::str::contains(
            "gzip data is truncated or corrupt",
        ))
        .stderr(predicate::str::contains("git checkout --"))
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert_eq!(err.matches("deflate").count(), 1, "{err}");
    assert!(!tmp.path().join("results/gz").exists());
}

#[test]
fn a_list_of_300000_values_is_refused_at_once_not_after_minutes() {
    // lists are read and de-duplicated in linear time: a quadratic step made a file with a
    // million learning rates run for minutes before the "more than 10000" refusal
    let tmp = tempfile::tempdir().unwrap();
    let values: Vec<String> = (1..=300_000).map(|i| format!("{}.5", i)).collect();
    let exp = experiment(
        tmp.path(),
        "huge",
        &format!("[grid]\neta = [{}, 1.5]\n", values.join(", ")),
    );
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "declares 300000 grid points, more than 10000",
        ));
}

#[test]
fn a_network_too_large_for_memory_is_refused_before_anything_is_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "huge",
        "[grid]\nsizes = [[784, 100000, 100000, 10]]\n",
    );
    for args in [vec![], vec!["check"]] {
        let mut cmd = runner(tmp.path());
        if !args.is_empty() {
            cmd.args(&args);
        }
        cmd.arg(&exp)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("this sweep needs about"))
            .stderr(predicate::str::contains("784-100000-100000-10"))
            .stderr(predicate::str::contains("available"))
            .stderr(predicate::str::contains("memory allocation").not());
    }
    assert!(!tmp.path().join("results/huge").exists());
    // check prints the memory a sweep that fits needs
    let small = experiment(
        tmp.path(),
        "small",
        "train_size = 100\n[grid]\nepochs = 1\n",
    );
    runner(tmp.path())
        .args(["check"])
        .arg(&small)
        .assert()
        .success()
        .stdout(predicate::str::contains("memory:           at most about"));
}

#[test]
fn an_installed_runner_starts_and_trains_in_an_empty_folder() {
    // no data/mnist anywhere up from this folder: the MNIST built into the binary is used
    let tmp = tempfile::tempdir().unwrap();
    let here = tmp.path();
    assert!(!here.ancestors().any(|a| a.join("data/mnist").is_dir()));
    let runner = |here: &Path| {
        let mut cmd = runner(here);
        cmd.env("XDG_DATA_HOME", here.join("no-data-here"))
            .env_remove("RUNNER_DATA_DIR");
        cmd
    };
    runner(here)
        .arg("data")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "-> 4. built into runner - yes: the repository's four files",
        ));
    runner(here)
        .args(["new", "mine"])
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote ./mine.toml"));
    runner(here)
        .args(["new", "mine"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    let starter = std::fs::read_to_string(here.join("mine.toml")).unwrap();
    assert!(starter.contains("# What question does this experiment answer?"));
    runner(here)
        .args(["check", "mine.toml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("distinct runs:    8"))
        .stdout(predicate::str::contains(
            "data:             mnist built into runner (`runner data` says why)",
        ));
    // a quick version of it, trained from the built-in data
    let quick = starter
        .replace("epochs = 10", "epochs = 1")
        .replace("# train_size = 10000", "train_size = 500")
        .replace("eta = [0.1, 1.0, 3.0, 10.0]", "eta = [1.0, 3.0]");
    std::fs::write(here.join("mine.toml"), quick).unwrap();
    runner(here)
        .args(["mine.toml", "-q"])
        .assert()
        .success()
        .stdout(predicate::str::contains("4 runs finished"));
    let metrics = std::fs::read_to_string(here.join("results/mine/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 5);
    // a folder the file names explicitly is never replaced by the built-in copy
    std::fs::write(
        here.join("named.toml"),
        "[data]\ndir = \"no/such/folder\"\n[grid]\nepochs = 1\n",
    )
    .unwrap();
    runner(here)
        .arg("named.toml")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the data folder 'no/such/folder' does not exist",
        ));
}

#[test]
fn a_closed_standard_error_loses_messages_not_the_sweep() {
    // `runner exp.toml 2>&1 | head -3` closed the pipe and the first log line panicked the
    // sweep (exit 101); now the messages are dropped and the sweep finishes
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "closed", SMALL);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("runner"))
        .current_dir(tmp.path())
        .arg(&exp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the reader is gone: every write to stderr fails
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let runs = without_seconds(&tmp.path().join("results/closed/runs.csv"));
    assert_eq!(runs.len(), 5, "{runs:?}");
}

/// The audit's weak command lines: a word that is no command, a folder that holds no results.
#[test]
fn a_mistyped_command_or_folder_says_what_there_is_instead() {
    let tmp = tempfile::tempdir().unwrap();
    let out = runner(tmp.path())
        .args(["report", "results/x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("'report' is neither a command nor an experiment file")
            && err.contains("runner summary DIR")
            && !err.contains("subcommand"),
        "{err}"
    );
    for (dir, said) in [
        ("missing", "'missing' is not a folder"),
        ("empty", "'empty' holds no results: it has no metrics.csv"),
    ] {
        std::fs::create_dir_all(tmp.path().join("empty")).unwrap();
        let out = runner(tmp.path()).args(["summary", dir]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2));
        assert!(err.contains(said) && !err.contains("os error"), "{err}");
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let bash = runner(tmp.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(bash.status.success());
    let script = String::from_utf8(bash.stdout).unwrap();
    // every command and the data subcommand's fetch, with their flags
    for word in [
        "check", "summary", "merge", "data", "fetch", "--mirror", "--shard",
    ] {
        assert!(script.contains(word), "{word}");
    }
    // bash itself parses it, and it registers the function for runner
    let path = tmp.path().join("runner.bash");
    std::fs::write(&path, &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p runner", path.display()))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("runner"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = runner(tmp.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success() && out.stdout.len() > 500, "{shell}");
    }
    runner(tmp.path())
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values"));
    let man = runner(tmp.path()).arg("man").output().unwrap();
    assert!(man.status.success());
    let page = String::from_utf8(man.stdout).unwrap();
    assert!(page.contains(".TH runner 1"), "{}", &page[..200]);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "{section}");
    }
    for command in ["runner\\-check", "runner\\-data", "runner\\-completions"] {
        assert!(page.contains(command), "{command}");
    }
}
