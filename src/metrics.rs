//! The vocabulary every stage shares: the metrics a run can monitor ([`Metric`], [`Monitor`]),
//! their values after an epoch ([`MetricValues`], the one type every row of metrics holds), an
//! epoch's record, and how a run ended ([`RunStatus`], [`StatusName`]). It imports nothing of the
//! crate.

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
        self as usize
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

/// The value of each metric after one epoch, indexed by [`Metric`]; `None` for a metric not
/// monitored (or, read back from a file, not there). Written as six CSV cells in the column
/// order of [`Metric::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetricValues([Option<f64>; 6]);

impl MetricValues {
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.0[m.index()]
    }

    pub fn set(&mut self, m: Metric, value: Option<f64>) {
        self.0[m.index()] = value;
    }

    /// True when a monitored cost is NaN or infinite.
    pub fn cost_is_bad(&self) -> bool {
        [Metric::TrainCost, Metric::ValidationCost, Metric::TestCost]
            .iter()
            .filter_map(|&m| self.get(m))
            .any(|c| !c.is_finite())
    }
}

impl serde::Serialize for MetricValues {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = serializer.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

/// The metrics of one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// 1 after the first pass over the training data.
    pub epoch: usize,
    pub values: MetricValues,
    /// The run's share of the wall time of the epoch's training (evaluation not included): the
    /// group's time divided by the number of runs trained together.
    pub seconds: f64,
    /// The learning rate this epoch was trained with (it changes under an `eta_schedule`).
    pub eta: f64,
}

impl EpochRecord {
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.values.get(m)
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
    /// The status without its epoch: what `runs.csv` and the state files record.
    pub fn kind(self) -> Status {
        match self {
            RunStatus::Completed => Status::Completed,
            RunStatus::Diverged { .. } => Status::Diverged,
            RunStatus::Interrupted => Status::Interrupted,
            RunStatus::Stopped { .. } => Status::Stopped,
            RunStatus::Pruned { .. } => Status::Pruned,
        }
    }

    pub fn name(self) -> &'static str {
        self.kind().name()
    }
}

/// How a run ended, as recorded: the `status` column of `runs.csv` and the state files, written
/// as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Completed,
    Diverged,
    Interrupted,
    Stopped,
    Pruned,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Diverged => "diverged",
            Status::Interrupted => "interrupted",
            Status::Stopped => "stopped",
            Status::Pruned => "pruned",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub epochs_completed: usize,
}
