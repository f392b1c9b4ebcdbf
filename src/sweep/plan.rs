//! Which runs this process trains (the grid or a shard of it) and how they are grouped into
//! tasks for the pool.

use std::collections::HashMap;

use anyhow::{bail, Result};

use super::{SweepOptions, MAX_RUNS_WITHOUT_YES};
use crate::config::Experiment;
use crate::grid::RunSettings;
use crate::store::shard::Shard;

/// The runs this invocation is responsible for: the whole grid or the shard's share.
pub fn planned_runs(exp: &Experiment, opts: &SweepOptions) -> Result<Vec<RunSettings>> {
    let size = exp.grid().len();
    if size > MAX_RUNS_WITHOUT_YES && !opts.yes {
        bail!(
            "{} declares {size} grid points, more than {MAX_RUNS_WITHOUT_YES}; run `runner check {}` \
             for an estimate of the time, and add --yes if you mean it",
            exp.path().display(),
            exp.path().display()
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
        Some(shard) if exp.grid().len() <= BALANCED_SHARDING_LIMIT => {
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

/// The work of a run, in examples trained (epochs times the training examples per epoch): the
/// measure the plan balances.
fn work(r: &RunSettings) -> u64 {
    (r.epochs * r.examples()) as u64
}

/// The largest load of `threads` workers that take `tasks` (their works, in order) one after
/// another, each the next task as soon as it is free (as [`super::run_sweep`] runs them).
fn makespan(tasks: &[u64], threads: usize) -> u64 {
    let mut load = vec![0u64; threads.max(1)];
    for &t in tasks {
        let least = load.iter_mut().min().expect("at least one worker");
        *least += t;
    }
    load.into_iter().max().unwrap_or(0)
}

/// Splits the runs into tasks for the pool, largest first: runs that can be trained in lockstep
/// (same [`RunSettings::fusion_key`]) form groups of at most [`MAX_GROUP`], in grid order; then,
/// while the workers would not finish together (the last one more than 5%, and more than one
/// run's work, after an even share of the work), the largest group is halved, so that every core
/// stays busy to the end of the sweep.
/// Without `fuse`, every run is its own task. Fusing and splitting never change a number (a fused
/// run is bit-identical to the run alone), so the plan may depend on the thread count.
pub fn plan_groups(runs: &[RunSettings], threads: usize, fuse: bool) -> Vec<Vec<RunSettings>> {
    let mut groups: Vec<Vec<RunSettings>> = Vec::new();
    if fuse {
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
    } else {
        groups = runs.iter().map(|r| vec![r.clone()]).collect();
    }
    let group_work = |g: &Vec<RunSettings>| g.iter().map(work).sum::<u64>();
    let by_work = |groups: &mut Vec<Vec<RunSettings>>| {
        // largest first; ties in grid order (the sort is stable)
        groups.sort_by_key(|g| std::cmp::Reverse(group_work(g)));
    };
    by_work(&mut groups);
    let total: u64 = groups.iter().map(group_work).sum();
    let even = total.div_ceil(threads.max(1) as u64);
    let one_run = runs.iter().map(work).max().unwrap_or(0);
    loop {
        let works: Vec<u64> = groups.iter().map(group_work).collect();
        let span = makespan(&works, threads);
        let balanced = span * 20 <= even * 21 || span <= even + one_run;
        let largest = groups.iter().position(|g| g.len() >= 2);
        match largest {
            Some(i) if !balanced || groups.len() < threads => {
                let half = groups[i].len().div_ceil(2);
                let tail = groups[i].split_off(half);
                groups.push(tail);
                by_work(&mut groups);
            }
            _ => break,
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(grid: &str) -> Vec<RunSettings> {
        crate::tests_support::grid_experiment(grid).runs()
    }

    #[test]
    fn a_memory_cgroup_limit_is_the_room_left_under_it() {
        // Slurm's --mem=2G with 500 MB in use; cgroup v2's "max" and v1's near-2^63 are no limit
        assert_eq!(
            limit_room("2147483648\n", "524288000\n"),
            Some(1_623_195_648)
        );
        assert_eq!(limit_room("max\n", "524288000\n"), None);
        assert_eq!(limit_room("9223372036854771712\n", "1707241472\n"), None);
        // usage above the limit (reclaim pending) leaves no room, not a wrap-around
        assert_eq!(limit_room("1000", "2000"), Some(0));
        assert_eq!(limit_room("", "0"), None);
    }

    #[test]
    fn every_core_is_busy_to_the_end() {
        // the shipped eta sweep: three fusion groups (one per seed) of seven runs
        let all = runs("eta = [0.01, 0.1, 0.5, 1.0, 3.0, 10.0, 100.0]\nseed = [1, 2, 3]");
        for threads in [1, 2, 3, 4, 8] {
            let tasks = plan_groups(&all, threads, true);
            let mut ids: Vec<String> = tasks.iter().flatten().map(|r| r.id()).collect();
            ids.sort();
            let mut want: Vec<String> = all.iter().map(|r| r.id()).collect();
            want.sort();
            assert_eq!(ids, want, "every run once");
            let works: Vec<u64> = tasks.iter().map(|g| g.iter().map(work).sum()).collect();
            assert!(works.windows(2).all(|w| w[0] >= w[1]), "largest first");
            let even = works.iter().sum::<u64>().div_ceil(threads as u64);
            let span = makespan(&works, threads);
            assert!(
                span * 20 <= even * 21 || span <= even + work(&all[0]),
                "{threads} threads: {works:?}"
            );
            // runs stay fused as far as the balance allows
            assert!(tasks.len() <= 3 * threads, "{threads} threads: {works:?}");
            // fusion is kept where it costs no balance: one group per seed on one thread
            if threads == 1 {
                assert_eq!(tasks.len(), 3);
            }
            assert!(tasks
                .iter()
                .all(|g| g.iter().all(|r| r.fusion_key() == g[0].fusion_key())));
        }
        // 3 groups of 7 on 2 threads: one is split, the two workers end within one run's work
        let works: Vec<u64> = plan_groups(&all, 2, true)
            .iter()
            .map(|g| g.len() as u64)
            .collect();
        assert_eq!(works, [7, 7, 4, 3]);
        assert_eq!(makespan(&works, 2), 11);
    }

    #[test]
    fn longer_runs_weigh_more() {
        let all = runs("epochs = [10, 30]\nseed = [1, 2]");
        let tasks = plan_groups(&all, 2, true);
        assert_eq!(tasks.len(), 4, "four groups: epochs and seeds differ");
        assert_eq!(tasks[0][0].epochs, 30);
        assert_eq!(makespan(&[30, 30, 10, 10], 2), 40);
    }
}

/// Bytes a group of runs (one lockstep group, as planned) needs while it trains: each run's
/// weights, their transposes and the velocities of momentum, the gradient buffers of every
/// parallel chunk of a mini-batch, and the first layer's errors of a mini-batch, all f32 and padded
/// to whole SIMD vectors as the engine lays them out.
pub fn group_bytes(group: &[RunSettings]) -> u64 {
    let Some(first) = group.first() else {
        return 0;
    };
    let lanes = group.len() as u64;
    let pad = |n: usize| n.div_ceil(16) as u64 * 16;
    let sizes = &first.sizes;
    let weights: u64 = sizes.windows(2).map(|w| w[0] as u64 * pad(w[1])).sum();
    let first_layer = sizes[0] as u64 * pad(sizes[1]);
    let upper = weights - first_layer;
    let biases: u64 = sizes[1..].iter().map(|&n| pad(n)).sum();
    let (_, chunks) = crate::train::chunking(first.batch_size);
    let momentum = group.iter().any(|r| r.momentum > 0.0) as u64;
    let floats = lanes
        * ((1 + momentum) * (weights + biases)
            + upper // the transposed upper layers
            + chunks as u64 * (upper + biases)
            + first.batch_size as u64 * pad(sizes[1]));
    4 * floats
}

/// Bytes the data set takes in memory at most: MNIST's 70,000 images' non-zero pixels as (index,
/// byte) pairs and the images as bytes (held when the files were decoded; for the built-in MNIST
/// only if something asks for whole images), and the expanded training set when a run uses it.
pub fn data_bytes(runs: &[RunSettings]) -> u64 {
    let expanded = runs
        .iter()
        .filter(|r| r.expand)
        .map(|r| 5 * r.train_size as u64)
        .max()
        .unwrap_or(0);
    // about 150 non-zero pixels of 3 bytes and 784 bytes of pixels per image
    (70_000 + expanded) * (150 * 3 + 784)
}

/// The memory available now: the machine's (`MemAvailable` of /proc/meminfo), or less where a
/// memory cgroup limits the process (Slurm's `--mem`, a container's limit), if known.
pub fn available_memory() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        });
    match (machine, cgroup_room()) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

/// The room the memory cgroups of this process leave it: the smallest of limit less usage over
/// its cgroup and the cgroup's ancestors, for cgroup v2 (`memory.max`, `memory.current`) or v1
/// (`memory.limit_in_bytes`, `memory.usage_in_bytes`); `None` where nothing limits it.
fn cgroup_room() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut room: Option<u64> = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (root, limit, usage) = if controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max", "memory.current")
        } else if controllers.split(',').any(|c| c == "memory") {
            (
                "/sys/fs/cgroup/memory",
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
        } else {
            continue;
        };
        // the cgroup and each ancestor up to the root: any of them may hold the limit
        let mut dir = std::path::PathBuf::from(root).join(path.trim_start_matches('/'));
        loop {
            let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
            if let (Some(l), Some(u)) = (read(limit), read(usage)) {
                if let Some(r) = limit_room(&l, &u) {
                    room = Some(room.map_or(r, |x| x.min(r)));
                }
            }
            if dir == std::path::Path::new(root) || !dir.pop() {
                break;
            }
        }
    }
    room
}

/// A cgroup's limit less its usage, from the two files' text; `None` when unlimited ("max" in
/// v2, a number near 2^63 in v1) or unreadable.
pub fn limit_room(limit: &str, usage: &str) -> Option<u64> {
    let limit = limit.trim();
    if limit == "max" {
        return None;
    }
    let limit: u64 = limit.parse().ok()?;
    if limit >= 1 << 60 {
        return None;
    }
    let usage: u64 = usage.trim().parse().ok()?;
    Some(limit.saturating_sub(usage))
}

/// The memory a sweep needs: the data set, and the largest groups that run at once (one per
/// thread). Refuses, before anything is allocated, a sweep that cannot fit in `available` bytes.
pub fn check_memory(
    tasks: &[Vec<RunSettings>],
    threads: usize,
    available: Option<u64>,
) -> Result<u64> {
    let all: Vec<RunSettings> = tasks.iter().flatten().cloned().collect();
    let mut per_task: Vec<(u64, &Vec<RunSettings>)> =
        tasks.iter().map(|g| (group_bytes(g), g)).collect();
    per_task.sort_by_key(|(b, _)| std::cmp::Reverse(*b));
    let at_once = threads.max(1).min(tasks.len()).max(1);
    let training: u64 = per_task.iter().take(at_once).map(|(b, _)| b).sum();
    let total = data_bytes(&all) + training;
    if let Some(available) = available {
        if total > available {
            let (largest, group) = per_task[0];
            bail!(
                "this sweep needs about {} of memory and the machine has {} available: the \
                 largest network, {}, takes about {} for {} run(s) trained together, and {} \
                 group(s) train at once; use smaller layers, fewer --threads, or a machine with \
                 more memory",
                gigabytes(total),
                gigabytes(available),
                crate::grid::sizes_label(&group[0].sizes),
                gigabytes(largest),
                group.len(),
                at_once
            );
        }
    }
    Ok(total)
}

/// `1.2 GB`, `340 MB`.
pub fn gigabytes(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{} MB", bytes.div_ceil(1_000_000))
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    #[test]
    fn a_network_too_large_for_memory_is_refused_before_it_is_allocated() {
        let huge = RunSettings {
            sizes: vec![784, 100_000, 100_000, 10],
            ..RunSettings::default()
        };
        // 784 x 100000 + 100000 x 100000 + 100000 x 16 weights, with their transposes and
        // gradients: over 100 GB
        assert!(group_bytes(std::slice::from_ref(&huge)) > 100_000_000_000);
        let err = check_memory(&[vec![huge]], 2, Some(24_000_000_000))
            .unwrap_err()
            .to_string();
        assert!(err.contains("784-100000-100000-10"), "{err}");
        assert!(err.contains("24.0 GB available"), "{err}");
        // the book's network fits easily
        let book = vec![RunSettings::default(); 7];
        let total = check_memory(&[book], 2, Some(24_000_000_000)).unwrap();
        assert!(total < 200_000_000, "{total}");
    }
}
