//! Rules that end a run before its last epoch or change its learning rate, decided by the
//! validation accuracy after each epoch: the book's eta schedule and early stopping.

use crate::grid::schedule::{Schedule, SCHEDULE_HALVINGS};
use crate::grid::RunSettings;
use crate::nn::engine::RunParams;

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
