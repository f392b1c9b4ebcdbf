//! Successive halving over many seed sets: does it keep the full grid's winner, and at what cost?
//! (issue 27, part 5). Given a halving experiment and the results folder of its grid trained in
//! full with more seeds, it replays the search for disjoint sets of seeds (1-2, 3-4, ... for
//! sets of two), once with each pruning rule (`prune = "confident"`, the default, and `"mean"`),
//! and compares each pick with the full grid's winner on the same seeds: the configuration with
//! the best mean over those seeds of the best validation accuracy. A pick "keeps the winner" when
//! its own mean is within 0.1 points of it.
//!
//! Halving decides from each run's metric at its rungs alone, and a run's epochs are the same
//! numbers whether or not the rest of the grid trains beside it, so the replay on the full grid's
//! rows is the search itself (the epochs it trains are counted as a search would train them:
//! a pruned run to its rung, a diverged one to its end).
//!
//! ```sh
//! cargo run --release -- experiments/selectors/halving_grid_20_seeds.toml -q
//! cargo run --release --example halving_repeats -- experiments/halving.toml results/halving_grid_20_seeds
//! ```
//!
//! Options (environment): `SETS` (default 10), `PER_SET` seeds (default: the halving
//! experiment's number of seeds).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use runner::config::Experiment;
use runner::metrics::Metric;
use runner::search::halving::{Ended, Member, Pruning, Trace};
use runner::search::{Halving, Search};

/// What one replay gave.
struct Outcome {
    pick: String,
    kept_winner: bool,
    /// Points of mean best validation accuracy below the winner.
    regret: f64,
    epochs: usize,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [halving_file, full_dir] = args.as_slice() else {
        bail!("give the halving experiment and the results folder of its grid trained with more seeds");
    };
    let halving_exp = Experiment::from_file(Path::new(halving_file))?;
    let Search::Halving(h) = halving_exp.search().clone() else {
        bail!("{halving_file} is not a successive halving experiment");
    };
    let full_dir = Path::new(full_dir);
    let full = Experiment::from_file(&full_dir.join("experiment.toml"))?;
    let rows = runner::store::read_metrics(&full_dir.join("metrics.csv"))?;
    let by_run = runner::store::table::by_run(&rows);
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let per_set = env("PER_SET", halving_exp.seeds().len());
    let sets = env("SETS", 10);
    let seeds = full.seeds();
    if seeds.len() < sets * per_set {
        bail!(
            "{} has {} seeds: {sets} disjoint sets of {per_set} need {}",
            full_dir.display(),
            seeds.len(),
            sets * per_set
        );
    }
    let runs = full.runs();
    let epochs = runs[0].epochs;
    // every run's trace of halving's metric, and its best validation accuracy
    let mut traces: HashMap<String, Trace> = HashMap::new();
    let mut best: HashMap<String, f64> = HashMap::new();
    for r in &runs {
        let id = r.id();
        let Some(rows) = by_run.get(id.as_str()) else {
            bail!("run {id} ({}) is not in {}", r.label(), full_dir.display());
        };
        // a run with fewer epochs than the grid's diverged (these grids stop no other way)
        let ended = if rows.len() < r.epochs {
            Ended::Diverged
        } else {
            Ended::Finished
        };
        let values = rows
            .iter()
            .map(|x| x.get(h.metric).unwrap_or(f64::NAN))
            .collect();
        traces.insert(
            id.clone(),
            Trace {
                values,
                ended: Some(ended),
            },
        );
        let b = rows
            .iter()
            .filter_map(|x| x.get(Metric::ValidationAccuracy))
            .fold(f64::NAN, f64::max);
        best.insert(id, b);
    }
    println!(
        "{}: {} configurations, {epochs} epochs, halving by {} from epoch {} ranked by {}; {sets} \
         sets of {per_set} seeds from {}",
        halving_file,
        runs.len() / seeds.len(),
        h.reduction,
        h.min_epochs,
        h.metric.name(),
        full_dir.display()
    );
    println!("| seeds | full grid's winner | rule | pick | keeps the winner | regret (points) | epochs (share of the grid's) |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut totals: BTreeMap<&str, (usize, Vec<f64>, f64)> = BTreeMap::new();
    for k in 0..sets {
        let set = &seeds[k * per_set..(k + 1) * per_set];
        let members: Vec<&runner::grid::RunSettings> =
            runs.iter().filter(|r| set.contains(&r.seed)).collect();
        // the full grid's winner on these seeds
        let mut means: BTreeMap<String, (String, Vec<f64>)> = BTreeMap::new();
        for r in &members {
            let e = means
                .entry(r.configuration_key())
                .or_insert_with(|| (r.configuration_label(), Vec::new()));
            e.1.push(best[&r.id()]);
        }
        let mean = |key: &str| {
            let v = &means[key].1;
            v.iter().sum::<f64>() / v.len() as f64
        };
        let winner = means
            .keys()
            .max_by(|a, b| mean(a).total_cmp(&mean(b)))
            .expect("a configuration")
            .clone();
        for prune in [Pruning::Confident, Pruning::Mean] {
            let rule = Halving { prune, ..h.clone() };
            let o = replay(&rule, epochs, &members, &traces, &winner, &mean)?;
            let grid_epochs = members.len() * epochs;
            let share = o.epochs as f64 / grid_epochs as f64;
            println!(
                "| {} | {} ({:.2}%) | {} | {} ({:.2}%) | {} | {:.2} | {} ({:.0}%) |",
                set.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                means[&winner].0,
                100.0 * mean(&winner),
                prune.name(),
                means[&o.pick].0,
                100.0 * mean(&o.pick),
                if o.kept_winner { "yes" } else { "no" },
                o.regret,
                o.epochs,
                100.0 * share
            );
            let t = totals.entry(prune.name()).or_default();
            t.0 += o.kept_winner as usize;
            t.1.push(share);
            t.2 = t.2.max(o.regret);
        }
    }
    for (rule, (kept, shares, worst)) in totals {
        let mean_share = shares.iter().sum::<f64>() / shares.len() as f64;
        let max_share = shares.iter().cloned().fold(0.0, f64::max);
        println!(
            "{rule}: kept the full grid's winner (within 0.1 points) in {kept} of {sets}; epochs \
             {:.0}% of the grid's on average, {:.0}% at most; worst regret {worst:.2} points",
            100.0 * mean_share,
            100.0 * max_share
        );
    }
    Ok(())
}

/// Replays `rule` on the runs `members` and scores its pick against `winner`.
fn replay(
    rule: &Halving,
    epochs: usize,
    members: &[&runner::grid::RunSettings],
    traces: &HashMap<String, Trace>,
    winner: &str,
    mean: &dyn Fn(&str) -> f64,
) -> Result<Outcome> {
    let list: Vec<Member> = members
        .iter()
        .map(|r| Member {
            configuration: r.configuration_key(),
            label: r.configuration_label(),
            id: r.id(),
        })
        .collect();
    let (rungs, standing) = rule.replay_to(epochs, &list, |id| traces.get(id));
    let standing = standing.context("the replay did not finish")?;
    // the epoch each configuration stopped at (pruned at a rung), else the end
    let mut stopped: HashMap<&str, usize> = HashMap::new();
    for r in &rungs {
        for x in r.ranked.iter().filter(|x| !x.kept) {
            stopped.insert(x.configuration.as_str(), r.epoch);
        }
    }
    let trained: usize = list
        .iter()
        .map(|m| {
            let len = traces[&m.id].values.len();
            stopped
                .get(m.configuration.as_str())
                .map_or(len, |&e| e.min(len))
        })
        .sum();
    let pick = standing[0].configuration.clone();
    let regret = 100.0 * (mean(winner) - mean(&pick));
    Ok(Outcome {
        kept_winner: regret <= 0.1 + 1e-9,
        regret,
        pick,
        epochs: trained,
    })
}
