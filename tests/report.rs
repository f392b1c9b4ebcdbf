//! The summary, the plots and the HTML report, end to end, including a real headless browser.

mod common;

use std::path::Path;
use std::process::Command as StdCommand;

use common::{experiment, runner};
use predicates::prelude::*;

const BODY: &str =
    "train_size = 500\n[grid]\neta = [0.5, 3.0]\nseed = [1, 2]\nepochs = 3\ncost = \"cross-entropy\"\ninit = \"scaled\"\n";

fn sweep(tmp: &Path) -> std::path::PathBuf {
    let exp = experiment(tmp, "rep", BODY);
    runner(tmp)
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains("eta: the best value is eta = "))
        .stdout(predicate::str::contains("report.html"));
    tmp.join("results/rep")
}

#[test]
fn a_sweep_ends_with_summary_plots_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sweep(tmp.path());
    for f in [
        "summary.md",
        "plots/learning_curves.svg",
        "plots/answer.svg",
        "report.html",
    ] {
        assert!(dir.join(f).is_file(), "{f} is missing");
    }
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("| eta | seeds | best validation accuracy |"),
        "{md}"
    );
    assert_eq!(
        md.lines()
            .filter(|l| l.starts_with("| 0.5 ") || l.starts_with("| 3.0 "))
            .count(),
        2
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "both plots are inlined");
    assert!(!html.contains("src=\"http"), "the page needs no network");
    assert!(html.contains("[grid]"), "the experiment file is shown");
}

#[test]
fn unfinished_runs_are_left_out_with_a_word_and_archives_are_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sweep(tmp.path());
    // a run cut off: its rows are in metrics.csv but it has no state file
    let state = dir.join("state");
    let first = std::fs::read_dir(&state)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&first).unwrap();
    let out = runner(tmp.path())
        .args(["summary", dir.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains("1 runs of"))
        .stderr(predicate::str::contains(
            "had not finished and are left out",
        ))
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(out).unwrap();
    assert!(
        md.contains("1 runs of metrics.csv had not finished"),
        "{md}"
    );
    // the seeds column counts only finished runs: 3 of the 4
    let seeds: usize = md
        .lines()
        .filter(|l| l.starts_with("| 0.5 ") || l.starts_with("| 3.0 "))
        .map(|l| {
            l.split('|')
                .nth(2)
                .unwrap()
                .trim()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(seeds, 3);
    // a folder the report cannot be written to (here `plots` is a file, as in an archive that
    // cannot be changed): the summary is printed all the same, with a warning
    std::fs::remove_dir_all(dir.join("plots")).unwrap();
    std::fs::write(dir.join("plots"), "not a folder").unwrap();
    runner(tmp.path())
        .args(["summary", dir.to_str().unwrap(), "--format", "csv"])
        .assert()
        .success()
        .stdout(predicate::str::contains("best_accuracy_mean"))
        .stderr(predicate::str::contains(
            "printing only; could not write the report files",
        ));
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // `runner summary DIR --format json | true`: the reader is gone before anything is written
    let tmp = tempfile::tempdir().unwrap();
    let dir = sweep(tmp.path());
    for format in ["json", "markdown", "csv"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = StdCommand::new(assert_cmd::cargo::cargo_bin("runner"))
            .args(["summary", dir.to_str().unwrap(), "--format", format])
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn summary_exports_csv_and_json_with_the_same_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sweep(tmp.path());
    let out = runner(tmp.path())
        .args(["summary", dir.to_str().unwrap(), "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["groups"].as_array().unwrap().len(), 2);
    assert_eq!(json["swept"][0], "eta");
    let best = json["groups"][0]["best_accuracy"]["mean"].as_f64().unwrap();
    let out = runner(tmp.path())
        .args(["summary", dir.to_str().unwrap(), "--format", "csv"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let csv = String::from_utf8(out).unwrap();
    let first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first[11].parse::<f64>().unwrap(), best);
    runner(tmp.path())
        .args(["summary", "no/such/dir"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/dir/metrics.csv"));
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            StdCommand::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
#[cfg_attr(
    not(has_chromium),
    ignore = "needs Debian's chromium (.ci/run installs it; apt-get install chromium)"
)]
fn the_report_renders_in_a_headless_browser() {
    let browser = chromium().expect(
        "no working chromium: .ci/run installs Debian's chromium package (apt-get install chromium)",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = sweep(tmp.path());
    let page = format!(
        "file://{}",
        dir.join("report.html").canonicalize().unwrap().display()
    );
    let profile = tmp.path().join("profile");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let dom = StdCommand::new(browser)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &page])
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    for id in ["learning_curves", "answer"] {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("figure {id} missing"));
        let figure = &dom[at..at + dom[at..].find("</figure>").unwrap()];
        assert!(figure.contains("<svg"), "{id} has no drawing");
        assert!(
            figure.matches("<polyline").count() >= 2,
            "{id} has no lines"
        );
    }
    let shot = tmp.path().join("report.png");
    let status = StdCommand::new(browser)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args([
            "--window-size=1400,2400",
            &format!("--screenshot={}", shot.display()),
            &page,
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        png.len() > 30_000,
        "the screenshot is nearly blank ({} bytes)",
        png.len()
    );
}
