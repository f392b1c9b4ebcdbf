//! Which runs this process trains (the grid or a shard of it) and how they are grouped into
//! tasks for the pool.

use super::*;

/// The runs this invocation is responsible for: the whole grid or the shard's share.
pub fn planned_runs(exp: &Experiment, opts: &SweepOptions) -> Result<Vec<RunSettings>> {
    let size = exp.grid.len();
    if size > MAX_RUNS_WITHOUT_YES && !opts.yes {
        bail!(
            "{} declares {size} grid points, more than {MAX_RUNS_WITHOUT_YES}; run `runner check {}` \
             for an estimate of the time, and add --yes if you mean it",
            exp.path.display(),
            exp.path.display()
        );
    }
    Ok(shard_runs(exp, opts.shard).collect())
}

/// Grids up to this size are sharded by dealing runs, longest first, to the least loaded shard;
/// larger ones round-robin by grid index, without building the grid.
pub const BALANCED_SHARDING_LIMIT: u128 = 1_000_000;

/// The runs of a shard (or of the whole grid), lazily where the grid is large.
pub fn shard_runs(
    exp: &Experiment,
    shard: Option<Shard>,
) -> Box<dyn Iterator<Item = RunSettings> + '_> {
    match shard {
        None => Box::new(exp.iter_runs()),
        Some(shard) if exp.grid.len() <= BALANCED_SHARDING_LIMIT => {
            Box::new(shard.select(&exp.runs()).into_iter())
        }
        Some(Shard { index, count }) => Box::new(
            exp.iter_runs()
                .enumerate()
                .filter(move |(i, _)| i % count == index - 1)
                .map(|(_, r)| r),
        ),
    }
}

/// Largest number of runs trained together in one group.
pub const MAX_GROUP: usize = 16;

/// Splits the runs into tasks for the pool: runs that can be trained in lockstep (same
/// [`RunSettings::fusion_key`]) form groups of at most [`MAX_GROUP`], in grid order; then the largest groups are
/// halved until there are at least as many tasks as threads, so no core idles. Without `fuse`,
/// every run is its own task. Fusing never changes a number (a fused run is bit-identical to the
/// run alone), so this may depend on the thread count.
pub fn plan_groups(runs: &[RunSettings], threads: usize, fuse: bool) -> Vec<Vec<RunSettings>> {
    if !fuse {
        return runs.iter().map(|r| vec![r.clone()]).collect();
    }
    let mut groups: Vec<Vec<RunSettings>> = Vec::new();
    let mut open: HashMap<_, usize> = HashMap::new();
    for r in runs {
        let key = r.fusion_key();
        match open.get(&key) {
            Some(&g) if groups[g].len() < MAX_GROUP => groups[g].push(r.clone()),
            _ => {
                open.insert(key, groups.len());
                groups.push(vec![r.clone()]);
            }
        }
    }
    while groups.len() < threads {
        let (largest, len) = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (i, g.len()))
            .max_by_key(|&(i, len)| (len, std::cmp::Reverse(i)))
            .unwrap_or((0, 0));
        if len < 2 {
            break;
        }
        let tail = groups[largest].split_off(len.div_ceil(2));
        groups.insert(largest + 1, tail);
    }
    groups
}
