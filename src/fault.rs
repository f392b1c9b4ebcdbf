//! Deterministic fault injection, for the tests of what an interruption leaves behind.
//!
//! With `RUNNER_FAULT=POINT` in its environment (hidden: not a user setting), the process stops
//! when it reaches the named point: it prints `fault injection: holding at POINT` on standard
//! error, then waits until its standard input is closed, and goes on. A test spawns `runner` with
//! the variable and a piped standard input, reads standard error up to that line, and then kills
//! the process, sends it a signal (the handler runs while it holds), or closes its input to let
//! it go on: the process is always at exactly that point, whatever the machine's speed, so no
//! test waits by sleeping or guesses a moment from a measured duration.
//!
//! The points:
//! - `rows=N`: the N-th row of `metrics.csv` written by this process is on disk (the writer's
//!   lock is held, so no other row is written meanwhile);
//! - `started`: the results folder is open and training is about to start;
//! - `merge=started`: a merge holds its locks and is about to read its sources;
//! - `merge=states-written`: a merge has written its new folder's state files, not its CSV files;
//! - `merge=written`: a merge's new folder is complete, before its two renames;
//! - `merge=between-renames`: the old `OUT` moved aside, the merge not yet in its place;
//! - `rung=K`: successive halving has trained every configuration to rung K's epoch, before it
//!   ranks them.
//!
//! And one condition rather than a point: `no-built-in` makes the binary act as one built without
//! MNIST (as from the packaged crate), for the tests of the data folder and `runner data fetch`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The environment variable that names the point.
pub const VARIABLE: &str = "RUNNER_FAULT";

/// The line printed on standard error when the process holds at `point`.
pub fn holding_line(point: &str) -> String {
    format!("fault injection: holding at {point}")
}

fn wanted() -> Option<&'static str> {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    POINT
        .get_or_init(|| std::env::var(VARIABLE).ok().filter(|p| !p.is_empty()))
        .as_deref()
}

/// Holds the process at `point` when `RUNNER_FAULT` names it.
pub fn reached(point: &str) {
    if wanted() == Some(point) {
        hold(point);
    }
}

/// True when `RUNNER_FAULT` names the condition `name` (it does not hold the process).
pub fn is_set(name: &str) -> bool {
    wanted() == Some(name)
}

/// Counts a row of `metrics.csv` written, holding at `rows=N` when it is the N-th.
pub fn row_written() {
    static ROWS: AtomicUsize = AtomicUsize::new(0);
    let n = ROWS.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(point) = wanted() {
        if point.strip_prefix("rows=").and_then(|r| r.parse().ok()) == Some(n) {
            hold(point);
        }
    }
}

/// Counts a rung of successive halving reached, holding at `rung=K`.
pub fn rung_reached(rung: usize) {
    if let Some(point) = wanted() {
        if point.strip_prefix("rung=").and_then(|r| r.parse().ok()) == Some(rung) {
            hold(point);
        }
    }
}

fn hold(point: &str) {
    use std::io::{Read, Write};
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", holding_line(point));
    let _ = err.flush();
    drop(err);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holding_line_names_the_point() {
        assert_eq!(holding_line("rows=3"), "fault injection: holding at rows=3");
        // without the variable nothing holds (the test process's stdin is not read)
        if std::env::var_os(VARIABLE).is_none() {
            reached("started");
            row_written();
            rung_reached(1);
        }
    }
}
