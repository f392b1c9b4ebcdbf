//! The eta schedule setting's values: a constant eta, or the book's halving rule (applied by
//! `train::stopping`).

use std::fmt;

/// How the learning rate changes during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Schedule {
    /// eta stays as set (chapter 1).
    #[default]
    Constant,
    /// The book's schedule (chapter 3): halve eta each time the validation accuracy has not
    /// improved for `patience` epochs; stop once eta has fallen to 1/128 of its start.
    Halve { patience: usize },
}

/// Halvings after which a [`Schedule::Halve`] run stops (eta is then 1/128 of its start).
pub const SCHEDULE_HALVINGS: u32 = 7;

impl Schedule {
    /// `constant` or `halve:N`, as written in experiment files and the CSV.
    pub fn label(self) -> String {
        match self {
            Schedule::Constant => "constant".to_string(),
            Schedule::Halve { patience } => format!("halve:{patience}"),
        }
    }

    /// Reads [`Self::label`]'s form back; None for anything else.
    pub fn parse(text: &str) -> Option<Schedule> {
        if text == "constant" {
            return Some(Schedule::Constant);
        }
        let n = text.strip_prefix("halve:")?.trim().parse::<usize>().ok()?;
        (1..=100_000)
            .contains(&n)
            .then_some(Schedule::Halve { patience: n })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}
