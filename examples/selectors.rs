//! The certificate (issue 27, part 3): how far each way of choosing eta lands from the best one.
//!
//! For each network file of `experiments/selectors/net_*.toml` (a grid: a dense log grid of eta,
//! three seeds, the network's epochs) it trains the truth, then runs every selector over three
//! other seed sets, trains each pick for the network's epochs with the truth's seeds, and writes
//! `results/selectors/selectors.csv` and `results/selectors/selectors.md`: per selector and
//! network, the pick (median and range over the seed sets), log2(pick / best eta), the regret
//! (points of mean best validation accuracy below the best eta's) and the selector's cost in
//! epochs (and as a share of the grid's). Everything it trains stays in `results/selectors/`, so
//! a second run resumes and only summarises.
//!
//! ```sh
//! cargo run --release --example selectors            # every network
//! cargo run --release --example selectors -- net_chapter3   # the networks whose file names match
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use runner::config::Experiment;
use runner::report::summary::Summary;
use runner::search::range_test::{Suggestion, Suggestions};
use runner::search::RangeTest;
use runner::sweep::{run_sweep, SweepOptions};

/// The seed sets the selectors run with (the truth uses the network file's own seeds).
const SEED_SETS: [[u64; 3]; 3] = [[11, 12, 13], [21, 22, 23], [31, 32, 33]];

/// The selectors, each with the `[search]` table it runs (the range test's three suggestions
/// come from one test).
const SEARCHES: [(&str, &str); 5] = [
    ("threshold (book)", "mode = \"threshold\"\nrefine = false\n"),
    ("threshold", "mode = \"threshold\"\n"),
    ("range test", "mode = \"range_test\"\n"),
    ("curvature", "mode = \"curvature\"\n"),
    (
        "halving",
        "mode = \"halving\"\nreduction = 3\nmin_epochs = 1\n",
    ),
];

/// One selector's pick on one seed set.
struct Pick {
    network: String,
    selector: String,
    set: usize,
    eta: f64,
    /// Epochs the selector trained (or their equivalent in examples) to choose.
    cost: f64,
}

fn main() -> Result<()> {
    let filter: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from("results/selectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir("experiments/selectors")
        .context("run it from the repository's folder")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().to_string());
            name.starts_with("net_")
                && name.ends_with(".toml")
                && (filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no experiments/selectors/net_*.toml matches {filter:?}");
    }
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut table = String::new();
    for file in &files {
        let (network, lines) = network(file, &root)?;
        rows.extend(lines);
        table.push_str(&network);
    }
    std::fs::create_dir_all(&root)?;
    let mut w = csv::Writer::from_path(root.join("selectors.csv"))?;
    w.write_record([
        "network",
        "selector",
        "seed_set",
        "pick",
        "best_eta",
        "log2_pick_over_best",
        "regret",
        "cost_epochs",
        "grid_epochs",
        "cost_share",
    ])?;
    for r in &rows {
        w.write_record(r)?;
    }
    w.flush()?;
    std::fs::write(root.join("selectors.md"), &table)?;
    println!("{table}");
    println!(
        "wrote {} and {} in {:.0} s",
        root.join("selectors.csv").display(),
        root.join("selectors.md").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Trains `text` (an experiment) into `dir` (resuming what is there) and summarises it.
fn train(text: &str, dir: &Path) -> Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let file = dir.with_extension("toml");
    std::fs::write(&file, text)?;
    let exp = Experiment::from_file(&file)?;
    let opts = SweepOptions {
        out: Some(dir.to_path_buf()),
        threads: None,
        progress_bar: false,
        quiet: true,
        fresh: false,
        shard: None,
        shard_inferred: false,
        yes: true,
        no_fuse: false,
    };
    let report = run_sweep(&exp, &opts, &AtomicBool::new(false))?;
    if !report.failures.is_empty() || report.interrupted {
        bail!("{}: the sweep did not finish", file.display());
    }
    Ok(runner::report::write_report(dir)?.0)
}

/// Each configuration's eta and mean best validation accuracy.
fn by_eta(summary: &Summary) -> Vec<(f64, f64)> {
    summary
        .groups
        .iter()
        .filter_map(|g| Some((g.key.value("eta").parse().ok()?, g.best_accuracy.mean)))
        .collect()
}

/// `text` with its grid's `eta` and seeds lines taken out, `seed = [...]` and `extra` put in.
fn without_eta(text: &str, seeds: &[u64], search: Option<&str>) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        if key == "eta" || key == "seeds" || key == "name" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.trim() == "[grid]" {
            let list: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
            let _ = writeln!(out, "seed = [{}]", list.join(", "));
        }
    }
    if let Some(search) = search {
        let _ = write!(out, "\n[search]\n{search}");
    }
    out
}

/// The truth, the selectors and the picks of one network: its Markdown table and CSV rows.
fn network(file: &Path, root: &Path) -> Result<(String, Vec<Vec<String>>)> {
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().trim_start_matches("net_").to_string())
        .unwrap_or_default();
    let text = std::fs::read_to_string(file)?;
    let exp = Experiment::from_file(file)?;
    let base = exp.run(0);
    let epochs = base.epochs;
    let grid_epochs = (exp.grid().len() as usize * epochs) as f64;
    let per_epoch = base.train_size as f64;
    let dir = root.join(&name);
    eprintln!("{name}: the truth ({} runs)", exp.grid().len());
    let truth = by_eta(&train(&text, &dir.join("truth"))?);
    let (best_eta, best) = truth
        .iter()
        .cloned()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .context("no configuration in the truth")?;
    let mut picks: Vec<Pick> = Vec::new();
    for (set, seeds) in SEED_SETS.iter().enumerate() {
        for (selector, search) in SEARCHES {
            let body = if selector == "halving" {
                // halving runs over the same grid of eta
                let mut t = without_eta(&text, seeds, Some(search));
                let eta = text
                    .lines()
                    .find(|l| l.trim_start().starts_with("eta"))
                    .context("the network's grid has an eta line")?;
                t = t.replacen("[grid]\n", &format!("[grid]\n{eta}\n"), 1);
                t
            } else {
                without_eta(&text, seeds, Some(search))
            };
            let slug = selector.replace([' ', '(', ')'], "_");
            eprintln!("{name}: {selector}, seeds {seeds:?}");
            let s = train(&body, &dir.join(format!("{slug}-{set}")))?;
            let mut add = |selector: &str, eta: Option<f64>, cost: f64| {
                if let Some(eta) = eta {
                    picks.push(Pick {
                        network: name.clone(),
                        selector: selector.to_string(),
                        set,
                        eta,
                        cost,
                    });
                }
            };
            match selector {
                "range test" => {
                    let r = s.range_test.as_ref().context("a range test's summary")?;
                    let steps: usize = r.seeds.iter().map(|x| x.steps).sum();
                    let cost = (steps * base.batch_size) as f64 / per_epoch;
                    let found: Vec<Suggestions> = r.seeds.iter().map(|x| x.suggestions).collect();
                    for suggestion in Suggestion::ALL {
                        let rule = RangeTest {
                            suggestion,
                            ..RangeTest::default()
                        };
                        add(
                            &format!("range test ({})", suggestion.name()),
                            rule.recommended(&found),
                            cost,
                        );
                    }
                }
                "curvature" => {
                    let c = s.curvature.as_ref().context("a curvature summary")?;
                    // each power iteration: two gradients over the sample
                    let examples: usize = c.seeds.iter().map(|x| 2 * x.iterations * c.sample).sum();
                    add(
                        selector,
                        s.recommended.as_ref().map(|r| r.eta),
                        examples as f64 / per_epoch,
                    );
                }
                "halving" => {
                    let h = s.halving.as_ref().context("a halving summary")?;
                    let eta = h.standing.first().and_then(|(label, _)| {
                        label
                            .split(' ')
                            .find_map(|p| p.strip_prefix("eta="))
                            .and_then(|v| v.parse().ok())
                    });
                    add(selector, eta, h.epochs_trained as f64);
                }
                _ => {
                    let t = s.threshold.as_ref().context("a threshold summary")?;
                    add(
                        selector,
                        s.recommended.as_ref().map(|r| r.eta),
                        t.probe_epochs as f64,
                    );
                }
            }
        }
    }
    // every pick trained for the network's epochs with the truth's seeds (values in the truth
    // grid are read from it)
    let mut etas: Vec<f64> = picks.iter().map(|p| p.eta).collect();
    etas.sort_by(f64::total_cmp);
    etas.dedup();
    let missing: Vec<f64> = etas
        .iter()
        .cloned()
        .filter(|e| !truth.iter().any(|(t, _)| t == e))
        .collect();
    let mut trained = truth.clone();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|e| format!("{e:?}")).collect();
        let body = without_eta(&text, &exp.seeds(), None).replacen(
            "[grid]\n",
            &format!("[grid]\neta = [{}]\n", list.join(", ")),
            1,
        );
        eprintln!("{name}: the picks ({} etas)", missing.len());
        trained.extend(by_eta(&train(&body, &dir.join("picks"))?));
    }
    let accuracy = |eta: f64| trained.iter().find(|(e, _)| *e == eta).map(|x| x.1);
    let mut lines = Vec::new();
    let mut by_selector: BTreeMap<String, Vec<&Pick>> = BTreeMap::new();
    for p in &picks {
        by_selector.entry(p.selector.clone()).or_default().push(p);
        let regret = 100.0 * (best - accuracy(p.eta).unwrap_or(f64::NAN));
        lines.push(vec![
            p.network.clone(),
            p.selector.clone(),
            (p.set + 1).to_string(),
            format!("{}", p.eta),
            format!("{best_eta}"),
            format!("{:.2}", (p.eta / best_eta).log2()),
            format!("{regret:.2}"),
            format!("{:.1}", p.cost),
            format!("{grid_epochs}"),
            format!("{:.3}", p.cost / grid_epochs),
        ]);
    }
    let show = |x: f64| runner::grid::float_label(runner::search::round3(x));
    let mut md = format!(
        "### {name}: the best eta of the grid is {} ({:.2}%); the grid trains {grid_epochs} epochs\n\n\
         | selector | pick (median, range over {} seed sets) | log2(pick / best) | regret, points (median, worst) | cost, epochs (share of the grid's) |\n\
         | --- | --- | --- | --- | --- |\n",
        show(best_eta),
        100.0 * best,
        SEED_SETS.len()
    );
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        v[(v.len() - 1) / 2]
    };
    for (selector, ps) in &by_selector {
        let etas: Vec<f64> = ps.iter().map(|p| p.eta).collect();
        let regrets: Vec<f64> = ps
            .iter()
            .map(|p| 100.0 * (best - accuracy(p.eta).unwrap_or(f64::NAN)))
            .collect();
        let cost = median(ps.iter().map(|p| p.cost).collect());
        let lo = etas.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = etas.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let _ = writeln!(
            md,
            "| {selector} | {} ({}-{}) | {:+.1} | {:.2} ({:.2}) | {cost:.0} ({:.0}%) |",
            show(median(etas.clone())),
            show(lo),
            show(hi),
            (median(etas) / best_eta).log2(),
            median(regrets.clone()),
            regrets.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            100.0 * cost / grid_epochs
        );
    }
    md.push('\n');
    Ok((md, lines))
}
