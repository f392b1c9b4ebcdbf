//! Never lose a result: crashes, interruptions, changed experiments, shards (end-to-end, real
//! binary on small slices of MNIST).

use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};

use crate::common::{experiment, runner, without_seconds, Held};
use predicates::prelude::*;

/// 6 runs x 4 epochs; long enough (a few seconds) to be killed in the middle.
const BODY: &str = "train_size = 3000\nmonitor = [\"validation_accuracy\", \"test_accuracy\", \"train_cost\"]\n[grid]\neta = [0.5, 3.0, 10.0]\nseed = [1, 2]\nepochs = 4\n";

fn spawn(cwd: &Path, args: &[&str]) -> Child {
    StdCommand::new(assert_cmd::cargo::cargo_bin("runner"))
        .current_dir(cwd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Lines in a file, 0 when it does not exist.
fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

fn reference(tmp: &Path, exp: &Path) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    runner(tmp)
        .args([exp.to_str().unwrap(), "--out", "reference", "-q"])
        .assert()
        .success();
    (
        without_seconds(&tmp.join("reference/metrics.csv")),
        without_seconds(&tmp.join("reference/runs.csv")),
    )
}

/// Runs the experiment again into `out` (a resume) and checks that it ends with the uninterrupted
/// results, timing aside.
fn resumes_to(
    tmp: &Path,
    exp: &Path,
    out: &str,
    ref_metrics: &[Vec<String>],
    ref_runs: &[Vec<String>],
) {
    runner(tmp)
        .args([exp.to_str().unwrap(), "--out", out, "-q"])
        .assert()
        .success();
    let dir = tmp.join(out);
    assert_eq!(
        without_seconds(&dir.join("metrics.csv")),
        ref_metrics,
        "{out}"
    );
    assert_eq!(without_seconds(&dir.join("runs.csv")), ref_runs, "{out}");
}

#[test]
fn kill_9_at_any_moment_then_rerun_gives_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "crash", BODY);
    let (ref_metrics, ref_runs) = reference(tmp.path(), &exp);
    assert_eq!(ref_metrics.len(), 25);
    // Killed at start-up and after 1, 5, 11 and 17 rows have been written.
    for (k, point) in ["started", "rows=1", "rows=5", "rows=11", "rows=17"]
        .into_iter()
        .enumerate()
    {
        let out = format!("killed{k}");
        let args = [exp.to_str().unwrap(), "--out", &out, "-q"];
        let mut held = Held::spawn(tmp.path(), &args, point);
        held.wait();
        held.kill(); // SIGKILL
        let rows = point
            .strip_prefix("rows=")
            .map_or(0, |r| r.parse().unwrap());
        assert_eq!(
            lines(&tmp.path().join(&out).join("metrics.csv")).saturating_sub(1),
            rows,
            "killed at {point}"
        );
        runner(tmp.path())
            .args([exp.to_str().unwrap(), "--out", &out, "-q"])
            .assert()
            .success();
        let dir = tmp.path().join(&out);
        assert_eq!(
            without_seconds(&dir.join("metrics.csv")),
            ref_metrics,
            "killed at {point}"
        );
        assert_eq!(
            without_seconds(&dir.join("runs.csv")),
            ref_runs,
            "killed at {point}"
        );
    }
}

#[test]
fn a_torn_or_corrupted_tail_is_repaired_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "torn", BODY);
    let (ref_metrics, _) = reference(tmp.path(), &exp);
    // A finished sweep, then a crash leaves half a line and garbage behind, and one run's
    // state file disappears: that run is trained again, the junk is dropped.
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--out", "t", "-q"])
        .assert()
        .success();
    let dir = tmp.path().join("t");
    let metrics = dir.join("metrics.csv");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    let last = text.lines().last().unwrap().to_string();
    text.push_str("garbage,,,\n");
    text.push_str(&last[..last.len() / 2]);
    std::fs::write(&metrics, text).unwrap();
    let state = std::fs::read_dir(dir.join("state"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(state).unwrap();
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--out", "t"])
        .assert()
        .success()
        .stderr(predicate::str::contains("resuming"))
        .stdout(predicate::str::contains(
            "6 runs finished (5 of them earlier)",
        ));
    assert_eq!(without_seconds(&metrics), ref_metrics);
}

#[test]
fn extending_the_grid_trains_only_the_new_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let small = experiment(
        tmp.path(),
        "grow",
        "train_size = 300\n[grid]\neta = [1.0]\nepochs = 2\n",
    );
    runner(tmp.path()).arg(&small).assert().success();
    let dir = tmp.path().join("results/grow");
    let first = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let bigger = experiment(
        tmp.path(),
        "grow",
        "train_size = 300\n[grid]\neta = [1.0, 2.0]\nseed = [1, 2]\nepochs = 2\n",
    );
    runner(tmp.path())
        .arg(&bigger)
        .assert()
        .success()
        .stderr(predicate::str::contains("1 of 4 runs already finished"))
        .stderr(predicate::str::contains("3 runs to train"));
    let after = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(after.lines().count(), 9);
    // The first run's rows are kept as they were, seconds included: it was not retrained.
    for line in first.lines() {
        assert!(after.contains(line), "{line} was rewritten");
    }
    // Running it again trains nothing.
    runner(tmp.path())
        .arg(&bigger)
        .assert()
        .success()
        .stderr(predicate::str::contains("0 runs to train"));
}

#[test]
fn a_changed_experiment_is_refused_and_fresh_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "chg",
        "train_size = 300\n[grid]\neta = [1.0, 2.0]\nepochs = 1\n",
    );
    runner(tmp.path()).arg(&exp).assert().success();
    let changed = experiment(
        tmp.path(),
        "chg",
        "train_size = 300\n[grid]\neta = [1.0, 2.0]\nepochs = 2\n",
    );
    runner(tmp.path())
        .arg(&changed)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "holds the results of a different experiment: `grid.epochs` was [1] and is now [2]",
        ))
        .stderr(predicate::str::contains("--fresh"));
    let removed = experiment(
        tmp.path(),
        "chg",
        "train_size = 300\n[grid]\neta = [1.0]\nepochs = 1\n",
    );
    runner(tmp.path())
        .arg(&removed)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`grid.eta` was [1.0, 2.0] and is now [1.0]",
        ));
    let data = experiment(
        tmp.path(),
        "chg",
        "train_size = 200\n[grid]\neta = [1.0, 2.0]\nepochs = 1\n",
    );
    runner(tmp.path())
        .arg(&data)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`data.train_size` was 300 and is now 200",
        ));
    // (each call above rewrote chg.toml; write the changed version again)
    let changed = experiment(
        tmp.path(),
        "chg",
        "train_size = 300\n[grid]\neta = [1.0, 2.0]\nepochs = 2\n",
    );
    runner(tmp.path())
        .args([changed.to_str().unwrap(), "--fresh"])
        .assert()
        .success();
    let metrics = std::fs::read_to_string(tmp.path().join("results/chg/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 5);
}

#[cfg(unix)]
#[test]
fn sigint_stops_cleanly_and_the_sweep_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "int", BODY);
    let (ref_metrics, ref_runs) = reference(tmp.path(), &exp);
    let mut held = Held::spawn(tmp.path(), &[exp.to_str().unwrap(), "--out", "i"], "rows=6");
    let dir = tmp.path().join("i");
    held.wait();
    held.signal("INT");
    let (code, stdout, stderr) = held.finish();
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    assert!(
        stdout.contains("run the same command again to resume"),
        "{stdout}"
    );
    // Everything finished is on disk: every state file's run has all its rows.
    let states = std::fs::read_dir(dir.join("state")).unwrap().count();
    let runs_rows = lines(&dir.join("runs.csv")) - 1;
    assert_eq!(states, runs_rows);
    resumes_to(tmp.path(), &exp, "i", &ref_metrics, &ref_runs);
}

#[test]
fn three_shards_in_separate_processes_merge_to_the_single_process_result() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "sh", BODY);
    let (ref_metrics, ref_runs) = reference(tmp.path(), &exp);
    let mut children: Vec<Child> = (1..=3)
        .map(|i| {
            spawn(
                tmp.path(),
                &[
                    exp.to_str().unwrap(),
                    "--shard",
                    &format!("{i}/3"),
                    "--threads",
                    "1",
                    "-q",
                ],
            )
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let shards: Vec<String> = (1..=3)
        .map(|i| format!("results/sh-shard-{i}-of-3"))
        .collect();
    for s in &shards {
        assert_eq!(
            lines(&tmp.path().join(s).join("runs.csv")),
            3,
            "{s}: 2 runs each"
        );
    }
    // Two shards only: the third shard's runs are reported missing, exit code 1.
    runner(tmp.path())
        .args(["merge", "partial", &shards[0], &shards[1]])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "2 runs of the grid are in none of the folders",
        ));
    let mut args = vec!["merge", "merged"];
    args.extend(shards.iter().map(String::as_str));
    args.push(&shards[0]); // named twice: no duplicated rows, one line for the pair
    let out = runner(tmp.path()).args(&args).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("merged 6 runs"),
        "{said}"
    );
    assert_eq!(said.matches("duplicated").count(), 1, "{said}");
    assert!(said.contains("duplicated: 2 runs in both"), "{said}");
    // the merged folder is summarised like a sweep's
    assert!(said.contains("summary, plots and report"), "{said}");
    let merged = tmp.path().join("merged");
    assert!(merged.join("summary.md").is_file() && merged.join("report.html").is_file());
    assert_eq!(without_seconds(&merged.join("metrics.csv")), ref_metrics);
    assert_eq!(without_seconds(&merged.join("runs.csv")), ref_runs);
    // Results of another experiment are refused.
    let other = experiment(
        tmp.path(),
        "other",
        "train_size = 300\n[grid]\nepochs = 1\n",
    );
    runner(tmp.path())
        .args([other.to_str().unwrap(), "-q"])
        .assert()
        .success();
    runner(tmp.path())
        .args(["merge", "bad", &shards[0], "results/other"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("hold different experiments"));
}

#[test]
fn check_reports_size_progress_and_estimate_without_training() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "chk",
        "train_size = 300\n[grid]\neta = [1.0, 2.0, 2.0]\nepochs = 1\n",
    );
    runner(tmp.path())
        .args(["check", exp.to_str().unwrap()])
        .assert()
        .success()
        // the repeated 2.0 is one run
        .stdout(predicate::str::contains("grid points:      2"))
        .stdout(predicate::str::contains("distinct runs:    2"))
        .stdout(predicate::str::contains("already finished: 0"))
        .stdout(predicate::str::contains("estimated time:"));
    assert!(!tmp.path().join("results").exists());
    runner(tmp.path()).arg(&exp).assert().success();
    runner(tmp.path())
        .args(["check", exp.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("already finished: 2"))
        .stdout(predicate::str::contains("nothing left to train"));
}

#[test]
fn a_ten_million_point_grid_is_checked_and_sharded_without_building_it() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "tenmillion",
        "[grid]\neta = { log = [0.001, 100.0], num = 10000 }\nseeds = 1000\n",
    );
    runner(tmp.path())
        .args(["check", exp.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("grid points:      10000000"))
        .stdout(predicate::str::contains("distinct runs:    10000000"))
        .stdout(predicate::str::contains("estimated time:"));
    // one share of seven, dealt round-robin by grid index
    runner(tmp.path())
        .args(["check", exp.to_str().unwrap(), "--shard", "3/7"])
        .assert()
        .success()
        .stdout(predicate::str::contains("distinct runs:    1428572"));
}

#[test]
fn huge_grids_need_yes() {
    let tmp = tempfile::tempdir().unwrap();
    let etas: Vec<String> = (1..=200).map(|i| format!("{i}.0")).collect();
    let exp = experiment(
        tmp.path(),
        "huge",
        &format!(
            "[grid]\neta = [{}]\nseed = {:?}\n",
            etas.join(", "),
            (1..=60).collect::<Vec<_>>()
        ),
    );
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "12000 grid points, more than 10000",
        ))
        .stderr(predicate::str::contains("--yes"));
    assert!(!tmp.path().join("results").exists());
}

#[test]
fn an_unwritable_results_folder_is_reported_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "ro", "train_size = 300\n[grid]\nepochs = 1\n");
    std::fs::write(tmp.path().join("file"), "not a folder").unwrap();
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--out", "file/sub"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "creating the results folder 'file/sub'",
        ));
}

#[test]
fn a_grid_that_gains_a_setting_column_keeps_the_finished_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let base = "train_size = 300\n[grid]\nepochs = 2\ncost = \"cross-entropy\"\neta = 0.5\n";
    let exp = experiment(tmp.path(), "grow", base);
    runner(tmp.path()).arg(&exp).assert().success();
    let out = tmp.path().join("results/grow");
    let before = without_seconds(&out.join("metrics.csv"));
    assert_eq!(before[0].len(), 17, "the standard columns only");
    // momentum 0.0 is the run already finished; 0.9 is new and adds a column
    experiment(
        tmp.path(),
        "grow",
        &format!("{base}momentum = [0.0, 0.9]\n"),
    );
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stderr(predicate::str::contains("1 of 2 runs already finished"));
    let after = without_seconds(&out.join("metrics.csv"));
    assert_eq!(after[0].last().unwrap(), "momentum");
    assert_eq!(after.len(), 5, "header + 2 runs x 2 epochs");
    for (old, new) in before[1..].iter().zip(&after[1..3]) {
        assert_eq!(
            old[..],
            new[..17],
            "the finished run's rows are kept as they were"
        );
        assert_eq!(new[17], "0.0");
    }
    assert_eq!(after[3][17], "0.9");
    // adding variants to an experiment that had none is refused
    experiment(
        tmp.path(),
        "grow",
        &format!("{base}momentum = [0.0, 0.9]\n[[variant]]\nname = \"a\"\n"),
    );
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("gained `[[variant]]` tables"));
}

#[test]
fn a_folder_that_is_not_runners_is_never_deleted_or_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "own",
        "train_size = 200\nmonitor = [\"test_accuracy\"]\n[grid]\nepochs = 1\n",
    );
    // a user's folder of figures: --fresh refuses to delete in it, naming the folder
    let figures = tmp.path().join("figures");
    std::fs::create_dir_all(figures.join("plots")).unwrap();
    std::fs::write(figures.join("plots/fig1.png"), "png").unwrap();
    std::fs::write(figures.join("summary.md"), "my notes").unwrap();
    for args in [vec!["--fresh"], vec![]] {
        runner(tmp.path())
            .args(&args)
            .arg("--out")
            .arg(&figures)
            .arg(&exp)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is not a runner results folder"))
            .stderr(predicate::str::contains("figures"));
    }
    assert_eq!(
        std::fs::read_to_string(figures.join("plots/fig1.png")).unwrap(),
        "png"
    );
    assert_eq!(
        std::fs::read_to_string(figures.join("summary.md")).unwrap(),
        "my notes"
    );
    assert!(!figures.join(".lock").exists() && !figures.join("metrics.csv").exists());
    // runner's own folder is marked, and --fresh works in it
    let out = tmp.path().join("out");
    runner(tmp.path())
        .arg("--out")
        .arg(&out)
        .arg(&exp)
        .assert()
        .success();
    assert!(out.join(".runner").is_file());
    runner(tmp.path())
        .args(["--fresh", "-q", "--out"])
        .arg(&out)
        .arg(&exp)
        .assert()
        .success();
    // a folder written before the marker existed (experiment.toml beside state/) is still runner's
    std::fs::remove_file(out.join(".runner")).unwrap();
    runner(tmp.path())
        .args(["-q", "--out"])
        .arg(&out)
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 runs finished (1 of them earlier)",
        ));
    // `runner summary` of another tool's metrics.csv prints it, and writes nothing there
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(out.join("metrics.csv"), other.join("metrics.csv")).unwrap();
    std::fs::write(other.join("summary.md"), "theirs").unwrap();
    runner(tmp.path())
        .args(["summary", other.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("| eta | seeds |"))
        .stderr(predicate::str::contains("not runner's to overwrite"));
    assert_eq!(
        std::fs::read_to_string(other.join("summary.md")).unwrap(),
        "theirs"
    );
}

/// The files of a results folder that a merge must reproduce exactly: metrics.csv, runs.csv and
/// every state file.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut files = vec![
        (
            "metrics.csv".to_string(),
            std::fs::read_to_string(dir.join("metrics.csv")).unwrap(),
        ),
        (
            "runs.csv".to_string(),
            std::fs::read_to_string(dir.join("runs.csv")).unwrap(),
        ),
    ];
    let mut states: Vec<_> = std::fs::read_dir(dir.join("state"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    states.sort();
    for s in states {
        files.push((
            s.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read_to_string(&s).unwrap(),
        ));
    }
    files
}

#[test]
fn a_merge_killed_at_any_moment_then_run_again_equals_an_uninterrupted_merge() {
    let tmp = tempfile::tempdir().unwrap();
    // 3,000 tiny runs of 3 epochs (9,000 rows) in two shards, as the audit
    let exp = experiment(
        tmp.path(),
        "many",
        "train_size = 20\nmonitor = [\"test_accuracy\"]\n[grid]\neta = { log = [0.01, 100.0], num = 1500 }\nseeds = 2\nepochs = 3\nbatch_size = 10\n",
    );
    for i in 1..=2 {
        runner(tmp.path())
            .args([exp.to_str().unwrap(), "--shard", &format!("{i}/2"), "-q"])
            .assert()
            .success();
    }
    let shards = ["results/many-shard-1-of-2", "results/many-shard-2-of-2"];
    runner(tmp.path())
        .args(["merge", "reference", shards[0], shards[1]])
        .assert()
        .success()
        .stdout(predicate::str::contains("merged 3000 runs"));
    let want = snapshot(&tmp.path().join("reference"));
    assert_eq!(want.len(), 3002);
    // into a new folder and over an earlier partial merge, killed at each stage: before reading
    // the sources, after writing the states, before the renames and between them
    let points = [
        "merge=started",
        "merge=states-written",
        "merge=written",
        "merge=between-renames",
    ];
    for (n, point) in points.iter().flat_map(|p| [p, p]).enumerate() {
        let out = format!("merged{n}");
        let merged = tmp.path().join(&out);
        let before = if n % 2 == 1 {
            runner(tmp.path())
                .args(["merge", &out, shards[0]])
                .assert()
                .code(1);
            Some(snapshot(&merged))
        } else {
            None
        };
        let mut held = Held::spawn(tmp.path(), &["merge", &out, shards[0], shards[1]], point);
        held.wait();
        held.kill();
        // OUT is never half-written: it is what it was before, or the whole merge
        // (a merge killed between its two renames is restored by the next one)
        if merged.join("metrics.csv").exists() {
            let now = snapshot(&merged);
            assert!(
                now == want || Some(&now) == before.as_ref(),
                "killed at {point}: OUT is neither the old folder nor the whole merge"
            );
        }
        runner(tmp.path())
            .args(["merge", &out, shards[0], shards[1]])
            .assert()
            .success()
            .stdout(predicate::str::contains("merged 3000 runs"));
        assert_eq!(snapshot(&merged), want, "killed at {point}");
        assert!(!tmp.path().join(format!("{out}.merge-new")).exists());
        assert!(!tmp.path().join(format!("{out}.merge-old")).exists());
    }
}

#[test]
fn edited_rows_are_retrained_on_resume_and_refused_by_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "edit", BODY);
    let (ref_metrics, _) = reference(tmp.path(), &exp);
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "-q"])
        .assert()
        .success();
    let dir = tmp.path().join("results/edit");
    // change one accuracy by hand
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines: Vec<String> = metrics.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[3].split(',').map(String::from).collect();
    let edited_run = cells[0].clone();
    cells[14] = "0.999".to_string();
    lines[3] = cells.join(",");
    std::fs::write(dir.join("metrics.csv"), lines.join("\n") + "\n").unwrap();
    // merge refuses the run from that folder, naming it
    runner(tmp.path())
        .args(["merge", "m", "results/edit"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "refused: run {edited_run}"
        )));
    // the summary warns about it, naming the run
    runner(tmp.path())
        .args(["summary", "results/edit"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "warning: run {edited_run}: its rows"
        )));
    // and leaves it out of summary.md (and the report), saying so: the edit is not an answer
    let md = std::fs::read_to_string(tmp.path().join("results/edit/summary.md")).unwrap();
    assert!(
        md.contains("1 runs are left out because their rows in metrics.csv are not the ones")
            && md.contains(&edited_run),
        "{md}"
    );
    // a resume trains it again, and the results are the uninterrupted ones
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "run {edited_run}: its rows in metrics.csv are not the ones it wrote"
        )))
        .stdout(predicate::str::contains("(5 of them earlier)"));
    assert_eq!(without_seconds(&dir.join("metrics.csv")), ref_metrics);
}

#[test]
#[ignore = "mounts a tiny tmpfs to fill the disk, which needs root (.ci/run, as root, runs it with --include-ignored)"]
fn a_full_disk_is_reported_with_its_cause_and_the_failed_runs_then_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = StdCommand::new("mount")
        .args(["-t", "tmpfs", "-o", "size=120k", "tmpfs"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "mount a 120 kB tmpfs at {}",
        disk.display()
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = StdCommand::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&disk);
    let exp = experiment(
        tmp.path(),
        "full",
        "train_size = 300\nmonitor = [\"test_accuracy\"]\n[grid]\neta = { log = [0.1, 10.0], num = 40 }\nseeds = 3\nepochs = 3\n",
    );
    let out = disk.join("out");
    // a disk full before the first write: the file is named, and nothing is left that would
    // make the folder look foreign to the next run
    let filler = disk.join("filler");
    let _ = StdCommand::new("dd")
        .args(["if=/dev/zero", "bs=1k", "count=200"])
        .arg(format!("of={}", filler.display()))
        .status();
    runner(tmp.path())
        .args(["-q", "--out"])
        .arg(&out)
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("writing '"))
        .stderr(predicate::str::contains("No space left on device"));
    std::fs::remove_file(&filler).unwrap();
    for quiet in [true, false] {
        let mut cmd = runner(tmp.path());
        if quiet {
            cmd.arg("-q");
        } else {
            // the first sweep filled the disk: make room for the second one's start
            let _ = StdCommand::new("mount")
                .args(["-o", "remount,size=240k"])
                .arg(&disk)
                .status();
        }
        cmd.arg("--out")
            .arg(disk.join(if quiet { "out" } else { "out2" }))
            .arg(&exp)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("runs failed:"))
            .stderr(predicate::str::contains("No space left on device"))
            .stderr(predicate::str::contains("CSV error").not());
    }
    // with room again, the same command resumes and finishes every run
    let _ = StdCommand::new("mount")
        .args(["-o", "remount,size=20m"])
        .arg(&disk)
        .status();
    runner(tmp.path())
        .args(["-q", "--out"])
        .arg(&out)
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains("120 runs finished"));
}

#[test]
fn sigterm_and_a_second_process_on_the_same_folder_are_handled() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "sig", BODY);
    let (ref_metrics, ref_runs) = reference(tmp.path(), &exp);
    // a second runner on the same folder is refused while the first one writes
    let mut first = Held::spawn(tmp.path(), &[exp.to_str().unwrap(), "--out", "t"], "rows=2");
    first.wait();
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "--out", "t", "-q"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("another runner is writing to"));
    // SIGTERM stops it cleanly, as Ctrl-C does
    first.signal("TERM");
    let (code, _, stderr) = first.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    // and whatever was cut off, the same command finishes with the uninterrupted results
    resumes_to(tmp.path(), &exp, "t", &ref_metrics, &ref_runs);
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    // a wide network: the sweep looks at the stop flag every 2,000 examples, which take long
    // enough here for a second Ctrl-C to arrive before the first has stopped it
    let exp = experiment(
        tmp.path(),
        "wide",
        "train_size = 20000\nmonitor = [\"test_accuracy\"]\n[grid]\nhidden = 3000\nepochs = 3\nseeds = 2\n",
    );
    let mut held = Held::spawn(
        tmp.path(),
        &[exp.to_str().unwrap(), "--out", "w"],
        "started",
    );
    held.wait();
    held.signal("INT");
    held.wait_for("stopping");
    held.signal("INT");
    let (code, _, stderr) = held.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    assert!(
        stderr.contains("interrupted again: exiting at once"),
        "{stderr}"
    );
}

/// The audit's Slurm case without a cluster: `sbatch --array=2` sets what a one-task array sets,
/// which `--shard auto` alone would read as shard 1/1 (the whole grid). With shard folders of
/// another count in results/ it refuses and says what to write; with RUNNER_SHARD_COUNT it is
/// shard 3/4. (tests/slurm.rs runs the README's recovery on a real cluster.)
#[test]
fn a_rerun_of_one_array_index_is_not_taken_for_the_whole_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "sh",
        "train_size = 200\nvalidation_size = 100\n[grid]\neta = [0.5, 3.0]\nepochs = 1\n",
    );
    std::fs::create_dir_all(tmp.path().join("results/sh-shard-1-of-4")).unwrap();
    let rerun = |count: Option<&str>, command: &[&str]| {
        let mut cmd = runner(tmp.path());
        cmd.args(command)
            .arg(&exp)
            .args(["--shard", "auto"])
            .env("SLURM_ARRAY_TASK_ID", "2")
            .env("SLURM_ARRAY_TASK_MIN", "2")
            .env("SLURM_ARRAY_TASK_MAX", "2")
            .env("SLURM_ARRAY_TASK_COUNT", "1");
        if let Some(n) = count {
            cmd.env("RUNNER_SHARD_COUNT", n);
        }
        cmd.output().unwrap()
    };
    for command in [&[][..], &["check"][..]] {
        let out = rerun(None, command);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command:?}");
        assert!(
            err.contains("shard 1/1") && err.contains("--shard I/4"),
            "{command:?}: {err}"
        );
        assert!(!tmp.path().join("results/sh-shard-1-of-1").exists());
    }
    let out = rerun(Some("4"), &["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("sh-shard-3-of-4"), "{text}");
}

/// The audit's weak state files: an edited `best_validation_accuracy` reached runs.csv
/// unchecked; random bytes got "stream did not contain valid UTF-8" with no advice.
#[test]
fn an_edited_or_garbled_state_file_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "st",
        "train_size = 300\nvalidation_size = 100\n[grid]\neta = [0.5, 3.0]\nepochs = 2\n",
    );
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "-q"])
        .assert()
        .success();
    let dir = tmp.path().join("results/st");
    let reference = without_seconds(&dir.join("runs.csv"));
    let state = std::fs::read_dir(dir.join("state"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "toml"))
        .unwrap();
    let id = state.file_stem().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&state).unwrap();
    let edited: String = text
        .lines()
        .map(|l| {
            if l.starts_with("best_validation_accuracy") {
                "best_validation_accuracy = 0.999".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(edited, text);
    std::fs::write(&state, edited).unwrap();
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("run {id}: its rows")));
    assert_eq!(without_seconds(&dir.join("runs.csv")), reference);
    // random bytes in a state file: the summary says which file and what to do; a resume
    // takes it for a lost state file and trains the run again
    std::fs::write(&state, [0xffu8, 0xfe, 0x00, 0x80]).unwrap();
    runner(tmp.path())
        .args(["summary", "results/st"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is damaged (it is not text); delete it to train that run again",
        ));
    runner(tmp.path())
        .arg(&exp)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("run {id}: its rows")));
    assert_eq!(without_seconds(&dir.join("runs.csv")), reference);
}

/// Under a memory cgroup's limit (Slurm's `--mem`, a container's) the budget is the room the
/// limit leaves, not the machine's free memory: `runner check` in a child cgroup of 300 MB says
/// so, and a sweep that needs more is refused before anything is allocated.
#[test]
#[ignore = "makes a memory cgroup, which needs root (.ci/run, as root, runs it with --include-ignored)"]
fn the_memory_budget_is_the_cgroups_limit_not_the_machines() {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let (dir, limit_file) = cgroups
        .lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, controllers, path) = (p.next()?, p.next()?, p.next()?);
            let rel = path.trim_start_matches('/');
            if controllers.split(',').any(|c| c == "memory") {
                Some((
                    Path::new("/sys/fs/cgroup/memory").join(rel),
                    "memory.limit_in_bytes",
                ))
            } else if controllers.is_empty()
                && Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
            {
                Some((Path::new("/sys/fs/cgroup").join(rel), "memory.max"))
            } else {
                None
            }
        })
        .expect("a memory cgroup");
    let child = dir.join(format!("runner-test-{}", std::process::id()));
    std::fs::create_dir(&child).expect("a child cgroup (root)");
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _remove = Remove(child.clone());
    std::fs::write(child.join(limit_file), "300000000").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let small = experiment(
        tmp.path(),
        "small",
        "train_size = 300\n[grid]\nepochs = 1\n",
    );
    let large = experiment(
        tmp.path(),
        "large",
        "train_size = 300\n[grid]\nsizes = [784, 10000, 10000, 10]\nepochs = 1\n",
    );
    let bin = assert_cmd::cargo::cargo_bin("runner");
    let inside = |args: &str| {
        StdCommand::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > '{}'; exec '{}' {args}",
                child.join("cgroup.procs").display(),
                bin.display()
            ))
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    let out = inside(&format!("check '{}'", small.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let available = text
        .lines()
        .find(|l| l.starts_with("memory:"))
        .and_then(|l| l.split('(').nth(1))
        .unwrap_or_default()
        .to_string();
    assert!(available.contains("MB available"), "{text}");
    let mb: f64 = available
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(mb <= 300.0, "{text}");
    let out = inside(&format!("'{}' -q", large.display()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("of memory and the machine has") && err.contains("MB available"),
        "{err}"
    );
    assert!(!tmp.path().join("results/large").exists());
}
