//! The summary, the plots and the HTML report, end to end, including a real headless browser.

use std::path::Path;
use std::process::Command as StdCommand;

use crate::common::{experiment, runner};
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
    let static_plots = &html[html.find("<h2>Plots (static)</h2>").unwrap()
        ..html.find("<h2>The experiment</h2>").unwrap()];
    assert_eq!(
        static_plots.matches("<svg").count(),
        2,
        "both plots are inlined"
    );
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
        .stderr(predicate::str::contains("'no/such/dir' is not a folder"));
}

/// Headless Chromium without its own background traffic (updates, sync, first-run pages).
const HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The browser the Chromium tests need (they are compiled as ignored where it is missing).
fn browser() -> &'static str {
    chromium().expect(
        "no working chromium: .ci/run installs Debian's chromium package (apt-get install chromium)",
    )
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
#[ignore = "needs Debian's chromium (apt-get install chromium; .ci/run installs it and runs it with --include-ignored)"]
fn the_report_renders_in_a_headless_browser() {
    let browser = browser();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sweep(tmp.path());
    let report = dir.join("report.html");
    let page = format!("file://{}", report.canonicalize().unwrap().display());
    let profile = tmp.path().join("profile");
    let flags = HEADLESS;
    let (dom, _, _) = browse(browser, &tmp.path().join("dom"), &report);
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

/// Runs headless Chromium on `page` (a file), with a network log; returns the DOM after the
/// scripts ran, Chromium's log, and the URLs the page itself requested that are not files.
fn browse(browser: &str, dir: &Path, page: &Path) -> (String, String, Vec<String>) {
    let profile = dir.join("profile");
    let netlog = dir.join("netlog.json");
    let out = StdCommand::new(browser)
        .args(HEADLESS)
        .args([
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the requests the page made: Chromium's own (updates, time) have no initiator origin,
    // a file page's have the opaque origin "null"
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&netlog).unwrap()).unwrap();
    let requests: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let p = &e["params"];
            let url = p["url"].as_str()?;
            let initiator = p["initiator"].as_str()?;
            (initiator != "not an origin" && !url.starts_with("file:") && !url.starts_with("data:"))
                .then(|| url.to_string())
        })
        .collect();
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        requests,
    )
}

/// The `<div id="view-NAME">` of a DOM, up to the next view or section.
fn view<'d>(dom: &'d str, name: &str) -> &'d str {
    let at = dom
        .find(&format!("id=\"view-{name}\""))
        .unwrap_or_else(|| panic!("view {name} missing"));
    let rest = &dom[at..];
    let end = rest[1..]
        .find("id=\"view-")
        .or_else(|| rest.find("<h3>"))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[test]
#[ignore = "needs Debian's chromium (apt-get install chromium; .ci/run installs it and runs it with --include-ignored)"]
fn the_interactive_report_renders_offline_sorts_and_links_runs_to_curves() {
    let browser = browser();
    let tmp = tempfile::tempdir().unwrap();
    // the detector works: a page that loads from the network is caught
    let control = tmp.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><img src=\"http://example.invalid/pixel.png\"></body></html>",
    )
    .unwrap();
    let (_, _, requests) = browse(browser, &tmp.path().join("c"), &control);
    assert_eq!(requests, ["http://example.invalid/pixel.png"]);

    // the shipped eta sweep (the committed example's results, its report written anew), a
    // small one-setting sweep, and a two-setting one (eta x lambda): (folder, views, seeds,
    // configurations)
    let mut cases = Vec::new();
    let shipped = tmp.path().join("eta_sweep");
    copy_folder(
        &crate::common::repo().join("results/example/eta_sweep"),
        &shipped,
    );
    std::fs::remove_file(shipped.join("report.html")).unwrap();
    runner(tmp.path())
        .args(["summary", shipped.to_str().unwrap()])
        .assert()
        .success();
    cases.push((shipped, 2, 3, 7));
    for (name, grid, views, configurations) in [
        (
            "one",
            "[grid]\neta = [0.1, 3.0, 100.0]\nepochs = 3\nseeds = 2\n",
            2,
            3,
        ),
        (
            "two",
            "[grid]\neta = [0.5, 3.0]\nlambda = [0.0, 5.0]\nepochs = 3\nseeds = 2\n",
            3,
            4,
        ),
    ] {
        let body = format!("train_size = 1000\nvalidation_size = 500\n{grid}");
        let exp = experiment(tmp.path(), name, &body);
        runner(tmp.path())
            .args([exp.to_str().unwrap(), "-q"])
            .assert()
            .success();
        cases.push((
            tmp.path().join("results").join(name),
            views,
            2,
            configurations,
        ));
    }
    for (dir, views, seeds, configurations) in cases {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(!html.contains("<script src"), "every script is inlined");
        // a page that clicks like a user once the views are drawn: sorts the runs table by
        // best accuracy, then shows one run's configuration alone
        let end = html.rfind("</body></html>").unwrap();
        let clicking = html[..end].to_string()
            + "<script>\n\
             var wait = setInterval(function () {\n\
               if (!document.body.getAttribute('data-rendered')) return;\n\
               clearInterval(wait);\n\
               var th = document.querySelectorAll('#runs th');\n\
               var col = Array.prototype.findIndex.call(th, function (h) { return /best .* accuracy/.test(h.textContent); });\n\
               th[col].click(); th[col].click();\n\
               var rows = document.querySelectorAll('#runs tbody tr');\n\
               var firsts = Array.prototype.map.call(rows, function (r) { return Number(r.cells[col].getAttribute('data-sort')); });\n\
               document.body.setAttribute('data-sorted', String(firsts.every(function (v, i) { return i == 0 || firsts[i - 1] >= v; })));\n\
               rows[0].click();\n\
               setTimeout(function () {\n\
                 document.body.setAttribute('data-focused', String(document.querySelectorAll('#runs tr.focused').length));\n\
                 var faint = Array.prototype.filter.call(document.querySelectorAll('#view-curves .mark-line path'), function (p) { return p.getAttribute('opacity') == '0.07' || /opacity: ?0.07/.test(p.getAttribute('style') || ''); });\n\
                 document.body.setAttribute('data-faint', String(faint.length));\n\
               }, 500);\n\
             }, 50);\n\
             </script>\n</body></html>";
        let page = dir.join("clicking.html");
        std::fs::write(&page, clicking).unwrap();
        let (dom, log, requests) = browse(browser, &dir.join("browser"), &page);
        assert!(requests.is_empty(), "{name}: network requests {requests:?}");
        assert!(
            dom.contains(&format!("data-rendered=\"{views}\"")),
            "{name}: not every view was drawn"
        );
        assert!(
            dom.contains("<div id=\"report-errors\" role=\"alert\"></div>"),
            "{name}: the page reported errors"
        );
        let console_errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("CONSOLE") && (l.contains("rror") || l.contains("Uncaught")))
            .collect();
        assert!(console_errors.is_empty(), "{name}: {console_errors:?}");
        // the views are drawn: lines in the curves, error bars and points in the answer,
        // one line per configuration in the parallel coordinates
        let curves = view(&dom, "curves");
        assert!(
            curves.contains("class=\"marks\""),
            "{name}: curves not drawn"
        );
        assert!(curves.contains("mark-line"), "{name}: no curve");
        assert!(curves.contains("<select"), "{name}: no metric choice");
        let answer = view(&dom, "answer");
        assert!(answer.contains("mark-rule") && answer.contains("mark-symbol"));
        assert!(answer.contains("(log scale)"), "{name}: eta on a log axis");
        if views == 3 {
            let parallel = view(&dom, "parallel");
            assert!(parallel.contains("mark-line") && parallel.contains("mark-text"));
            for label in ["eta", "lambda", "0.5", "3.0", "5.0"] {
                assert!(
                    parallel.contains(&format!(">{label}<")),
                    "{name}: axis label {label}"
                );
            }
        }
        // sorted by best accuracy, highest first; one configuration's 2 runs focused, the
        // curves of the others faded
        assert!(
            dom.contains("data-sorted=\"true\""),
            "{name}: table not sorted"
        );
        assert!(
            dom.contains(&format!("data-focused=\"{seeds}\"")),
            "{name}: row not linked"
        );
        let faint: usize = dom
            .split("data-faint=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .expect("the click was recorded");
        assert!(
            faint >= seeds * (configurations - 1),
            "{name}: {faint} curves faded, expected every other configuration's"
        );
    }
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_folder(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A partial folder's summary counts the runs never started (the audit: it counted only the
/// unfinished ones, so a sweep stopped early looked complete).
#[test]
fn a_partial_folder_says_how_many_runs_never_started() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "partial",
        "train_size = 200\nvalidation_size = 100\n[grid]\neta = [0.5, 3.0]\nseeds = 2\nepochs = 1\n",
    );
    runner(tmp.path())
        .args([exp.to_str().unwrap(), "-q"])
        .assert()
        .success();
    let dir = tmp.path().join("results/partial");
    // as if the sweep had stopped before one run started: no rows, no state
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    let gone = lines[1].split(',').next().unwrap().to_string();
    let kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with(&gone))
        .collect();
    std::fs::write(dir.join("metrics.csv"), kept.join("\n") + "\n").unwrap();
    std::fs::remove_file(dir.join("state").join(format!("{gone}.toml"))).unwrap();
    let out = runner(tmp.path())
        .args(["summary", "results/partial"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 runs of the experiment's grid are not in"),
        "{err}"
    );
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("1 runs of the experiment's grid are not in this folder yet"),
        "{md}"
    );
}

/// The A/A test of "clearly better": 400 seeds of one configuration, dealt into 40 repeats of two
/// labels of 5 seeds each (disjoint seeds, the same settings). The comparison the summary makes
/// must call one label clearly better in at most 5% of the repeats (2 of 40): its 95% interval
/// is honest. And a real difference (eta 3.0 against 0.03, the same seeds) is seen.
#[test]
fn clearly_better_is_declared_for_no_more_than_five_percent_of_identical_configurations() {
    use runner::report::compare::Versus;
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(
        tmp.path(),
        "aa",
        "train_size = 300\nvalidation_size = 2000\nmonitor = [\"validation_accuracy\"]\n\
         [grid]\nsizes = [784, 10, 10]\neta = [0.03, 3.0]\nepochs = 2\nseeds = 400\n",
    );
    runner(tmp.path()).arg(&exp).arg("-q").assert().success();
    let runs = crate::common::csv_rows(&tmp.path().join("results/aa/runs.csv"));
    let of = |eta: &str, seeds: std::ops::RangeInclusive<u64>| -> Vec<(u64, f64)> {
        runs.iter()
            .filter(|r| r["eta"] == eta)
            .map(|r| {
                (
                    r["seed"].parse().unwrap(),
                    r["best_validation_accuracy"].parse().unwrap(),
                )
            })
            .filter(|(s, _)| seeds.contains(s))
            .collect()
    };
    let mut winners = 0;
    for repeat in 0..40u64 {
        let (a, b) = (
            of("3.0", 10 * repeat + 1..=10 * repeat + 5),
            of("3.0", 10 * repeat + 6..=10 * repeat + 10),
        );
        assert_eq!((a.len(), b.len()), (5, 5));
        // the summary compares the better mean with the other
        let mean = |x: &[(u64, f64)]| x.iter().map(|p| p.1).sum::<f64>() / 5.0;
        let v = if mean(&a) >= mean(&b) {
            Versus::of(&a, &b)
        } else {
            Versus::of(&b, &a)
        };
        assert_eq!(v.method, "Welch t");
        winners += v.clearly_better as usize;
    }
    assert!(
        winners <= 2,
        "{winners} of 40 identical pairs called clearly better"
    );
    // the same seeds, a real difference: paired, clearly better
    let v = Versus::of(&of("3.0", 1..=5), &of("0.03", 1..=5));
    assert!(v.clearly_better && v.method == "paired t", "{v:?}");
    eprintln!("A/A: {winners} of 40 repeats declared a winner");
}
