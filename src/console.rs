//! Messages for the person at the terminal, on standard error. A closed standard error (`runner
//! exp.toml 2>&1 | head -3`) loses the messages, never the work: the write's error is ignored,
//! training goes on, and the exit code is the one the run earns.

use std::io::Write;

/// Writes one line to standard error, ignoring a closed or failing stream.
pub fn say(args: std::fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|_| err.write_all(b"\n"));
}

/// `eprintln!` that never panics: see [`say`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::console::say(format_args!($($arg)*)) };
}
