//! Slurm for real: a single-node cluster on this machine (Debian's slurmctld, slurmd and munge,
//! started by `tests/tools/slurm-cluster.sh`), the guide's job array, merge job and submission
//! script (docs/sharding.md) submitted as written there, and the merged folder compared with a single-process run.
//! `.ci/run` installs the packages; elsewhere the test is ignored, visibly.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use crate::common::{experiment, repo, runner, without_seconds};

/// The guide's (docs/sharding.md) shell block whose first comment line names `script`.
fn readme_script(script: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("docs/sharding.md")).unwrap();
    let mut blocks = readme.split("```sh\n").skip(1);
    blocks
        .find_map(|b| {
            let body = b.split("```").next().unwrap();
            body.lines()
                .take(2)
                .any(|l| l.starts_with(&format!("# {script}:")))
                .then(|| body.to_string())
        })
        .unwrap_or_else(|| panic!("docs/sharding.md has no ```sh block for {script}"))
}

/// The cluster, stopped when the test ends (passed or failed).
struct Cluster(PathBuf);

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        // ports no other daemon on the machine holds
        let free = || {
            std::net::TcpListener::bind("0.0.0.0:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (a, b) = (free(), free());
        let status = StdCommand::new(repo().join("tests/tools/slurm-cluster.sh"))
            .arg("start")
            .arg(dir)
            .env("SLURMCTLD_PORT", a.to_string())
            .env("SLURMD_PORT", b.to_string())
            .status()
            .unwrap();
        let cluster = Cluster(dir.to_path_buf());
        assert!(status.success(), "the Slurm cluster did not start");
        cluster
    }

    fn conf(&self) -> PathBuf {
        self.0.join("slurm.conf")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = StdCommand::new(repo().join("tests/tools/slurm-cluster.sh"))
            .arg("stop")
            .arg(&self.0)
            .status();
    }
}

/// Waits until every job has left the queue (5 minutes at most).
fn wait_for_queue(cluster: &Cluster) {
    let start = Instant::now();
    loop {
        let queue = StdCommand::new("squeue")
            .args(["-h", "-o", "%i %T"])
            .env("SLURM_CONF", cluster.conf())
            .output()
            .unwrap();
        assert!(queue.status.success());
        if queue.stdout.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "jobs still queued: {}",
            String::from_utf8_lossy(&queue.stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "needs Debian's slurmctld, slurmd, slurm-client and munge, run as root (.ci/run installs them and runs it with --include-ignored)"]
fn the_readmes_sbatch_scripts_train_shards_and_merge_them_on_a_real_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let exp = experiment(
        work,
        "slurmy",
        "train_size = 1000\nvalidation_size = 500\n[grid]\neta = [0.5, 3.0, 10.0]\nepochs = 3\nseeds = 2\n",
    );
    // the reference: one process
    runner(work)
        .args([exp.to_str().unwrap(), "--out", "single", "-q"])
        .assert()
        .success();

    let cluster = Cluster::start(&work.join("cluster"));
    for script in ["runner-array.sh", "runner-merge.sh", "submit.sh"] {
        std::fs::write(work.join(script), readme_script(script)).unwrap();
    }
    let bin = assert_cmd::cargo::cargo_bin("runner");
    let submitted = StdCommand::new("bash")
        .arg("submit.sh")
        .current_dir(work)
        .env("SLURM_CONF", cluster.conf())
        .env("RUNNER", &bin)
        .env("EXPERIMENT", "slurmy.toml")
        .env("NAME", "slurmy")
        .output()
        .unwrap();
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    wait_for_queue(&cluster);
    // four shards, each a task of the array, merged by the dependent job
    for i in 1..=4 {
        assert!(
            work.join(format!("results/slurmy-shard-{i}-of-4/runs.csv"))
                .exists(),
            "shard {i}"
        );
    }
    let merged = work.join("results/slurmy");
    let logs: Vec<String> = std::fs::read_dir(work)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("slurm-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        merged.join("runs.csv").exists(),
        "no merged folder; job logs: {logs:?}"
    );
    for file in ["metrics.csv", "runs.csv"] {
        assert_eq!(
            without_seconds(&merged.join(file)),
            without_seconds(&work.join("single").join(file)),
            "{file}"
        );
    }
    // The README's recovery: shard 3's task failed (its folder is gone); rerunning its index
    // alone trains shard 3/4 (not the whole grid as 1/1), and a merge again equals one process.
    std::fs::remove_dir_all(work.join("results/slurmy-shard-3-of-4")).unwrap();
    for args in [
        &["--array=2", "runner-array.sh"][..],
        &["runner-merge.sh"][..],
    ] {
        let status = StdCommand::new("sbatch")
            .args(args)
            .current_dir(work)
            .env("SLURM_CONF", cluster.conf())
            .env("RUNNER", &bin)
            .env("EXPERIMENT", "slurmy.toml")
            .env("NAME", "slurmy")
            .status()
            .unwrap();
        assert!(status.success(), "sbatch {args:?}");
        wait_for_queue(&cluster);
    }
    assert!(work.join("results/slurmy-shard-3-of-4/runs.csv").exists());
    assert!(!work.join("results/slurmy-shard-1-of-1").exists());
    for file in ["metrics.csv", "runs.csv"] {
        assert_eq!(
            without_seconds(&merged.join(file)),
            without_seconds(&work.join("single").join(file)),
            "{file} after the rerun"
        );
    }
    drop(cluster);
}

/// The guide's Kubernetes manifest has never run on a cluster (the guide says so); what can be
/// checked here is checked: it is an Indexed Job whose RUNNER_SHARD_COUNT is its completions,
/// running `--shard auto`, and under each index's variables `runner check` gives one shard of
/// N, the N of them covering the grid once.
#[test]
fn the_kubernetes_manifest_sets_what_shard_auto_reads() {
    let guide = std::fs::read_to_string(repo().join("docs/sharding.md")).unwrap();
    let manifest = guide
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml block");
    assert!(manifest.contains("completionMode: Indexed"), "{manifest}");
    let value_after = |key: &str| -> String {
        let at = manifest.find(key).unwrap_or_else(|| panic!("{key}")) + key.len();
        manifest[at..]
            .lines()
            .next()
            .unwrap()
            .trim()
            .trim_matches('"')
            .to_string()
    };
    let completions: usize = value_after("completions:").parse().unwrap();
    let count_at = manifest
        .find("name: RUNNER_SHARD_COUNT")
        .expect("RUNNER_SHARD_COUNT");
    let count: usize = manifest[count_at..]
        .lines()
        .nth(1)
        .and_then(|l| l.trim().strip_prefix("value:"))
        .map(|v| v.trim().trim_matches('"').parse().unwrap())
        .expect("its value");
    assert_eq!(count, completions);
    assert!(manifest.contains(r#""--shard", "auto""#), "{manifest}");
    // each pod's index gives its own shard; together they cover the grid once
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "k8s",
        "train_size = 100\n[grid]\neta = [0.1, 0.5, 1.0, 3.0, 10.0]\nepochs = 1\nseeds = 2\n",
    );
    let mut runs = 0;
    for index in 0..completions {
        let out = runner(tmp.path())
            .args(["check", "--shard", "auto"])
            .arg(&exp)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("RUNNER_SHARD_COUNT", count.to_string())
            .env_remove("SLURM_ARRAY_TASK_ID")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains(&format!("k8s-shard-{}-of-{count}", index + 1)),
            "{text}"
        );
        let line = text
            .lines()
            .find(|l| l.starts_with("distinct runs:"))
            .unwrap();
        runs += line
            .split_whitespace()
            .last()
            .unwrap()
            .parse::<usize>()
            .unwrap();
    }
    assert_eq!(runs, 10);
}
