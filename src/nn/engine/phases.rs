//! Phases of independent tasks on the pool's threads, one after another, without a fork and
//! join per phase.
//!
//! A large mini-batch is three parallel steps in a row (the chunks' gradients, the upper layers'
//! step, the first layer's step in pixel ranges), and an epoch is hundreds of mini-batches: as
//! separate rayon regions, each step paid a wake-up and a join (about 10-25 µs on this VM,
//! measured), more than its imbalance. Here the threads join once per call and go from phase to
//! phase by counting: every task has a ticket, numbered across the phases in order; a thread
//! takes the next ticket and runs its task once every task of the earlier phases is done,
//! spinning meanwhile (tasks are tens of microseconds).
//!
//! No thread ever waits for a ticket that nobody holds: it waits only for lower tickets, which
//! were taken by threads that are running them. So a helper that starts late (its pool thread was
//! busy) or never only means fewer hands; one thread alone runs every task in order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Spins before a waiting thread starts yielding its core (a helper descheduled by the OS would
/// otherwise keep the other core spinning).
const SPINS_BEFORE_YIELD: u32 = 1 << 14;

/// Runs `task(phase, index)` for every `index < tasks[phase]` of every phase, on up to `threads`
/// threads of the current rayon pool (the calling thread included). Every task of a phase
/// finishes before any task of the next one starts, and sees everything they wrote. A panic in a
/// task stops the others at their next ticket and is raised here.
pub fn run_phases<F>(tasks: &[usize], threads: usize, task: F)
where
    F: Fn(usize, usize) + Sync,
{
    // starts[p]: the first ticket of phase p; starts[phases] = every ticket
    let mut starts = Vec::with_capacity(tasks.len() + 1);
    let mut total = 0;
    for &n in tasks {
        starts.push(total);
        total += n;
    }
    starts.push(total);
    let shared = Shared {
        starts: &starts,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    };
    if threads <= 1 || total <= 1 {
        shared.work(&task);
        return;
    }
    rayon::scope(|s| {
        for _ in 1..threads {
            s.spawn(|_| shared.work(&task));
        }
        shared.work(&task);
    });
}

struct Shared<'a> {
    starts: &'a [usize],
    /// The next ticket to take.
    next: AtomicUsize,
    /// How many tasks have finished.
    done: AtomicUsize,
    /// Set when a task panicked: the others stop waiting.
    failed: AtomicBool,
}

impl Shared<'_> {
    fn work<F: Fn(usize, usize)>(&self, task: &F) {
        let total = *self.starts.last().expect("starts has a last entry");
        let mut phase = 0;
        loop {
            let ticket = self.next.fetch_add(1, Ordering::Relaxed);
            if ticket >= total {
                return;
            }
            while self.starts[phase + 1] <= ticket {
                phase += 1;
            }
            // every task of the earlier phases: the tickets below this phase's first
            let mut spins = 0u32;
            while self.done.load(Ordering::Acquire) < self.starts[phase] {
                if self.failed.load(Ordering::Relaxed) {
                    return;
                }
                if spins < SPINS_BEFORE_YIELD {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self.failed.load(Ordering::Relaxed) {
                return;
            }
            let guard = PanicGuard(&self.failed);
            task(phase, ticket - self.starts[phase]);
            std::mem::forget(guard);
            // Release: what the task wrote is seen by whoever sees this count (the increments
            // are read-modify-writes, so each waiter's acquire load synchronises with all of
            // them up to the value it reads).
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// Sets the flag when dropped, i.e. when the task it guards unwinds.
struct PanicGuard<'a>(&'a AtomicBool);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn every_task_runs_once_after_the_phase_before() {
        let tasks = [3, 1, 2, 0, 5, 1, 8, 8, 1];
        for threads in [1, 2, 3, 4] {
            let log = Mutex::new(Vec::new());
            // per phase, how many of its tasks have finished
            let finished: Vec<AtomicUsize> = tasks.iter().map(|_| AtomicUsize::new(0)).collect();
            pool(threads).install(|| {
                run_phases(&tasks, threads, |phase, index| {
                    for (before, &n) in tasks[..phase].iter().enumerate() {
                        assert_eq!(
                            finished[before].load(Ordering::Relaxed),
                            n,
                            "{threads} threads"
                        );
                    }
                    // a little work, so that the threads overlap
                    let mut x = 0u64;
                    for i in 0..1000 {
                        x = x.wrapping_mul(31).wrapping_add(i);
                    }
                    std::hint::black_box(x);
                    log.lock().unwrap().push((phase, index));
                    finished[phase].fetch_add(1, Ordering::Relaxed);
                })
            });
            let mut log = log.into_inner().unwrap();
            log.sort();
            let want: Vec<(usize, usize)> = tasks
                .iter()
                .enumerate()
                .flat_map(|(p, &n)| (0..n).map(move |i| (p, i)))
                .collect();
            assert_eq!(log, want, "{threads} threads");
        }
    }

    #[test]
    fn one_thread_runs_the_tasks_in_ticket_order() {
        let order = Mutex::new(Vec::new());
        run_phases(&[2, 1, 3], 1, |p, i| order.lock().unwrap().push((p, i)));
        let order = order.into_inner().unwrap();
        assert_eq!(order, [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1), (2, 2)]);
    }

    #[test]
    fn a_busy_pool_leaves_the_caller_to_run_everything() {
        // the pool's only other thread is blocked until the phases are over: the caller runs
        // every task itself instead of waiting for a helper that never comes
        let pool = pool(2);
        let (started, release) = (AtomicBool::new(false), AtomicBool::new(false));
        let count = AtomicUsize::new(0);
        pool.install(|| {
            rayon::scope(|s| {
                s.spawn(|_| {
                    started.store(true, Ordering::Release);
                    while !release.load(Ordering::Acquire) {
                        std::thread::yield_now();
                    }
                });
                // the blocker runs on the other thread (this one does not run it: it only
                // would while it waits for the scope, after the phases)
                while !started.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                run_phases(&[4, 1, 4], 2, |_, _| {
                    count.fetch_add(1, Ordering::Relaxed);
                });
                release.store(true, Ordering::Release);
            })
        });
        assert_eq!(count.load(Ordering::Relaxed), 9);
    }

    #[test]
    fn a_panicking_task_is_raised_without_a_hang() {
        let pool = pool(2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| {
                run_phases(&[2, 2, 2], 2, |phase, index| {
                    if (phase, index) == (1, 1) {
                        panic!("task failed");
                    }
                })
            })
        }));
        assert!(result.is_err());
    }
}
