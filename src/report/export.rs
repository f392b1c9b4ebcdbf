//! The summary's formats, one exporter each behind one trait (as hyperfine's `export`): Markdown
//! (`summary.md`, `runner summary`), CSV (one row per configuration) and JSON (everything).

use std::fmt::Write as _;

use anyhow::{Context, Result};

use super::summary::Summary;
use crate::grid::settings::{extra_default, Column, SETTINGS, VARIANT};

/// A way of writing a [`Summary`].
pub trait Exporter {
    fn export(&self, summary: &Summary) -> Result<String>;
}

/// The answers, then the summary table.
pub struct Markdown;

/// One row per configuration: the standard settings but the seed, the statistics, then the
/// extra settings some configuration uses.
pub struct Csv;

/// The whole summary.
pub struct Json;

impl Exporter for Markdown {
    /// The summary as Markdown: the answers, then the table.
    fn export(&self, summary: &Summary) -> Result<String> {
        let mut out = String::new();
        for a in &summary.answers {
            let _ = writeln!(out, "{a}\n");
        }
        if let Some(t) = &summary.threshold {
            let _ = writeln!(out, "{}", t.table());
        }
        if let Some(h) = &summary.halving {
            let _ = writeln!(out, "{}", h.table());
        }
        if let Some(r) = &summary.range_test {
            let _ = writeln!(out, "{}", r.table());
        }
        let (header, rows) = summary.table();
        // a range test without `then_train` trained no run: no table of runs
        if !rows.is_empty() {
            let _ = writeln!(out, "| {} |", header.join(" | "));
            let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
            for cells in rows {
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
        }
        if summary.unfinished_runs > 0 {
            let _ = writeln!(
                out,
                "\n{} runs of metrics.csv had not finished and are left out (run the experiment \
                 again to finish them).",
                summary.unfinished_runs
            );
        }
        if let Some(n) = summary.missing_runs.filter(|&n| n > 0) {
            let _ = writeln!(
                out,
                "\n{n} runs of the experiment's grid are not in this folder yet (never started, \
                 or in a shard not merged): run the experiment again to train them."
            );
        }
        if !summary.mismatched_runs.is_empty() {
            let _ = writeln!(
                out,
                "\n{} runs are left out because their rows in metrics.csv are not the ones their \
                 state files record (edited or damaged): {}; run the experiment again to train \
                 them afresh.",
                summary.mismatched_runs.len(),
                summary.mismatched_runs.join(", ")
            );
        }
        Ok(out)
    }
}

impl Exporter for Csv {
    /// One CSV row per group: the standard settings but the seed, the statistics, then the
    /// extra settings some group uses.
    fn export(&self, summary: &Summary) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let standard: Vec<&str> = SETTINGS
            .iter()
            .filter(|s| s.column == Column::Standard && s.name != "seed")
            .map(|s| s.name)
            .collect();
        let extra: Vec<&str> = SETTINGS
            .iter()
            .filter(|s| s.column == Column::Extra)
            .map(|s| s.name)
            .chain([VARIANT])
            .filter(|k| {
                summary
                    .groups
                    .iter()
                    .any(|g| g.key.value(k) != extra_default(k))
            })
            .collect();
        w.write_record(
            standard
                .iter()
                .copied()
                .chain([
                    "seeds",
                    "diverged",
                    "accuracy",
                    "best_accuracy_mean",
                    "best_accuracy_std",
                    "test_at_best_mean",
                    "test_at_best_std",
                    "final_train_cost_mean",
                    "final_train_cost_std",
                    "best_epoch_mean",
                ])
                .chain(extra.iter().copied()),
        )?;
        let f = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
        for g in &summary.groups {
            let k = &g.key;
            w.write_record(
                standard
                    .iter()
                    .map(|key| k.value(key))
                    .chain([
                        g.seeds.to_string(),
                        g.diverged.to_string(),
                        summary.accuracy.to_string(),
                        g.best_accuracy.mean.to_string(),
                        g.best_accuracy.std.to_string(),
                        f(g.test_at_best.map(|s| s.mean)),
                        f(g.test_at_best.map(|s| s.std)),
                        f(g.final_train_cost.map(|s| s.mean)),
                        f(g.final_train_cost.map(|s| s.std)),
                        g.best_epoch.mean.to_string(),
                    ])
                    .chain(extra.iter().map(|key| k.value(key))),
            )?;
        }
        Ok(String::from_utf8(w.into_inner().context("encoding CSV")?)?)
    }
}

impl Exporter for Json {
    fn export(&self, summary: &Summary) -> Result<String> {
        Ok(serde_json::to_string_pretty(summary)?)
    }
}
