//! What a sweep shows while it runs (a progress bar and live view, or log lines) and the table
//! it prints at the end.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::SweepOptions;
use crate::config::Experiment;
use crate::grid::{float_label, RunSettings};
use crate::metrics::{EpochRecord, Metric};
use crate::store::{percent, RunRow};

/// Progress on a terminal, or plain log lines.
pub(crate) struct Log {
    bar: Option<ProgressBar>,
    quiet: bool,
    live: Mutex<Live>,
}

/// The live view: the best run so far and the latest accuracy of each run in flight.
#[derive(Default)]
struct Live {
    best: Option<(f64, String)>,
    running: std::collections::BTreeMap<String, (usize, f64)>,
}

impl Live {
    fn message(&self) -> String {
        let mut parts = Vec::new();
        if let Some((acc, label)) = &self.best {
            parts.push(format!("best so far: {label} {}", percent(Some(*acc))));
        }
        let running: Vec<String> = self
            .running
            .iter()
            .map(|(label, (epoch, acc))| format!("{label} e{epoch} {}", percent(Some(*acc))))
            .collect();
        if !running.is_empty() {
            parts.push(format!("running: {}", running.join(", ")));
        }
        parts.join(" | ")
    }
}

impl Log {
    pub(super) fn new(opts: &SweepOptions, total_epochs: u64) -> Log {
        let bar = ProgressBar::with_draw_target(Some(total_epochs), ProgressDrawTarget::stderr());
        let bar = (opts.progress_bar && !opts.quiet && !bar.is_hidden()).then(|| {
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} epochs  ETA {eta}  {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Log {
            bar,
            quiet: opts.quiet,
            live: Mutex::new(Live::default()),
        }
    }

    pub(super) fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => crate::say!("{text}"),
        }
    }

    /// Counts an epoch and updates the live view with its accuracy (validation, else test,
    /// else training).
    pub(super) fn epoch(&self, settings: &RunSettings, record: &EpochRecord) {
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        let acc = record
            .get(Metric::ValidationAccuracy)
            .or(record.get(Metric::TestAccuracy))
            .or(record.get(Metric::TrainAccuracy));
        let Some(acc) = acc else { return };
        let label = format!("eta={} seed={}", float_label(settings.eta), settings.seed);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.best.as_ref().is_none_or(|(b, _)| acc > *b) {
            live.best = Some((acc, label.clone()));
        }
        if record.epoch >= settings.epochs {
            live.running.remove(&label);
        } else {
            live.running.insert(label, (record.epoch, acc));
        }
        bar.set_message(live.message());
    }

    pub(super) fn skip(&self, epochs: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(epochs as u64);
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The table printed at the end of a sweep: one line per run, its swept settings, status, best
/// validation accuracy and final test accuracy.
pub fn final_table(exp: &Experiment, rows: &[RunRow]) -> String {
    let swept = exp.grid().swept_keys();
    let mut header = vec!["run".to_string()];
    header.extend(swept.iter().map(|k| k.to_string()));
    header.extend(["status", "best valid.", "epoch", "final test"].map(String::from));
    let mut lines = vec![header];
    for r in rows {
        let s = &r.settings;
        let mut line = vec![s.run.clone()];
        for k in &swept {
            line.push(r.value(k));
        }
        line.push(r.status.to_string());
        line.push(percent(r.best_validation_accuracy));
        line.push(r.best_epoch.map_or("-".to_string(), |e| e.to_string()));
        line.push(percent(r.final_test_accuracy));
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    lines
        .iter()
        .map(|l| {
            l.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
