//! `curvature.csv`, what a curvature search computed: `seed,iteration,estimate,converged`, one
//! row per power iteration (the last of a seed is its λ). Written whole by the search before it
//! trains; read back by the summary.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::search::curvature::SeedCurvature;

/// The file's name in a results folder.
pub const FILE: &str = "curvature.csv";

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Writes `seeds` to `dir/curvature.csv`, whole.
pub fn write(dir: &Path, seeds: &[SeedCurvature]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["seed", "iteration", "estimate", "converged"])?;
    for s in seeds {
        for (i, e) in s.estimates.iter().enumerate() {
            w.write_record([
                s.seed.to_string(),
                (i + 1).to_string(),
                format!("{e:?}"),
                s.converged.to_string(),
            ])?;
        }
    }
    let bytes = w.into_inner().context("writing curvature.csv")?;
    crate::files::write_atomically(&path(dir), &bytes)
}

/// Reads `dir/curvature.csv`: the seeds in the file's order.
pub fn read(dir: &Path) -> Result<Vec<SeedCurvature>> {
    let file = path(dir);
    let mut reader =
        csv::Reader::from_path(&file).with_context(|| format!("reading '{}'", file.display()))?;
    let mut seeds: Vec<SeedCurvature> = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let bad = || {
            format!(
                "'{}', row {}: not seed,iteration,estimate,converged",
                file.display(),
                line + 2
            )
        };
        let record = record.with_context(bad)?;
        let (Some(seed), Some(estimate), Some(converged)) = (
            record.get(0).and_then(|s| s.parse::<u64>().ok()),
            record.get(2).and_then(|s| s.parse::<f64>().ok()),
            record.get(3).and_then(|s| s.parse::<bool>().ok()),
        ) else {
            anyhow::bail!(bad());
        };
        match seeds.last_mut() {
            Some(last) if last.seed == seed => last.estimates.push(estimate),
            _ => seeds.push(SeedCurvature {
                seed,
                estimates: vec![estimate],
                converged,
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
        let seeds = vec![
            SeedCurvature {
                seed: 1,
                estimates: vec![0.1, 0.19, 0.1952],
                converged: true,
            },
            SeedCurvature {
                seed: 2,
                estimates: vec![1e-5, 0.3],
                converged: false,
            },
        ];
        write(dir.path(), &seeds).unwrap();
        assert_eq!(read(dir.path()).unwrap(), seeds);
        std::fs::write(
            path(dir.path()),
            "seed,iteration,estimate,converged\n1,1,x,true\n",
        )
        .unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("row 2"), "{e}");
    }
}
