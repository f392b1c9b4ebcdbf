//! `range_test.csv`, what a learning-rate range test recorded: `seed,step,eta,cost,smoothed`,
//! one row per mini-batch (the eta it trained with, its training cost before the step, the
//! smoothed cost up to it). Written whole by the search before it trains; read back by the
//! summary, which computes the suggestions from it. [`save`] also writes its event files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::search::range_test::{RangeStep, SeedRange};

/// The file's name in a results folder.
pub const FILE: &str = "range_test.csv";

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// One row of the file.
#[derive(Debug, Serialize, Deserialize)]
struct Row {
    seed: u64,
    step: usize,
    eta: f64,
    cost: f64,
    smoothed: f64,
}

/// Writes `seeds` to `dir/range_test.csv`, whole.
pub fn write(dir: &Path, seeds: &[SeedRange]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for s in seeds {
        for (i, step) in s.steps.iter().enumerate() {
            w.serialize(Row {
                seed: s.seed,
                step: i + 1,
                eta: step.eta,
                cost: step.cost,
                smoothed: step.smoothed,
            })?;
        }
    }
    if seeds.iter().all(|s| s.steps.is_empty()) {
        w.write_record(["seed", "step", "eta", "cost", "smoothed"])?;
    }
    let bytes = w.into_inner().context("writing range_test.csv")?;
    crate::files::write_atomically(&path(dir), &bytes)
}

/// Saves `seeds` into the results folder `dir`: `range_test.csv` and their event files.
pub fn save(dir: &Path, seeds: &[SeedRange]) -> Result<()> {
    write(dir, seeds)?;
    super::tensorboard::range_test(dir, seeds)
}

/// Reads `dir/range_test.csv`: the seeds in the file's order.
pub fn read(dir: &Path) -> Result<Vec<SeedRange>> {
    let file = path(dir);
    let mut reader =
        csv::Reader::from_path(&file).with_context(|| format!("reading '{}'", file.display()))?;
    let mut seeds: Vec<SeedRange> = Vec::new();
    for (line, row) in reader.deserialize::<Row>().enumerate() {
        let row = row.with_context(|| {
            format!(
                "'{}', row {}: not seed,step,eta,cost,smoothed",
                file.display(),
                line + 2
            )
        })?;
        let step = RangeStep {
            eta: row.eta,
            cost: row.cost,
            smoothed: row.smoothed,
        };
        match seeds.last_mut() {
            Some(last) if last.seed == row.seed => last.steps.push(step),
            _ => seeds.push(SeedRange {
                seed: row.seed,
                steps: vec![step],
            }),
        }
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let step = |eta: f64, cost: f64| RangeStep {
            eta,
            cost,
            smoothed: cost * 0.9,
        };
        let seeds = vec![
            SeedRange {
                seed: 1,
                steps: vec![step(0.001, 2.3), step(0.1, 1.7), step(10.0, f64::NAN)],
            },
            SeedRange {
                seed: 2,
                steps: vec![step(0.001, 2.31)],
            },
        ];
        write(dir.path(), &seeds).unwrap();
        let back = read(dir.path()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1], seeds[1]);
        assert_eq!(back[0].steps[..2], seeds[0].steps[..2]);
        assert!(back[0].steps[2].cost.is_nan());
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(
            text.starts_with("seed,step,eta,cost,smoothed\n1,1,0.001,2.3,"),
            "{text}"
        );
        std::fs::write(path(dir.path()), "seed,step,eta,cost,smoothed\n1,1,x,2,2\n").unwrap();
        let e = format!("{:#}", read(dir.path()).unwrap_err());
        assert!(e.contains("row 2"), "{e}");
    }
}
