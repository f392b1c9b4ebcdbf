//! Sharding a grid across machines: `--shard I/N`, or the index of a job array.

use crate::grid::RunSettings;

/// The most shards a grid may be cut into (a plan keeps a load per shard).
pub const MAX_SHARDS: usize = 1_000_000;

/// A share of the grid: `index` of `count` (1-based as written, `1/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// The shard counts of `name`'s shard folders in `parent` (`NAME-shard-I-of-N`), other than
/// `count`: a sign that `count` was not the count the others were trained with.
pub fn other_counts(parent: &std::path::Path, name: &str, count: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            let (stem, shard) = Shard::of_folder(&file)?;
            (stem == name).then_some(shard.count)
        })
        .filter(|&n| n != count)
        .collect();
    counts.sort_unstable();
    counts.dedup();
    counts
}

impl Shard {
    /// The end of a shard's results folder name: `-shard-I-of-N`.
    pub fn folder_suffix(&self) -> String {
        format!("-shard-{}-of-{}", self.index, self.count)
    }

    /// A shard's results folder name read back: the experiment's name and the shard, for
    /// `NAME-shard-I-of-N` with whole numbers I and N.
    pub fn of_folder(folder: &str) -> Option<(&str, Shard)> {
        let (head, count) = folder.rsplit_once("-of-")?;
        let (stem, index) = head.rsplit_once("-shard-")?;
        Some((
            stem,
            Shard {
                index: index.parse().ok()?,
                count: count.parse().ok()?,
            },
        ))
    }

    /// Parses `I/N` (1 <= I <= N), or `auto`: Slurm's `SLURM_ARRAY_TASK_ID` with the count from
    /// `RUNNER_SHARD_COUNT` (IDs from 0), else with `SLURM_ARRAY_TASK_MIN` (default 0) and
    /// `SLURM_ARRAY_TASK_COUNT`; or a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` with the
    /// count from `RUNNER_SHARD_COUNT`.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        if text == "auto" {
            let num = |name: &str| -> Result<Option<usize>, String> {
                env(name)
                    .map(|v| {
                        v.trim()
                            .parse::<usize>()
                            .map_err(|_| format!("{name}={v} is not a whole number"))
                    })
                    .transpose()
            };
            // A rerun of part of an array (`sbatch --array=2`) is an array of its own: Slurm
            // does not pass the first array's size on, so RUNNER_SHARD_COUNT may state it.
            if let (Some(id), Some(count)) =
                (num("SLURM_ARRAY_TASK_ID")?, num("RUNNER_SHARD_COUNT")?)
            {
                return Self::new(id + 1, count).map_err(|e| {
                    format!(
                        "{e} (with RUNNER_SHARD_COUNT={count}, SLURM_ARRAY_TASK_ID={id} is shard \
                         {}: the array's IDs run from 0 to {})",
                        id + 1,
                        count.saturating_sub(1)
                    )
                });
            }
            if let (Some(id), Some(count)) =
                (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?)
            {
                let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
                return Self::new(
                    id.checked_sub(min)
                        .ok_or("SLURM_ARRAY_TASK_ID < SLURM_ARRAY_TASK_MIN")?
                        + 1,
                    count,
                );
            }
            if let Some(index) = num("JOB_COMPLETION_INDEX")? {
                let count = num("RUNNER_SHARD_COUNT")?.ok_or(
                    "JOB_COMPLETION_INDEX is set but RUNNER_SHARD_COUNT is not: set it to the Job's completions",
                )?;
                return Self::new(index + 1, count);
            }
            return Err("--shard auto needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (a Slurm job array) \
                        or JOB_COMPLETION_INDEX and RUNNER_SHARD_COUNT (a Kubernetes Indexed Job)"
                .to_string());
        }
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("'{text}' is not a shard: write I/N, e.g. 2/4, or auto"))?;
        let parse = |s: &str| {
            s.trim().parse::<usize>().map_err(|_| {
                format!("'{text}' is not a shard: write I/N with whole numbers, e.g. 2/4")
            })
        };
        Self::new(parse(i)?, parse(n)?)
    }

    fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count > MAX_SHARDS {
            return Err(format!(
                "{count} shards are too many: at most {MAX_SHARDS} (a shard beyond the grid's \
                 runs trains nothing)"
            ));
        }
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "shard {index}/{count} does not exist: the index runs from 1 to the count"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Picks this shard's runs: runs are dealt, longest first (by epochs x examples x
    /// parameters), to the least loaded shard, so shares are balanced and disjoint and every run
    /// is in exactly one.
    pub fn select(&self, runs: &[RunSettings]) -> Vec<RunSettings> {
        let work = |r: &RunSettings| {
            let params: usize = r.sizes.windows(2).map(|w| w[0] * w[1]).sum();
            (r.epochs as u128) * (r.examples() as u128) * (params as u128)
        };
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(work(&runs[i])), i));
        let mut load = vec![0u128; self.count];
        let mut mine = vec![false; runs.len()];
        for i in order {
            let target = (0..self.count).min_by_key(|&s| (load[s], s)).unwrap();
            load[target] += work(&runs[i]);
            mine[i] = target + 1 == self.index;
        }
        runs.iter()
            .zip(mine)
            .filter(|(_, m)| *m)
            .map(|(r, _)| r.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::tests_support::grid_experiment as exp;

    #[test]
    fn shards_are_disjoint_balanced_and_complete() {
        let e = exp(
            "eta = [0.1, 0.5, 1.0, 3.0, 10.0, 100.0, 7.0]\nseed = [1, 2, 3]\nepochs = [10, 30]",
        );
        let runs = e.grid().runs();
        let mut all = Vec::new();
        let mut epochs = Vec::new();
        for i in 1..=4 {
            let part = Shard { index: i, count: 4 }.select(&runs);
            epochs.push(part.iter().map(|r| r.epochs).sum::<usize>());
            all.extend(part.into_iter().map(|r| r.id()));
        }
        assert_eq!(all.len(), runs.len());
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), runs.len());
        let (min, max) = (epochs.iter().min().unwrap(), epochs.iter().max().unwrap());
        assert!(max - min <= 30, "{epochs:?}");
    }

    #[test]
    fn shard_parsing() {
        let none = |_: &str| None;
        assert_eq!(Shard::parse("2/3", none), Ok(Shard { index: 2, count: 3 }));
        assert!(Shard::parse("0/3", none)
            .unwrap_err()
            .contains("does not exist"));
        assert!(Shard::parse("4/3", none).is_err());
        assert!(Shard::parse("x", none).unwrap_err().contains("write I/N"));
        // the audit's 2/100000000000 allocated a load per shard and aborted
        let err = Shard::parse("2/100000000000", none).unwrap_err();
        assert!(err.contains("at most 1000000"), "{err}");
        assert!(Shard::parse("2/1000000", none).is_ok());
        assert!(Shard::parse("auto", none)
            .unwrap_err()
            .contains("SLURM_ARRAY_TASK_ID"));
        let slurm = |k: &str| match k {
            "SLURM_ARRAY_TASK_ID" => Some("0".to_string()),
            "SLURM_ARRAY_TASK_COUNT" => Some("4".to_string()),
            _ => None,
        };
        assert_eq!(
            Shard::parse("auto", slurm),
            Ok(Shard { index: 1, count: 4 })
        );
        let k8s = |k: &str| match k {
            "JOB_COMPLETION_INDEX" => Some("2".to_string()),
            "RUNNER_SHARD_COUNT" => Some("3".to_string()),
            _ => None,
        };
        assert_eq!(Shard::parse("auto", k8s), Ok(Shard { index: 3, count: 3 }));
    }

    /// `sbatch --array=2` reruns the third task of an array of 4 as an array of its own (what a
    /// real cluster sets): without the count it is shard 1/1, with RUNNER_SHARD_COUNT shard 3/4.
    #[test]
    fn a_rerun_of_one_array_index_keeps_its_shard_with_the_count_given() {
        let rerun = |count: Option<&'static str>| {
            move |k: &str| match k {
                "SLURM_ARRAY_TASK_ID" | "SLURM_ARRAY_TASK_MIN" | "SLURM_ARRAY_TASK_MAX" => {
                    Some("2".to_string())
                }
                "SLURM_ARRAY_TASK_COUNT" => Some("1".to_string()),
                "RUNNER_SHARD_COUNT" => count.map(str::to_string),
                _ => None,
            }
        };
        assert_eq!(
            Shard::parse("auto", rerun(None)),
            Ok(Shard { index: 1, count: 1 })
        );
        assert_eq!(
            Shard::parse("auto", rerun(Some("4"))),
            Ok(Shard { index: 3, count: 4 })
        );
        let e = Shard::parse("auto", rerun(Some("2"))).unwrap_err();
        assert!(e.contains("IDs run from 0 to 1"), "{e}");
    }

    #[test]
    fn shard_folders_of_another_count_are_found() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "sweep-shard-1-of-4",
            "sweep-shard-3-of-4",
            "sweep-shard-1-of-1",
            "sweeping-shard-1-of-9",
            "sweep",
            "other-shard-2-of-3",
        ] {
            std::fs::create_dir(dir.path().join(f)).unwrap();
        }
        assert_eq!(other_counts(dir.path(), "sweep", 1), vec![4]);
        assert_eq!(other_counts(dir.path(), "sweep", 4), vec![1]);
        assert_eq!(other_counts(dir.path(), "nothing", 4), Vec::<usize>::new());
        let shard = Shard { index: 3, count: 4 };
        let folder = format!("a-shard-b{}", shard.folder_suffix());
        assert_eq!(Shard::of_folder(&folder), Some(("a-shard-b", shard)));
        assert_eq!(Shard::of_folder("sweep"), None);
        assert_eq!(Shard::of_folder("sweep-shard-x-of-4"), None);
    }
}
