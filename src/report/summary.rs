//! The answer to the question a sweep asks: runs grouped by every setting except the seed,
//! statistics over seeds, and a paragraph per swept setting. Built from `metrics.csv` alone, so
//! it works on merged or resumed results and on a CSV from another tool with the same columns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::grid::float_label;
use crate::grid::settings::{self, SETTINGS, VARIANT};
use crate::metrics::Metric;
use crate::stability::{Curve, Majority, Verdict};

pub use super::compare::Versus;
use crate::store::{ConfigKey, MetricsRow};

/// Mean and sample standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len() as f64;
        if values.is_empty() {
            return Stat {
                mean: f64::NAN,
                std: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n;
        let var = if values.len() > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Stat {
            mean,
            std: var.sqrt(),
        }
    }
}

/// One run's curve and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCurve {
    pub seed: u64,
    /// (epoch, accuracy, training cost) in epoch order.
    pub points: Vec<(usize, Option<f64>, Option<f64>)>,
    pub best_accuracy: f64,
    pub best_epoch: usize,
    pub test_at_best: Option<f64>,
    pub final_train_cost: Option<f64>,
    /// What the run's verdict reads (see [`crate::stability`]).
    pub curve: Curve,
}

/// A group of runs differing only in the seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Configuration {
    #[serde(flatten)]
    pub key: ConfigKey,
    pub seeds: usize,
    pub diverged: usize,
    pub best_accuracy: Stat,
    pub test_at_best: Option<Stat>,
    pub final_train_cost: Option<Stat>,
    pub best_epoch: Stat,
    #[serde(skip)]
    pub runs: Vec<RunCurve>,
    /// Where the group first appears in `metrics.csv` (grid order): the order in which values
    /// that are not numbers (variants, costs, ...) are shown.
    #[serde(skip)]
    pub order: usize,
}

impl Configuration {
    /// Seeds that diverged, oscillated early, or never left chance level without the training
    /// cost falling (a saturated network). A run near chance whose cost was falling is too slow,
    /// not unstable.
    pub fn unstable_seeds(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.curve.verdict().unstable())
            .count()
    }

    /// Seeds stuck near chance while their training cost fell (eta too small).
    pub fn too_slow_seeds(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.curve.verdict() == Verdict::TooSlow)
            .count()
    }
}

/// The summary of a results folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `validation`, `test` or `training`: the accuracy the summary ranks by (the first of them
    /// that is monitored); empty when no accuracy is monitored.
    pub accuracy: &'static str,
    /// Whether `train_cost` is monitored (without it the cost test for eta cannot run).
    pub train_cost_monitored: bool,
    /// Settings with more than one value (the seed aside).
    pub swept: Vec<&'static str>,
    /// Groups, best first.
    pub groups: Vec<Configuration>,
    /// One paragraph per swept setting.
    pub answers: Vec<String>,
    /// Runs of `metrics.csv` that had not finished (no state file), left out.
    pub unfinished_runs: usize,
    /// Finished runs whose rows are not the ones their state file records (edited or damaged).
    pub mismatched_runs: Vec<String>,
    /// Runs of the experiment's grid with no row in the folder: never started (or, in a merge,
    /// in a shard not merged). Counted for a grid's own folder, not a shard's or a search's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_runs: Option<usize>,
    /// The eta a threshold search recommends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended: Option<super::searches::Recommended>,
    /// What a threshold search found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<super::searches::ThresholdSummary>,
    /// What successive halving did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halving: Option<super::searches::HalvingSummary>,
    /// What a curvature search found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curvature: Option<super::searches::CurvatureSummary>,
    /// What a learning-rate range test found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_test: Option<super::searches::RangeTestSummary>,
    /// The best configuration against the runner-up, seed by seed (with two or more
    /// configurations, the best above chance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versus_runner_up: Option<Versus>,
    /// For each swept setting, its best value against the runner-up value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versus_runner_up_by_setting: BTreeMap<&'static str, Versus>,
}

/// The accuracy a summary ranks by: the first monitored of validation, test and training.
fn ranking(rows: &[MetricsRow]) -> (&'static str, fn(&MetricsRow) -> Option<f64>) {
    if rows
        .iter()
        .any(|r| r.get(Metric::ValidationAccuracy).is_some())
    {
        ("validation", |r| r.get(Metric::ValidationAccuracy))
    } else if rows.iter().any(|r| r.get(Metric::TestAccuracy).is_some()) {
        ("test", |r| r.get(Metric::TestAccuracy))
    } else if rows.iter().any(|r| r.get(Metric::TrainAccuracy).is_some()) {
        ("training", |r| r.get(Metric::TrainAccuracy))
    } else {
        ("", |_| None)
    }
}

fn curve(rows: &[&MetricsRow], acc: fn(&MetricsRow) -> Option<f64>) -> RunCurve {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|r| r.epoch);
    let points: Vec<(usize, Option<f64>, Option<f64>)> = rows
        .iter()
        .map(|r| (r.epoch, acc(r), r.get(Metric::TrainCost)))
        .collect();
    let mut best = (f64::NEG_INFINITY, 0, None);
    for r in &rows {
        if let Some(a) = acc(r) {
            if a > best.0 {
                best = (a, r.epoch, r.get(Metric::TestAccuracy));
            }
        }
    }
    let diverged = rows
        .iter()
        .find(|r| {
            [
                r.get(Metric::TrainCost),
                r.get(Metric::ValidationCost),
                r.get(Metric::TestCost),
            ]
            .iter()
            .flatten()
            .any(|c| !c.is_finite())
        })
        .map(|r| r.epoch);
    let costs: Vec<Option<f64>> = rows.iter().map(|r| r.get(Metric::TrainCost)).collect();
    RunCurve {
        curve: Curve::of(&costs, diverged, best.0),
        seed: rows[0].seed,
        best_accuracy: best.0,
        best_epoch: best.1,
        test_at_best: best.2,
        final_train_cost: rows.last().and_then(|r| r.get(Metric::TrainCost)),
        points,
    }
}

fn pct_stat(s: &Stat) -> String {
    format!("{:.2}% ± {:.2}", 100.0 * s.mean, 100.0 * s.std)
}

/// The settings a sweep can vary (the seed aside), in the order they are answered: the variant
/// first, then by each setting's `report` place.
fn keys_in_report_order() -> impl Iterator<Item = &'static str> {
    let mut by_report: Vec<&settings::Setting> =
        SETTINGS.iter().filter(|s| s.name != "seed").collect();
    by_report.sort_by_key(|s| s.report);
    std::iter::once(VARIANT).chain(by_report.into_iter().map(|s| s.name))
}

/// Groups the rows and answers the question of each swept setting.
pub fn summarize(rows: &[MetricsRow]) -> Summary {
    let (accuracy, acc) = ranking(rows);
    let use_validation = accuracy == "validation";
    let train_cost_monitored = rows.iter().any(|r| r.get(Metric::TrainCost).is_some());
    let mut keys: Vec<ConfigKey> = Vec::new();
    for r in rows {
        if !keys.contains(&r.group) {
            keys.push(r.group.clone());
        }
    }
    let mut groups: Vec<Configuration> = keys
        .into_iter()
        .enumerate()
        .map(|(order, key)| configuration(rows, key, order, acc, use_validation))
        .collect();
    groups.sort_by(|a, b| {
        b.best_accuracy
            .mean
            .partial_cmp(&a.best_accuracy.mean)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut swept: Vec<&'static str> = keys_in_report_order()
        .filter(|k| {
            let values: BTreeSet<String> = groups.iter().map(|g| g.key.value(k)).collect();
            values.len() > 1
        })
        .collect();
    // A setting that only changes with the variant (each variant has one value of it) is
    // answered by the variant's paragraph: comparing its values would compare the variants again.
    if swept.contains(&"variant") {
        swept.retain(|&k| {
            k == "variant" || {
                let pairs: BTreeSet<(String, String)> = groups
                    .iter()
                    .map(|g| (g.key.value("variant"), g.key.value(k)))
                    .collect();
                let variants: BTreeSet<&String> = pairs.iter().map(|(v, _)| v).collect();
                pairs.len() > variants.len()
            }
        });
    }
    let mut versus_runner_up_by_setting = BTreeMap::new();
    let answers = swept
        .iter()
        .map(|k| {
            let (text, versus) = answer(k, &groups, accuracy, train_cost_monitored);
            if let Some(v) = versus {
                versus_runner_up_by_setting.insert(*k, v);
            }
            text
        })
        .collect();
    let versus_runner_up = match &groups[..] {
        [best, second, ..] if above_chance(best) => Some(versus(best, second)),
        _ => None,
    };
    Summary {
        accuracy,
        train_cost_monitored,
        swept,
        groups,
        answers,
        unfinished_runs: 0,
        mismatched_runs: Vec::new(),
        missing_runs: None,
        recommended: None,
        threshold: None,
        halving: None,
        curvature: None,
        range_test: None,
        versus_runner_up,
        versus_runner_up_by_setting,
    }
}

/// Each seed's best accuracy.
fn seed_values(c: &Configuration) -> Vec<(u64, f64)> {
    c.runs.iter().map(|r| (r.seed, r.best_accuracy)).collect()
}

/// `best` against `second`, seed by seed ([`Versus`]).
fn versus(best: &Configuration, second: &Configuration) -> Versus {
    Versus::of(&seed_values(best), &seed_values(second))
}

/// Whether a configuration trained above chance (only then is it named best).
fn above_chance(c: &Configuration) -> bool {
    !c.best_accuracy.mean.is_nan() && c.best_accuracy.mean >= crate::stability::CHANCE_BEST
}

/// One configuration's runs (a curve per seed) and their statistics.
fn configuration(
    rows: &[MetricsRow],
    key: ConfigKey,
    order: usize,
    acc: fn(&MetricsRow) -> Option<f64>,
    use_validation: bool,
) -> Configuration {
    let mine: Vec<&MetricsRow> = rows.iter().filter(|r| r.group == key).collect();
    let mut seeds: Vec<u64> = mine.iter().map(|r| r.seed).collect();
    seeds.sort();
    seeds.dedup();
    let runs: Vec<RunCurve> = seeds
        .iter()
        .map(|s| {
            let run: Vec<&MetricsRow> = mine.iter().filter(|r| r.seed == *s).copied().collect();
            curve(&run, acc)
        })
        .collect();
    let collect = |f: &dyn Fn(&RunCurve) -> Option<f64>| -> Option<Stat> {
        let v: Vec<f64> = runs.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| Stat::of(&v))
    };
    Configuration {
        seeds: runs.len(),
        diverged: runs.iter().filter(|r| r.curve.diverged.is_some()).count(),
        best_accuracy: collect(&|r| Some(r.best_accuracy).filter(|a| a.is_finite())).unwrap_or(
            Stat {
                mean: f64::NAN,
                std: f64::NAN,
            },
        ),
        test_at_best: if use_validation {
            collect(&|r| r.test_at_best)
        } else {
            None
        },
        final_train_cost: collect(&|r| r.final_train_cost),
        best_epoch: Stat::of(&runs.iter().map(|r| r.best_epoch as f64).collect::<Vec<_>>()),
        key,
        runs,
        order,
    }
}

/// For each value of `key`, its best group (the other settings at their best), ordered by
/// the value (numerically where it is a number).
pub fn best_per_value<'g>(
    key: &str,
    groups: &'g [Configuration],
) -> Vec<(String, &'g Configuration)> {
    let mut out: Vec<(String, &Configuration)> = Vec::new();
    for g in groups {
        // groups are sorted best first: the first one seen for a value is its best
        let v = g.key.value(key);
        if !out.iter().any(|(x, _)| *x == v) {
            out.push((v, g));
        }
    }
    // values that are not numbers: in the order they first appear in the grid
    let first = |v: &str| {
        groups
            .iter()
            .filter(|g| g.key.value(key) == v)
            .map(|g| g.order)
            .min()
    };
    out.sort_by(|a, b| match (a.1.key.number(key), b.1.key.number(key)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => first(&a.0).cmp(&first(&b.0)),
    });
    out
}

/// The answer paragraph for `key`, and its best value against the runner-up value.
fn answer(
    key: &str,
    groups: &[Configuration],
    accuracy: &str,
    train_cost_monitored: bool,
) -> (String, Option<Versus>) {
    if accuracy.is_empty() {
        let text = format!(
            "**{key}**: no accuracy was monitored (`data.monitor` lists only costs), so the \
             values cannot be ranked; monitor validation_accuracy (or test_accuracy or \
             train_accuracy) to compare them."
        );
        return (text, None);
    }
    let per_value = best_per_value(key, groups);
    let mut ranked: Vec<&(String, &Configuration)> = per_value.iter().collect();
    ranked.sort_by(|a, b| {
        b.1.best_accuracy
            .mean
            .partial_cmp(&a.1.best_accuracy.mean)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let (mut text, versus) = headline(key, &ranked, accuracy);
    if key == "eta" {
        text.push(' ');
        text.push_str(&eta_threshold(&per_value, train_cost_monitored));
    }
    (text, versus)
}

/// The headline of a setting's answer: its best value and the runner-up, compared seed by seed
/// ([`Versus`]), or, when every value sat at chance, that none is named best (the ranking would
/// be noise).
fn headline(
    key: &str,
    ranked: &[&(String, &Configuration)],
    accuracy: &str,
) -> (String, Option<Versus>) {
    let (best_v, best) = ranked[0];
    if !above_chance(best) {
        let text = format!(
            "**{key}**: no value of {key} trained above chance: the highest best {accuracy} \
             accuracy, {} at {key} = {best_v}, is below {:.0}% (guessing one of ten digits is \
             10%), so none is named best.",
            pct_stat(&best.best_accuracy),
            100.0 * crate::stability::CHANCE_BEST
        );
        return (text, None);
    }
    let mut text = format!(
        "**{key}**: the best value is {key} = {best_v}, with a best {accuracy} accuracy of {} \
         (mean ± standard deviation over {} seed{})",
        pct_stat(&best.best_accuracy),
        best.seeds,
        if best.seeds == 1 { "" } else { "s" }
    );
    let mut compared = None;
    if let Some((second_v, second)) = ranked.get(1) {
        let gap = best.best_accuracy.mean - second.best_accuracy.mean;
        let v = versus(best, second);
        let _ = write!(
            text,
            "; the runner-up, {key} = {second_v}, reaches {}, {:.2} points less; {}",
            pct_stat(&second.best_accuracy),
            100.0 * gap,
            v.describe()
        );
        compared = Some(v);
    }
    text.push('.');
    (text, compared)
}

/// The book's question about the learning rate: where does training stop improving steadily?
/// Too small an eta (a network still near chance whose training cost falls, slowly) is told
/// apart from too large a one (the cost rising or oscillating, a divergence, a saturated network
/// at chance). The answer is the bracket of values tried around the threshold; a value that was
/// not tried is never the recommendation.
fn eta_threshold(per_value: &[(String, &Configuration)], train_cost_monitored: bool) -> String {
    let judged = judged_values(per_value);
    if judged.len() < 2 {
        return "Too few values of eta trained two epochs or more to tell where training stops \
                improving steadily."
            .to_string();
    }
    let per_value: Vec<(String, &Configuration)> =
        judged.iter().map(|(v, g)| (v.clone(), g)).collect();
    let v = ValueVerdicts::of(&per_value);
    let no_cost = if train_cost_monitored {
        ""
    } else {
        " (train_cost was not monitored, so only divergence and accuracy near chance could be \
         seen, not a rising cost: monitor train_cost for the book's test)"
    };
    let slow: Vec<&str> = (0..per_value.len())
        .filter(|&i| v.slow[i])
        .map(|i| per_value[i].0.as_str())
        .collect();
    let slow_text = too_slow_text(&slow);
    let Some(first_bad) = v.unstable.iter().position(|&u| u) else {
        let (largest, _) = per_value.last().expect("at least two values");
        return format!(
            "No learning rate tried made training unstable (no run diverged, oscillated early or \
             saturated{}), so the threshold lies above eta = {largest}; try larger values to find \
             it.{slow_text}",
            if train_cost_monitored {
                ", and the training cost fell at almost every epoch"
            } else {
                ""
            }
        ) + no_cost;
    };
    let (threshold, g) = &per_value[first_bad];
    let what = instability(g, v.above_trained[first_bad]);
    if first_bad == 0 {
        return format!(
            "Training is already unstable at the smallest value tried, eta = {threshold} \
             ({what}): try smaller values.{slow_text}{no_cost}"
        );
    }
    let (stable, _) = &per_value[first_bad - 1];
    let coarse = coarse_text(stable, threshold);
    // the advice names a value that trained: a value whose every seed sat at chance (too slow)
    // is never recommended
    let trained = per_value[..first_bad]
        .iter()
        .rev()
        .find(|(_, g)| g.runs.iter().any(|r| !r.curve.stuck()))
        .map(|(v, _)| v.as_str());
    let points = match trained {
        Some(v) => format!("of the values tried, that points at eta = {v}"),
        None => "no value tried below it trained above chance, so none is recommended: try \
                 values between them"
            .to_string(),
    };
    format!(
        "Training stops improving steadily between eta = {stable}, the largest value that \
         trained steadily, and eta = {threshold} ({what}): the threshold lies in between. The \
         book's rule of thumb is to use about half the threshold; {points}.{coarse}{slow_text}{no_cost}"
    )
}

/// The values of eta with the runs a verdict can judge: where some runs trained two epochs or
/// more, runs that trained one (successive halving's pruned at its first rung) are left out,
/// unless they diverged (a verdict needs a trend); values left with no run go.
fn judged_values(per_value: &[(String, &Configuration)]) -> Vec<(String, Configuration)> {
    let longest = per_value
        .iter()
        .flat_map(|(_, g)| &g.runs)
        .map(|r| r.points.len())
        .max()
        .unwrap_or(0);
    per_value
        .iter()
        .filter_map(|(v, g)| {
            let runs: Vec<RunCurve> = g
                .runs
                .iter()
                .filter(|r| longest < 2 || r.points.len() >= 2 || r.curve.diverged.is_some())
                .cloned()
                .collect();
            (!runs.is_empty()).then(|| {
                let diverged = runs.iter().filter(|r| r.curve.diverged.is_some()).count();
                let g = Configuration {
                    seeds: runs.len(),
                    diverged,
                    runs,
                    ..(*g).clone()
                };
                (v.clone(), g)
            })
        })
        .collect()
}

/// Each value's verdict under the one rule (at least half its seeds), in value order.
struct ValueVerdicts {
    /// Above a value with a seed that left chance: there, a seed at chance with a falling cost
    /// is not too slow but a network that no longer learns, and counts against its eta.
    above_trained: Vec<bool>,
    unstable: Vec<bool>,
    /// Too slow: at least half the seeds at chance with a falling cost, below every value that
    /// trained.
    slow: Vec<bool>,
}

impl ValueVerdicts {
    fn of(per_value: &[(String, &Configuration)]) -> ValueVerdicts {
        let first_trained = per_value
            .iter()
            .position(|(_, g)| g.runs.iter().any(|r| !r.curve.stuck()));
        let above_trained: Vec<bool> = (0..per_value.len())
            .map(|i| first_trained.is_some_and(|t| i > t))
            .collect();
        let rule = Majority::AtLeastHalf;
        let unstable = per_value
            .iter()
            .zip(&above_trained)
            .map(|((_, g), &above)| {
                let slow_counts = if above { g.too_slow_seeds() } else { 0 };
                rule.reached(g.unstable_seeds() + slow_counts, g.seeds)
            })
            .collect();
        let slow = per_value
            .iter()
            .zip(&above_trained)
            .map(|((_, g), &above)| !above && rule.reached(g.too_slow_seeds(), g.seeds))
            .collect();
        ValueVerdicts {
            above_trained,
            unstable,
            slow,
        }
    }
}

/// " At eta = ... the network was still near chance ...", for the too slow values.
fn too_slow_text(slow: &[&str]) -> String {
    match slow {
        [] => String::new(),
        [one] => format!(
            " At eta = {one} the network was still near chance with its training cost falling: \
             too slow, not unstable."
        ),
        many => format!(
            " At eta = {} the network was still near chance with its training cost falling: too \
             slow, not unstable.",
            many.join(", ")
        ),
    }
}

/// What made a value unstable, seed counts by cause.
fn instability(g: &Configuration, above_trained: bool) -> String {
    let oscillating = g.runs.iter().filter(|r| r.curve.oscillates).count();
    let saturated = g.runs.iter().filter(|r| r.curve.saturated()).count();
    let stuck_above = if above_trained { g.too_slow_seeds() } else { 0 };
    let mut parts = Vec::new();
    if g.diverged > 0 {
        parts.push(format!("{} of {} seeds diverged", g.diverged, g.seeds));
    }
    if oscillating > 0 {
        parts.push(format!(
            "the training cost rose between epochs early on in {oscillating} of {}",
            g.seeds
        ));
    }
    if saturated > 0 {
        parts.push(format!(
            "{saturated} of {} stayed at chance without the training cost falling",
            g.seeds
        ));
    }
    if stuck_above > 0 {
        parts.push(format!(
            "{stuck_above} of {} stayed at chance although a smaller eta trained",
            g.seeds
        ));
    }
    parts.join(", ")
}

/// Where the bracket's ends are far apart (more than 2.5x), the values to try between them.
fn coarse_text(stable: &str, threshold: &str) -> String {
    let (lo, hi) = (
        stable.parse::<f64>().unwrap_or(f64::NAN),
        threshold.parse::<f64>().unwrap_or(f64::NAN),
    );
    if hi / lo > 2.5 {
        format!(
            " The values tried are far apart here ({}x): to place the threshold, try values \
             between them, e.g. eta = {{ log = [{stable}, {threshold}], num = 5 }}.",
            float_label((hi / lo * 10.0).round() / 10.0)
        )
    } else {
        String::new()
    }
}

impl Summary {
    /// The summary table: a header and one row of cells per configuration (the swept settings,
    /// then the statistics over seeds). Markdown and HTML both render it.
    pub fn table(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let shown: Vec<&str> = if self.swept.is_empty() {
            vec!["eta"]
        } else {
            self.swept.clone()
        };
        let acc = self.accuracy;
        let mut header: Vec<String> = shown.iter().map(|s| s.to_string()).collect();
        header.push("seeds".to_string());
        header.push(if acc.is_empty() {
            "best accuracy".to_string()
        } else {
            format!("best {acc} accuracy")
        });
        if acc == "validation" {
            header.push("test accuracy at best".to_string());
        }
        header.extend(["final training cost", "best epoch", "diverged"].map(String::from));
        let rows = self
            .groups
            .iter()
            .map(|g| {
                let mut cells: Vec<String> = shown.iter().map(|k| g.key.value(k)).collect();
                cells.push(g.seeds.to_string());
                // no accuracy monitored: nothing to show, not NaN
                cells.push(if g.best_accuracy.mean.is_finite() {
                    pct_stat(&g.best_accuracy)
                } else {
                    "-".to_string()
                });
                if acc == "validation" {
                    cells.push(g.test_at_best.as_ref().map_or("-".to_string(), pct_stat));
                }
                cells.push(
                    g.final_train_cost
                        .map_or("-".to_string(), |s| format!("{:.4} ± {:.4}", s.mean, s.std)),
                );
                cells.push(if acc.is_empty() {
                    "-".to_string()
                } else {
                    format!("{:.1}", g.best_epoch.mean)
                });
                cells.push(g.diverged.to_string());
                cells
            })
            .collect();
        (header, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::export::{Csv, Exporter, Json, Markdown};
    use crate::store::read_metrics;

    /// A hand-made metrics.csv: eta 1.0 and 3.0 with two seeds, and 100.0 whose cost explodes.
    const CSV: &str = "\
run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,train_cost,train_accuracy,validation_cost,validation_accuracy,test_cost,test_accuracy,seconds
a,784-30-10,1.0,10,3,1,quadratic,large,0.0,1000,1,0.30,,,0.80,,0.79,1
a,784-30-10,1.0,10,3,1,quadratic,large,0.0,1000,2,0.20,,,0.85,,0.84,1
a,784-30-10,1.0,10,3,1,quadratic,large,0.0,1000,3,0.10,,,0.84,,0.83,1
b,784-30-10,1.0,10,3,2,quadratic,large,0.0,1000,1,0.32,,,0.81,,0.80,1
b,784-30-10,1.0,10,3,2,quadratic,large,0.0,1000,2,0.22,,,0.83,,0.82,1
b,784-30-10,1.0,10,3,2,quadratic,large,0.0,1000,3,0.12,,,0.87,,0.86,1
c,784-30-10,3.0,10,3,1,quadratic,large,0.0,1000,1,0.25,,,0.90,,0.89,1
c,784-30-10,3.0,10,3,1,quadratic,large,0.0,1000,2,0.15,,,0.92,,0.91,1
c,784-30-10,3.0,10,3,1,quadratic,large,0.0,1000,3,0.05,,,0.91,,0.90,1
d,784-30-10,3.0,10,3,2,quadratic,large,0.0,1000,1,0.26,,,0.88,,0.87,1
d,784-30-10,3.0,10,3,2,quadratic,large,0.0,1000,2,0.16,,,0.90,,0.89,1
d,784-30-10,3.0,10,3,2,quadratic,large,0.0,1000,3,0.06,,,0.94,,0.93,1
e,784-30-10,100.0,10,3,1,quadratic,large,0.0,1000,1,0.50,,,0.10,,0.10,1
e,784-30-10,100.0,10,3,1,quadratic,large,0.0,1000,2,0.60,,,0.11,,0.10,1
e,784-30-10,100.0,10,3,1,quadratic,large,0.0,1000,3,0.70,,,0.12,,0.10,1
f,784-30-10,100.0,10,3,2,quadratic,large,0.0,1000,1,NaN,,,0.10,,0.10,1
";

    fn summary() -> Summary {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        std::fs::write(&p, CSV).unwrap();
        summarize(&read_metrics(&p).unwrap())
    }

    #[test]
    fn groups_by_everything_but_the_seed_with_hand_computed_statistics() {
        let s = summary();
        assert_eq!(s.accuracy, "validation");
        assert_eq!(s.swept, vec!["eta"]);
        assert_eq!(s.groups.len(), 3);
        let best = &s.groups[0];
        assert_eq!(best.key.number("eta"), Some(3.0));
        assert_eq!(best.seeds, 2);
        // best validation accuracies 0.92 (epoch 2) and 0.94 (epoch 3)
        assert!((best.best_accuracy.mean - 0.93).abs() < 1e-12);
        assert!((best.best_accuracy.std - (0.0002f64).sqrt()).abs() < 1e-12);
        // test accuracy at those epochs: 0.91 and 0.93
        assert!((best.test_at_best.unwrap().mean - 0.92).abs() < 1e-12);
        // final training costs 0.05 and 0.06
        assert!((best.final_train_cost.unwrap().mean - 0.055).abs() < 1e-12);
        assert!((best.best_epoch.mean - 2.5).abs() < 1e-12);
        assert_eq!(best.diverged, 0);
        let second = &s.groups[1];
        assert_eq!(second.key.number("eta"), Some(1.0));
        assert!((second.best_accuracy.mean - 0.86).abs() < 1e-12); // 0.85 and 0.87
        let worst = &s.groups[2];
        assert_eq!(
            (worst.key.number("eta"), worst.diverged, worst.seeds),
            (Some(100.0), 1, 2)
        );
    }

    #[test]
    fn variants_are_answered_once_and_extra_columns_read() {
        // two variants that differ in eta and momentum, two seeds each, and a momentum sweep
        // inside the second: eta only changes with the variant, momentum also within one
        let csv = "\
run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,train_cost,train_accuracy,validation_cost,validation_accuracy,test_cost,test_accuracy,seconds,momentum,variant
a,784-30-10,0.5,10,1,1,cross-entropy,scaled,0.0,1000,1,0.3,,,0.90,,0.89,1,0.0,plain
b,784-30-10,0.5,10,1,2,cross-entropy,scaled,0.0,1000,1,0.3,,,0.92,,0.91,1,0.0,plain
c,784-30-10,0.25,10,1,1,cross-entropy,scaled,0.0,1000,1,0.3,,,0.95,,0.94,1,0.5,with momentum
d,784-30-10,0.25,10,1,2,cross-entropy,scaled,0.0,1000,1,0.3,,,0.97,,0.96,1,0.5,with momentum
e,784-30-10,0.25,10,1,1,cross-entropy,scaled,0.0,1000,1,0.3,,,0.85,,0.84,1,0.9,with momentum
";
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        std::fs::write(&p, csv).unwrap();
        let s = summarize(&read_metrics(&p).unwrap());
        assert_eq!(s.swept, vec!["variant", "momentum"]);
        assert_eq!(s.groups.len(), 3);
        let best = &s.groups[0];
        assert_eq!(best.key.value("variant"), "with momentum");
        assert_eq!(best.key.value("momentum"), "0.5");
        assert_eq!(best.key.number("momentum"), Some(0.5));
        assert_eq!(s.groups[1].key.value("momentum"), "0.0");
        assert!(
            s.answers[0].contains("variant = with momentum"),
            "{}",
            s.answers[0]
        );
        // not numbers: in grid order, not alphabetical
        let order: Vec<String> = best_per_value("variant", &s.groups)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(order, ["plain", "with momentum"]);
        let table = Csv.export(&s).unwrap();
        assert!(table.lines().next().unwrap().ends_with(",momentum,variant"));
    }

    #[test]
    fn answers_name_the_best_eta_and_the_threshold() {
        let s = summary();
        assert_eq!(s.answers.len(), 1);
        let a = &s.answers[0];
        assert!(a.contains("the best value is eta = 3.0"), "{a}");
        assert!(a.contains("93.00% ± 1.41"), "{a}");
        assert!(a.contains("runner-up, eta = 1.0"), "{a}");
        assert!(a.contains("7.00 points less"), "{a}");
        assert!(
            a.contains(
                "Training stops improving steadily between eta = 3.0, the largest value that \
                 trained steadily, and eta = 100.0 (1 of 2 seeds diverged"
            ),
            "{a}"
        );
        // never an untested value as the recommendation: the bracket, and finer values to try
        assert!(!a.contains("50.0"), "{a}");
        assert!(
            a.contains("of the values tried, that points at eta = 3.0"),
            "{a}"
        );
        assert!(
            a.contains("try values between them, e.g. eta = { log = [3.0, 100.0], num = 5 }"),
            "{a}"
        );
    }

    /// A metrics.csv of one run per (eta, seed), with the given per-epoch training cost and
    /// accuracies (None: not monitored).
    #[allow(clippy::type_complexity)]
    fn made(
        runs: &[(
            f64,
            u64,
            &[(Option<f64>, Option<f64>, Option<f64>, Option<f64>)],
        )],
    ) -> Summary {
        let mut text = "run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,\
                        train_cost,train_accuracy,validation_cost,validation_accuracy,test_cost,\
                        test_accuracy,seconds\n"
            .to_string();
        let cell = |x: &Option<f64>| x.map_or(String::new(), |v| v.to_string());
        for (eta, seed, epochs) in runs {
            for (e, (tc, ta, va, te)) in epochs.iter().enumerate() {
                text.push_str(&format!(
                    "r{eta}_{seed},784-30-10,{eta:?},10,{},{seed},quadratic,large,0.0,50000,{},{},{},,{},,{},0.1\n",
                    epochs.len(),
                    e + 1,
                    cell(tc),
                    cell(ta),
                    cell(va),
                    cell(te)
                ));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        std::fs::write(&p, text).unwrap();
        summarize(&read_metrics(&p).unwrap())
    }

    #[test]
    fn a_value_at_chance_above_one_that_trained_is_never_recommended() {
        // the audit's ReLU grid: eta [0.1, 10, 100], 2 seeds; both seeds of eta 10 sit at
        // chance while their cost, blown up in the first epoch, falls slowly: not "too slow"
        // above eta 0.1, which trained
        let run = |acc: [f64; 3], cost: [f64; 3]| -> Vec<_> {
            (0..3)
                .map(|e| (Some(cost[e]), None, Some(acc[e]), None))
                .collect()
        };
        let trained = run([0.40, 0.50, 0.55], [2.0, 1.6, 1.4]);
        let chance = run([0.10, 0.10, 0.10], [9.0, 8.5, 8.2]);
        let gone = run([0.10, 0.10, 0.10], [f64::NAN, f64::NAN, f64::NAN]);
        let s = made(&[
            (0.1, 1, &trained),
            (0.1, 2, &trained),
            (10.0, 1, &chance),
            (10.0, 2, &chance),
            (100.0, 1, &gone),
            (100.0, 2, &gone),
        ]);
        let a = &s.answers[0];
        assert!(a.contains("points at eta = 0.1"), "{a}");
        assert!(!a.contains("points at eta = 10.0"), "{a}");
        assert!(
            a.contains("and eta = 10.0 (2 of 2 stayed at chance although a smaller eta trained)"),
            "{a}"
        );
        assert!(!a.contains("too slow"), "{a}");
    }

    #[test]
    fn no_value_at_chance_is_named_best_and_a_cost_only_table_shows_no_nan() {
        // the audit's eta [1e20, 1e30] (saturated) and [0.001, 1000]: every value at chance
        let run = |acc: f64, cost: [f64; 2]| -> Vec<_> {
            (0..2)
                .map(|e| (Some(cost[e]), None, Some(acc), None))
                .collect()
        };
        let slow = run(0.11, [1.9, 1.8]);
        let flat = run(0.11, [0.5, 0.5]);
        let s = made(&[(0.001, 1, &slow), (1000.0, 1, &flat)]);
        let a = &s.answers[0];
        assert!(!a.contains("the best value is"), "{a}");
        assert!(a.contains("no value of eta trained above chance"), "{a}");
        assert!(a.contains("11.00% ± 0.00 at eta = 0.001"), "{a}");
        // only costs monitored
        let costs = |cost: [f64; 2]| -> Vec<_> {
            (0..2).map(|e| (Some(cost[e]), None, None, None)).collect()
        };
        let (one, three) = (costs([0.5, 0.4]), costs([0.45, 0.38]));
        let s = made(&[(1.0, 1, &one), (3.0, 1, &three)]);
        let (header, rows) = s.table();
        assert!(header.contains(&"best accuracy".to_string()), "{header:?}");
        for row in &rows {
            assert!(row.iter().all(|c| !c.contains("NaN")), "{row:?}");
            assert_eq!(row[2], "-");
        }
    }

    #[test]
    fn a_cost_falling_at_every_epoch_is_too_slow_not_unstable() {
        // the audit's eta = 0.0001: 1.5295 -> 1.5202 over 5 epochs, at chance (0.6%: less than
        // the 1% the grid's rule asked for, more than the probes' 0.1%)
        let run = |acc: [f64; 5], cost: [f64; 5]| -> Vec<_> {
            (0..5)
                .map(|e| (Some(cost[e]), None, Some(acc[e]), None))
                .collect()
        };
        let slow = run([0.1; 5], [1.5295, 1.527, 1.5248, 1.5225, 1.5202]);
        let good = run([0.8, 0.85, 0.88, 0.9, 0.91], [0.3, 0.2, 0.15, 0.12, 0.1]);
        let s = made(&[
            (0.0001, 1, &slow),
            (0.0001, 2, &slow),
            (0.5, 1, &good),
            (0.5, 2, &good),
        ]);
        let a = &s.answers[0];
        assert!(!a.contains("already unstable"), "{a}");
        assert!(
            a.contains("At eta = 0.0001 the network was still near chance"),
            "{a}"
        );
    }

    #[test]
    fn too_small_an_eta_is_too_slow_not_unstable() {
        // eta = [0.01, 0.1, 1, 3], 3 epochs: 0.01 is still near chance, but its cost falls
        let learning = |acc: [f64; 3], cost: [f64; 3]| -> Vec<_> {
            (0..3)
                .map(|e| (Some(cost[e]), None, Some(acc[e]), None))
                .collect()
        };
        let slow = learning([0.11, 0.12, 0.14], [0.46, 0.45, 0.44]);
        let mid = learning([0.60, 0.75, 0.82], [0.30, 0.20, 0.15]);
        let good = learning([0.85, 0.90, 0.92], [0.12, 0.08, 0.06]);
        let best = learning([0.90, 0.93, 0.94], [0.08, 0.05, 0.04]);
        let s = made(&[
            (0.01, 1, &slow),
            (0.01, 2, &slow),
            (0.1, 1, &mid),
            (0.1, 2, &mid),
            (1.0, 1, &good),
            (1.0, 2, &good),
            (3.0, 1, &best),
            (3.0, 2, &best),
        ]);
        let a = &s.answers[0];
        assert!(a.contains("the best value is eta = 3.0"), "{a}");
        assert!(!a.contains("unstable: try smaller"), "{a}");
        assert!(!a.contains("Training stops improving steadily"), "{a}");
        assert!(
            a.contains("threshold lies above eta = 3.0; try larger values to find it"),
            "{a}"
        );
        assert!(
            a.contains("At eta = 0.01 the network was still near chance with its training cost falling: too slow, not unstable."),
            "{a}"
        );
    }

    #[test]
    fn a_coarse_grid_without_the_training_cost_gives_the_bracket() {
        // the shipped 7 values with only test_accuracy monitored: 100 sits at chance
        let acc = |a: f64| -> Vec<_> { (0..3).map(|_| (None, None, None, Some(a))).collect() };
        let values = [
            (0.01, 0.5),
            (0.1, 0.9),
            (0.5, 0.93),
            (1.0, 0.94),
            (3.0, 0.95),
            (10.0, 0.945),
            (100.0, 0.098),
        ];
        let curves: Vec<Vec<_>> = values.iter().map(|(_, a)| acc(*a)).collect();
        let runs: Vec<(f64, u64, &[_])> = values
            .iter()
            .zip(&curves)
            .map(|((eta, _), c)| (*eta, 1u64, c.as_slice()))
            .collect();
        let s = made(&runs);
        assert_eq!(s.accuracy, "test");
        let a = &s.answers[0];
        assert!(
            a.contains(
                "between eta = 10.0, the largest value that trained steadily, and eta = 100.0"
            ),
            "{a}"
        );
        assert!(!a.contains("50.0"), "{a}");
        assert!(a.contains("train_cost was not monitored"), "{a}");
    }

    #[test]
    fn only_the_training_accuracy_monitored_ranks_by_it() {
        let acc = |a: f64| -> Vec<_> { (0..2).map(|_| (None, Some(a), None, None)).collect() };
        let (lo, hi) = (acc(0.90), acc(0.95));
        let s = made(&[(0.5, 1, &lo), (0.5, 2, &lo), (3.0, 1, &hi), (3.0, 2, &hi)]);
        assert_eq!(s.accuracy, "training");
        let a = &s.answers[0];
        assert!(a.contains("best training accuracy of 95.00% ± 0.00"), "{a}");
        assert!(!a.contains("NaN") && !a.contains("never learned"), "{a}");
        // and with no accuracy at all, it says so instead of ranking by nothing
        let cost = |c: f64| -> Vec<_> { (0..2).map(|_| (Some(c), None, None, None)).collect() };
        let (a1, a2) = (cost(0.2), cost(0.1));
        let s = made(&[(0.5, 1, &a1), (3.0, 1, &a2)]);
        assert!(
            s.answers[0].contains("no accuracy was monitored"),
            "{}",
            s.answers[0]
        );
    }

    #[test]
    fn exports_carry_the_same_figures() {
        let s = summary();
        let md = Markdown.export(&s).unwrap();
        assert!(
            md.contains("| eta | seeds | best validation accuracy |"),
            "{md}"
        );
        assert!(
            md.contains("| 3.0 | 2 | 93.00% ± 1.41 | 92.00% ± 1.41 |"),
            "{md}"
        );
        let csv = Csv.export(&s).unwrap();
        assert_eq!(csv.lines().count(), 4);
        let first = csv.lines().nth(1).unwrap();
        assert!(first.starts_with("784-30-10,3.0,10,3,quadratic,large,0.0,1000,2,0,validation,"));
        let mean: f64 = first.split(',').nth(11).unwrap().parse().unwrap();
        assert!((mean - 0.93).abs() < 1e-12);
        let json: serde_json::Value = serde_json::from_str(&Json.export(&s).unwrap()).unwrap();
        assert_eq!(json["groups"][0]["eta"], 3.0);
        assert_eq!(json["swept"][0], "eta");
    }
}
