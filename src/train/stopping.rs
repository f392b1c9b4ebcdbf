//! Rules that end a run before its last epoch or change its learning rate, decided by the
//! validation accuracy after each epoch: the book's eta schedule and early stopping.

use std::fmt;

use crate::grid::RunSettings;
use crate::nn::engine::RunParams;

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

/// What a run that watches its validation accuracy (`eta_schedule`, `early_stopping`) has
/// seen so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Watch {
    best: Option<f64>,
    /// Epochs since the best validation accuracy.
    since_best: usize,
    /// Epochs since the best or the last halving of eta.
    since_change: usize,
    halvings: u32,
}

impl Watch {
    /// Takes one epoch's validation accuracy; true when the run is to stop after it. May halve
    /// `params.eta` for the next epoch.
    pub(super) fn epoch(
        &mut self,
        accuracy: f64,
        run: &RunSettings,
        params: &mut RunParams,
    ) -> bool {
        if self.best.is_none_or(|b| accuracy > b) {
            self.best = Some(accuracy);
            self.since_best = 0;
            self.since_change = 0;
        } else {
            self.since_best += 1;
            self.since_change += 1;
        }
        if let Schedule::Halve { patience } = run.eta_schedule {
            if self.since_change >= patience {
                self.halvings += 1;
                self.since_change = 0;
                params.eta = run.eta / f64::from(1u32 << self.halvings);
                if self.halvings >= SCHEDULE_HALVINGS {
                    return true;
                }
            }
        }
        run.early_stopping > 0 && self.since_best >= run.early_stopping
    }
}
