//! Every column of the results files, in one place: `metrics.csv` and `runs.csv` start with the
//! run id and the standard settings (from the settings table), then their own values, then the
//! extra setting columns the experiment uses.

use crate::grid::settings::{Column, Setting, SETTINGS};

/// The column of `metrics.csv`, after the extra setting columns, with the learning rate each
/// epoch was trained with; there when the experiment uses an `eta_schedule`.
pub const EPOCH_ETA: &str = "epoch_eta";

/// The columns of `metrics.csv` after the settings, in order.
pub const METRICS_VALUES: [&str; 8] = [
    "epoch",
    "train_cost",
    "train_accuracy",
    "validation_cost",
    "validation_accuracy",
    "test_cost",
    "test_accuracy",
    "seconds",
];

/// The columns of `runs.csv` after the settings, in order.
pub const RUNS_VALUES: [&str; 7] = [
    "status",
    "diverged_epoch",
    "epochs_completed",
    "best_validation_accuracy",
    "best_epoch",
    "final_test_accuracy",
    "seconds",
];

/// The position of the `epoch` column in `metrics.csv` (after the standard settings).
pub fn epoch_column() -> usize {
    settings_columns().count()
}

/// The settings with a standard column, in column order.
pub fn standard_settings() -> impl Iterator<Item = &'static Setting> {
    SETTINGS.iter().filter(|s| s.column == Column::Standard)
}

/// `run` and the standard settings columns.
pub fn settings_columns() -> impl Iterator<Item = &'static str> {
    std::iter::once("run").chain(standard_settings().map(|s| s.name))
}

/// The standard columns of `metrics.csv`: the settings, then [`METRICS_VALUES`].
pub fn metrics_columns() -> Vec<&'static str> {
    settings_columns().chain(METRICS_VALUES).collect()
}

/// The standard columns of `runs.csv`: the settings, then [`RUNS_VALUES`].
pub fn runs_columns() -> Vec<&'static str> {
    settings_columns().chain(RUNS_VALUES).collect()
}

/// The header of `metrics.csv`: the standard columns, then the extra setting columns the
/// experiment uses (see [`crate::grid::Grid::extra_columns`]), then [`EPOCH_ETA`] when they
/// include `eta_schedule`.
pub fn metrics_header(extra: &[&str]) -> Vec<String> {
    let epoch_eta = extra.contains(&"eta_schedule").then_some(EPOCH_ETA);
    metrics_columns()
        .into_iter()
        .chain(extra.iter().copied())
        .chain(epoch_eta)
        .map(String::from)
        .collect()
}

/// The header of `runs.csv`, as [`metrics_header`].
pub fn runs_header(extra: &[&str]) -> Vec<String> {
    runs_columns()
        .into_iter()
        .chain(extra.iter().copied())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_columns_never_move() {
        assert_eq!(
            metrics_columns().join(","),
            "run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,epoch,train_cost,\
             train_accuracy,validation_cost,validation_accuracy,test_cost,test_accuracy,seconds"
        );
        assert_eq!(
            runs_columns().join(","),
            "run,sizes,eta,batch_size,epochs,seed,cost,init,lambda,train_size,status,\
             diverged_epoch,epochs_completed,best_validation_accuracy,best_epoch,\
             final_test_accuracy,seconds"
        );
        assert_eq!(metrics_columns()[epoch_column()], "epoch");
        assert_eq!(
            metrics_header(&["momentum", "eta_schedule", "variant"])[18..],
            ["momentum", "eta_schedule", "variant", "epoch_eta"]
        );
    }
}
