//! The searches end to end: the book's threshold procedure for eta and successive halving, on
//! small slices of MNIST (real binary): their files, their answers, the same decisions on any
//! number of threads and after a kill, and clear refusals.

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};

use crate::common::{csv_rows, experiment, runner, summary_json, without_seconds, Held};
use predicates::prelude::*;

/// 2 seeds, probes of 2 epochs, a bracket within a factor of 2, then 4 epochs at the answer.
const THRESHOLD: &str = "train_size = 1000\nvalidation_size = 1000\n[search]\nmode = \"threshold\"\nwatch = 2\nprecision = 2.0\nthen_train = true\n[grid]\nepochs = 4\nseeds = 2\n";

/// 2 widths x 4 etas x 2 seeds (8 configurations), halved after epochs 1, 2 and 4 of 6.
const HALVING: &str = "train_size = 1000\nvalidation_size = 1000\nmonitor = [\"validation_accuracy\", \"train_cost\"]\n[search]\nmode = \"halving\"\nreduction = 2\n[grid]\nhidden = [10, 30]\neta = [0.1, 1.0, 3.0, 100.0]\nepochs = 6\nseeds = 2\n";

/// What a search's folder holds, timing columns aside: metrics.csv, runs.csv and the search's own
/// file (`threshold.csv` or `rungs.csv`), to compare two folders.
type Results = (Vec<Vec<String>>, Vec<Vec<String>>, String);

fn results(dir: &Path, search_file: &str) -> Results {
    (
        without_seconds(&dir.join("metrics.csv")),
        without_seconds(&dir.join("runs.csv")),
        std::fs::read_to_string(dir.join(search_file)).unwrap(),
    )
}

fn run(tmp: &Path, exp: &Path, out: &str, threads: &str) {
    runner(tmp)
        .args([
            exp.to_str().unwrap(),
            "--out",
            out,
            "-q",
            "--threads",
            threads,
        ])
        .assert()
        .success();
}

/// Kills a sweep once it has written `rows` rows of `metrics.csv`, then runs it again.
fn kill_after_rows_then_resume(tmp: &Path, exp: &Path, out: &str, rows: usize) {
    let args = [exp.to_str().unwrap(), "--out", out, "-q"];
    let mut held = Held::spawn(tmp, &args, &format!("rows={rows}"));
    held.wait();
    held.kill();
    run(tmp, exp, out, "2");
}

/// A search that computes before it trains (`file`: what it computed) gives the folder `one`'s
/// results (and `summary`'s recommendation) on one thread, after kill -9 at its first row,
/// after SIGTERM (exit 130, a scheduler's time limit) and a resume, and merged.
fn same_after_threads_kill_term_and_merge(
    tmp: &Path,
    exp: &Path,
    file: &str,
    summary: &serde_json::Value,
) {
    let reference = results(&tmp.join("one"), file);
    run(tmp, exp, "single", "1");
    assert_eq!(results(&tmp.join("single"), file), reference, "one thread");
    kill_after_rows_then_resume(tmp, exp, "killed", 1);
    assert_eq!(results(&tmp.join("killed"), file), reference, "kill -9");
    let args = [exp.to_str().unwrap(), "--out", "termed", "-q"];
    let mut held = Held::spawn(tmp, &args, "rows=1");
    held.wait();
    held.signal("TERM");
    let (code, _, stderr) = held.finish();
    assert_eq!(code, Some(130), "{stderr}");
    run(tmp, exp, "termed", "2");
    assert_eq!(results(&tmp.join("termed"), file), reference, "SIGTERM");
    runner(tmp)
        .args(["merge", "merged", "one"])
        .assert()
        .success();
    assert_eq!(results(&tmp.join("merged"), file), reference, "merged");
    assert_eq!(
        summary_json(tmp, "merged")["recommended"],
        summary["recommended"]
    );
}

#[test]
fn the_threshold_search_brackets_eta_refines_below_half_and_trains_its_pick() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "threshold", THRESHOLD);
    let output = runner(tmp.path())
        .args([exp.to_str().unwrap(), "--out", "one", "--threads", "1"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let console = String::from_utf8_lossy(&output.stdout);
    assert!(console.contains("Recommended: eta = "), "{console}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("threshold search, round 1: eta = 0.01, 0.1, 1.0"));

    // threshold.csv: every probe, seed by seed, with the documented columns
    let probes = csv_rows(&tmp.path().join("one/threshold.csv"));
    assert!(!probes.is_empty());
    for p in &probes {
        for key in ["round", "eta", "seed", "epochs", "verdict", "reason"] {
            assert!(p.contains_key(key), "{key}");
        }
        assert_eq!(p["epochs"], "2");
        assert!(["stable", "unstable"].contains(&p["verdict"].as_str()));
    }
    // the answer brackets the threshold within the precision and recommends half of it
    let summary = summary_json(tmp.path(), "one");
    let t = &summary["threshold"];
    let (s, u) = (
        t["largest_stable"].as_f64().unwrap(),
        t["smallest_unstable"].as_f64().unwrap(),
    );
    assert!(s < u && u / s <= 2.0 + 1e-9, "[{s}, {u}]");
    let book = t["book"].as_f64().unwrap();
    assert!((book - s / 2.0).abs() <= 0.005 * s, "{book} vs {s}");
    // the refinement: 1/2 to 1/16 of the threshold, 2 epochs each (a third of 4, at least
    // `watch`), each scored by the mean over seeds of its best validation accuracy, read here
    // from metrics.csv; the best is recommended
    let metrics = csv_rows(&tmp.path().join("one/metrics.csv"));
    let refined = t["refined"].as_array().unwrap();
    assert_eq!(refined.len(), 4);
    let mut best = (0.0, f64::NEG_INFINITY);
    for (k, r) in refined.iter().enumerate() {
        let (eta, score) = (r[0].as_f64().unwrap(), r[1].as_f64().unwrap());
        let want: f64 = format!("{:.2e}", s / 2f64.powi(k as i32 + 1))
            .parse()
            .unwrap();
        assert_eq!(eta, want);
        let mut per_seed = std::collections::HashMap::<String, f64>::new();
        for m in metrics
            .iter()
            .filter(|m| m["eta"].parse::<f64>().unwrap() == eta && m["epochs"] == "2")
        {
            let a: f64 = m["validation_accuracy"].parse().unwrap();
            let e = per_seed.entry(m["seed"].clone()).or_insert(0.0);
            *e = e.max(a);
        }
        assert_eq!(per_seed.len(), 2, "eta {eta}: both seeds refined");
        let mean = per_seed.values().sum::<f64>() / 2.0;
        assert!((mean - score).abs() < 1e-12, "eta {eta}: {mean} vs {score}");
        if score > best.1 {
            best = (eta, score);
        }
    }
    let recommended = summary["recommended"]["eta"].as_f64().unwrap();
    assert_eq!(recommended, best.0);
    // a majority of the seeds of the largest stable eta fell; of the smallest unstable, not
    let verdicts = |eta: f64| -> Vec<String> {
        probes
            .iter()
            .filter(|p| (p["eta"].parse::<f64>().unwrap() - eta).abs() < 1e-12)
            .map(|p| p["verdict"].clone())
            .collect()
    };
    assert!(verdicts(s).iter().all(|v| v == "stable"));
    assert!(verdicts(u).iter().any(|v| v == "unstable"));
    // then_train: the recommended eta for the grid's 4 epochs with both seeds
    let runs = csv_rows(&tmp.path().join("one/runs.csv"));
    let finals: Vec<_> = runs.iter().filter(|r| r["epochs"] == "4").collect();
    assert_eq!(finals.len(), 2);
    assert!(finals
        .iter()
        .all(|r| (r["eta"].parse::<f64>().unwrap() - recommended).abs() < 1e-12));
    assert_eq!(t["final_runs"], 2);
    let md = std::fs::read_to_string(tmp.path().join("one/summary.md")).unwrap();
    assert!(md.contains("**Recommended: eta = "));
    assert!(md.contains("| round | eta | verdict | seeds |"));

    // the same search on two threads, and after kills, decides exactly the same
    run(tmp.path(), &exp, "two", "2");
    let reference = results(&tmp.path().join("one"), "threshold.csv");
    let same = |out: &str| {
        assert_eq!(
            results(&tmp.path().join(out), "threshold.csv"),
            reference,
            "{out}"
        );
    };
    same("two");
    // a merge of the folder is the same search: nothing missing, the same answer
    runner(tmp.path())
        .args(["merge", "merged", "one"])
        .assert()
        .success();
    assert_eq!(
        summary_json(tmp.path(), "merged")["recommended"],
        summary["recommended"]
    );
    same("merged");
    let total = reference.0.len() - 1;
    for (k, rows) in [3, total / 2, total - 3].into_iter().enumerate() {
        let out = format!("killed{k}");
        kill_after_rows_then_resume(tmp.path(), &exp, &out, rows);
        same(&out);
    }
    // refine = false: the book's rule alone, half the threshold, without refinement runs
    let pure = experiment(
        tmp.path(),
        "pure",
        &THRESHOLD.replace("then_train = true", "then_train = true\nrefine = false"),
    );
    run(tmp.path(), &pure, "pure", "2");
    let p = summary_json(tmp.path(), "pure");
    assert_eq!(p["recommended"]["eta"], t["book"]);
    assert!(p["threshold"]["refined"].as_array().unwrap().is_empty());
    let md = std::fs::read_to_string(tmp.path().join("pure/summary.md")).unwrap();
    assert!(
        md.contains("about half the threshold, as the book advises"),
        "{md}"
    );
}

#[test]
fn a_threshold_search_is_summarised_from_its_results_alone() {
    // the verdicts compare each probe's first epoch with its untrained network's cost: the
    // probes' states record it as they train, so a summary made after the data set is gone
    // gives the same answer, reasons and all (cross-entropy with lambda 5: eta 100 blows the
    // cost up in the first epoch)
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("mnist");
    std::fs::create_dir(&data).unwrap();
    for entry in std::fs::read_dir(crate::common::repo().join("data/mnist")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    let body = format!(
        "[data]\ndir = \"{}\"\ntrain_size = 1000\nvalidation_size = 1000\n[search]\n\
         mode = \"threshold\"\nstart = 1.0\nwatch = 2\nprecision = 3.0\n[grid]\nepochs = 2\n\
         seeds = 2\ncost = \"cross-entropy\"\nlambda = 5.0\n",
        data.display()
    );
    let exp = tmp.path().join("alone.toml");
    std::fs::write(&exp, body).unwrap();
    run(tmp.path(), &exp, "alone", "2");
    let states: Vec<String> = std::fs::read_dir(tmp.path().join("alone/state"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(!states.is_empty());
    assert!(
        states.iter().all(|s| s.contains("initial_train_cost = ")),
        "{states:?}"
    );
    let before = summary_json(tmp.path(), "alone");
    let reasons = before["threshold"].to_string();
    assert!(reasons.contains("in epoch 1"), "{reasons}");
    std::fs::remove_dir_all(&data).unwrap();
    assert_eq!(summary_json(tmp.path(), "alone"), before);
}

#[test]
fn a_sharded_threshold_search_exchanges_probes_and_every_shard_ends_with_the_whole_search() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "split", THRESHOLD);
    run(tmp.path(), &exp, "whole", "2");
    let reference = results(&tmp.path().join("whole"), "threshold.csv");
    let same = |dir: &Path| assert_eq!(results(dir, "threshold.csv"), reference, "{dir:?}");
    let shard = |i: usize| {
        StdCommand::new(assert_cmd::cargo::cargo_bin("runner"))
            .current_dir(tmp.path())
            .args([
                exp.to_str().unwrap(),
                "--shard",
                &format!("{i}/2"),
                "--fresh",
                "--threads",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let trained = |stderr: &str| stderr.lines().filter(|l| l.starts_with('[')).count();
    // two shards at once: each trains about half of every round and copies the rest
    let (a, b) = (shard(1), shard(2));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let (ea, eb) = (
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr),
    );
    let runs = reference.1.len() - 1;
    assert!(ea.contains("copied") && eb.contains("copied"), "{ea}\n{eb}");
    assert!(trained(&ea) + trained(&eb) < 2 * runs, "{ea}\n{eb}");
    let dirs =
        ["split-shard-1-of-2", "split-shard-2-of-2"].map(|d| tmp.path().join("results").join(d));
    for d in &dirs {
        same(d);
    }
    // their merge is the unsharded search, with nothing reported missing or duplicated
    let merged = runner(tmp.path())
        .args([
            "merge",
            "merged",
            dirs[0].to_str().unwrap(),
            dirs[1].to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(merged.status.success());
    let said = String::from_utf8_lossy(&merged.stderr).to_string()
        + &String::from_utf8_lossy(&merged.stdout);
    assert!(
        !said.contains("duplicated") && !said.contains("missing"),
        "{said}"
    );
    // (the summary writes threshold.csv)
    assert_eq!(
        summary_json(tmp.path(), "merged")["recommended"],
        summary_json(tmp.path(), "whole")["recommended"]
    );
    same(&tmp.path().join("merged"));

    // a shard never waits for one that is not running: alone, shard 2 trains the whole search,
    // and shard 1, run afterwards, copies it all and trains nothing
    let fresh = |i: usize| {
        runner(tmp.path())
            .args([
                exp.to_str().unwrap(),
                "--shard",
                &format!("{i}/2"),
                "--fresh",
                "--threads",
                "2",
            ])
            .output()
            .unwrap()
    };
    std::fs::remove_dir_all(&dirs[0]).unwrap();
    let alone = fresh(2);
    assert!(alone.status.success());
    let said = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(trained(&said), runs, "{said}");
    assert!(
        said.contains("runs of shards that are not running"),
        "{said}"
    );
    same(&dirs[1]);
    let after = fresh(1);
    assert!(after.status.success());
    let said = String::from_utf8_lossy(&after.stderr);
    assert_eq!(trained(&said), 0, "{said}");
    same(&dirs[0]);

    // a shard killed mid-search holds nobody up: its sibling trains its share; run again, it
    // copies what it lacks
    for d in &dirs {
        std::fs::remove_dir_all(d).unwrap();
    }
    let shard_args = |i: usize| {
        vec![
            exp.to_str().unwrap().to_string(),
            "--shard".to_string(),
            format!("{i}/2"),
            "--fresh".to_string(),
            "--threads".to_string(),
            "1".to_string(),
        ]
    };
    let a_args = shard_args(1);
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let mut a = Held::spawn(tmp.path(), &a_args, "rows=3");
    a.wait();
    let b = shard(2);
    a.kill();
    let b = b.wait_with_output().unwrap();
    assert!(b.status.success());
    let said = String::from_utf8_lossy(&b.stderr);
    assert!(
        said.contains("runs of shards that are not running"),
        "{said}"
    );
    same(&dirs[1]);
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--shard", "1/2", "-q"])
        .assert()
        .success();
    same(&dirs[0]);

    // the siblings are found by the folder's name
    runner(tmp.path())
        .args([
            exp.to_str().unwrap(),
            "--shard",
            "1/2",
            "--out",
            "elsewhere",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not end in '-shard-1-of-2'"));
}

#[test]
fn successive_halving_keeps_the_best_share_at_each_rung_as_the_full_grid_ranks_them() {
    let tmp = tempfile::tempdir().unwrap();
    // the classic rule: the best share by the mean alone (the seed-aware rule is checked below)
    let classic = HALVING.replace("reduction = 2\n", "reduction = 2\nprune = \"mean\"\n");
    let exp = experiment(tmp.path(), "halving", &classic);
    // check says what halving will train: 8x2 runs of 1 epoch, 4x2 to epoch 2, 2x2 to 4, 1x2 to 6
    runner(tmp.path())
        .args(["check", exp.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "halving after epochs [1, 2, 4]: about 36 epochs (38% of the 96",
        ));
    run(tmp.path(), &exp, "halved", "2");
    // the same grid trained whole: halving's runs are bit-identical to its first epochs
    let full = experiment(
        tmp.path(),
        "full",
        &HALVING.replace("mode = \"halving\"\nreduction = 2\n", "mode = \"grid\"\n"),
    );
    let confident = experiment(tmp.path(), "confident", HALVING);
    run(tmp.path(), &full, "full", "2");
    let metrics = csv_rows(&tmp.path().join("full/metrics.csv"));
    // a configuration's value at a rung: the mean over seeds of each seed's best so far
    let value = |sizes: &str, eta: &str, epoch: usize| -> f64 {
        let mut best = std::collections::BTreeMap::<String, f64>::new();
        for r in metrics.iter().filter(|r| {
            r["sizes"] == sizes && r["eta"] == eta && r["epoch"].parse::<usize>().unwrap() <= epoch
        }) {
            let v: f64 = r["validation_accuracy"].parse().unwrap();
            let b = best.entry(r["seed"].clone()).or_insert(f64::NEG_INFINITY);
            *b = b.max(v);
        }
        assert_eq!(best.len(), 2);
        best.values().sum::<f64>() / 2.0
    };
    let rungs = csv_rows(&tmp.path().join("halved/rungs.csv"));
    let mut alive = 8;
    for (rung, epoch) in [(1, 1), (2, 2), (3, 4)] {
        let at: Vec<_> = rungs
            .iter()
            .filter(|r| r["rung"] == rung.to_string())
            .collect();
        assert_eq!(at.len(), alive, "rung {rung}");
        assert!(at.iter().all(|r| r["epoch"] == epoch.to_string()));
        // ranked best first by the mean over seeds, as the full grid's metrics give it
        let mut previous = f64::INFINITY;
        for r in &at {
            let (sizes, eta) = {
                let label = &r["configuration"];
                let sizes = label.split(' ').next().unwrap().to_string();
                let eta = label
                    .split(' ')
                    .find_map(|p| p.strip_prefix("eta="))
                    .unwrap()
                    .to_string();
                (sizes, eta)
            };
            let v = value(&sizes, &eta, epoch);
            assert!(
                (v - r["value"].parse::<f64>().unwrap()).abs() < 1e-12,
                "{label}",
                label = r["configuration"]
            );
            assert!(v <= previous, "rung {rung}: not best first");
            previous = v;
        }
        let kept = at.iter().filter(|r| r["kept"] == "true").count();
        assert_eq!(kept, alive.div_ceil(2), "rung {rung}");
        alive = kept;
    }
    // pruned runs stop at their rung with status `pruned`, their rows kept
    let runs = csv_rows(&tmp.path().join("halved/runs.csv"));
    let pruned: Vec<_> = runs.iter().filter(|r| r["status"] == "pruned").collect();
    assert_eq!(pruned.len(), 2 * (8 - 1));
    assert_eq!(
        runs.iter().filter(|r| r["status"] == "completed").count(),
        2
    );
    let halved_rows = csv_rows(&tmp.path().join("halved/metrics.csv"));
    assert_eq!(halved_rows.len(), 2 * (8 + 4 + 2 * 2 + 2));
    for r in &pruned {
        let n = halved_rows.iter().filter(|m| m["run"] == r["run"]).count();
        assert_eq!(n.to_string(), r["epochs_completed"]);
    }
    let summary = summary_json(tmp.path(), "halved");
    assert_eq!(summary["halving"]["epochs_trained"], 36);
    assert_eq!(summary["halving"]["full_grid_epochs"], 96);
    let md = std::fs::read_to_string(tmp.path().join("halved/summary.md")).unwrap();
    assert!(md.contains("trained 36 epochs, 38% of the 96 the full grid trains"));

    // the seed-aware rule (the default) keeps at least the classic share at every rung, ranks
    // the same way, and prunes only below the cut; its spared configurations are said
    run(tmp.path(), &confident, "confident", "2");
    let seed_aware = csv_rows(&tmp.path().join("confident/rungs.csv"));
    let first = |rows: &[std::collections::HashMap<String, String>]| -> Vec<(String, String)> {
        rows.iter()
            .filter(|r| r["rung"] == "1")
            .map(|r| (r["configuration"].clone(), r["kept"].clone()))
            .collect()
    };
    let (a, b) = (first(&seed_aware), first(&rungs));
    assert_eq!(a.len(), b.len());
    for ((c1, k1), (c2, k2)) in a.iter().zip(&b) {
        assert_eq!(c1, c2, "the same ranking at rung 1");
        assert!(
            k1 == "true" || k2 == "false",
            "{c1}: the classic rule kept it"
        );
    }
    let md = std::fs::read_to_string(tmp.path().join("confident/summary.md")).unwrap();
    assert!(
        md.contains("and any whose seeds do not leave it clearly below the last one kept"),
        "{md}"
    );

    // one thread, and a kill mid-way then a resume, decide the same
    run(tmp.path(), &exp, "one", "1");
    let reference = results(&tmp.path().join("halved"), "rungs.csv");
    for out in ["one", "killed"] {
        if out == "killed" {
            kill_after_rows_then_resume(tmp.path(), &exp, out, 20);
        }
        assert_eq!(
            results(&tmp.path().join(out), "rungs.csv"),
            reference,
            "{out}"
        );
    }
}

#[test]
fn halving_stopped_by_a_signal_at_any_rung_resumes_to_the_uninterrupted_search() {
    // SIGINT or SIGTERM (Slurm's time limit) while the configurations wait at a rung: the runs
    // paused there are not saved as finished; the same command then ends as the search would
    // have, rung by rung
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "halving", HALVING);
    run(tmp.path(), &exp, "whole", "2");
    let want = results(&tmp.path().join("whole"), "rungs.csv");
    for rung in 1..=3 {
        for signal in ["INT", "TERM"] {
            let out = format!("stopped-{rung}-{signal}");
            let args = [exp.to_str().unwrap(), "--out", &out, "--threads", "2"];
            let mut held = Held::spawn(tmp.path(), &args, &format!("rung={rung}"));
            held.wait();
            held.signal(signal);
            let (code, _, stderr) = held.finish();
            assert_eq!(code, Some(130), "rung {rung}, SIG{signal}: {stderr}");
            let runs = csv_rows(&tmp.path().join(&out).join("runs.csv"));
            assert!(
                runs.iter()
                    .all(|r| r["status"] == "pruned" || r["epochs_completed"] == "6"),
                "rung {rung}, SIG{signal}: a paused run was saved: {runs:?}"
            );
            run(tmp.path(), &exp, &out, "2");
            assert_eq!(
                results(&tmp.path().join(&out), "rungs.csv"),
                want,
                "rung {rung}, SIG{signal}"
            );
        }
    }
}

#[test]
fn searches_refuse_what_they_cannot_do_with_the_key_and_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[search]\nmode = \"threshold\"\n[grid]\neta = [1.0, 3.0]\n",
            "`grid.eta`: eta must not be given in a threshold search",
        ),
        (
            "[search]\nmode = \"threshold\"\n[grid]\nhidden = [10, 30]\n",
            "a threshold search finds eta for one network: `sizes` has 2 values",
        ),
        (
            "[search]\nmode = \"threshold\"\nreduction = 3\n",
            "`reduction` belongs to mode = \"halving\", not to mode = \"threshold\"",
        ),
        (
            "[search]\nmode = \"threshold\"\nwatch = 1\n",
            "the epochs watched per probe are from 2 to 100",
        ),
        (
            "monitor = [\"test_accuracy\"]\n[search]\nmode = \"halving\"\n",
            "\"validation_accuracy\" is not monitored",
        ),
        (
            "[search]\nmode = \"halving\"\n[grid]\nepochs = [5, 10]\n",
            "give one value of `epochs`",
        ),
        (
            "[search]\nmode = \"halving\"\nprune = \"best\"\n",
            "`search.prune`: a string \"best\" is not allowed: use \"confident\"",
        ),
        (
            "[search]\nmode = \"threshold\"\nrefine = 1\n",
            "`search.refine`: 1 is not allowed: true or false",
        ),
        (
            "validation_size = 0\nmonitor = [\"train_cost\"]\n[search]\nmode = \"threshold\"\n",
            "the threshold search's refinement ranks etas by validation accuracy",
        ),
    ];
    for (k, (body, message)) in cases.into_iter().enumerate() {
        let exp = experiment(tmp.path(), &format!("bad{k}"), body);
        runner(tmp.path())
            .arg(&exp)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message))
            .stderr(predicate::str::contains(format!("bad{k}.toml:")))
            .stderr(predicate::str::contains("panicked").not());
    }
    // halving decides from all results so far: it is not split into shards
    let exp = experiment(tmp.path(), "sharded", HALVING);
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--shard", "1/2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be split into shards"));
    runner(tmp.path())
        .args(["check", exp.to_str().unwrap(), "--shard", "1/2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be split into shards"));
    assert!(!tmp.path().join("results").exists());
}

/// 2 seeds, the Hessian over 200 examples, then 2 epochs at the recommended eta.
const CURVATURE: &str = "train_size = 1000\nvalidation_size = 1000\n[search]\nmode = \"curvature\"\nsample = 200\n[grid]\nhidden = 10\nepochs = 2\nseeds = 2\n";

#[test]
fn the_curvature_search_recommends_half_of_two_over_lambda_and_trains_it() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "curvature", CURVATURE);
    let output = runner(tmp.path())
        .args([exp.to_str().unwrap(), "--out", "one"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("curvature search, seed 1: lambda = "),
        "{stderr}"
    );
    // curvature.csv: each seed's estimates; the last is its lambda
    let rows = csv_rows(&tmp.path().join("one/curvature.csv"));
    let lambda = |seed: &str| -> f64 {
        rows.iter().rfind(|r| r["seed"] == seed).unwrap()["estimate"]
            .parse()
            .unwrap()
    };
    let (l1, l2) = (lambda("1"), lambda("2"));
    assert!(l1 > 0.0 && l2 > 0.0, "{l1} {l2}");
    // the recommendation: 1 / the largest lambda, three significant digits, trained with both seeds
    let summary = summary_json(tmp.path(), "one");
    let recommended = summary["recommended"]["eta"].as_f64().unwrap();
    let expected: f64 = format!("{:.2e}", 1.0 / l1.max(l2)).parse().unwrap();
    assert_eq!(recommended, expected);
    let c = &summary["curvature"];
    assert_eq!(c["seeds"].as_array().unwrap().len(), 2);
    assert!((c["seeds"][0]["threshold"].as_f64().unwrap() - 2.0 / l1).abs() < 1e-9);
    let runs = csv_rows(&tmp.path().join("one/runs.csv"));
    assert_eq!(runs.len(), 2);
    assert!(runs
        .iter()
        .all(|r| r["eta"].parse::<f64>().unwrap() == recommended && r["epochs"] == "2"));
    let md = std::fs::read_to_string(tmp.path().join("one/summary.md")).unwrap();
    assert!(
        md.contains("**Curvature search**") && md.contains("Recommended: eta = "),
        "{md}"
    );
    // the same numbers on one thread, after kill -9, after SIGTERM, and merged
    same_after_threads_kill_term_and_merge(tmp.path(), &exp, "curvature.csv", &summary);
    // it refuses what it cannot do
    let bad = experiment(
        tmp.path(),
        "bad",
        "[search]\nmode = \"curvature\"\n[grid]\neta = [1.0, 3.0]\n",
    );
    runner(tmp.path())
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`grid.eta`: eta must not be given in a curvature search",
        ));
    let bad = experiment(
        tmp.path(),
        "bad2",
        "[search]\nmode = \"curvature\"\ntolerance = 2.0\n",
    );
    runner(tmp.path())
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the tolerance is a relative change above 0 and below 1",
        ));
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--shard", "1/2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a curvature search decides what to train",
        ));
}

/// 2 seeds, cross-entropy, eta from 0.001 towards 1000 over 300 mini-batches (the cost blows up
/// before), then 2 epochs at the valley suggestion.
const RANGE_TEST: &str = "train_size = 1000\nvalidation_size = 1000\n[search]\nmode = \"range_test\"\nmax = 1000\nsteps = 300\nthen_train = true\n[grid]\nhidden = 10\ncost = \"cross-entropy\"\nepochs = 2\nseeds = 2\n";

#[test]
fn the_range_test_smooths_stops_at_the_blow_up_suggests_and_trains_its_pick() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "range", RANGE_TEST);
    let output = runner(tmp.path())
        .args([exp.to_str().unwrap(), "--out", "one"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("range test, seed 1: "), "{stderr}");
    // range_test.csv: per seed, eta growing by one factor a step from 0.001, the cost smoothed
    // (debiased moving average, 0.98) and the test ended at the first blow-up (4x the lowest)
    let rows = csv_rows(&tmp.path().join("one/range_test.csv"));
    let growth = 1e6f64.powf(1.0 / 299.0);
    for seed in ["1", "2"] {
        let steps: Vec<_> = rows.iter().filter(|r| r["seed"] == seed).collect();
        let f = |i: usize, c: &str| -> f64 { steps[i][c].parse().unwrap() };
        assert!(steps.len() > 20 && steps.len() < 300, "{}", steps.len());
        let (mut average, mut lowest) = (0.0, f64::INFINITY);
        for i in 0..steps.len() {
            assert_eq!(steps[i]["step"], (i + 1).to_string());
            let want_eta = 0.001 * growth.powi(i as i32);
            assert!((f(i, "eta") / want_eta - 1.0).abs() < 1e-9, "step {i}");
            average = 0.98 * average + 0.02 * f(i, "cost");
            let smoothed = average / (1.0 - 0.98f64.powi(i as i32 + 1));
            assert!((f(i, "smoothed") - smoothed).abs() < 1e-9 * smoothed.abs().max(1.0));
            lowest = lowest.min(smoothed);
            let blown = smoothed > 4.0 * lowest;
            assert_eq!(blown, i + 1 == steps.len(), "seed {seed}, step {i}");
        }
    }
    // the summary: each seed's suggestions (computed from the file), the median of the valleys
    // recommended (with two seeds, the lower) and trained with both seeds
    let summary = summary_json(tmp.path(), "one");
    let r = &summary["range_test"];
    assert_eq!(r["suggestion"], "valley");
    let valleys: Vec<f64> = (0..2)
        .map(|i| r["seeds"][i]["suggestions"]["valley"].as_f64().unwrap())
        .collect();
    let recommended = summary["recommended"]["eta"].as_f64().unwrap();
    let expected: f64 = format!("{:.2e}", valleys[0].min(valleys[1]))
        .parse()
        .unwrap();
    assert_eq!(recommended, expected);
    assert!(r["seeds"][0]["blew_up"].as_bool().unwrap());
    let runs = csv_rows(&tmp.path().join("one/runs.csv"));
    assert_eq!(runs.len(), 2);
    assert!(runs
        .iter()
        .all(|r| r["eta"].parse::<f64>().unwrap() == recommended && r["epochs"] == "2"));
    let md = std::fs::read_to_string(tmp.path().join("one/summary.md")).unwrap();
    assert!(
        md.contains("**Range test**")
            && md.contains("**Recommended: eta = ")
            && md.contains(
                "| seed | steps | last eta | blew up | valley | steepest | minimum / 10 |"
            ),
        "{md}"
    );
    let svg = std::fs::read_to_string(tmp.path().join("one/plots/range_test.svg")).unwrap();
    assert!(
        svg.contains("recommended (valley)"),
        "the plot marks the pick"
    );
    assert!(tmp
        .path()
        .join("one/tensorboard/range_test-seed-2")
        .is_dir());
    // the same numbers on one thread, after kill -9, after SIGTERM, and merged
    same_after_threads_kill_term_and_merge(tmp.path(), &exp, "range_test.csv", &summary);
    assert!(tmp
        .path()
        .join("merged/tensorboard/range_test-seed-1")
        .is_dir());
    // without then_train: the test, its answer and plot, no run
    let only = experiment(
        tmp.path(),
        "only",
        &RANGE_TEST.replace("then_train = true", "then_train = false"),
    );
    let output = runner(tmp.path())
        .args([only.to_str().unwrap(), "--out", "only"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let console = String::from_utf8_lossy(&output.stdout);
    assert!(
        console.contains("Recommended: eta = ") && console.contains("then_train = true"),
        "{console}"
    );
    assert_eq!(csv_rows(&tmp.path().join("only/runs.csv")).len(), 0);
    assert!(tmp.path().join("only/plots/range_test.svg").is_file());
    assert_eq!(
        summary_json(tmp.path(), "only")["recommended"],
        summary["recommended"]
    );
    // it refuses what it cannot do
    for (text, message) in [
        (
            "[search]\nmode = \"range_test\"\n[grid]\neta = [1.0, 3.0]\n",
            "`grid.eta`: eta must not be given in a range test search",
        ),
        (
            "[search]\nmode = \"range_test\"\nsuggestion = \"best\"\n",
            "\"best\" is not allowed: use \"valley\", \"steepest\" or \"minimum\"",
        ),
        (
            "[search]\nmode = \"range_test\"\nmin = 10\nmax = 1\n",
            "`search.max`: the range is empty: `max` (1) must be above `min` (10)",
        ),
    ] {
        let bad = experiment(tmp.path(), "bad", text);
        runner(tmp.path())
            .arg(&bad)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--shard", "1/2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a range test decides what to train",
        ));
}
