//! What is measured after each epoch: the metrics a run can monitor, an epoch's record, and how
//! a run ended.

/// A metric that can be computed after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    TrainCost,
    TrainAccuracy,
    ValidationCost,
    ValidationAccuracy,
    TestCost,
    TestAccuracy,
}

impl Metric {
    /// All metrics, in the column order of `metrics.csv`.
    pub const ALL: [Metric; 6] = [
        Metric::TrainCost,
        Metric::TrainAccuracy,
        Metric::ValidationCost,
        Metric::ValidationAccuracy,
        Metric::TestCost,
        Metric::TestAccuracy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::TrainCost => "train_cost",
            Metric::TrainAccuracy => "train_accuracy",
            Metric::ValidationCost => "validation_cost",
            Metric::ValidationAccuracy => "validation_accuracy",
            Metric::TestCost => "test_cost",
            Metric::TestAccuracy => "test_accuracy",
        }
    }

    fn index(self) -> usize {
        Metric::ALL.iter().position(|&m| m == self).unwrap()
    }
}

/// Which metrics are computed after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Monitor([bool; 6]);

impl Monitor {
    /// Every metric.
    pub fn all() -> Monitor {
        Monitor([true; 6])
    }

    /// Only the given metrics.
    pub fn only(metrics: &[Metric]) -> Monitor {
        let mut flags = [false; 6];
        for m in metrics {
            flags[m.index()] = true;
        }
        Monitor(flags)
    }

    pub fn has(&self, m: Metric) -> bool {
        self.0[m.index()]
    }

    /// The monitored metrics in column order.
    pub fn metrics(&self) -> Vec<Metric> {
        Metric::ALL.into_iter().filter(|m| self.has(*m)).collect()
    }
}

/// The metrics of one epoch; `None` for a metric not monitored.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// 1 after the first pass over the training data.
    pub epoch: usize,
    pub train_cost: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub validation_cost: Option<f64>,
    pub validation_accuracy: Option<f64>,
    pub test_cost: Option<f64>,
    pub test_accuracy: Option<f64>,
    /// The run's share of the wall time of the epoch's training (evaluation not included): the
    /// group's time divided by the number of runs trained together.
    pub seconds: f64,
    /// The learning rate this epoch was trained with (it changes under an `eta_schedule`).
    pub eta: f64,
}

impl EpochRecord {
    pub fn get(&self, m: Metric) -> Option<f64> {
        match m {
            Metric::TrainCost => self.train_cost,
            Metric::TrainAccuracy => self.train_accuracy,
            Metric::ValidationCost => self.validation_cost,
            Metric::ValidationAccuracy => self.validation_accuracy,
            Metric::TestCost => self.test_cost,
            Metric::TestAccuracy => self.test_accuracy,
        }
    }

    /// True when a monitored cost is NaN or infinite.
    pub(super) fn cost_is_bad(&self) -> bool {
        [self.train_cost, self.validation_cost, self.test_cost]
            .iter()
            .flatten()
            .any(|c| !c.is_finite())
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Completed,
    /// The parameters or a cost became NaN or infinite during this epoch.
    Diverged {
        epoch: usize,
    },
    /// Stopped by an interruption before the last epoch.
    Interrupted,
    /// Ended before its last epoch by its own rule: `early_stopping`, or an `eta_schedule`
    /// whose eta fell to 1/128 of its start, after this epoch.
    Stopped {
        epoch: usize,
    },
    /// Stopped by successive halving at a rung, after this epoch.
    Pruned {
        epoch: usize,
    },
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Diverged { .. } => "diverged",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Stopped { .. } => "stopped",
            RunStatus::Pruned { .. } => "pruned",
        }
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub epochs_completed: usize,
}
