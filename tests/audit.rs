//! The third hostile audit's numbered cases, rerun on the real binary as the audit ran them (on
//! smaller slices where the case allows). Cases 1 (halving stopped by SIGINT or SIGTERM at each
//! rung), 6 (a Slurm rerun of one array index) and 7 (a closed standard error) are in
//! `searches.rs`, `slurm.rs` with `resume.rs`, and `cli.rs`.

use crate::common::{experiment, runner, summary_json};

/// The answers `runner summary --format json` gives for a results folder.
fn answers(tmp: &std::path::Path, dir: &str) -> String {
    summary_json(tmp, dir)["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn train(tmp: &std::path::Path, name: &str, body: &str) -> String {
    let exp = experiment(tmp, name, body);
    let out = runner(tmp)
        .args([exp.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    answers(tmp, &format!("results/{name}"))
}

/// Case 2: a very small eta whose cost falls at every epoch is too slow, not unstable, and the
/// advice does not say "try smaller values".
#[test]
fn case_2_a_very_small_eta_is_too_slow_not_unstable() {
    let tmp = tempfile::tempdir().unwrap();
    let a = train(
        tmp.path(),
        "tiny",
        "train_size = 1000\n[grid]\neta = [0.0001, 0.5, 3.0]\nepochs = 5\nseeds = 2\n",
    );
    assert!(!a.contains("already unstable"), "{a}");
    assert!(!a.contains("try smaller values"), "{a}");
    assert!(
        a.contains("At eta = 0.0001 the network was still near chance"),
        "{a}"
    );
}

/// Case 3: a threshold search from a tiny `start` climbs from its stable probes and brackets the
/// threshold; it never says the network does not train.
#[test]
fn case_3_a_threshold_search_from_a_small_start_climbs_and_brackets() {
    let tmp = tempfile::tempdir().unwrap();
    let a = train(
        tmp.path(),
        "small_start",
        "train_size = 1000\n[search]\nmode = \"threshold\"\nstart = 0.00001\n[grid]\nseeds = 2\n",
    );
    assert!(!a.contains("does not train"), "{a}");
    assert!(a.contains("**Recommended: eta = "), "{a}");
    let json = summary_json(tmp.path(), "results/small_start");
    assert_eq!(json["threshold"]["ending"], "bracketed", "{json}");
}

/// Case 4: with two seeds, a ReLU + softmax grid does not recommend an eta whose seeds both sit
/// at chance; eta 0.1, which trained, is the one pointed at.
#[test]
fn case_4_two_seeds_at_chance_are_never_recommended() {
    let tmp = tempfile::tempdir().unwrap();
    let a = train(
        tmp.path(),
        "relu",
        "train_size = 500\n[grid]\nactivation = \"relu\"\noutput = \"softmax\"\n\
         init = \"scaled\"\neta = [0.1, 10.0, 100.0]\nepochs = 5\nseeds = 2\n",
    );
    assert!(!a.contains("points at eta = 10.0"), "{a}");
    assert!(!a.contains("points at eta = 100.0"), "{a}");
    assert!(a.contains("points at eta = 0.1"), "{a}");
}

/// Case 5: successive halving's summary does not judge eta from runs pruned after one epoch (no
/// cost trend to see).
#[test]
fn case_5_halving_does_not_judge_runs_pruned_after_one_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let a = train(
        tmp.path(),
        "halved",
        "train_size = 1000\n[search]\nmode = \"halving\"\nreduction = 3\nmin_epochs = 1\n\
         [grid]\nhidden = [100, 200, 300]\neta = [0.1, 1.0, 3.0, 10.0, 100.0]\nepochs = 9\n\
         seeds = 2\n",
    );
    assert!(
        !a.contains("already unstable at the smallest value tried, eta = 0.1"),
        "{a}"
    );
    assert!(!a.contains("try smaller values"), "{a}");
}

/// Case 8: an absurd shard count is refused with a clear message (it tried to allocate 1.6 TB
/// and aborted), by a run and by `runner check`.
#[test]
fn case_8_an_absurd_shard_count_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "many", "train_size = 100\n[grid]\nepochs = 1\n");
    for command in [&[][..], &["check"][..]] {
        let out = runner(tmp.path())
            .args(command)
            .arg(&exp)
            .args(["--shard", "2/100000000000"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {err}");
        assert!(
            err.contains("100000000000 shards are too many: at most 1000000"),
            "{command:?}: {err}"
        );
    }
    assert!(!tmp.path().join("results").exists());
}
