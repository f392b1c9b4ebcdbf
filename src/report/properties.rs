//! Answer properties: generated per-epoch metrics (falling, too slow at chance, oscillating,
//! diverging, saturated, mixed over seeds and values) fed to the grid summary, and generated
//! verdicts fed to the threshold search, with what must hold for every case: the recommended
//! value was tried and trained above chance, the advice points away from the failing side, the
//! bracket holds the generated threshold, and the JSON says what the text says.

use proptest::prelude::*;

use super::export::{Exporter, Json};
use super::searches::ThresholdSummary;
use super::summary::{summarize, Summary};
use crate::search::threshold::{majority_unstable, ThresholdSearch};
use crate::stability::Verdict;
use crate::store::read_metrics;

/// The values of eta a generated grid takes a window of (labels as the CSV writes them).
const ETAS: [f64; 13] = [
    1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0,
];

/// How one seed's run goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// The cost falls, the accuracy climbs well above chance.
    Trains,
    /// At chance with a cost that falls slowly: eta too small.
    Slow,
    /// The cost becomes NaN.
    Diverges,
    /// The cost rises at every epoch.
    Rises,
    /// At chance with a cost that does not move.
    Saturates,
}

impl Kind {
    fn bad(self) -> bool {
        matches!(self, Kind::Diverges | Kind::Rises | Kind::Saturates)
    }

    /// (training cost, validation accuracy) per epoch; `k` varies the numbers.
    fn curve(self, epochs: usize, k: u64) -> Vec<(f64, f64)> {
        let wiggle = (k % 7) as f64 * 0.001;
        (1..=epochs)
            .map(|e| {
                let e = e as f64;
                match self {
                    Kind::Trains => (0.5 * 0.8f64.powf(e) + wiggle, 0.9 - 0.4 * 0.6f64.powf(e)),
                    Kind::Slow => (1.5 * (1.0 - 0.01 * e) + wiggle, 0.1 + wiggle),
                    Kind::Diverges => (f64::NAN, 0.098),
                    Kind::Rises => (0.5 * 1.1f64.powf(e), 0.11 + wiggle),
                    Kind::Saturates => (0.5, 0.1),
                }
            })
            .collect()
    }
}

/// A generated grid: eta values, and each value's seeds' kinds.
#[derive(Debug, Clone)]
struct World {
    etas: Vec<f64>,
    kinds: Vec<Vec<Kind>>,
    epochs: usize,
}

/// Values below the threshold index train (the smallest `slow` of them too slowly), values at
/// or above it fail; one seed of a value may go the other way where that keeps its verdict
/// under the one rule (unstable when at least half its seeds are): one of three, or at a
/// failing value one of two.
fn world() -> impl Strategy<Value = World> {
    (2usize..=5, 1usize..=2, 1usize..=3, 3usize..=6)
        .prop_flat_map(|(n, step, seeds, epochs)| {
            let last_start = ETAS.len() - 1 - (n - 1) * step;
            (
                Just((n, step, seeds, epochs)),
                0..=last_start,
                0..=n,
                0..=n,
                proptest::collection::vec((0usize..3, 0usize..6), n),
            )
        })
        .prop_map(
            |((n, step, seeds, epochs), start, threshold, slow, choices)| {
                let etas: Vec<f64> = (0..n).map(|i| ETAS[start + i * step]).collect();
                let bad = [Kind::Diverges, Kind::Rises, Kind::Saturates];
                let kinds = (0..n)
                    .map(|i| {
                        let (which, flip) = choices[i];
                        let own = if i >= threshold {
                            bad[which]
                        } else if i < slow.min(threshold) {
                            Kind::Slow
                        } else {
                            Kind::Trains
                        };
                        let mut seeds_kinds = vec![own; seeds];
                        // one seed going the other way: a minority of three, or one of two at a
                        // failing value (half its seeds: unstable under the one rule)
                        if (seeds == 3 || (seeds == 2 && own.bad())) && flip < seeds {
                            seeds_kinds[flip] = if own.bad() { Kind::Trains } else { bad[which] };
                        }
                        seeds_kinds
                    })
                    .collect();
                World {
                    etas,
                    kinds,
                    epochs,
                }
            },
        )
}

/// The world's runs as a metrics.csv, summarised.
fn summary_of(w: &World) -> Summary {
    let mut text = "run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,\
                    train_cost,train_accuracy,validation_cost,validation_accuracy,test_cost,\
                    test_accuracy,seconds\n"
        .to_string();
    for (i, (eta, seeds)) in w.etas.iter().zip(&w.kinds).enumerate() {
        for (s, kind) in seeds.iter().enumerate() {
            for (e, (cost, acc)) in kind.curve(w.epochs, (i * 3 + s) as u64).iter().enumerate() {
                text.push_str(&format!(
                    "r{i}_{s},784-30-10,{eta:?},10,{},{},quadratic,large,0.0,1000,{},{cost},,,{acc},,,0.1\n",
                    w.epochs,
                    s + 1,
                    e + 1,
                ));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.csv");
    std::fs::write(&path, text).unwrap();
    summarize(&read_metrics(&path).unwrap())
}

/// The numbers that follow `phrase` in `text` (e.g. every `points at eta = X`).
fn after(text: &str, phrase: &str) -> Vec<f64> {
    text.match_indices(phrase)
        .filter_map(|(i, _)| {
            let rest = &text[i + phrase.len()..];
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || ".e-".contains(*c))
                .collect();
            token.trim_end_matches('.').parse().ok()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// The grid summary's answer about eta, for every generated grid.
    #[test]
    fn the_eta_answer_is_right_for_every_generated_grid(w in world()) {
        let summary = summary_of(&w);
        let a = &summary.answers[0];
        let n = w.etas.len();
        let unstable: Vec<bool> = w
            .kinds
            .iter()
            .map(|k| 2 * k.iter().filter(|k| k.bad()).count() >= k.len())
            .collect();
        let trained: Vec<bool> = w
            .kinds
            .iter()
            .map(|k| k.contains(&Kind::Trains))
            .collect();
        let index = |x: f64| w.etas.iter().position(|&e| e == x);
        // the recommendation was tried, is not unstable, trained above chance, and lies below
        // the first unstable value
        for x in after(a, "points at eta = ") {
            let i = index(x);
            prop_assert!(i.is_some(), "{x} not tried: {a}");
            let i = i.unwrap();
            prop_assert!(!unstable[i] && trained[i], "{x}: {a}");
            prop_assert!(unstable.iter().position(|&u| u).is_none_or(|f| i < f), "{a}");
        }
        // a value named best is not one whose every seed sat at chance
        for x in after(a, "the best value is eta = ") {
            let i = index(x).expect("tried");
            prop_assert!(trained[i], "{x} at chance named best: {a}");
        }
        if !trained.iter().any(|&t| t) {
            prop_assert!(a.contains("no value of eta trained above chance"), "{a}");
        }
        // the advice points away from the failing side
        match unstable.iter().position(|&u| u) {
            None => {
                prop_assert!(a.contains("try larger values"), "{a}");
                prop_assert!(!a.contains("try smaller values"), "{a}");
            }
            Some(0) => {
                prop_assert!(a.contains("try smaller values"), "{a}");
                prop_assert!(!a.contains("try larger values"), "{a}");
            }
            Some(f) => {
                // the bracket holds the generated threshold: the value below it and the first
                // unstable one
                let bracket = format!(
                    "between eta = {:?}, the largest value that trained steadily, and eta = {:?}",
                    w.etas[f - 1], w.etas[f]
                );
                prop_assert!(a.contains(&bracket), "{bracket}: {a}");
                prop_assert!(!a.contains("try smaller values") && !a.contains("try larger values"), "{a}");
            }
        }
        // the JSON says what the text says
        let json: serde_json::Value = serde_json::from_str(&Json.export(&summary).unwrap()).unwrap();
        prop_assert_eq!(json["answers"][0].as_str(), Some(a.as_str()));
        prop_assert_eq!(json["groups"].as_array().map(Vec::len), Some(n));
        for g in json["groups"].as_array().unwrap() {
            let mean = g["best_accuracy"]["mean"].as_f64();
            prop_assert!(mean.is_some_and(|m| (0.0..=1.0).contains(&m)), "{g}");
        }
    }

    /// The threshold search over generated verdicts: stable below a threshold, unstable at and
    /// above it, with seeds that disagree (at least half failing above, fewer below).
    #[test]
    fn the_threshold_search_brackets_the_generated_threshold(
        log_threshold in -5.5f64..4.5,
        log_start in -5.0f64..3.0,
        factor in 2.0f64..10.0,
        precision in 1.2f64..3.0,
        probes in 1usize..=4,
        seeds in 1usize..=3,
        noise in 0u64..1000,
    ) {
        let threshold = 10f64.powf(log_threshold);
        let t = ThresholdSearch {
            start: 10f64.powf(log_start),
            factor,
            precision,
            probes,
            refine: false,
            ..ThresholdSearch::default()
        };
        let seed_list: Vec<u64> = (1..=seeds as u64).collect();
        // how many seeds fail at `eta`: at least half of them at or above the threshold (exactly
        // half included, the one rule's edge), fewer than half below it
        let failing = |eta: f64| {
            let r = ((eta.to_bits() ^ noise) % 2) as usize;
            if eta >= threshold {
                (seeds.div_ceil(2) + r).min(seeds)
            } else {
                ((seeds - 1) / 2).saturating_sub(r)
            }
        };
        let verdict = |eta: f64, seed: u64| {
            // which seeds fail: a rotation chosen from the eta's bits
            let place = ((seed - 1) as usize + (eta.to_bits() % 3) as usize) % seeds;
            match (place < failing(eta), eta < threshold / 1000.0) {
                (true, _) => [Verdict::Diverged { epoch: 1 }, Verdict::Rose { epoch: 2, by: 0.1 }, Verdict::Saturated][(noise % 3) as usize],
                (false, true) => Verdict::TooSlow,
                (false, false) => Verdict::Stable,
            }
        };
        let outcome = t
            .run(&seed_list, |_, etas| {
                Ok::<_, ()>(Some(
                    etas.iter()
                        .map(|&eta| seed_list.iter().map(|&s| verdict(eta, s)).collect())
                        .collect(),
                ))
            })
            .unwrap();
        prop_assert!(outcome.probes.len() < 500);
        for p in &outcome.probes {
            let verdicts: Vec<Verdict> = p.seeds.iter().map(|(_, v)| *v).collect();
            prop_assert_eq!(p.unstable, majority_unstable(&verdicts));
            prop_assert_eq!(p.unstable, p.eta >= threshold, "one rule: {:?}", p);
        }
        let answer = outcome.answer.clone().expect("the search ends");
        let summary = ThresholdSummary::of(&t, &outcome, None, None);
        let text = summary.answer(false);
        let any_stable = outcome.probes.iter().any(|p| !p.unstable);
        let json = serde_json::to_value(&summary).unwrap();
        match json["ending"].as_str() {
            Some("bracketed") => {
                let (s, u) = (answer.largest_stable.unwrap(), answer.smallest_unstable.unwrap());
                prop_assert!(s < threshold && threshold <= u, "{s} < {threshold} <= {u}");
                let r = answer.recommended().unwrap();
                prop_assert!(r < threshold, "{r}");
                prop_assert!(text.contains("the threshold is about"), "{text}");
                prop_assert!(after(&text, "**Recommended: eta = ").contains(&r), "{text}");
            }
            Some("no unstable eta") => {
                prop_assert!(outcome.probes.iter().all(|p| !p.unstable));
                prop_assert!(text.contains("Every eta up to"), "{text}");
            }
            Some("no stable eta") => {
                // never "does not train" while it holds a stable probe
                prop_assert!(!any_stable, "{text}");
                prop_assert!(text.contains("does not train"), "{text}");
            }
            other => prop_assert!(false, "ending {:?}", other),
        }
        if any_stable {
            prop_assert!(!text.contains("does not train"), "{text}");
        }
    }
}
