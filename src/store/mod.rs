//! The results folder: `metrics.csv` (one row per run per epoch, flushed as each epoch ends),
//! `runs.csv` (one row per run), `experiment.toml` (the experiment as run) and `state/`
//! (one small file per finished run, written atomically).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub mod curvature;
pub(crate) mod exchange;
pub(crate) mod lock;
pub mod merge;
pub mod range_test;
pub(crate) mod resume;
pub mod shard;
pub mod table;
pub mod tensorboard;

use crate::grid::settings::{extra_default, Cell};
use crate::grid::RunSettings;
use crate::metrics::{EpochRecord, Metric, RunOutcome, RunStatus, Status};

pub(crate) mod schema;

pub use crate::files::{sync_dir, write_atomically};
pub use schema::{metrics_header, runs_header, EPOCH_ETA};
pub use table::{read_metrics, ConfigKey, MetricsFile, MetricsRow};

/// The file a search writes beside its runs (what it computed before it trained), if any.
pub fn search_file(search: &crate::search::Search) -> Option<&'static str> {
    match search {
        crate::search::Search::Curvature(_) => Some(curvature::FILE),
        crate::search::Search::RangeTest(_) => Some(range_test::FILE),
        _ => None,
    }
}

/// The CSV cells of the extra setting columns `columns` for a run whose non-default extra
/// settings are `extra`.
pub fn extra_cells(extra: &BTreeMap<String, String>, columns: &[String]) -> Vec<String> {
    columns
        .iter()
        .map(|c| extra.get(c).cloned().unwrap_or_else(|| extra_default(c)))
        .collect()
}

/// A run's extra settings that are not at their default, by key.
pub fn extra_settings(s: &RunSettings) -> BTreeMap<String, String> {
    s.extra_values()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// The standard settings columns shared by both files: the run id, then each standard setting
/// of [`crate::grid::settings::SETTINGS`] as its typed cell (numbers stay numbers in the CSV and the state files).
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsColumns {
    pub run: String,
    /// One cell per standard setting, in table order.
    pub cells: Vec<Cell>,
}

impl SettingsColumns {
    /// The run's eta, from its cell.
    pub fn eta(&self) -> Option<f64> {
        let at = schema::standard_settings().position(|s| s.name == "eta")?;
        match self.cells.get(at)? {
            Cell::Float(x) => Some(*x),
            Cell::Int(n) => Some(*n as f64),
            Cell::Text(_) => None,
        }
    }

    pub fn of(s: &RunSettings) -> SettingsColumns {
        SettingsColumns {
            run: s.id(),
            cells: schema::standard_settings()
                .map(|setting| s.value(setting).cell())
                .collect(),
        }
    }
}

impl Serialize for SettingsColumns {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("SettingsColumns", 1 + self.cells.len())?;
        st.serialize_field("run", &self.run)?;
        for (setting, cell) in schema::standard_settings().zip(&self.cells) {
            st.serialize_field(setting.name, cell)?;
        }
        st.end()
    }
}

impl<'de> Deserialize<'de> for SettingsColumns {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = BTreeMap::<String, Cell>::deserialize(deserializer)?;
        let run = match map.remove("run") {
            Some(Cell::Text(run)) => run,
            _ => return Err(D::Error::missing_field("run")),
        };
        let cells = schema::standard_settings()
            .map(|s| {
                map.remove(s.name)
                    .ok_or_else(|| D::Error::missing_field(s.name))
            })
            .collect::<Result<_, _>>()?;
        Ok(SettingsColumns { run, cells })
    }
}

/// One row of `metrics.csv` as written: the settings columns, then the epoch, each metric's
/// value in [`Metric::ALL`] order and the seconds (the extra setting columns follow it).
pub(crate) fn metrics_record<'a>(
    settings: &'a SettingsColumns,
    r: &'a EpochRecord,
) -> impl Serialize + 'a {
    (settings, r.epoch, &r.values, r.seconds)
}

/// One row of `runs.csv`: a run's settings and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// The settings beyond the standard columns that are not at their default (activation,
    /// momentum, ...), by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
    pub settings: SettingsColumns,
    pub status: Status,
    pub diverged_epoch: Option<usize>,
    pub epochs_completed: usize,
    pub best_validation_accuracy: Option<f64>,
    pub best_epoch: Option<usize>,
    pub final_test_accuracy: Option<f64>,
    pub seconds: f64,
    /// The SHA-256 of the run's rows in `metrics.csv` (see [`rows_digest`]): resume, merge and
    /// summary check that the rows are the ones the run wrote. Absent in state files written
    /// before it existed (then nothing is checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_sha256: Option<String>,
    /// The training cost of the run's network before its first epoch, where a reader needs it
    /// (a threshold search's probes: their verdicts compare the first epoch with it). In the
    /// state file only; absent in states written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_train_cost: Option<f64>,
}

/// The digest of a run's rows of `metrics.csv`: SHA-256 over the standard columns of each row
/// (the cells as written, timing included), rows in epoch order. The extra setting columns are
/// left out, so a results folder whose grid gains a column keeps its digests.
pub fn rows_digest<S: AsRef<str>>(rows: &[Vec<S>]) -> String {
    use sha2::{Digest, Sha256};
    let standard = schema::metrics_columns().len();
    let epoch = schema::metrics_columns()
        .iter()
        .position(|c| *c == "epoch")
        .expect("an epoch column");
    let mut sorted: Vec<&Vec<S>> = rows.iter().collect();
    sorted.sort_by_key(|r| r[epoch].as_ref().parse::<usize>().unwrap_or(usize::MAX));
    let mut hash = Sha256::new();
    for row in sorted {
        for (i, cell) in row.iter().take(standard).enumerate() {
            if i > 0 {
                hash.update([0x1f]);
            }
            hash.update(cell.as_ref().as_bytes());
        }
        hash.update(b"\n");
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The cells of the standard columns of `metrics.csv` for one epoch, exactly as the CSV writer
/// writes them.
fn metrics_cells(s: &RunSettings, r: &EpochRecord) -> Result<Vec<String>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.serialize(metrics_record(&SettingsColumns::of(s), r))?;
    let bytes = w.into_inner().context("encoding CSV")?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    let record = reader
        .records()
        .next()
        .context("encoding CSV")?
        .context("encoding CSV")?;
    Ok(record.iter().map(String::from).collect())
}

impl RunRow {
    /// Summarises a run from its epoch records.
    pub fn new(s: &RunSettings, outcome: &RunOutcome, records: &[EpochRecord]) -> RunRow {
        let mut best: Option<(f64, usize)> = None;
        for r in records {
            if let Some(acc) = r.get(Metric::ValidationAccuracy) {
                if best.is_none_or(|(b, _)| acc > b) {
                    best = Some((acc, r.epoch));
                }
            }
        }
        RunRow {
            extra: extra_settings(s),
            settings: SettingsColumns::of(s),
            status: outcome.status.kind(),
            diverged_epoch: match outcome.status {
                RunStatus::Diverged { epoch } => Some(epoch),
                _ => None,
            },
            epochs_completed: outcome.epochs_completed,
            best_validation_accuracy: best.map(|b| b.0),
            best_epoch: best.map(|b| b.1),
            final_test_accuracy: records.last().and_then(|r| r.get(Metric::TestAccuracy)),
            // the run's share of the training time: its epochs' `seconds` (a run trained in a
            // group of k shares each epoch's wall time with the others)
            seconds: records.iter().map(|r| r.seconds).sum(),
            rows_sha256: records
                .iter()
                .map(|r| metrics_cells(s, r))
                .collect::<Result<Vec<_>>>()
                .ok()
                .map(|rows| rows_digest(&rows)),
            initial_train_cost: None,
        }
    }
}

impl RunRow {
    /// The value of a setting column (standard or extra) as text.
    pub fn value(&self, key: &str) -> String {
        match schema::standard_settings().position(|s| s.name == key) {
            Some(i) => self.settings.cells[i].label(),
            None => self
                .extra
                .get(key)
                .cloned()
                .unwrap_or_else(|| extra_default(key)),
        }
    }

    /// The row as `runs.csv` columns (the settings flattened in front, the extra setting
    /// `columns` at the end).
    pub fn csv_record(&self, columns: &[String]) -> impl Serialize + '_ {
        (
            &self.settings,
            &self.status,
            self.diverged_epoch,
            self.epochs_completed,
            self.best_validation_accuracy,
            self.best_epoch,
            self.final_test_accuracy,
            self.seconds,
            extra_cells(&self.extra, columns),
        )
    }
}

/// Writes rows to a CSV file opened for appending, flushing after every row so that a crash
/// loses at most the row in flight.
struct AppendCsv {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl AppendCsv {
    fn open(path: PathBuf, header: &[String]) -> Result<AppendCsv> {
        let exists = path.exists() && std::fs::metadata(&path)?.len() > 0;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening '{}' for writing", path.display()))?;
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        if !exists {
            writer.write_record(header)?;
            writer.flush()?;
        }
        Ok(AppendCsv { path, writer })
    }

    fn append<T: Serialize>(&mut self, row: &T) -> Result<()> {
        self.writer
            .serialize(row)
            .and_then(|_| self.writer.flush().map_err(csv::Error::from))
            .with_context(|| format!("writing to '{}'", self.path.display()))
    }
}

/// An open results folder.
pub struct ResultsDir {
    pub dir: PathBuf,
    /// The extra setting columns of both CSV files.
    columns: Vec<String>,
    metrics: Mutex<AppendCsv>,
    runs: Mutex<AppendCsv>,
    /// The event files of the runs being trained, by run id.
    events: Mutex<HashMap<String, tensorboard::EventWriter>>,
}

impl ResultsDir {
    pub fn metrics_path(dir: &Path) -> PathBuf {
        dir.join("metrics.csv")
    }
    pub fn runs_path(dir: &Path) -> PathBuf {
        dir.join("runs.csv")
    }
    pub fn state_dir(dir: &Path) -> PathBuf {
        dir.join("state")
    }
    pub fn experiment_path(dir: &Path) -> PathBuf {
        dir.join("experiment.toml")
    }

    /// Opens `dir` for appending results (creating it and the CSV headers, with the extra
    /// setting columns `extra`, when needed) and saves `experiment_text` as `experiment.toml`.
    /// Existing files must have those columns (a resume rewrites them first).
    pub fn open(dir: &Path, experiment_text: &str, extra: &[&str]) -> Result<ResultsDir> {
        std::fs::create_dir_all(Self::state_dir(dir))
            .with_context(|| format!("creating the results folder '{}'", dir.display()))?;
        mark(dir)?;
        write_atomically(&Self::experiment_path(dir), experiment_text.as_bytes())?;
        Ok(ResultsDir {
            dir: dir.to_path_buf(),
            columns: extra.iter().map(|c| c.to_string()).collect(),
            metrics: Mutex::new(AppendCsv::open(
                Self::metrics_path(dir),
                &metrics_header(extra),
            )?),
            runs: Mutex::new(AppendCsv::open(Self::runs_path(dir), &runs_header(extra))?),
            events: Mutex::new(HashMap::new()),
        })
    }

    /// Appends one epoch of one run to `metrics.csv` and flushes it.
    pub fn write_epoch(&self, s: &RunSettings, r: &EpochRecord) -> Result<()> {
        let settings = SettingsColumns::of(s);
        let mut extra = extra_cells(&extra_settings(s), &self.columns);
        if self.columns.iter().any(|c| c == "eta_schedule") {
            extra.push(crate::grid::float_label(r.eta));
        }
        let mut metrics = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        metrics.append(&(metrics_record(&settings, r), &extra))?;
        crate::fault::row_written();
        drop(metrics);
        // TensorBoard's copy of the epoch, after the CSV's (the CSV is the record)
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if !events.contains_key(&settings.run) {
            let hparams = tensorboard::hparams_of(&settings, &extra_settings(s));
            let w = tensorboard::start_run(&self.dir, &settings.run, &hparams)?;
            events.insert(settings.run.clone(), w);
        }
        let w = events.get_mut(&settings.run).expect("inserted");
        let scalars = tensorboard::epoch_scalars(|m| r.get(m));
        let scalars: Vec<(&str, f64)> = scalars.iter().map(|(t, v)| (t.as_str(), *v)).collect();
        w.scalars(r.epoch, &scalars)?;
        w.flush()
    }

    /// Records a finished run: its state file (atomically, the source of truth for resuming),
    /// then its row in `runs.csv`.
    pub fn write_run(&self, row: &RunRow) -> Result<()> {
        let state = toml::to_string(row).context("encoding a run's state")?;
        let path = Self::state_dir(&self.dir).join(format!("{}.toml", row.settings.run));
        write_atomically(&path, state.as_bytes())?;
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(&row.csv_record(&self.columns))?;
        let writer = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&row.settings.run);
        if let Some(mut w) = writer {
            w.session_end(tensorboard::ending(row.status), tensorboard::now())?;
            w.flush()?;
        }
        Ok(())
    }
}

/// The file that marks a folder as runner's results folder, with the format version.
pub const MARKER: &str = ".runner";
const MARKER_TEXT: &str = "runner results folder, format 1\n";

/// True when `dir` is runner's own results folder: it has the marker, or (written before the
/// marker existed) an `experiment.toml` beside a `state/` folder.
pub fn is_results_folder(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
        || (ResultsDir::experiment_path(dir).is_file() && ResultsDir::state_dir(dir).is_dir())
}

/// Refuses to write into (or delete from) a folder that holds files but is not runner's results
/// folder, so that a user's own files are never overwritten or deleted: a missing or empty folder
/// (but for runner's lock) is fine.
pub fn ensure_ours(dir: &Path, what: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let foreign: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".lock")
        // what a first write that failed (a full disk) leaves: an empty state folder
        .filter(|name| {
            name != "state"
                || !std::fs::read_dir(dir.join("state")).is_ok_and(|mut d| d.next().is_none())
        })
        .collect();
    if foreign.is_empty() || is_results_folder(dir) {
        return Ok(());
    }
    let mut shown = foreign.clone();
    shown.sort();
    shown.truncate(3);
    anyhow::bail!(
        "'{}' is not a runner results folder (it has no {MARKER} marker) but holds other files \
         ({}{}); runner {what} only in its own results folders: give a new or empty folder with \
         --out",
        dir.display(),
        shown.join(", "),
        if foreign.len() > 3 { ", ..." } else { "" }
    )
}

/// Marks `dir` as runner's results folder.
pub fn mark(dir: &Path) -> Result<()> {
    let path = dir.join(MARKER);
    if !path.is_file() {
        write_atomically(&path, MARKER_TEXT.as_bytes())?;
    }
    Ok(())
}

/// Formats an optional fraction as a percentage, `-` when missing.
pub fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{:.2}%", 100.0 * v))
}

/// Rewrites `metrics.csv` and `runs.csv` in grid order (`order` maps run ids to their place in
/// the grid; rows of unknown runs go last), metrics by epoch within a run. Runs finish in any
/// order on many threads; after this the files are the same whatever the thread count.
pub fn sort_results(dir: &Path, order: &HashMap<String, usize>) -> Result<()> {
    let place = |run: &str| order.get(run).copied().unwrap_or(usize::MAX);
    for (path, epoch_column) in [
        (ResultsDir::metrics_path(dir), Some(10)),
        (ResultsDir::runs_path(dir), None),
    ] {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&path)
            .with_context(|| format!("reading '{}'", path.display()))?;
        let header = reader.headers()?.clone();
        // a torn row (a write cut short, a full disk) is left out: a resume drops it too
        let mut rows: Vec<csv::StringRecord> = reader
            .records()
            .filter(|r| r.as_ref().map_or(true, |r| r.len() == header.len()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading '{}'", path.display()))?;
        rows.sort_by_key(|r| {
            let epoch = epoch_column
                .and_then(|c| r.get(c))
                .and_then(|e| e.parse::<usize>().ok())
                .unwrap_or(0);
            (place(&r[0]), epoch)
        });
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&header)?;
        for r in &rows {
            w.write_record(r)?;
        }
        let bytes = w.into_inner().context("encoding CSV")?;
        write_atomically(&path, &bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{Grid, Value};

    fn record(epoch: usize, val: Option<f64>, test: Option<f64>) -> EpochRecord {
        let mut values = crate::metrics::MetricValues::default();
        values.set(Metric::TrainCost, Some(0.5));
        values.set(Metric::ValidationAccuracy, val);
        values.set(Metric::TestAccuracy, test);
        EpochRecord {
            eta: 3.0,
            epoch,
            values,
            seconds: 1.25,
        }
    }

    #[test]
    fn metrics_csv_has_the_documented_columns_and_empty_unmonitored_cells() {
        let dir = tempfile::tempdir().unwrap();
        let s = Grid::default()
            .with("train_size", vec![Value::Int(1000)])
            .get(0);
        let out = ResultsDir::open(dir.path(), "x = 1", &[]).unwrap();
        out.write_epoch(&s, &record(1, Some(0.9), Some(0.875)))
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), schema::metrics_columns().join(","));
        let row = lines.next().unwrap();
        assert_eq!(
            row,
            format!(
                "{},784-30-10,3.0,10,30,1,quadratic,large,0.0,1000,1,0.5,,,0.9,,0.875,1.25",
                s.id()
            )
        );
        // re-opening appends without a second header
        drop(out);
        let out = ResultsDir::open(dir.path(), "x = 1", &[]).unwrap();
        out.write_epoch(&s, &record(2, None, None)).unwrap();
        let text = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("experiment.toml")).unwrap(),
            "x = 1"
        );
    }

    #[test]
    fn run_row_finds_the_best_validation_epoch() {
        let s = Grid::default()
            .with("train_size", vec![Value::Int(1000)])
            .get(0);
        let records = vec![
            record(1, Some(0.90), Some(0.80)),
            record(2, Some(0.95), Some(0.81)),
            record(3, Some(0.95), Some(0.82)),
            record(4, Some(0.93), Some(0.83)),
        ];
        let outcome = RunOutcome {
            status: RunStatus::Completed,
            epochs_completed: 4,
        };
        let row = RunRow::new(&s, &outcome, &records);
        assert_eq!(row.best_validation_accuracy, Some(0.95));
        assert_eq!(row.best_epoch, Some(2));
        assert_eq!(row.final_test_accuracy, Some(0.83));
        assert_eq!(row.status, Status::Completed);
        assert_eq!(row.seconds, 5.0, "the sum of the epochs' seconds");
        let dir = tempfile::tempdir().unwrap();
        let out = ResultsDir::open(dir.path(), "", &[]).unwrap();
        out.write_run(&row).unwrap();
        let state =
            std::fs::read_to_string(dir.path().join("state").join(format!("{}.toml", s.id())))
                .unwrap();
        let back: RunRow = toml::from_str(&state).unwrap();
        assert_eq!(back, row);
        let runs = std::fs::read_to_string(dir.path().join("runs.csv")).unwrap();
        assert_eq!(
            runs.lines().next().unwrap(),
            schema::runs_columns().join(",")
        );
    }
}
